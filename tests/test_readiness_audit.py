"""Audit of the "is deep learning warranted?" comparison (scintiml.readiness.assess_readiness).

* no leakage: a canary — only the held-out patients of fold 0 are changed, same seed — leaves the three models
  fitted for fold 0 exactly as they were, and no training set ever holds a patient of its own test fold;
* every figure (per-model AUCs with their intervals, the gain, its SE and interval, the per-fold gains, the group
  importances and the printed line) is recomputed with an independent pipeline (SimpleImputer + scikit-learn)
  and the corrected resampled t of Nadeau & Bengio / Bouckaert & Frank written out with scipy;
* the verdict on small simulated cohorts with fixed seeds: imaging that is noise, or a noisy copy of clinical
  inputs, is never "supported"; a clear imaging gain is found; an imaging input that leaks the outcome is
  "supported" (the comparison cannot tell a leak from a signal).
"""

import hashlib
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scintiml import load_cohort
from scintiml.errors import GroupsError
from scintiml.readiness import PenaltyCVLogisticRegression, assess_readiness, default_learner


def _cohort(n, scenario, seed, n_img=5, effect=1.0):
    rng = np.random.RandomState(1000 + seed)
    clin = rng.normal(size=(n, 4))
    img = rng.normal(size=(n, n_img))
    logit = -0.5 + 1.0 * clin[:, 0] + 0.8 * clin[:, 1]
    if scenario == "copy":  # imaging = noisy copies of two clinical inputs: nothing new
        img[:, 0] = clin[:, 0] + 0.5 * rng.normal(size=n)
        img[:, 1] = clin[:, 1] + 0.5 * rng.normal(size=n)
    if scenario == "signal":
        logit = logit + effect * img[:, 0]
    y = rng.binomial(1, expit(logit))
    if scenario == "leak":  # an imaging input that is the outcome plus a little noise
        img[:, 0] = y + 0.3 * rng.normal(size=n)
    frame = pd.DataFrame(np.hstack([clin, img]), columns=[f"clin_{i}" for i in range(4)] +
                         [f"img_{i}" for i in range(n_img)])
    frame["event"] = y
    return load_cohort(frame, "event", groups={"clinical": "clin_*", "imaging": "img_*"})


def _assess(cohort, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return assess_readiness(cohort, **kw)


# ---------------------------------------------------------------------------------------------------- leakage
_FITS = []


class _Recorder(BaseEstimator, ClassifierMixin):
    """The default learner, recording the rows, values and coefficients of every training set it is given."""

    def __init__(self, inner=None):
        self.inner = inner

    def fit(self, X, y):
        self.model_ = clone(self.inner).fit(X, y)
        self.classes_ = self.model_.classes_
        _FITS.append({"rows": set(X.index), "values": hashlib.sha1(np.ascontiguousarray(X.to_numpy(float))
                                                                    .tobytes()).hexdigest(),
                      "coef": self.model_[-1].coef_.ravel().copy()})
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


def _recorded(cohort, seed):
    _FITS.clear()
    result = _assess(cohort, learner=_Recorder(default_learner()), random_state=seed, n_repeats=2)
    return result, list(_FITS)


def test_canary_held_out_patients_do_not_change_what_their_fold_fits():
    seed = 3
    a = _cohort(120, "signal", 7)
    a.X.iloc[::6, 5] = np.nan
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=2,
                                 random_state=np.random.RandomState(seed).randint(2**31 - 1))
    folds = list(cv.split(a.X, a.y))
    test0 = folds[0][1]
    b = _cohort(120, "signal", 7)
    b.X.iloc[::6, 5] = np.nan
    b.X.iloc[test0] = np.random.RandomState(99).normal(50, 30, size=(len(test0), b.X.shape[1]))
    b.X.iloc[test0[:8], 4] = np.nan
    ra, fa = _recorded(a, seed)
    rb, fb = _recorded(b, seed)
    # 10 folds x 3 models, in order; then the learning curve's fits
    for k, (train, test) in enumerate(folds):
        for m in range(3):
            assert fa[3 * k + m]["rows"] == set(train) and not fa[3 * k + m]["rows"] & set(test)
    for m in range(3):  # fold 0: the same training values, the very same coefficients
        assert fa[m]["values"] == fb[m]["values"]
        assert np.array_equal(fa[m]["coef"], fb[m]["coef"])
    # the canary is alive: where the changed patients train, the fits change; fold 0's AUCs change
    assert all(fa[i]["values"] != fb[i]["values"] for i in range(3, 30))
    assert ra.gain["per_fold"][0] != rb.gain["per_fold"][0]


