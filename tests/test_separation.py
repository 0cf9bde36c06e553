"""Perfect separation: an AUC of 1 on a few patients, and a calibration slope that does not exist, are not
reported as certainties."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scintiml.datasets import make_mibg_cohort
from scintiml.errors import ScintimlError
from scintiml.evaluate import auc_ci
from scintiml.external import recalibrate_bundle
from scintiml.external.metrics import calibration_fit
from scintiml.external.validate import verdict


@pytest.mark.parametrize("n_events, n_non", [(3, 3), (5, 12), (30, 8)])
def test_a_perfect_auc_gets_the_exact_binomial_interval_not_one_to_one(n_events, n_non):
    y = np.r_[np.zeros(n_non), np.ones(n_events)]
    result = auc_ci(y, np.r_[np.linspace(0, 0.4, n_non), np.linspace(0.6, 1, n_events)])
    k = min(n_events, n_non)
    exact = stats.binomtest(k, k).proportion_ci(confidence_level=0.95, method="exact")  # scipy's Clopper-Pearson
    assert result.auc == 1.0 and result.ci[1] == 1.0
    assert result.ci[0] == pytest.approx(exact.low, rel=1e-12) and result.ci[0] < 1.0
    flipped = auc_ci(y, -np.r_[np.linspace(0, 0.4, n_non), np.linspace(0.6, 1, n_events)])
    assert flipped.auc == 0.0 and flipped.ci == pytest.approx((0.0, 1 - exact.low))


def test_one_pair_ranked_wrong_keeps_delongs_interval():
    result = auc_ci([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.75, 0.7, 0.8, 0.9])
    assert result.method == "delong" and result.auc < 1.0


def test_a_separated_site_has_no_slope_and_no_clean_bill_of_calibration():
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(40), np.ones(25)]
    p = np.r_[rng.uniform(0.05, 0.45, 40), rng.uniform(0.55, 0.95, 25)]
    fit = calibration_fit(y, p)
    assert fit.separated and fit.to_dict()["separated"] is True
    # no estimate, so no number: the slope Newton stopped at (271.9, CI ±2.5e7) was printed by validate
    assert np.isnan(fit.slope) and fit.to_dict()["slope"] is None and fit.to_dict()["slope_ci95"] == [None, None]
    assert not calibration_fit(rng.binomial(1, p), p).separated
    perf = {"auc": 1.0, "auc_ci95": [0.86, 1.0], "calibration": fit.to_dict()}
    label, reasons = verdict(perf, development_auc=0.9)
    assert "calibration slope cannot be estimated" in " ".join(reasons)
    assert "consistent with 0 and 1" not in " ".join(reasons)


def test_recalibration_refuses_a_slope_from_separated_patients(tmp_path):
    from scintiml.bundle import save_bundle
    from scintiml.study import run_study

    cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    model = save_bundle(run_study(cohort, inputs="all", readiness=False, random_state=0), tmp_path / "m")
    from scintiml.bundle import load_bundle

    frame = cohort.X.copy()
    p = load_bundle(model).model.predict_proba(frame)[:, 1]
    frame["outcome"] = (p > np.median(p)).astype(int)  # outcomes the model's scores separate exactly
    with pytest.raises(ScintimlError, match="separate these patients' outcomes perfectly.*--method intercept"):
        recalibrate_bundle(model, frame, "outcome", tmp_path / "r")
    recalibrate_bundle(model, frame, "outcome", tmp_path / "r2", method="intercept")  # a shift is estimable


def test_ties_at_the_boundary_are_separation_too():
    assert calibration_fit([0, 1], [0.5, 0.5]).separated


def test_the_calibration_fit_does_not_run_off_where_the_predictions_saturate():
    sm = pytest.importorskip("statsmodels.api")
    from scipy.special import logit

    rng = np.random.RandomState(0)
    y = (rng.uniform(size=300) < 0.36).astype(float)
    p = np.where(rng.uniform(size=300) < 0.9, 0.994, rng.uniform(0.3, 0.99, 300))  # a site the model overrates
    fit = calibration_fit(y, p)  # an undamped Newton step sent this intercept to +1.7e7 with SE 0
    reference = sm.GLM(y, np.ones((300, 1)), family=sm.families.Binomial(), offset=logit(p)).fit()
    assert fit.intercept == pytest.approx(reference.params[0], abs=1e-6)
    assert fit.intercept_se == pytest.approx(reference.bse[0], rel=1e-4)
    slope = sm.GLM(y, sm.add_constant(logit(p)), family=sm.families.Binomial()).fit()
    assert fit.slope == pytest.approx(slope.params[1], abs=1e-6)


def test_the_bootstrap_interval_of_a_perfect_auc_is_the_exact_one_too():
    # every stratified resample of separated data is separated: the percentile interval was [1, 1]
    y = np.r_[np.zeros(3), np.ones(3)]
    s = np.r_[0.1, 0.2, 0.3, 0.7, 0.8, 0.9]
    boot, delong = auc_ci(y, s, method="bootstrap", random_state=0), auc_ci(y, s)
    assert boot.ci == delong.ci and boot.ci[0] == pytest.approx(0.025 ** (1 / 3)) and boot.ci[1] == 1.0
    with pytest.raises(ValueError, match="method must be"):
        auc_ci(y, s, method="bootsrap")


def test_a_perfect_nested_headline_gets_the_exact_interval_not_one_to_one():
    # every outer fold's AUC 1: the corrected resampled-t interval had width 0, "1.000 (1.000-1.000)"
    from sklearn.linear_model import LogisticRegression

    from scintiml.nested import nested_cross_validation

    rng = np.random.default_rng(0)
    y = (rng.random(150) < 0.4).astype(int)
    X = pd.DataFrame({"sep": y * 2.0 + rng.uniform(0, 1, 150), "noise": rng.normal(size=150)})
    result = nested_cross_validation(LogisticRegression(), X, y, random_state=0)
    assert result.fold_aucs == [1.0] * 5 and result.auc == 1.0
    pairs = min(int(y.sum()), int(len(y) - y.sum()))  # stratified folds: the rarer class's size in all
    assert result.auc_ci95 == pytest.approx((0.025 ** (1 / pairs), 1.0))
    # and says so: the report printed this interval as "corrected resampled t (Nadeau & Bengio 2003)"
    summary = result.to_dict()
    assert summary["interval"].startswith("exact binomial") and "repeated" not in summary["what"]
    assert summary["baselines"] == {}
