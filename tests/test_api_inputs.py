"""Public functions refuse bad arguments with a clear error instead of a wrong result or a deep numpy error.

Each test names the behaviour before the fix where there was a wrong result; valid input is checked against
scikit-learn, scipy or hand-computed values, so the checks leave the numbers as they were.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from scintiml.datasets import make_mibg_cohort
from scintiml.errors import SplitError, TargetClassesError
from scintiml.evaluate import (
    brier_score,
    calibration_intercept_slope,
    cumulative_gain,
    decision_curve,
    reliability_table,
)
from scintiml.explain import extract_rule, partial_dependence_curves
from scintiml.explore import (
    correlation_matrix,
    correlation_with_outcome,
    describe_inputs,
    redundancy_groups,
    univariate_tests,
)
from scintiml.split import split_cohort


@pytest.fixture(scope="module")
def scored():
    """60 patients: outcome 0/1 and a probability loosely related to it."""
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(35, int), np.ones(25, int)]
    p = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.2, 60), 0.01, 0.99)
    return y, p


@pytest.fixture(scope="module")
def cohort():
    return make_mibg_cohort(n_patients=120, random_state=0)


# ---------------------------------------------------------------- evaluate/calibration.py


def test_brier_score_of_valid_input_equals_scikit_learn(scored):
    y, p = scored
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), rel=1e-12)
    assert brier_score(list(y.astype(bool)), list(p)) == pytest.approx(brier_score_loss(y, p), rel=1e-12)


def test_brier_score_of_one_class_is_defined():
    # no event: the Brier score is the mean of p squared
    assert brier_score([0, 0, 0], [0.1, 0.2, 0.6]) == pytest.approx((0.01 + 0.04 + 0.36) / 3)
    assert brier_score([1, 1], [0.5, 0.9]) == pytest.approx((0.25 + 0.01) / 2)


def test_brier_score_refuses_outcome_of_another_length(scored):
    _, p = scored
    with pytest.raises(ValueError, match=r"different lengths \(1 and 60\)"):  # was 0.33, y broadcast
        brier_score([1], p)


def test_brier_score_refuses_outcome_coded_1_2(scored):
    y, p = scored
    with pytest.raises(ValueError, match=r"must be 0/1 \(1 = event\), got values \[1, 2\]"):
        brier_score(y + 1, p)


def test_brier_score_refuses_empty_input():
    with pytest.raises(ValueError, match="are empty"):
        brier_score([], [])


def test_brier_score_refuses_text_scores():
    with pytest.raises(ValueError, match="could not be read as numbers"):
        brier_score([0, 1], ["low", "high"])


def test_calibration_slope_of_valid_input_equals_an_unpenalised_logistic_fit(scored):
    y, p = scored
    intercept, slope = calibration_intercept_slope(y, p)
    lp = np.log(p / (1 - p))
    fit = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(lp[:, None], y)
    assert slope == pytest.approx(fit.coef_[0, 0], rel=1e-5)
    # the intercept (slope fixed at 1) solves sum(y) = sum(expit(a + lp))
    assert y.sum() == pytest.approx((1 / (1 + np.exp(-(intercept + lp)))).sum(), rel=1e-8)


def test_calibration_refuses_outcome_coded_1_2(scored):
    y, p = scored
    with pytest.raises(ValueError, match="must be 0/1"):  # was (108, 3.5e8)
        calibration_intercept_slope(y + 1, p)


def test_calibration_refuses_one_class(scored):
    _, p = scored
    with pytest.raises(ValueError, match=r"only one class \(events\); a calibration intercept and slope needs both"):
        calibration_intercept_slope(np.ones(60, int), p)


def test_calibration_refuses_nan_scores_without_lapack_noise(scored, capfd):
    y, p = scored
    p = p.copy()
    p[3] = np.nan
    with pytest.raises(ValueError, match=r"holds 1 NaN value\(s\)"):  # was LinAlgError "SVD did not converge"
        calibration_intercept_slope(y, p)
    assert capfd.readouterr().err == ""


def test_calibration_refuses_infinite_scores(scored):
    y, p = scored
    with pytest.raises(ValueError, match=r"holds 1 infinite value\(s\)"):
        calibration_intercept_slope(y, np.r_[p[:-1], np.inf])


def test_calibration_refuses_scores_outside_0_1(scored):
    y, p = scored
    with pytest.raises(ValueError, match=r"outside \[0, 1\].*pass probabilities, not raw scores"):
        calibration_intercept_slope(y, p * 10)


def test_calibration_refuses_outcome_of_another_length(scored):
    y, p = scored
    with pytest.raises(ValueError, match=r"different lengths \(59 and 60\)"):
        calibration_intercept_slope(y[:-1], p)


def test_reliability_table_of_one_class_observes_no_event():
    bins = reliability_table([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4], n_bins=2)
    assert [(b.n, b.observed) for b in bins] == [(2, 0.0), (2, 0.0)]
    assert [round(b.mean_predicted, 10) for b in bins] == [0.15, 0.35]


def test_reliability_table_refuses_outcome_coded_1_2(scored):
    y, p = scored
    with pytest.raises(ValueError, match="must be 0/1"):
        reliability_table(y + 1, p)


def test_reliability_table_refuses_zero_bins(scored):
    y, p = scored
    with pytest.raises(ValueError, match="n_bins must be a whole number of at least 1, got 0"):
        reliability_table(y, p, n_bins=0)


def test_cumulative_gain_of_valid_input_is_hand_computed():
    gain = cumulative_gain([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3])
    # decreasing score: 0.9 (event), 0.4, 0.3 (event), 0.1
    assert gain["gain"] == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert gain["lift"][1:] == [2.0, 1.0, 4 / 3, 1.0]


def test_cumulative_gain_refuses_no_event(scored):
    _, p = scored
    with pytest.raises(ValueError, match="holds no event; a cumulative gain .* needs at least one event"):
        cumulative_gain(np.zeros(60, int), p)


def test_cumulative_gain_refuses_nan_scores(scored):
    y, p = scored
    with pytest.raises(ValueError, match="NaN"):
        cumulative_gain(y, np.r_[np.nan, p[1:]])


def test_decision_curve_of_valid_input_is_hand_computed(scored):
    y, p = scored
    curve = decision_curve(y, p, thresholds=np.array([0.2, 0.5]))
    for pt, nb in zip((0.2, 0.5), curve["model"]):
        tp, fp = int(((p >= pt) & (y == 1)).sum()), int(((p >= pt) & (y == 0)).sum())
        assert nb == pytest.approx(tp / 60 - fp / 60 * pt / (1 - pt))
    assert curve["treat_all"][1] == pytest.approx(25 / 60 - 35 / 60)


def test_decision_curve_refuses_outcome_of_another_length(scored):
    _, p = scored
    with pytest.raises(ValueError, match=r"different lengths \(1 and 60\)"):  # was a net benefit of 60
        decision_curve([1], p)


def test_decision_curve_of_no_event_counts_every_call_false():
    curve = decision_curve([0, 0, 0, 0], [0.2, 0.6, 0.7, 0.1], thresholds=[0.5])
    assert curve["model"] == [pytest.approx(-2 / 4)]  # two called, both false, odds 1


def test_decision_curve_refuses_threshold_of_1(scored):
    y, p = scored
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        decision_curve(y, p, thresholds=[0.5, 1.0])


# ---------------------------------------------------------------- explore


def test_describe_inputs_of_valid_input_is_the_per_class_mean(cohort):
    table = describe_inputs(cohort.X, cohort.y)
    values = cohort.X["delta_lvef"]
    assert table.loc["delta_lvef", "mean_event"] == pytest.approx(values[cohort.y == 1].mean())
    assert table.loc["delta_lvef", "n_no_event"] == (cohort.y == 0).sum()


def test_describe_inputs_refuses_outcome_coded_1_2(cohort):
    with pytest.raises(TargetClassesError, match=r"coded 0/1, got values \[1, 2\]; code the event as 1"):
        describe_inputs(cohort.X, cohort.y + 1)  # was n_no_event = 0


def test_describe_inputs_refuses_text_outcome(cohort):
    y = np.where(cohort.y == 1, "yes", "no")
    with pytest.raises(TargetClassesError, match=r"got values \['no', 'yes'\]"):  # was "invalid literal for int()"
        describe_inputs(cohort.X, y)


def test_describe_inputs_refuses_numpy_inputs(cohort):
    with pytest.raises(TypeError, match="X must be a pandas DataFrame .* got ndarray"):
        describe_inputs(cohort.X.to_numpy(), cohort.y)


def test_describe_inputs_refuses_outcome_of_another_length(cohort):
    with pytest.raises(ValueError, match="X has 120 rows but y has 119 values"):
        describe_inputs(cohort.X, cohort.y[1:])


def test_describe_inputs_of_one_class_leaves_the_other_class_empty(cohort):
    table = describe_inputs(cohort.X[["age"]], np.zeros(120, int))
    assert table.loc["age", "n_event"] == 0 and np.isnan(table.loc["age", "mean_event"])
    assert table.loc["age", "mean_no_event"] == pytest.approx(cohort.X["age"].mean())


def test_univariate_tests_of_valid_input_equal_scikit_learn(cohort):
    table = univariate_tests(cohort.X[["delta_lvef", "age"]], cohort.y).set_index("input")
    assert table.loc["age", "auc"] == pytest.approx(roc_auc_score(cohort.y, cohort.X["age"]))


def test_univariate_tests_refuse_one_class(cohort):
    with pytest.raises(TargetClassesError, match="only events; a univariate AUC needs both"):
        univariate_tests(cohort.X, np.ones(120, int))


def test_univariate_tests_of_inputs_never_measured_in_both_classes_are_an_empty_table():
    X = pd.DataFrame({"a": [1.0, 2.0, np.nan, np.nan]})
    table = univariate_tests(X, [0, 0, 1, 1])  # was a KeyError from sort_values
    assert len(table) == 0 and "auc_oriented" in table.columns


def test_correlation_with_outcome_of_valid_input_is_point_biserial(cohort):
    r = correlation_with_outcome(cohort.X, cohort.y)
    assert r["delta_lvef"] == pytest.approx(stats.pointbiserialr(cohort.y, cohort.X["delta_lvef"])[0])


def test_correlation_with_outcome_refuses_outcome_coded_1_2(cohort):
    with pytest.raises(TargetClassesError, match="code the event as 1"):
        correlation_with_outcome(cohort.X, cohort.y + 1)


def test_correlation_with_outcome_refuses_one_class(cohort):
    with pytest.raises(TargetClassesError, match="a correlation with the outcome needs both"):
        correlation_with_outcome(cohort.X, np.zeros(120, int))


def test_correlation_matrix_refuses_numpy_inputs(cohort):
    with pytest.raises(TypeError, match="pandas DataFrame"):
        correlation_matrix(cohort.X.to_numpy())


def test_redundancy_groups_refuse_text_outcome(cohort):
    with pytest.raises(TargetClassesError, match="coded 0/1"):
        redundancy_groups(cohort.X, np.where(cohort.y == 1, "event", "none"))


# ---------------------------------------------------------------- explain


def test_extract_rule_refuses_outcome_coded_1_2(cohort):
    with pytest.raises(TargetClassesError, match="code the event as 1"):  # was 'delta_lvef >= -23'
        extract_rule(cohort.X, cohort.y + 1, ["delta_lvef", "age"])


def test_extract_rule_refuses_text_outcome(cohort):
    with pytest.raises(TargetClassesError, match="coded 0/1"):
        extract_rule(cohort.X, np.where(cohort.y == 1, "yes", "no"), ["delta_lvef"])


def test_extract_rule_takes_one_name_as_a_list_of_one(cohort):
    alone = extract_rule(cohort.X, cohort.y, "delta_lvef")  # was KeyError: 'd'
    listed = extract_rule(cohort.X, cohort.y, ["delta_lvef"])
    assert alone.to_dict() == listed.to_dict()
    assert [c.input for c in alone.conditions] == ["delta_lvef"]


def test_extract_rule_refuses_an_unknown_input(cohort):
    with pytest.raises(ValueError, match=r"inputs \['lvef'\] are not columns of X"):
        extract_rule(cohort.X, cohort.y, ["delta_lvef", "lvef"])


def test_extract_rule_refuses_no_input(cohort):
    with pytest.raises(ValueError, match="inputs is empty"):
        extract_rule(cohort.X, cohort.y, [])


def test_extract_rule_refuses_numpy_inputs(cohort):
    with pytest.raises(TypeError, match="pandas DataFrame"):
        extract_rule(cohort.X.to_numpy(), cohort.y, [0])


def test_extract_rule_still_refuses_one_class(cohort):
    with pytest.raises(TargetClassesError, match="rule extraction needs both events and non-events"):
        extract_rule(cohort.X, np.zeros(120, int), ["age"])


def test_rule_evaluate_refuses_outcome_coded_1_2(cohort):
    rule = extract_rule(cohort.X, cohort.y, ["delta_lvef"], max_conditions=1)
    with pytest.raises(TargetClassesError, match="coded 0/1"):
        rule.evaluate(cohort.X, cohort.y + 1)


def test_rule_evaluate_of_valid_input_counts_by_hand(cohort):
    rule = extract_rule(cohort.X, cohort.y, ["delta_lvef"], max_conditions=1)
    called = rule.predict(cohort.X)
    test = rule.evaluate(cohort.X, cohort.y)
    assert test["sensitivity"] == pytest.approx(called[cohort.y == 1].mean())
    assert test["specificity"] == pytest.approx(1 - called[cohort.y == 0].mean())


def test_partial_dependence_refuses_numpy_inputs(cohort):
    X = cohort.X[["delta_lvef", "age"]]
    model = LogisticRegression().fit(X, cohort.y)
    with pytest.raises(TypeError, match="X must be a pandas DataFrame"):  # was AttributeError on .columns
        partial_dependence_curves(model, X.to_numpy())


def test_partial_dependence_takes_one_column_name_as_a_list_of_one(cohort):
    X = cohort.X[["delta_lvef", "age"]]
    model = LogisticRegression().fit(X, cohort.y)
    alone = partial_dependence_curves(model, X, n_points=4, columns="age")
    assert list(alone) == ["age"]
    assert alone == partial_dependence_curves(model, X, n_points=4, columns=["age"])
    # the curve is the mean probability with age set to each grid value
    grid = alone["age"]["grid"]
    expected = model.predict_proba(X.assign(age=grid[0]))[:, 1].mean()
    assert alone["age"]["mean_probability"][0] == pytest.approx(expected)


def test_partial_dependence_refuses_an_unknown_column(cohort):
    X = cohort.X[["delta_lvef", "age"]]
    model = LogisticRegression().fit(X, cohort.y)
    with pytest.raises(ValueError, match=r"columns \['bmi'\] are not columns of X"):
        partial_dependence_curves(model, X, columns=["bmi"])


# ---------------------------------------------------------------- split.py


def test_split_cohort_refuses_a_third_class():
    with pytest.raises(TargetClassesError, match=r"got values \[0, 1, 2\]"):  # placed 100 of 150 patients
        split_cohort(np.array([0, 1, 2] * 50))


def test_split_cohort_refuses_text_outcome():
    with pytest.raises(TargetClassesError, match="code the event as 1"):  # was "invalid literal for int()"
        split_cohort(np.array(["yes", "no"] * 50))


def test_split_cohort_refuses_nan_ratios():
    with pytest.raises(SplitError, match=r"three non-negative numbers \(finite, not all 0\), got \(0.8, nan, 0.4\)"):
        split_cohort(np.array([0, 1] * 50), ratios=(0.8, np.nan, 0.4))


def test_split_cohort_refuses_text_among_ratios():
    with pytest.raises(SplitError, match="three non-negative numbers"):
        split_cohort(np.array([0, 1] * 50), ratios=("a", 1, 1))


def test_split_cohort_reads_ratios_written_as_text():
    y = np.array([0, 0, 1] * 50)
    as_text = split_cohort(y, ratios="60:20:20", random_state=0)  # was "could not convert string to float"
    as_numbers = split_cohort(y, ratios=(0.6, 0.2, 0.2), random_state=0)
    for part in ("training", "selection", "testing"):
        np.testing.assert_array_equal(getattr(as_text, part), getattr(as_numbers, part))
    assert as_text.counts() == {"training": 90, "selection": 30, "testing": 30}


def test_split_cohort_refuses_unreadable_ratio_text():
    with pytest.raises(SplitError, match="cannot read split '60:x:20'"):
        split_cohort(np.array([0, 1] * 50), ratios="60:x:20")


@pytest.mark.parametrize("seed", ["a", -1, 1.5])
def test_split_cohort_refuses_a_seed_numpy_cannot_use(seed):
    with pytest.raises(SplitError, match="random_state must be a whole number from 0 to 2\\*\\*32 - 1"):
        split_cohort(np.array([0, 1] * 50), random_state=seed)


class _PathLike:
    """Any os.PathLike other than str and pathlib.Path (pytest's py.path, a project's own path type)."""

    def __init__(self, path):
        self.path = str(path)

    def __fspath__(self):
        return self.path


def test_path_like_objects_are_taken_wherever_a_path_is(tmp_path):
    import os

    from scintiml.cohort import load_cohort
    from scintiml.errors import ScintimlError
    from scintiml.study import write_study

    assert isinstance(_PathLike("x"), os.PathLike)
    cohort = make_mibg_cohort(n_patients=60, random_state=0)
    frame = cohort.X[["delta_lvef", "age"]].copy()
    frame["outcome"] = np.asarray(cohort.y)
    frame.to_csv(tmp_path / "c.csv", index=False)
    read = load_cohort(_PathLike(tmp_path / "c.csv"), target="outcome")
    assert read.X.shape == (60, 2) and int(read.y.sum()) == int(frame["outcome"].sum())
    # the out check passes a path-like; the study then stops at the next argument, a max_inputs of 0
    with pytest.raises(ScintimlError) as refused:
        write_study(read, _PathLike(tmp_path / "out"), max_inputs=0)
    assert "out must be" not in str(refused.value) and "max-inputs" in str(refused.value).replace("_", "-")
    assert not (tmp_path / "out").exists()
