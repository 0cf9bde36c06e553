import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression

from scintiml import split_cohort
from scintiml.datasets import load_heart_failure, make_extravasation_cohort, make_mibg_cohort
from scintiml.explain import extract_rule, permutation_importance_grouped
from scintiml.explore import (
    correlation_matrix,
    correlation_with_outcome,
    describe_inputs,
    redundancy_groups,
    univariate_tests,
)


def test_correlations_match_pandas_and_scipy():
    cohort = load_heart_failure()
    X = cohort.X
    pearson = correlation_matrix(X)
    spearman = correlation_matrix(X, "spearman")
    a, b = "ejection_fraction", "serum_creatinine"
    assert pearson.loc[a, b] == pytest.approx(stats.pearsonr(X[a], X[b])[0], abs=1e-12)
    assert spearman.loc[a, b] == pytest.approx(stats.spearmanr(X[a], X[b])[0], abs=1e-12)
    r = correlation_with_outcome(X, cohort.y)
    assert r["serum_creatinine"] == pytest.approx(stats.pointbiserialr(cohort.y, X["serum_creatinine"])[0])
    assert abs(r.iloc[0]) >= abs(r.iloc[-1])


def test_mann_whitney_and_auc_per_input_match_scipy():
    cohort = load_heart_failure()
    table = univariate_tests(cohort.X, cohort.y).set_index("input")
    x = cohort.X["serum_creatinine"]
    u = stats.mannwhitneyu(x[cohort.y == 1], x[cohort.y == 0], alternative="two-sided")
    assert table.loc["serum_creatinine", "mann_whitney_u"] == u.statistic
    assert table.loc["serum_creatinine", "p_value"] == pytest.approx(u.pvalue)
    # AUC = U / (n1 n0)
    assert table.loc["serum_creatinine", "auc"] == pytest.approx(u.statistic / (96 * 203))
    assert table.loc["ejection_fraction", "direction"] == "lower"
    ef = table.loc["ejection_fraction"]
    assert ef["auc_oriented_ci_low"] < ef["auc_oriented"] < ef["auc_oriented_ci_high"]


def test_describe_by_outcome():
    cohort = load_heart_failure()
    d = describe_inputs(cohort.X, cohort.y)
    x = cohort.X["age"]
    assert d.loc["age", "mean"] == pytest.approx(x.mean())
    assert d.loc["age", "mean_event"] == pytest.approx(x[cohort.y == 1].mean())
    assert d.loc["age", "q3_no_event"] == pytest.approx(np.quantile(x[cohort.y == 0], 0.75))
    assert d.loc["age", "n_event"] == 96


def test_redundancy_groups_recovered_exactly():
    cohort = make_extravasation_cohort(random_state=0)
    groups = redundancy_groups(cohort.X, cohort.y, threshold=0.9)
    found = sorted(sorted(g["members"]) for g in groups)
    truth = sorted(sorted(m) for m in cohort.truth["families"].values())
    assert found == truth
    for g in groups:
        assert g["representative"] in g["members"] and g["min_abs_r"] >= 0.9


def test_rule_on_mibg_recovers_the_truth():
    cohort = make_mibg_cohort(random_state=0)
    split = split_cohort(cohort, random_state=0)
    fit = np.r_[split.training, split.selection]
    rule = extract_rule(cohort.X.iloc[fit], cohort.y[fit], ["delta_lvef", "planar_washout", "age"])
    assert rule.join == "and"
    by_input = {c.input: c for c in rule.conditions}
    assert set(by_input) == {"delta_lvef", "planar_washout"}
    assert by_input["delta_lvef"].op == "<=" and by_input["planar_washout"].op == ">="
    assert abs(by_input["delta_lvef"].value - (-10)) <= 2.0
    assert abs(by_input["planar_washout"].value - 30) <= 6.0
    X_te, y_te = cohort.X.iloc[split.testing], cohort.y[split.testing]
    test = rule.evaluate(X_te, y_te)
    # counts by hand from the rule's own cut-offs, intervals from statsmodels' Wilson score interval
    from statsmodels.stats.proportion import proportion_confint

    called = ((X_te["delta_lvef"] <= by_input["delta_lvef"].value)
              & (X_te["planar_washout"] >= by_input["planar_washout"].value)).to_numpy()
    tp, fn = int((called & (y_te == 1)).sum()), int((~called & (y_te == 1)).sum())
    tn, fp = int((~called & (y_te == 0)).sum()), int((called & (y_te == 0)).sum())
    assert test["confusion_matrix"] == {"tp": tp, "fn": fn, "fp": fp, "tn": tn}
    assert test["sensitivity"] == pytest.approx(tp / (tp + fn))
    np.testing.assert_allclose(test["sensitivity_ci95"], proportion_confint(tp, tp + fn, method="wilson"), atol=1e-12)
    np.testing.assert_allclose(test["specificity_ci95"], proportion_confint(tn, tn + fp, method="wilson"), atol=1e-12)


