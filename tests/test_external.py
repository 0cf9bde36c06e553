"""External validation, recalibration, internal-external cross-validation, missing-input rules, drift guard
and the bundled four-hospital heart-disease cohort."""

import hashlib
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

from scintiml.datasets import heart_disease_frame, heart_disease_sites, load_heart_disease


# --- the bundled cohort ------------------------------------------------------------------------------------------

def test_heart_disease_file_is_the_published_one():
    data = files("scintiml.datasets").joinpath("data", "heart_disease.csv").read_bytes()
    assert hashlib.sha256(data).hexdigest() == "3e5f4739e6724241bbd4c54d11241abdf3e45b583ca62b6d0beccc2bdc9ce184"


def test_heart_disease_sites_events_and_quirks():
    cohort = load_heart_disease()
    assert cohort.n_patients == 920 and cohort.n_events == 139 + 106 + 115 + 149
    assert "num" not in cohort.inputs and "site" not in cohort.inputs and "disease" not in cohort.inputs
    sites = heart_disease_sites(cohort)
    assert {s: int((sites == s).sum()) for s in np.unique(sites)} == {
        "cleveland": 303, "hungarian": 294, "switzerland": 123, "va": 200}
    # chol = 0 is a missing code: 123 Swiss + 49 VA zeros, added to the cells already empty in the file
    raw = pd.read_csv(files("scintiml.datasets").joinpath("data", "heart_disease.csv"))
    assert int((raw["chol"] == 0).sum()) == 172
    assert cohort.missing["chol"] == int(raw["chol"].isna().sum()) + 172
    assert (cohort.X["chol"].dropna() > 0).all() and (cohort.X["trestbps"].dropna() > 0).all()
    assert any("chol (172), trestbps (1)" in n for n in cohort.notes)
    assert cohort.groups["imaging"] == ["thal"] and cohort.groups["fluoroscopy"] == ["ca"]
    # the outcome is num > 0, row for row
    assert np.array_equal(cohort.y, (raw["num"] > 0).astype(int).to_numpy())


def test_heart_disease_single_site_and_unknown_site():
    cleveland = load_heart_disease("cleveland")
    assert (cleveland.n_patients, cleveland.n_events) == (303, 139)
    swiss = load_heart_disease("switzerland")
    assert swiss.n_patients - swiss.n_events == 8
    assert any("only 8 patients without disease" in n for n in swiss.notes)
    assert heart_disease_frame("switzerland")["chol"].isna().all()
    from scintiml.errors import ScintimlError

    with pytest.raises(ScintimlError, match="unknown site.*'mayo'"):
        load_heart_disease("mayo")


# --- statistics against statsmodels ----------------------------------------------------------------------------

def test_random_effects_matches_statsmodels_dersimonian_laird():
    from statsmodels.stats.meta_analysis import combine_effects

    from scintiml.external import random_effects

    effects, variances = np.array([0.1, 0.5, 0.3, 0.9]), np.array([0.01, 0.02, 0.015, 0.03])
    ours = random_effects(effects, np.sqrt(variances))
    theirs = combine_effects(effects, variances, method_re="dl")
    frame = theirs.summary_frame()
    assert ours["tau2"] == pytest.approx(theirs.tau2)
    assert ours["i2"] == pytest.approx(theirs.i2)
    assert ours["q"] == pytest.approx(theirs.q)
    assert ours["mean"] == pytest.approx(frame.loc["random effect", "eff"])
    assert ours["ci95"] == pytest.approx([frame.loc["random effect", "ci_low"], frame.loc["random effect", "ci_upp"]])
    # Riley et al. 2011: mu ± t(k-2) sqrt(tau² + se²), by hand
    from scipy import stats

    half = stats.t.ppf(0.975, 2) * np.sqrt(theirs.tau2 + frame.loc["random effect", "sd_eff"] ** 2)
    assert ours["prediction_interval95"] == pytest.approx([ours["mean"] - half, ours["mean"] + half])


def test_pool_auc_is_on_the_logit_scale():
    from scipy.special import expit, logit

    from scintiml.external import pool_auc, random_effects

    aucs, ses = [0.70, 0.85, 0.80], [0.04, 0.03, 0.05]
    pooled = pool_auc(aucs, ses)
    on_logit = random_effects(logit(aucs), np.array(ses) / (np.array(aucs) * (1 - np.array(aucs))))
    assert pooled["auc"] == pytest.approx(expit(on_logit["mean"]))
    assert pooled["auc_prediction_interval95"][0] < pooled["auc_ci95"][0] < pooled["auc"]
    assert pool_auc([0.8, 0.8], [0.03, 0.03])["auc_prediction_interval95"] is None  # needs k >= 3


