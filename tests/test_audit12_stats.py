"""Statistics-truth audit 12: thresholds, explain, explore, CNN calibration and drift against reference
implementations (scikit-learn, scipy, statsmodels) or values computed by hand."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.impute import SimpleImputer
from sklearn.inspection import partial_dependence
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from scintiml.errors import ScintimlError, TargetClassesError
from scintiml.evaluate.thresholds import (
    choose_threshold,
    threshold_for_sensitivity,
    threshold_for_specificity,
    youden_threshold,
)
from scintiml.explain import best_pair, extract_rule, partial_dependence_curves
from scintiml.explain.rules import Condition, Rule, _candidates
from scintiml.explore import correlation_matrix, correlation_with_outcome, univariate_tests


def _operating_points(y, s):
    """Every threshold that changes a call (each distinct score, and one above all), with its sensitivity and
    specificity counted by hand under the convention ``score >= threshold`` is positive."""
    t = np.r_[np.unique(s), np.inf]
    sens = np.array([(s[y == 1] >= v).mean() for v in t])
    spec = np.array([(s[y == 0] < v).mean() for v in t])
    return t, sens, spec


# --- evaluate/thresholds.py ---------------------------------------------------------------------------------------

def test_threshold_rules_match_a_hand_count_with_ties():
    rng = np.random.default_rng(1)
    for trial in range(300):
        n = int(rng.integers(2, 25))
        y = rng.integers(0, 2, n)
        if y.min() == y.max():
            continue
        s = rng.integers(0, 4, n) / 3.0 if trial % 2 else rng.random(n)  # heavy ties every other trial
        t, sens, spec = _operating_points(y, s)
        j = sens + spec - 1
        best = t[np.isclose(j, j.max(), atol=1e-12)].max()  # the most specific among tied J
        got = youden_threshold(y, s)
        assert got == best or (np.isinf(best) and got > s.max())
        for target in (1 / 3, 0.5, 0.9, 1.0):
            assert threshold_for_sensitivity(y, s, target) == t[sens >= target - 1e-12].max()
            low = t[spec >= target - 1e-12].min()
            got = threshold_for_specificity(y, s, target)
            assert got == low or (np.isinf(low) and got > s.max())


def test_choose_threshold_reads_a_percent_sign_as_percent():
    # "sensitivity>=1%" asks for 1 % sensitivity: the highest threshold catching at least one of the two events
    # (0.8). Before the fix the % was dropped and 1 read as 100 %, giving 0.35 (every event caught).
    y, s = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    t, sens, _ = _operating_points(y, s)
    assert choose_threshold(y, s, "sensitivity>=1%") == t[sens >= 0.01].max() == 0.8
    assert choose_threshold(y, s, "sensitivity >= 0.5%") == 0.8
    # unchanged: a percent above 1, a bare number above 1, and a fraction
    assert choose_threshold(y, s, "sensitivity>=95%") == choose_threshold(y, s, "sensitivity>=95") == 0.35
    assert choose_threshold(y, s, "specificity>=50%") == choose_threshold(y, s, "specificity>=0.5")


def test_choose_threshold_names_a_target_that_is_not_a_number():
    with pytest.raises(ValueError, match="'high' is not a number"):
        choose_threshold([0, 1], [0.2, 0.7], "sensitivity>=high")


# --- cnn/calibrate.py ---------------------------------------------------------------------------------------------

def _calibrate():
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    from scintiml.cnn import calibrate
    return calibrate


@pytest.mark.parametrize("n, scale", [(4000, 3.0), (300, 0.5), (60, 1.0)])
def test_temperature_is_the_no_intercept_logistic_fit(n, scale):
    # sigmoid(z / T) of least log loss is a logistic regression of y on z without intercept: T = 1 / coefficient
    sm = pytest.importorskip("statsmodels.api")
    calibrate = _calibrate()
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    coefficient = sm.Logit(y, (scale * z)[:, None]).fit(disp=0).params[0]
    assert calibrate.fit_temperature(scale * z, y) == pytest.approx(1 / coefficient, rel=1e-4)


def test_temperature_refuses_nan_logits_and_labels_not_0_1():
    # before the fix a NaN logit made every log loss NaN and T = 0.49 came back without a word; labels 1/2 were
    # fitted as if 2 were a probability of 2 (T = 0.058)
    calibrate = _calibrate()
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 100)
    y = (rng.random(100) < 1 / (1 + np.exp(-z))).astype(int)
    with pytest.raises(ScintimlError, match="NaN"):
        calibrate.fit_temperature(np.r_[np.nan, z[1:]], y)
    with pytest.raises(TargetClassesError, match="0/1"):
        calibrate.fit_temperature(z, y + 1)
    with pytest.raises(ScintimlError, match="differ in length"):
        calibrate.fit_temperature(z, y[:50])
    with pytest.raises(ScintimlError, match="not empty"):
        calibrate.fit_temperature([], [])


def test_sensitivity_bound_is_the_one_sided_wilson_bound_and_refuses_nan_scores():
    proportion_confint = pytest.importorskip("statsmodels.stats.proportion").proportion_confint
    calibrate = _calibrate()
    y = np.r_[np.zeros(200), np.ones(200)]
    s = np.r_[np.linspace(0, 0.6, 200), np.linspace(0.3, 1, 200)]
    threshold, info = calibrate.threshold_for_sensitivity_bound(y, s)
    # by hand: the fewest top positives whose one-sided 95 % Wilson bound (two-sided 90 %) reaches 0.95
    k = min(k for k in range(1, 201) if proportion_confint(k, 200, alpha=0.10, method="wilson")[0] >= 0.95)
    assert info["caught"] == k == int((s[y == 1] >= threshold).sum())
    assert info["sensitivity_lower_bound"] == pytest.approx(proportion_confint(k, 200, 0.10, "wilson")[0], abs=1e-12)
    # a NaN score was sorted first among the positives and counted as caught: 195 caught, promise silently lost
    with pytest.raises(ScintimlError, match="NaN"):
        calibrate.threshold_for_sensitivity_bound(y, np.r_[s[:-1], np.nan])
    with pytest.raises(TargetClassesError, match="0/1"):
        calibrate.threshold_for_sensitivity_bound(y + 1, s)


# --- cnn/drift.py -------------------------------------------------------------------------------------------------

def test_drift_table_matches_sklearn_statsmodels_and_wilson(monkeypatch):
    sm = pytest.importorskip("statsmodels.api")
    proportion_confint = pytest.importorskip("statsmodels.stats.proportion").proportion_confint
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    import scintiml.cnn.drift as drift

    rng = np.random.default_rng(3)
    n = 120
    labels = (rng.random(n) < 0.4).astype(int)

    class Case:  # the same patients under each protocol, as the simulation's fixed random_state gives
        def __init__(self, label):
            self.label = label

        def stack(self, views=None):
            return np.zeros(1)

    monkeypatch.setattr(drift, "simulate_perfusion_scans", lambda n_cases, **kw: [Case(v) for v in labels])
    base = rng.normal(size=n)
    scores = {name: 1 / (1 + np.exp(-(1.5 * labels - 0.7 + 0.8 * base + noise * rng.normal(size=n))))
              for name, noise in (("ref", 0.0), ("a", 1.0), ("b", 2.0))}
    order = iter(scores)

    class Model:
        views, threshold = ["ANT"], 0.4

        def predict_proba(self, X):
            return scores[next(order)]

    table = drift.drift_table(Model(), n_cases=n, protocols={name: {} for name in scores})
    for (name, p), (_, row) in zip(scores.items(), table.iterrows()):
        assert row["auc"] == pytest.approx(roc_auc_score(labels, p), abs=1e-12)
        assert row["auc_difference_vs_reference"] == pytest.approx(
            roc_auc_score(labels, p) - roc_auc_score(labels, scores["ref"]), abs=1e-12)
        lp = np.log(p / (1 - p))
        binomial = sm.families.Binomial()
        assert row["calibration_slope"] == pytest.approx(
            sm.GLM(labels, sm.add_constant(lp), family=binomial).fit().params[1], abs=1e-8)
        assert row["calibration_in_the_large"] == pytest.approx(
            sm.GLM(labels, np.ones((n, 1)), family=binomial, offset=lp).fit().params[0], abs=1e-8)
        called = p >= 0.4
        tp, tn = int((called & (labels == 1)).sum()), int((~called & (labels == 0)).sum())
        assert [row["sensitivity_ci_low"], row["sensitivity_ci_high"]] == pytest.approx(
            proportion_confint(tp, labels.sum(), method="wilson"), abs=1e-12)
        assert [row["specificity_ci_low"], row["specificity_ci_high"]] == pytest.approx(
            proportion_confint(tn, (labels == 0).sum(), method="wilson"), abs=1e-12)


# --- explore/ -----------------------------------------------------------------------------------------------------

def _frame_with_missing():
    rng = np.random.default_rng(5)
    n = 60
    a = rng.normal(size=n)
    X = pd.DataFrame({"a": a, "b": a + 0.5 * rng.normal(size=n), "c": rng.normal(size=n),
                      "d": np.round(rng.normal(size=n))})  # d: heavy ties
    X.loc[rng.choice(n, 10, replace=False), "a"] = np.nan
    X.loc[rng.choice(n, 7, replace=False), "b"] = np.nan
    y = (a + rng.normal(size=n) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("method, reference", [("pearson", stats.pearsonr), ("spearman", stats.spearmanr)])
def test_correlations_with_missing_values_are_pairwise_complete_scipy(method, reference):
    X, y = _frame_with_missing()
    matrix = correlation_matrix(X, method)
    outcome = correlation_with_outcome(X, y, method)
    for i, j in itertools.permutations(X.columns, 2):
        ok = X[i].notna() & X[j].notna()
        assert matrix.loc[i, j] == pytest.approx(reference(X[i][ok], X[j][ok])[0], abs=1e-12)
    for i in X.columns:
        ok = X[i].notna().to_numpy()
        assert outcome[i] == pytest.approx(reference(X[i][ok], y[ok])[0], abs=1e-12)


def test_univariate_tests_leave_out_an_input_nobody_has():
    # an all-missing input raised numpy's "zero-size array to reduction operation minimum"
    X, y = _frame_with_missing()
    table = univariate_tests(X.assign(never=np.nan), y).set_index("input")
    assert "never" not in table.index
    for col in X.columns:
        ok = X[col].notna().to_numpy()
        assert table.loc[col, "auc"] == pytest.approx(roc_auc_score(y[ok], X[col][ok]), abs=1e-12)
        u = stats.mannwhitneyu(X[col][ok][y[ok] == 1], X[col][ok][y[ok] == 0], alternative="two-sided")
        assert table.loc[col, "p_value"] == pytest.approx(u.pvalue, rel=1e-12)


# --- explain/ -----------------------------------------------------------------------------------------------------

def test_partial_dependence_grid_leaves_missing_values_out():
    # one missing value made np.quantile NaN: a grid of NaNs and a flat curve at the imputed mean
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"s": rng.normal(size=300), "w": rng.normal(size=300)})
    y = (X.s + rng.normal(size=300) > 0).astype(int)
    X.loc[::5, "s"] = np.nan
    model = make_pipeline(SimpleImputer(), LogisticRegression()).fit(X, y)
    curve = partial_dependence_curves(model, X, n_points=5, columns="s")["s"]
    grid = np.linspace(*np.nanquantile(X["s"], [0.05, 0.95]), 5)
    assert curve["grid"] == pytest.approx(grid.tolist(), abs=1e-12)
    reference = partial_dependence(model, X, ["s"], custom_values={"s": grid}, kind="average", method="brute",
                                   response_method="predict_proba")["average"][0]
    assert curve["mean_probability"] == pytest.approx(reference.tolist(), abs=1e-12)
    assert curve["mean_probability"][0] < curve["mean_probability"][-1]
    with pytest.raises(ValueError, match="no observed value"):
        partial_dependence_curves(model, X.assign(s=np.nan), columns="s")


def test_partial_dependence_of_a_rare_binary_input_is_not_a_single_point():
    # 3 % prevalence: the 5th and 95th percentiles are both 0, and the curve was 25 copies of the value at 0
    rng = np.random.RandomState(1)
    n = 400
    X = pd.DataFrame({"rare": (np.arange(n) % 33 == 0).astype(float), "x": rng.normal(size=n)})
    y = ((X.x + 4 * X.rare + rng.normal(size=n)) > 0.5).astype(int)
    model = LogisticRegression().fit(X, y)
    curve = partial_dependence_curves(model, X, n_points=5)
    assert curve["rare"]["grid"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    by_hand = [model.predict_proba(X.assign(rare=v))[:, 1].mean() for v in (0.0, 1.0)]
    assert [curve["rare"]["mean_probability"][i] for i in (0, -1)] == pytest.approx(by_hand, abs=1e-12)
    # a continuous input keeps its 5th-95th percentile grid, bit for bit
    assert curve["x"]["grid"] == np.linspace(*np.quantile(X["x"], [0.05, 0.95]), 5).tolist()


def test_rule_search_is_exhaustive_by_hand_and_skips_an_input_nobody_has():
    rng = np.random.default_rng(7)
    n = 18
    X = pd.DataFrame({"a": rng.integers(0, 6, n).astype(float), "b": rng.normal(size=n).round(1)})
    X.loc[rng.random(n) < 0.2, "a"] = np.nan
    y = np.r_[np.zeros(9), np.ones(9)].astype(int)
    rng.shuffle(y)
    rule = extract_rule(X, y, ["a", "b"], simplicity=0.0)
    called = rule.predict(X)
    sens, spec = called[y == 1].mean(), 1 - called[y == 0].mean()
    assert (rule.sensitivity, rule.specificity) == pytest.approx((sens, spec), abs=1e-12)
    # by hand: the best Youden J over every one- and two-condition AND/OR rule on the same candidate cut-offs
    conditions = [Condition(c, op, t) for c in "ab" for op in ("<=", ">=")
                  for t in _candidates(X[c].to_numpy(float), 60)]
    rules = [Rule([c], "and", 0, 0, n) for c in conditions] + [
        Rule([c1, c2], join, 0, 0, n) for c1, c2 in itertools.combinations(conditions, 2) if c1.input != c2.input
        for join in ("and", "or")]

    def youden(r):
        p = r.predict(X)
        return p[y == 1].mean() - p[y == 0].mean()

    assert sens + spec - 1 == pytest.approx(max(map(youden, rules)), abs=1e-12)
    # an input no patient has raised numpy's "attempt to get argmax of an empty sequence"; a condition on it holds
    # for nobody, so the rule found is the one without it
    assert extract_rule(X.assign(never=np.nan), y, ["a", "never", "b"], simplicity=0.0).text == rule.text
    with pytest.raises(ValueError, match="no measured value"):
        extract_rule(X.assign(never=np.nan), y, ["never"])


def test_best_pair_takes_one_name_as_one_candidate():
    # "age" was paired letter by letter (KeyError ['a', 'g']); a repeated name was paired with itself
    X = pd.DataFrame({"age": np.arange(8.0), "lvef": np.arange(8.0) % 3})
    y = np.r_[np.zeros(4), np.ones(4)].astype(int)
    parts = [(X, y)] * 3
    assert best_pair("age", *parts) is None
    assert best_pair(["age", "age"], *parts) is None
    with pytest.raises(ValueError, match="not columns of X"):
        best_pair(["age", "weight"], *parts)


def test_specificity_one_is_refused_in_words_where_a_non_event_scores_infinity():
    from scintiml.evaluate.thresholds import threshold_for_specificity

    y = np.array([0, 0, 1, 1])
    assert threshold_for_specificity(y, np.array([0.1, 0.4, 0.35, 0.8]), 1.0) == 0.8  # by hand: 0.8 > both 0s
    with pytest.raises(ValueError, match=r"1 patient\(s\) without the event score \+inf"):
        threshold_for_specificity(y, np.array([0.1, np.inf, 0.35, 0.8]), 1.0)