# ------------------------------------------------------------------------------------------------- statistics
def _reference(cohort, seed, k=5, r=4):
    rng = np.random.RandomState(seed)
    X, y, n = cohort.X.to_numpy(float), cohort.y, len(cohort.y)
    idx = {g: [cohort.X.columns.get_loc(c) for c in cohort.groups[g]] for g in ("clinical", "imaging")}
    idx["combined"] = idx["clinical"] + idx["imaging"]

    def learner():  # the lasso's penalty search is checked against LogisticRegressionCV in test_readiness_penalty.py
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), PenaltyCVLogisticRegression())

    cv = RepeatedStratifiedKFold(n_splits=k, n_repeats=r, random_state=rng.randint(2**31 - 1))
    auc = {m: [] for m in idx}
    imp = {"imaging": [], "clinical": []}
    for tr, te in cv.split(X, y):
        for m, cols in idx.items():
            model = learner().fit(X[tr][:, cols], y[tr])
            auc[m].append(roc_auc_score(y[te], model.predict_proba(X[te][:, cols])[:, 1]))
        filled = SimpleImputer(strategy="median").fit(X[tr]).transform(X[te])[:, idx["combined"]]
        for g in ("imaging", "clinical"):
            perm = rng.permutation(len(te))
            pos = [idx["combined"].index(j) for j in idx[g]]
            shuffled = filled.copy()
            shuffled[:, pos] = filled[perm][:, pos]
            imp[g].append(auc["combined"][-1] - roc_auc_score(y[te], model.predict_proba(shuffled)[:, 1]))

    n_te = n // k
    n_tr = n - n_te

    def interval(v):  # Bouckaert & Frank (2004): var = s^2 (1/(k r) + n_test/n_train), t with k r - 1 df
        v = np.asarray(v)
        se = np.sqrt(np.var(v, ddof=1) * (1 / len(v) + n_te / n_tr))
        half = stats.t.ppf(0.975, len(v) - 1) * se
        return v.mean(), se, v.mean() - half, v.mean() + half

    out = {m: interval(v) for m, v in auc.items()}
    diffs = np.asarray(auc["combined"]) - np.asarray(auc["clinical"])
    out["gain"], out["per_fold"] = interval(diffs), diffs
    out["importance"] = {g: float(np.mean(v)) for g, v in imp.items()}
    return out


