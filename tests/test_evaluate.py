import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, f1_score, matthews_corrcoef, roc_auc_score

from scintiml.evaluate import (
    auc_ci,
    binary_classification_tests,
    brier_score,
    calibration_intercept_slope,
    cumulative_gain,
    decision_curve,
    delong_se,
    delong_test,
    evaluate_binary,
    hanley_mcneil_se,
    likelihood_ratio_interval,
    roc_auc,
    roc_curve,
    threshold_for_sensitivity,
    threshold_for_specificity,
    wilson_interval,
    youden_threshold,
)

# Hanley & McNeil (Radiology 1982;143:29-36), Table I: CT ratings (1 = definitely normal ...
# 5 = definitely abnormal) of 109 patients, 58 truly normal and 51 truly abnormal.
HM_NORMAL = [33, 6, 6, 11, 2]
HM_ABNORMAL = [3, 2, 2, 11, 33]


def hanley_mcneil_data():
    ratings = np.arange(1, 6)
    s = np.r_[np.repeat(ratings, HM_NORMAL), np.repeat(ratings, HM_ABNORMAL)].astype(float)
    y = np.r_[np.zeros(58), np.ones(51)].astype(int)
    return y, s


def brute_force_components(y, s):
    """DeLong's placement values by direct pairwise comparison (O(n_pos * n_neg))."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)


def test_hanley_mcneil_worked_example():
    y, s = hanley_mcneil_data()
    auc = roc_auc(y, s)
    assert round(auc, 3) == 0.893  # the published area
    assert auc == pytest.approx(roc_auc_score(y, s), abs=1e-15)
    # the published SE (0.032) is Hanley-McNeil's formula evaluated at A = 0.893
    assert abs(hanley_mcneil_se(0.893, 51, 58) - 0.032) < 0.001
    # DeLong's SE on the same data: equal to the pairwise definition, and close to the published figure
    _, v10, v01 = brute_force_components(y, s)
    reference = np.sqrt(v10.var(ddof=1) / 51 + v01.var(ddof=1) / 58)
    assert delong_se(y, s) == pytest.approx(reference, rel=1e-12)
    assert abs(delong_se(y, s) - 0.032) < 0.002


def test_delong_se_agrees_with_bootstrap():
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(80), np.ones(60)].astype(int)
    s = rng.normal(size=140) + 1.0 * y
    d = auc_ci(y, s, method="delong")
    b = auc_ci(y, s, method="bootstrap", n_bootstrap=3000, random_state=1)
    assert b.se == pytest.approx(d.se, rel=0.12)
    assert b.ci[0] == pytest.approx(d.ci[0], abs=0.02) and b.ci[1] == pytest.approx(d.ci[1], abs=0.02)
    assert d.ci[0] < d.auc < d.ci[1]


def test_auc_matches_sklearn_with_ties():
    rng = np.random.RandomState(3)
    y = rng.randint(0, 2, 200)
    s = np.round(rng.rand(200) + 0.3 * y, 1)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-14)


def test_paired_delong_against_hand_computation():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0])
    s1 = np.array([0.9, 0.8, 0.35, 0.6, 0.3, 0.5, 0.2, 0.1, 0.4])
    s2 = np.array([0.7, 0.4, 0.6, 0.2, 0.5, 0.3, 0.1, 0.6, 0.25])
    a1, v10_1, v01_1 = brute_force_components(y, s1)
    a2, v10_2, v01_2 = brute_force_components(y, s2)
    # by hand: AUC1 = 18/20 = 0.9 ... pairs won by each score
    assert a1 == pytest.approx(18 / 20) and a2 == pytest.approx(13.5 / 20)
    var = (np.var(v10_1 - v10_2, ddof=1) / 4) + (np.var(v01_1 - v01_2, ddof=1) / 5)
    result = delong_test(y, s1, s2)
    assert result.difference == pytest.approx(0.9 - 0.675)
    assert result.se == pytest.approx(np.sqrt(var), rel=1e-12)
    from scipy.stats import norm

    assert result.p_value == pytest.approx(2 * norm.sf(0.225 / np.sqrt(var)), rel=1e-12)
    same = delong_test(y, s1, s1)
    assert same.difference == 0 and same.p_value == 1.0


def test_roc_curve_band_contains_curve():
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(50), np.ones(50)].astype(int)
    s = rng.normal(size=100) + y
    curve = roc_curve(y, s, n_bootstrap=300, random_state=0)
    mid = np.interp(curve.band_fpr, curve.fpr, curve.tpr)
    inside = (curve.band_lower <= mid + 1e-9) & (mid <= curve.band_upper + 1e-9)
    assert inside.mean() > 0.95


def test_thresholds():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
    # at t = 0.7: sens 3/4, spec 4/4 -> J = 0.75; at t = 0.4: sens 1, spec 3/4 -> J = 0.75; highest wins
    assert youden_threshold(y, s) == 0.7
    assert threshold_for_sensitivity(y, s, 1.0) == 0.4
    assert threshold_for_specificity(y, s, 1.0) == pytest.approx(0.7)
    assert threshold_for_specificity(y, s, 0.75) == pytest.approx(0.4)


def test_binary_classification_tests_by_hand():
    # 10 events, 20 non-events; threshold 0.5 calls 8 events and 5 non-events positive
    y = np.r_[np.ones(10), np.zeros(20)].astype(int)
    s = np.r_[np.full(8, 0.9), np.full(2, 0.1), np.full(5, 0.8), np.full(15, 0.2)]
    cm, t = binary_classification_tests(y, s, 0.5, random_state=0)
    assert (cm.tp, cm.fn, cm.fp, cm.tn) == (8, 2, 5, 15)
    assert t["sensitivity"].value == pytest.approx(0.8)
    assert t["specificity"].value == pytest.approx(0.75)
    assert t["ppv"].value == pytest.approx(8 / 13)
    assert t["npv"].value == pytest.approx(15 / 17)
    assert t["accuracy"].value == pytest.approx(23 / 30)
    assert t["error_rate"].value == pytest.approx(7 / 30)
    assert t["prevalence"].value == pytest.approx(1 / 3)
    assert t["balanced_accuracy"].value == pytest.approx(0.775)
    assert t["youden_j"].value == pytest.approx(0.55)
    assert t["lr_positive"].value == pytest.approx(0.8 / 0.25)
    assert t["lr_negative"].value == pytest.approx(0.2 / 0.75)
    pred = (s >= 0.5).astype(int)
    assert t["f1"].value == pytest.approx(f1_score(y, pred))
    assert t["mcc"].value == pytest.approx(matthews_corrcoef(y, pred))
    # log-method interval for LR+: SE = sqrt(1/8 - 1/10 + 1/5 - 1/20)
    se = np.sqrt(1 / 8 - 1 / 10 + 1 / 5 - 1 / 20)
    assert t["lr_positive"].ci[0] == pytest.approx(3.2 * np.exp(-1.959963984540054 * se))
    assert t["lr_positive"].ci[1] == pytest.approx(3.2 * np.exp(1.959963984540054 * se))
    for name in ("f1", "mcc", "balanced_accuracy", "youden_j"):
        lo, hi = t[name].ci
        assert lo <= t[name].value <= hi


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (47, 51), (1, 3)])
def test_wilson_matches_statsmodels(k, n):
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    ours = wilson_interval(k, n)
    assert ours[0] == pytest.approx(lo, abs=1e-12) and ours[1] == pytest.approx(hi, abs=1e-12)


def test_likelihood_ratio_interval_holds_the_ratio_when_a_cell_is_zero():
    # no non-event called positive: LR+ is infinite; the Haldane-corrected counts give the lower end only
    value, (lo, hi) = likelihood_ratio_interval(10, 0, 2, 20, positive=True)
    assert value == np.inf and hi == np.inf
    sens, spec = 10.5 / 13, 20.5 / 21  # TP 10, FP 0, FN 2, TN 20, each + 0.5
    se = np.sqrt(1 / 10.5 - 1 / 13 + 1 / 0.5 - 1 / 21)
    assert lo == pytest.approx(sens / (1 - spec) * np.exp(-1.959963984540054 * se))
    # no event missed: LR- is 0, and so is its interval's lower end (it was 0.007-1.399 around a printed 0.000)
    value, (lo, hi) = likelihood_ratio_interval(5, 8, 0, 47, positive=False)
    assert value == 0 and lo == 0 and 0 < hi < np.inf


@pytest.mark.parametrize("counts", [(25, 0, 0, 35), (5, 0, 8, 47), (8, 2, 5, 15)])
def test_count_statistic_intervals_propagate_jeffreys_distributions_and_hold_their_value(counts):
    # a perfectly classified testing part had "balanced accuracy 1.000 (1.000-1.000)": a percentile bootstrap
    # of patients never moves a proportion at 1. The reference: sensitivity and specificity drawn from
    # Beta(x + 1/2, n - x + 1/2) by scipy, 200,000 times
    from scipy import stats

    tp, fn, fp, tn = counts
    y = np.r_[np.ones(tp + fn), np.zeros(fp + tn)].astype(int)
    s = np.r_[np.full(tp, 0.9), np.full(fn, 0.1), np.full(fp, 0.9), np.full(tn, 0.1)]
    _, t = binary_classification_tests(y, s, 0.5, n_bootstrap=20000, random_state=0)
    rng = np.random.default_rng(1)
    sens = stats.beta.rvs(tp + 0.5, fn + 0.5, size=200000, random_state=rng)
    spec = stats.beta.rvs(tn + 0.5, fp + 0.5, size=200000, random_state=rng)
    reference = {"balanced_accuracy": (sens + spec) / 2, "youden_j": sens + spec - 1}
    for name, draws in reference.items():
        lo, hi = np.quantile(draws, [0.025, 0.975])
        value = t[name].value
        assert t[name].ci[0] == pytest.approx(min(lo, value), abs=0.01)
        assert t[name].ci[1] == pytest.approx(max(hi, value), abs=0.01)
    for name in ("balanced_accuracy", "youden_j", "f1", "mcc"):
        lo, hi = t[name].ci
        assert lo <= t[name].value <= hi
        if min(counts) == 0:  # a proportion at 1 is no certainty: the interval has width
            assert lo < t[name].value - 0.03


def test_calibration_matches_statsmodels():
    import statsmodels.api as sm

    rng = np.random.RandomState(0)
    p = rng.uniform(0.05, 0.95, 400)
    true = 1 / (1 + np.exp(-(0.3 + 0.6 * np.log(p / (1 - p)))))
    y = rng.binomial(1, true)
    lp = np.log(p / (1 - p))
    intercept, slope = calibration_intercept_slope(y, p)
    ref_slope = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit().params[1]
    ref_int = sm.GLM(y, np.ones((400, 1)), family=sm.families.Binomial(), offset=lp).fit().params[0]
    assert slope == pytest.approx(ref_slope, rel=1e-6)
    assert intercept == pytest.approx(ref_int, rel=1e-6)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p))


def test_calibration_on_saturated_predictions_matches_statsmodels():
    # 90 % of the patients at p = 0.994 with 36 % events: an undamped Newton step sent the intercept to 3e6
    import statsmodels.api as sm
    from scipy.special import logit

    from scintiml.external.metrics import calibration_fit

    rng = np.random.RandomState(0)
    y = (rng.uniform(size=300) < 0.36).astype(float)
    p = np.where(rng.uniform(size=300) < 0.9, 0.994, rng.uniform(0.3, 0.99, 300))
    ref_a = sm.GLM(y, np.ones((300, 1)), family=sm.families.Binomial(), offset=logit(p)).fit().params[0]
    ref_b = sm.GLM(y, sm.add_constant(logit(p)), family=sm.families.Binomial()).fit().params[1]
    intercept, slope = calibration_intercept_slope(y, p)
    assert intercept == pytest.approx(ref_a, rel=1e-6) and slope == pytest.approx(ref_b, rel=1e-5)
    fit = calibration_fit(y, p)  # the external validation's figures are the same fit
    assert (fit.intercept, fit.slope) == pytest.approx((intercept, slope), rel=1e-9)


def test_calibration_slope_is_none_where_it_has_no_estimate():
    y = np.r_[np.ones(10), np.zeros(10)]
    separated = np.r_[np.linspace(0.6, 0.99, 10), np.linspace(0.01, 0.4, 10)]
    assert np.isnan(calibration_intercept_slope(y, separated)[1])  # was 136 (the fit runs off, never converges)
    assert np.isnan(calibration_intercept_slope(y, np.full(20, 0.4))[1])  # no spread at all: was -11
    assert evaluate_binary(y, separated).to_dict()["calibration_slope"] is None


def test_one_clip_for_a_probability_of_exactly_one():
    # a float32 sigmoid returns exactly 1.0 from a logit of about 17; the study's and the external validation's
    # slopes for the same predictions must not differ by their clipping constants (they were 0.52 and 0.72)
    from scintiml.external.metrics import calibration_fit

    rng = np.random.RandomState(1)
    p = rng.uniform(0.02, 0.98, 200)
    y = rng.binomial(1, p).astype(float)
    p, y = np.r_[p, 1.0], np.r_[y, 0.0]
    assert calibration_intercept_slope(y, p)[1] == pytest.approx(calibration_fit(y, p).slope, rel=1e-9)


def test_likelihood_ratio_of_nobody_called_positive_is_undefined_not_infinite():
    # TP = FP = 0: sensitivity 0 over 1 - specificity 0 is 0/0
    value, (lo, hi) = likelihood_ratio_interval(0, 0, 12, 20, positive=True)
    assert np.isnan(value) and np.isnan(lo) and np.isnan(hi)
    value, (lo, hi) = likelihood_ratio_interval(12, 20, 0, 0, positive=False)  # everybody positive: LR- is 0/0
    assert np.isnan(value) and np.isnan(lo)
    assert likelihood_ratio_interval(10, 0, 2, 20, positive=True)[0] == np.inf  # x/0 stays infinite


def test_binary_tests_refuse_nan_scores_instead_of_counting_them_negative():
    y = np.r_[np.zeros(40), np.ones(40)].astype(int)
    s = np.linspace(0, 1, 80)
    s[::8] = np.nan
    with pytest.raises(ValueError, match="NaN|missing|finite"):
        binary_classification_tests(y, s, 0.5)


def test_youden_tie_is_broken_towards_the_higher_threshold_exactly():
    # two thresholds give exactly J = 6/11 here; in floating point their sens + spec differed in the last bit and
    # the lower threshold won, against the documented rule (among ties, the highest)
    from fractions import Fraction

    rng = np.random.RandomState(7)
    y = np.array([0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0, 0])
    s = np.array([0.1488293, 0.13185204, 0.70791746, 0.70907211, 0.61174841, 0.67190702, 0.44751587, 0.69607717,
                  0.37832614, 0.10003205, 0.96025678, 0.07243445, 0.01930061, 0.97957325, 0.14847809, 0.25870232,
                  0.21552881, 0.5799124, 0.97575169, 0.2730089, 0.97007507, 0.02549735])
    for y_, s_ in [(y, s)] + [(rng.randint(0, 2, 22), rng.randint(0, 6, 22) / 5.0) for _ in range(50)]:
        if y_.min() == y_.max():
            continue
        candidates = np.r_[np.unique(s_), np.nextafter(s_.max(), np.inf)]  # and "nobody positive"
        exact = {t: Fraction(int((s_[y_ == 1] >= t).sum()), int(y_.sum()))
                 + Fraction(int((s_[y_ == 0] < t).sum()), int((1 - y_).sum())) for t in candidates}
        best = max(exact.values())
        assert youden_threshold(y_, s_) == max(t for t, v in exact.items() if v == best)


def test_gain_and_decision_curve_by_hand():
    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    gain = cumulative_gain(y, s)
    assert gain["gain"] == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert gain["lift"][1] == pytest.approx(2.0)
    dc = decision_curve(y, s, thresholds=np.array([0.5, 0.75]))
    # pt = 0.5: TP = 2, FP = 1 -> 2/4 - 1/4 * 1 = 0.25; treat all: 0.5 - 0.5 = 0
    assert dc["model"][0] == pytest.approx(0.25)
    assert dc["treat_all"][0] == pytest.approx(0.0)
    # pt = 0.75: TP = 1, FP = 1 -> 1/4 - 1/4 * 3 = -0.5
    assert dc["model"][1] == pytest.approx(-0.5)


def test_evaluate_binary_warns_on_small_testing_set():
    y = np.r_[np.ones(6), np.zeros(14)].astype(int)
    s = np.r_[np.linspace(0.6, 0.99, 6), np.linspace(0.01, 0.55, 14)]
    ev = evaluate_binary(y, s, threshold=0.9)
    assert ev.auc.auc == 1.0
    text = " ".join(ev.warnings)
    assert "only 6 events" in text
    assert "wider than 0.3" in text
    # at 0.9 only 2 of the 6 events are called positive: accuracy (2 + 14) / 20 = 0.80 despite AUC 1, so it warns
    assert ev.tests["accuracy"].value == pytest.approx(16 / 20)
    assert "AUC 1.00 but accuracy 0.80 at threshold 0.9" in text
    d = ev.to_dict()
    assert d["auc_ci95"][1] <= 1.0 and d["confusion_matrix"]["tp"] == sum(s[:6] >= 0.9)


def test_evaluate_binary_flags_auc_one_with_poor_accuracy():
    y = np.r_[np.ones(10), np.zeros(30)].astype(int)
    s = np.r_[np.full(10, 0.95), np.linspace(0.5, 0.9, 30)]
    ev = evaluate_binary(y, s, threshold=0.5)
    assert any("AUC 1.00 but accuracy" in w for w in ev.warnings)


def test_evaluate_binary_rule_threshold_is_flagged():
    rng = np.random.RandomState(0)
    y = np.r_[np.ones(40), np.zeros(40)].astype(int)
    s = 1 / (1 + np.exp(-(rng.normal(size=80) + y)))
    ev = evaluate_binary(y, s, threshold="youden")
    assert ev.threshold == youden_threshold(y, s)
    assert any("chosen on these same patients" in w for w in ev.warnings)


@pytest.mark.parametrize(
    "y, s, fragment",
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "only one class"),
        ([0, 1, 0], [0.1, np.nan, 0.3], "NaN"),
        ([0, 1, 0], [0.1, 0.2], "different lengths"),
        ([0, 2, 1], [0.1, 0.2, 0.3], "must be 0/1"),
    ],
)
def test_degenerate_inputs(y, s, fragment):
    with pytest.raises(ValueError, match=fragment):
        evaluate_binary(y, s)