def test_rule_counts_by_hand():
    X = pd.DataFrame({"a": [1, 2, 3, 4, 5, 6], "b": [0, 0, 1, 1, 0, 1]})
    y = np.array([0, 0, 0, 1, 1, 1])
    rule = extract_rule(X, y, ["a"], max_conditions=1)
    assert rule.text == "a >= 3.5" and rule.sensitivity == 1 and rule.specificity == 1


def test_rule_with_required_sensitivity():
    cohort = load_heart_failure()
    rule = extract_rule(cohort.X, cohort.y, ["ejection_fraction", "serum_creatinine"], min_sensitivity=0.95)
    assert rule.sensitivity >= 0.95


def test_permutation_importance_agrees_with_sklearn():
    cohort = load_heart_failure()
    X = cohort.X[["ejection_fraction", "serum_creatinine", "age", "platelets"]]
    model = LogisticRegression(max_iter=1000).fit(X, cohort.y)
    ours = permutation_importance_grouped(model, X, cohort.y, n_repeats=60, random_state=0).set_index("group")
    ref = permutation_importance(model, X, cohort.y, scoring="roc_auc", n_repeats=60, random_state=0)
    for i, col in enumerate(X.columns):
        assert ours.loc[col, "importance_mean"] == pytest.approx(ref.importances_mean[i], abs=0.01)
    assert ours.index[0] in ("ejection_fraction", "serum_creatinine")


def test_grouped_permutation_moves_columns_together():
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"a": rng.normal(size=300)})
    X["a_copy"] = X["a"]
    y = (X["a"] + 0.3 * rng.normal(size=300) > 0).astype(int).to_numpy()
    model = LogisticRegression().fit(X, y)
    grouped = permutation_importance_grouped(model, X, y, groups={"both": ["a", "a_copy"]}, random_state=0)
    single = permutation_importance_grouped(model, X, y, random_state=0)
    assert grouped.loc[0, "importance_mean"] > single["importance_mean"].max()
    assert grouped.loc[0, "importance_mean"] == pytest.approx(grouped.loc[0, "baseline"] - 0.5, abs=0.08)


def test_removal_importance_ranks_true_inputs_first():
    from scintiml.explain import removal_importance
    from scintiml.select.candidates import CandidateData, default_estimator, train_candidates

    cohort = make_mibg_cohort(random_state=0)
    split = split_cohort(cohort, random_state=0)
    cols = ["delta_lvef", "planar_washout", "age", "bmi"]
    X = cohort.X[cols].to_numpy()
    data = CandidateData.build(X[split.training], cohort.y[split.training], X[split.selection],
                               cohort.y[split.selection], "meanstd", seed=0)
    rng = np.random.RandomState(0)
    table = removal_importance(
        lambda subsets: train_candidates(data, subsets, default_estimator(), 3, rng).selection_loss, cols
    )
    assert set(table["input"].iloc[:2]) == {"delta_lvef", "planar_washout"}
    assert (table["loss_increase"].iloc[:2] > 0.1).all()


