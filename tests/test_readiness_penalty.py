"""The readiness comparison's penalty is chosen from the data, inside each training fold, and its verdict says when
most patients have no imaging input measured (scintiml.readiness).

* the lasso's ``C`` is chosen by inner cross-validation: it differs between a cohort with a strong signal and one
  with none, agrees with scikit-learn's ``LogisticRegressionCV``, and never depends on a fold's held-out patients
  (their outcomes permuted: the fold's inner search is bit-identical, while every fold they train in changes);
* the ridge refit (a lasso gain of no width) chooses its penalty the same way and records it;
* with 90 % of patients lacking every imaging input the verdict says on how many patients it rests; at 0 %, or
  with 90 % lacking only one of the imaging inputs, it does not;
* imaging alone at AUC >= 0.95 is said as a check to make, not as a fault.
"""

import inspect
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import scintiml.readiness as readiness
from scintiml import load_cohort
from scintiml.readiness import (INNER_SPLITS, MISSING_IMAGING_SHARE, PENALTY_GRID, PenaltyCVLogisticRegression,
                                assess_readiness, default_learner)


def _frame(n: int, seed: int, clinical_effect: float, imaging_effect: float, n_img: int = 6) -> pd.DataFrame:
    rng = np.random.RandomState(seed)
    clin, img = rng.normal(size=(n, 4)), rng.normal(size=(n, n_img))
    logit = -0.4 + clinical_effect * (clin[:, 0] + 0.8 * clin[:, 1]) + imaging_effect * (img[:, 0] + img[:, 1])
    frame = pd.DataFrame(np.hstack([clin, img]), columns=[f"clin_{i}" for i in range(4)] +
                         [f"img_{i}" for i in range(n_img)])
    frame["event"] = rng.binomial(1, expit(logit))
    return frame


def _cohort(frame: pd.DataFrame):
    return load_cohort(frame, "event", groups={"clinical": "clin_*", "imaging": "img_*"})


def _fixed_learner():
    """A fast learner for the tests of the verdict's wording, which do not depend on the penalty."""
    return make_pipeline(StandardScaler(), LogisticRegression(solver="liblinear", random_state=0))