@pytest.mark.parametrize("seed, n, scenario", [(0, 120, "signal"), (2, 100, "copy")])
def test_every_figure_matches_an_independent_recomputation(seed, n, scenario):
    cohort = _cohort(n, scenario, seed)
    cohort.X.iloc[::5, 0] = np.nan  # gaps, so that the training-fold median imputation is exercised
    result = _assess(cohort, random_state=seed)
    ref = _reference(cohort, seed)
    for m in ("clinical", "imaging", "combined"):
        assert result.auc[m]["mean"] == pytest.approx(ref[m][0], abs=1e-12)
        assert result.auc[m]["ci95"] == pytest.approx([ref[m][2], ref[m][3]], abs=1e-12)
    mean, se, lo, hi = ref["gain"]
    assert result.gain["mean"] == pytest.approx(mean, abs=1e-12)
    assert result.gain["se"] == pytest.approx(se, abs=1e-12)
    assert result.gain["ci95"] == pytest.approx([lo, hi], abs=1e-12)
    assert np.allclose(result.gain["per_fold"], ref["per_fold"], atol=1e-12, rtol=0)
    assert result.group_importance == pytest.approx(ref["importance"], abs=1e-12)
    assert f"adding the imaging inputs changes the AUC by {mean:+.3f} (95 % CI {lo:+.3f} to {hi:+.3f})" \
        in result.reasons
    # the corrected interval is wider than the plain t over folds, by sqrt(1 + J n_test / n_train)
    naive = np.std(ref["per_fold"], ddof=1) / np.sqrt(len(ref["per_fold"]))
    assert se / naive == pytest.approx(np.sqrt(1 + 20 * (n // 5) / (n - n // 5)), rel=1e-9)


# --------------------------------------------------------------------------------------------- verdict rates
@pytest.mark.parametrize("scenario", ["noise", "copy"])
def test_imaging_that_adds_nothing_is_never_supported_on_fixed_seeds(scenario):
    # measured over 50 seeds with the default 4x5 folds: noise 0/50 supported (n=100 and n=200); noisy copies of
    # clinical inputs 0/50 (n=200). At n=100 most are inconclusive since 0.7.2 (a lasso gain the same in every fold
    # is no longer read as a zero-width interval: a ridge refit's interval cannot rule out 0.02 with 100 patients)
    # 5 seeds here (8 until 0.7.3: the 50-seed figures above are the measurement, these seeds a check that it holds)
    verdicts = [_assess(_cohort(200, scenario, s), random_state=s, n_repeats=2).verdict for s in range(5)]
    assert verdicts.count("supported") == 0
    # and it can say no: measured with n_repeats=2 at n=200, noise 6 of 8 and copies 3 of 8 "not supported" with the
    # lasso at a fixed C = 0.1; with its penalty chosen in each training fold (after 0.7.2) 2 of 8 and 2 of 8, the rest
    # inconclusive — the chosen lasso keeps some noise inputs, so the gain varies more from fold to fold. Both of
    # those are among seeds 0-4 (noise seeds 3 and 4, copies 1 and 2); one fewer allowed for another platform's
    # last digits
    assert verdicts.count("not_supported") >= {"noise": 1, "copy": 1}[scenario]


def test_a_clear_imaging_gain_is_found_on_fixed_seeds():
    # oracle gain of the true linear predictor: +0.075 AUC; measured 22/30 supported, 0/30 not supported at n=200;
    # seeds 0-3 here (0-5 until 0.7.3): 3 of them supported, seed 2 inconclusive
    verdicts = [_assess(_cohort(200, "signal", s, effect=1.0), random_state=s).verdict for s in range(4)]
    assert verdicts.count("supported") >= 3 and "not_supported" not in verdicts


def test_an_imaging_input_that_leaks_the_outcome_is_called_supported():
    result = _assess(_cohort(150, "leak", 0), random_state=0, n_repeats=1)
    assert result.verdict == "supported" and result.auc["imaging"]["mean"] > 0.95
    assert result.gain["ci95"][0] > 0.05  # +0.21 (+0.060 to +0.360) with the penalty chosen per fold; > 0.1 at C = 0.1


# ------------------------------------------------------------------------------------------------ edge cases
def test_a_group_of_one_input_is_compared():
    cohort = _cohort(120, "signal", 1)
    cohort = cohort.subset(cohort.groups["clinical"] + ["img_0"])
    result = _assess(cohort, random_state=1, n_repeats=1)
    assert cohort.groups["imaging"] == ["img_0"] and len(result.gain["per_fold"]) == 5
    assert result.verdict in {"supported", "inconclusive", "not_supported"}


def test_a_group_left_empty_by_constant_inputs_is_refused_at_load():
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.normal(size=(60, 2)), columns=["clin_0", "clin_1"])
    frame["img_0"], frame["img_1"] = 1.0, 2.0
    frame["event"] = np.r_[np.zeros(30), np.ones(30)].astype(int)
    with pytest.raises(GroupsError, match="'img_\\*' names only input\\(s\\) dropped on loading as constant"):
        load_cohort(frame, "event", groups={"clinical": "clin_*", "imaging": "img_*"})


# --- the audit's four findings, fixed (each test fails on scintiml 0.7.1) ---

def _grouped(frame):
    return load_cohort(frame, "event", groups={"clinical": "clin_*", "imaging": "img_*"})


def _clinical_imaging(rng, n):
    clin, img = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    names = [f"clin_{i}" for i in range(3)] + [f"img_{i}" for i in range(3)]
    return pd.DataFrame(np.hstack([clin, img]), columns=names), clin, img


@pytest.mark.parametrize("seed", [0, 6, 7])
def test_a_zero_width_interval_is_not_a_verdict(seed):
    # with ~15 events the penalised learner used no imaging input in any fold: the gain was 0 in all 20 folds, the
    # interval [0, 0], and the verdict a confident "adds nothing measurable" though imaging is as strong as clinical
    rng = np.random.RandomState(seed)
    frame, clin, img = _clinical_imaging(rng, 150)
    frame["event"] = rng.binomial(1, expit(-3.0 + clin[:, 0] + img[:, 0]))
    cohort = _grouped(frame)
    # the lasso at the fixed C = 0.1 it had before its penalty was chosen per fold: that penalty still gives the gain
    # of no width this test is about; the default learner's own verdict here is inconclusive too (asserted below)
    fixed = make_pipeline(StandardScaler(), LogisticRegression(l1_ratio=1.0, C=0.1, solver="liblinear",
                                                               random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = assess_readiness(cohort, learner=fixed, random_state=seed)
        default = assess_readiness(cohort, random_state=seed)
    assert default.verdict == "inconclusive" and "adds nothing measurable" not in default.message
    low, high = result.gain["ci95"]
    assert cohort.n_events < 20
    # the lasso's gain was the same number in all 20 folds; the verdict rests on the ridge refit's real interval
    assert "a ridge-penalised logistic regression refit on the same folds" in result.reasons[1]
    assert "the learner's own gain was +0.000 in all 20 folds" in result.gain["model"] and high - low > 0.01
    assert result.verdict == "inconclusive" and "adds nothing measurable" not in result.message


def test_a_sparse_imaging_input_does_not_crash_the_comparison():
    # 95 % missing: a learning-curve subsample held none of its values, its median was NaN and the learner raised
    # "Input X contains NaN" after the whole study had run
    rng = np.random.RandomState(1)
    frame, clin, img = _clinical_imaging(rng, 200)
    frame["event"] = rng.binomial(1, expit(-0.5 + clin[:, 0] + img[:, 0]))
    frame.loc[rng.rand(200) < 0.95, "img_2"] = np.nan
    cohort = _grouped(frame)
    assert cohort.missing["img_2"] >= 180
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = assess_readiness(cohort, random_state=1)
    assert result.verdict in {"supported", "not_supported", "inconclusive"}
    assert all(np.isfinite(result.learning_curve["auc"]))


@pytest.mark.parametrize("spec", ["img_*", ["img_0", "img_1"]])
def test_a_group_of_constant_inputs_says_they_were_dropped_as_constant(spec):
    # said "'img_*' matches no input; inputs are [...]", as if the columns did not exist
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.normal(size=(60, 4)), columns=["clin_0", "clin_1", "img_0", "img_1"])
    frame["event"] = np.r_[np.zeros(30), np.ones(30)].astype(int)
    frame[["img_0", "img_1"]] = 3.0
    with pytest.raises(GroupsError, match="dropped on loading as constant"):
        load_cohort(frame, "event", groups={"clinical": "clin_*", "imaging": spec})


def test_an_imaging_input_that_leaks_the_outcome_is_flagged():
    # the outcome plus a little noise as an "imaging" input: "supported" with no word of caution
    rng = np.random.RandomState(0)
    frame, clin, img = _clinical_imaging(rng, 150)
    y = rng.binomial(1, expit(-0.5 + clin[:, 0]))
    frame["img_0"] = y + 0.3 * rng.normal(size=150)
    frame["event"] = y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = assess_readiness(_grouped(frame), random_state=0, n_repeats=1)
    assert result.auc["imaging"]["mean"] > 0.95 and "outcome information" in result.message