def test_the_study_describes_inputs_with_their_missing_values_left_out_not_filled_in():
    from sklearn.metrics import roc_auc_score

    from scintiml import load_cohort
    from scintiml.stages import explore_stage, split_stage

    rng = np.random.RandomState(4)
    n = 160
    y = rng.binomial(1, 0.4, n)
    a = rng.normal(size=n) + 0.8 * y
    b = 0.5 * a + rng.normal(size=n)
    a[rng.rand(n) < 0.25] = np.nan  # a quarter missing
    cohort = load_cohort(pd.DataFrame({"a": a, "b": b, "event": y}), "event")
    explored = explore_stage(split_stage(cohort, random_state=0)).results
    row = next(r for r in explored["univariate"] if r["input"] == "a")
    ok = ~np.isnan(a)
    assert row["auc"] == pytest.approx(roc_auc_score(y[ok], a[ok]))  # complete cases, not medians filled in
    r = explored["correlation"]["matrix"][explored["correlation"]["inputs"].index("a")][
        explored["correlation"]["inputs"].index("b")]
    assert r == pytest.approx(stats.pearsonr(a[ok], b[ok])[0])
    assert explored["correlation_with_outcome"]["a"] == pytest.approx(stats.pearsonr(a[ok], y[ok])[0])


@pytest.mark.parametrize("low, high", [(1000, 1100), (1000, 1040), (20000, 20100), (0, 3)])
def test_the_printed_rule_classifies_every_patient_as_the_evaluated_rule(low, high):
    # a midpoint 1050.31 was printed "1050": a patient at 1050 met the printed rule and not the evaluated one
    import re

    rng = np.random.RandomState(0)
    score = rng.randint(low, high + 1, 300).astype(float) + (0.25 if high < 10 else 0.0) * rng.randint(0, 4, 300)
    y = (score + rng.normal(scale=(high - low) / 4, size=300) > (low + high) / 2).astype(int)
    X = pd.DataFrame({"score": score})
    rule = extract_rule(X, y, ["score"], max_conditions=1)
    op, printed = re.fullmatch(r"score (<=|>=) (\S+)", rule.text).groups()
    again = (score >= float(printed)) if op == ">=" else (score <= float(printed))
    np.testing.assert_array_equal(again.astype(int), rule.predict(X))


def test_every_candidate_cut_off_lies_strictly_between_two_observed_values():
    # an interpolated quantile of the midpoints could land on a patient's own value (2.35): that patient met
    # both "<= 2.35" and ">= 2.35"
    from scintiml.explain.rules import _candidates

    rng = np.random.RandomState(1)
    for _ in range(300):
        v = np.round(rng.exponential(10, rng.randint(62, 200)), rng.randint(0, 3))
        u, cut = np.unique(v), _candidates(v, 60)
        assert not np.isin(cut, u).any() and cut.min() > u.min() and cut.max() < u.max() and len(cut) <= 60


def test_a_rule_on_a_text_columns_levels_reads_as_the_level_not_as_an_indicator_threshold():
    # "grade=low <= 0.5 and grade=mid <= 0.5" was how a study on a text column stated its rule
    from scintiml.cohort import load_cohort
    from scintiml.explain import extract_rule

    rng = np.random.default_rng(0)
    grade = rng.choice(["high", "low", "mid"], 300)
    y = (rng.random(300) < np.where(grade == "high", 0.7, 0.15)).astype(int)
    cohort = load_cohort(pd.DataFrame({"grade": grade, "age": rng.normal(60, 9, 300), "y": y}), "y")
    rule = extract_rule(cohort.X, cohort.y, ["grade=low", "grade=mid"], categories=cohort.categories)
    assert all(c.level is not None for c in rule.conditions)
    assert rule.text in ("grade is not low and grade is not mid", "grade is not mid and grade is not low")
    # the same rule read through the table: exactly the patients of grade "high"
    assert (rule.predict(cohort.X) == (grade == "high")).all()
    plain = extract_rule(cohort.X, cohort.y, ["grade=low", "grade=mid"])  # no categories: as before
    assert "grade=low <= 0.5" in plain.text