def test_calibration_fit_matches_statsmodels_glm():
    import statsmodels.api as sm
    from scipy.special import logit

    from scintiml.external import calibration_fit

    rng = np.random.RandomState(3)
    p = rng.uniform(0.05, 0.95, 300)
    y = rng.binomial(1, np.clip(p * 0.8 + 0.05, 0, 1))
    lp = logit(p)
    fit = calibration_fit(y, p)
    slope_model = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    citl_model = sm.GLM(y, np.ones((300, 1)), family=sm.families.Binomial(), offset=lp).fit()
    assert fit.slope == pytest.approx(slope_model.params[1], abs=1e-7)
    assert fit.slope_se == pytest.approx(slope_model.bse[1], rel=1e-5)
    assert fit.slope_ci == pytest.approx(tuple(slope_model.conf_int()[1]), rel=1e-5)
    assert fit.intercept == pytest.approx(citl_model.params[0], abs=1e-7)
    assert fit.intercept_ci == pytest.approx(tuple(citl_model.conf_int()[0]), rel=1e-5)


def test_external_performance_recovers_a_known_miscalibration():
    from scintiml.external import external_performance

    rng = np.random.RandomState(0)
    lp = rng.normal(0, 1.5, 3000)
    y = rng.binomial(1, 1 / (1 + np.exp(-(lp + 1.0))))  # the truth is one logit unit higher than predicted
    result = external_performance(y, 1 / (1 + np.exp(-lp)), threshold=0.5)
    lo, hi = result["calibration"]["intercept_ci95"]
    assert lo < 1.0 < hi and lo > 0.8
    assert result["calibration"]["slope_ci95"][0] < 1 < result["calibration"]["slope_ci95"][1]
    assert result["brier_ci95"][0] < result["brier"] < result["brier_ci95"][1]
    assert result["tests"]["sensitivity"]["ci95"][0] < result["tests"]["sensitivity"]["value"]
    assert len(result["decision_curve"]["threshold"]) == 99


# --- drift and missing inputs -------------------------------------------------------------------------------------

def test_input_shift_flags_the_moved_input_and_missingness():
    from scintiml.bundle.tabular import training_summary
    from scintiml.external import input_shift

    rng = np.random.RandomState(1)
    train = pd.DataFrame({"age": rng.normal(60, 10, 400), "sex": rng.binomial(1, 0.3, 400).astype(float),
                          "dose": rng.normal(5, 1, 400)})
    new = pd.DataFrame({"age": rng.normal(66, 10, 300), "sex": rng.binomial(1, 0.3, 300).astype(float),
                        "dose": rng.normal(5, 1, 300)})
    new.loc[:59, "dose"] = np.nan
    summary = training_summary(train)
    for c in train:
        summary[c]["min"], summary[c]["max"] = float(train[c].min()), float(train[c].max())
    table = input_shift(summary, new).set_index("input")
    smd = (new["age"].mean() - train["age"].mean()) / np.sqrt((new["age"].var() + train["age"].var()) / 2)
    assert table.loc["age", "smd"] == pytest.approx(smd)
    assert table.loc["age", "ks_p_value"] < 1e-6 and table.loc["dose", "ks_p_value"] > 0.01
    assert pd.isna(table.loc["sex", "ks_p_value"])  # a 0/1 input: only point masses stored, no KS test
    assert table.loc["dose", "missing_change"] == pytest.approx(0.2)
    assert table["shifted"].to_dict() == {"age": True, "sex": False, "dose": True}
    # with the training patients at hand the KS test is scipy's two-sample test
    from scipy import stats

    exact = input_shift(summary, new, reference=train).set_index("input")
    assert exact.loc["age", "ks_statistic"] == pytest.approx(stats.ks_2samp(new["age"], train["age"]).statistic)


def test_missing_inputs_are_imputed_flagged_or_refused():
    from scintiml.external import MissingInputError, prepare_inputs

    frame = heart_disease_frame("va")
    medians = {"age": 54.0, "chol": 240.0, "trestbps": 130.0}
    n_missing = int(frame["trestbps"].isna().sum())  # 56 empty cells + the one 0 code
    assert n_missing == 57
    with pytest.raises(MissingInputError, match=r"'trestbps' is missing for 28 % of the patients \(more than the 20 %"):
        prepare_inputs(frame, ["age", "trestbps"], medians)  # default limit 20 %
    X, imputed, share = prepare_inputs(frame, ["age", "trestbps"], medians, max_missing_share=0.3)
    assert share == {"age": 0.0, "trestbps": pytest.approx(57 / 200)}
    assert (imputed == "trestbps").sum() == 57 and X["trestbps"].isna().sum() == 0
    assert (X.loc[frame["trestbps"].isna(), "trestbps"] == 130.0).all()
    with pytest.raises(MissingInputError, match=r"lack the model's input column\(s\) \['thal_score'\]"):
        prepare_inputs(frame, ["age", "thal_score"], medians)
    with pytest.raises(MissingInputError, match="no training median"):
        prepare_inputs(frame, ["trestbps"], {}, max_missing_share=0.5)