def _assess(cohort, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return assess_readiness(cohort, **kw)


@pytest.fixture
def no_curve(monkeypatch):
    """The learning curve (25 more fits, each with its own inner search) left out where a test does not read it."""
    monkeypatch.setattr(readiness, "_learning_curve", lambda *args, **kwargs: {"n_training": [], "auc": []})


# ------------------------------------------------------------------------------------------ the chosen penalty
def test_the_penalty_chosen_follows_the_signal(no_curve):
    # a fixed C (0.1 before) is the same whatever the data; chosen inside each fold, it is weaker where there is a
    # strong signal to fit and stronger where there is none
    strong = _assess(_cohort(_frame(150, 0, 1.5, 1.5)), random_state=0, n_splits=3, n_repeats=1)
    none = _assess(_cohort(_frame(150, 0, 0.0, 0.0)), random_state=0, n_splits=3, n_repeats=1)
    chosen_strong = strong.settings["penalty"]["chosen_C"]["combined"]
    chosen_none = none.settings["penalty"]["chosen_C"]["combined"]
    assert len(chosen_strong) == len(chosen_none) == 3 and set(chosen_strong + chosen_none) <= set(PENALTY_GRID)
    assert min(chosen_strong) > max(chosen_none)
    # with nothing to find, strong penalties that keep (almost) no input: the combined AUC stays at chance
    assert max(chosen_none) <= 0.1 and abs(none.auc["combined"]["mean"] - 0.5) < 0.05


@pytest.mark.parametrize("l1_ratio", [1.0, 0.0])
def test_the_search_is_scikit_learns_logistic_regression_cv(l1_ratio):
    frame = _frame(200, 3, 0.7, 0.5, n_img=8)
    X = StandardScaler().fit_transform(frame.drop(columns="event").to_numpy(float))
    y = frame["event"].to_numpy()
    ours = PenaltyCVLogisticRegression(l1_ratio=l1_ratio).fit(X, y)
    kwargs = {"Cs": list(PENALTY_GRID), "l1_ratios": (l1_ratio,), "solver": "liblinear", "scoring": "neg_log_loss",
              "cv": StratifiedKFold(INNER_SPLITS, shuffle=True, random_state=0), "intercept_scaling": 100.0,
              "random_state": 0}
    if "use_legacy_attributes" in inspect.signature(LogisticRegressionCV).parameters:
        kwargs["use_legacy_attributes"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = LogisticRegressionCV(**kwargs).fit(X, y)
    scores = theirs.scores_[1] if isinstance(theirs.scores_, dict) else theirs.scores_
    # the same held-out log-loss for every C in every inner fold: to the last digits for the ridge; for the lasso to
    # liblinear's tolerance, since LogisticRegressionCV seeds liblinear's random coordinate order afresh for each C
    atol = 1e-9 if l1_ratio == 0.0 else 2e-4
    assert np.allclose(-np.asarray(scores).reshape(ours.cv_log_loss_.shape), ours.cv_log_loss_, rtol=0, atol=atol)
    assert ours.C_ == float(np.ravel(theirs.C_)[0])
    # the refit with that C is scikit-learn's own (LogisticRegressionCV's refit drops intercept_scaling, so the
    # reference refit is a LogisticRegression given the C it chose)
    refit = LogisticRegression(C=float(np.ravel(theirs.C_)[0]), l1_ratio=l1_ratio, solver="liblinear",
                               intercept_scaling=100.0, random_state=0).fit(X, y)
    assert np.array_equal(ours.coef_, refit.coef_) and np.array_equal(ours.intercept_, refit.intercept_)
    assert np.array_equal(ours.predict_proba(X), refit.predict_proba(X))
    # the search is not a formality here: the mean held-out loss differs along the grid
    assert np.ptp(ours.cv_log_loss_.mean(axis=0)) > 0.01


def test_inner_folds_shrink_to_the_rarer_outcome():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    y = np.zeros(40, dtype=int)
    y[[3, 17]] = 1  # two events: two inner folds, each with one event held out
    model = PenaltyCVLogisticRegression().fit(X, y)
    assert model.cv_log_loss_.shape == (2, len(PENALTY_GRID)) and np.isfinite(model.cv_log_loss_).all()
    y[17] = 0  # one event: no inner cross-validation is possible; the strongest penalty is taken
    model = PenaltyCVLogisticRegression().fit(X, y)
    assert model.cv_log_loss_.shape == (0, len(PENALTY_GRID)) and model.C_ == PENALTY_GRID[0]


# -------------------------------------------------------------------------------------- nested: no leakage
_FITS: list = []


class _Recording(PenaltyCVLogisticRegression):
    """The default learner's final step, recording every inner search it runs."""

    def fit(self, X, y):
        super().fit(X, y)
        _FITS.append({"C": self.C_, "loss": self.cv_log_loss_.copy(), "coef": self.coef_.copy()})
        return self


def _recorded_run(cohort, folds, monkeypatch):
    class _Fixed:  # the same folds whatever the outcomes (stratified folds would move with them)
        def __init__(self, *args, **kwargs):
            pass

        def split(self, X, y):
            return iter(folds)

    monkeypatch.setattr(readiness, "RepeatedStratifiedKFold", _Fixed)
    _FITS.clear()
    result = _assess(cohort, learner=make_pipeline(StandardScaler(), _Recording()), random_state=0, n_repeats=1)
    return result, list(_FITS)


def test_the_held_out_patients_never_choose_their_folds_penalty(monkeypatch, no_curve):
    frame = _frame(150, 5, 0.8, 0.8)
    frame.iloc[::7, 1] = np.nan  # gaps: the training-fold median imputation is part of what must not leak
    y = frame["event"].to_numpy()
    seed = np.random.RandomState(0).randint(2**31 - 1)  # the folds assess_readiness draws with random_state=0
    folds = list(RepeatedStratifiedKFold(n_splits=5, n_repeats=1, random_state=seed).split(frame, y))
    test0 = folds[0][1]
    permuted = frame.copy()
    outcomes = y[test0]
    permuted.iloc[test0, permuted.columns.get_loc("event")] = np.roll(outcomes, 1)
    assert (permuted["event"].to_numpy()[test0] != outcomes).sum() >= 10

    ra, fa = _recorded_run(_cohort(frame), folds, monkeypatch)
    rb, fb = _recorded_run(_cohort(permuted), folds, monkeypatch)
    for m in range(3):  # fold 0's three models: the very same inner search, choice and fit
        assert np.array_equal(fa[m]["loss"], fb[m]["loss"]) and fa[m]["C"] == fb[m]["C"]
        assert np.array_equal(fa[m]["coef"], fb[m]["coef"])
    for name in ("clinical", "imaging", "combined"):
        assert ra.settings["penalty"]["chosen_C"][name][0] == rb.settings["penalty"]["chosen_C"][name][0]
    # the canary is alive: every later fold trains on the permuted patients, and its inner search changed
    assert len(fa) == len(fb) == 15
    assert all(not np.array_equal(fa[i]["loss"], fb[i]["loss"]) for i in range(3, 15))
    assert ra.gain["per_fold"][0] != rb.gain["per_fold"][0]
    # and the recorded choice is the search on that fold's training patients alone, as scikit-learn is given them
    train = folds[0][0]
    X_tr = frame.drop(columns="event").iloc[train]
    X_tr = X_tr.fillna(X_tr.median())
    alone = make_pipeline(StandardScaler(), PenaltyCVLogisticRegression()).fit(X_tr, y[train])
    assert alone[-1].C_ == ra.settings["penalty"]["chosen_C"]["combined"][0]


def test_the_settings_say_how_the_penalty_was_chosen_and_the_run_repeats(no_curve):
    cohort = _cohort(_frame(120, 2, 0.8, 0.6))
    a = _assess(cohort, random_state=4, n_splits=3, n_repeats=1)
    b = _assess(cohort, random_state=4, n_splits=3, n_repeats=1)
    penalty = a.settings["penalty"]
    assert penalty["penalty"] == "lasso (L1)" and penalty["scoring"] == "log-loss"
    assert penalty["grid"] == list(PENALTY_GRID) and penalty["inner_splits"] == INNER_SPLITS
    assert {k: len(v) for k, v in penalty["chosen_C"].items()} == {"clinical": 3, "imaging": 3, "combined": 3}
    assert a.settings == b.settings and a.gain == b.gain and a.auc == b.auc  # reproducible
    json.dumps(a.to_dict())  # results.json can hold it
    assert default_learner()[-1].get_params()["Cs"] == PENALTY_GRID


def test_the_ridge_refit_chooses_its_penalty_too(no_curve):
    # few events and a lasso fixed at C = 0.1 (the learner before): no imaging input in any fold, a gain of no width,
    # so the gain is the ridge refit's, whose penalty is chosen and recorded per fold
    rng = np.random.RandomState(0)  # the cohort of tests/test_readiness_audit.py::test_a_zero_width_interval_...
    clin, img = rng.normal(size=(150, 3)), rng.normal(size=(150, 3))
    frame = pd.DataFrame(np.hstack([clin, img]), columns=[f"clin_{i}" for i in range(3)] +
                         [f"img_{i}" for i in range(3)])
    frame["event"] = rng.binomial(1, expit(-3.0 + clin[:, 0] + img[:, 0]))
    fixed = make_pipeline(StandardScaler(), LogisticRegression(l1_ratio=1.0, C=0.1, solver="liblinear",
                                                               random_state=0))
    result = _assess(_cohort(frame), learner=fixed, random_state=0, n_repeats=1)
    assert "ridge-penalised" in result.gain["model"]
    ridge = result.settings["penalty"]["ridge_refit"]
    assert ridge["penalty"] == "ridge (L2)" and {k: len(v) for k, v in ridge["chosen_C"].items()} == \
        {"clinical": 5, "combined": 5}
    assert set(ridge["chosen_C"]["combined"]) <= set(PENALTY_GRID)


# ------------------------------------------------------------------------------------- missing imaging inputs
@pytest.mark.parametrize("share, pattern, warned", [(0.9, "all", True), (0.0, "all", False), (0.5, "all", True),
                                                    (0.49, "all", False), (0.9, "one", False)])
def test_patients_without_imaging_are_counted_in_the_verdict(share, pattern, warned, no_curve):
    n = 100
    frame = _frame(n, 1, 0.8, 0.8)
    lacking = np.random.RandomState(9).permutation(n)[:int(round(share * n))]
    imaging = [c for c in frame.columns if c.startswith("img_")]
    frame.loc[frame.index[lacking], imaging if pattern == "all" else imaging[:1]] = np.nan
    result = _assess(_cohort(frame), learner=_fixed_learner(), random_state=0, n_repeats=1)
    k = len(lacking) if pattern == "all" else 0
    line = (f"{k} of {n} patients ({100 * k / n:.0f} %) have none of the imaging inputs measured (filled with the "
            f"training median, which tells them apart from no one): what imaging adds rests on the {n - k} patients "
            "with at least one imaging value")
    assert result.settings["patients_without_imaging"] == k
    assert (line in result.reasons) is warned and (f"Note: {line}." in result.message) is warned
    assert warned is (k >= MISSING_IMAGING_SHARE * n)


def test_excellent_imaging_is_a_check_to_make_not_a_fault(no_curve):
    # imaging that is genuinely excellent (the outcome follows it closely, no leak): AUC >= 0.95 alone
    rng = np.random.RandomState(2)
    frame = pd.DataFrame(rng.normal(size=(150, 5)), columns=["clin_0", "clin_1", "img_0", "img_1", "img_2"])
    frame["event"] = rng.binomial(1, expit(6.0 * frame["img_0"]))
    result = _assess(_cohort(frame), learner=_fixed_learner(), random_state=0, n_repeats=1)
    assert result.auc["imaging"]["mean"] >= 0.95
    check = next(r for r in result.reasons if r.startswith("imaging alone reaches AUC"))
    assert "worth confirming that none holds outcome information" in check and "the verdict stands" in check
    assert f"To check: {check}." in result.message
    for accusing in ("Caution", "before trusting", "leak"):
        assert accusing not in result.message
