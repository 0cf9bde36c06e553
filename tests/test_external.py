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
        prepare_inputs(frame, ["age", "trestbps"], medians, max_missing_share=0.2)
    X, imputed, share = prepare_inputs(frame, ["age", "trestbps"], medians)  # default limit 30 %
    assert share == {"age": 0.0, "trestbps": pytest.approx(57 / 200)}
    assert (imputed == "trestbps").sum() == 57 and X["trestbps"].isna().sum() == 0
    assert (X.loc[frame["trestbps"].isna(), "trestbps"] == 130.0).all()
    with pytest.raises(MissingInputError, match=r"'chol' is missing for 100 % .*more than the 30 %"):
        prepare_inputs(heart_disease_frame("switzerland"), ["age", "chol"], medians)
    with pytest.raises(MissingInputError, match=r"lack the model's input column\(s\) \['thal_score'\]"):
        prepare_inputs(frame, ["age", "thal_score"], medians)
    with pytest.raises(MissingInputError, match="no training median"):
        prepare_inputs(frame, ["trestbps"], {}, max_missing_share=0.5)


# --- validate and recalibrate on the bundled cohort ------------------------------------------------------------

TRANSPORT = ["age", "sex", "cp", "thalach", "exang", "oldpeak"]  # inputs recorded at all four sites


@pytest.fixture(scope="module")
def cleveland_bundle(tmp_path_factory):
    """A network trained on Cleveland (all of TRANSPORT kept, no input selection: fast), as a bundle."""
    from scintiml.bundle import load_bundle, save_bundle
    from scintiml.study import run_study

    cohort = load_heart_disease("cleveland").subset(TRANSPORT)
    cohort.groups = {}
    study = run_study(cohort, inputs="all", readiness=False, random_state=0)
    path = save_bundle(study, tmp_path_factory.mktemp("models") / "cleveland")
    return path, load_bundle(path)


def test_validate_on_hungarian_gives_cis_shift_membership_and_verdict(cleveland_bundle):
    from scintiml.evaluate import auc_ci
    from scintiml.external import validate_bundle

    path, bundle = cleveland_bundle
    site = heart_disease_frame("hungarian")
    result = validate_bundle(bundle, site, "disease", reference=heart_disease_frame("cleveland"),
                             protocol={"camera": "other"})
    perf = result.performance
    X = site[TRANSPORT].fillna(bundle.spec["imputation"] | {c: bundle.spec["training_summary"][c]["quantiles"]["0.5"]
                                                             for c in TRANSPORT})
    p = bundle.model.predict_proba(X)[:, 1]
    assert perf["auc"] == pytest.approx(auc_ci(site["disease"], p).auc)
    assert perf["n"] == 294 and perf["n_events"] == 106
    lo, hi = perf["auc_ci95"]
    assert lo < perf["auc"] < hi
    # Hungary's prevalence (36 %) is below Cleveland's (46 %): risks too high on average, CITL < 0
    assert perf["calibration"]["intercept_ci95"][1] < 0
    assert result.verdict == "recalibrate"
    assert any("calibration-in-the-large" in r and "too high" in r for r in result.reasons)
    assert set(result.shift["input"]) == set(TRANSPORT)
    assert 0.5 < result.membership["auc"] < 1
    assert result.protocol["differences"]  # camera=other is not in the bundle's (empty) protocol
    # thalach, exang and oldpeak: 1 Hungarian patient each is missing them, imputed and flagged
    assert (result.predictions["imputed"] != "").sum() == int(site[TRANSPORT].isna().any(axis=1).sum()) >= 1
    assert "rule" in result.to_dict() and result.to_dict()["verdict"] == "recalibrate"


def test_verdict_rule_retrain_recalibrate_transportable():
    from scintiml.external import verdict

    good_cal = {"intercept": 0.1, "intercept_ci95": [-0.2, 0.4], "slope": 0.95, "slope_ci95": [0.7, 1.2]}
    assert verdict({"auc": 0.80, "auc_ci95": [0.74, 0.86], "calibration": good_cal}, 0.82)[0] == "transportable"
    steep = dict(good_cal, slope=0.5, slope_ci95=[0.3, 0.7])
    assert verdict({"auc": 0.80, "auc_ci95": [0.74, 0.86], "calibration": steep}, 0.82)[0] == "recalibrate"
    # the whole AUC interval below 0.82 - 0.05 = 0.77: discrimination lost, whatever the calibration
    assert verdict({"auc": 0.70, "auc_ci95": [0.65, 0.76], "calibration": good_cal}, 0.82)[0] == "retrain"
    assert verdict({"auc": 0.62, "auc_ci95": [0.45, 0.79], "calibration": good_cal}, None)[0] == "retrain"


def test_validate_refuses_a_site_without_the_inputs(cleveland_bundle):
    from scintiml.external import MissingInputError, validate_bundle

    _, bundle = cleveland_bundle
    va = heart_disease_frame("va")
    va.loc[:80, "thalach"] = np.nan  # 81 + the 53 already missing of 200: over 30 %
    with pytest.raises(MissingInputError, match=r"'thalach' is missing for \d+ %"):
        validate_bundle(bundle, va, "disease")
    with pytest.raises(Exception, match="outcome column 'cad' not found"):
        validate_bundle(bundle, va, "cad")


def test_recalibration_on_half_a_site_improves_calibration_on_the_other_half(cleveland_bundle, tmp_path):
    from sklearn.model_selection import train_test_split

    from scintiml.bundle import load_bundle
    from scintiml.external import recalibrate_bundle, validate_bundle

    path, bundle = cleveland_bundle
    before_files = {p.name: p.read_bytes() for p in path.iterdir()}
    # VA Long Beach: 75 % prevalence against Cleveland's 46 %, so the model's risks are too low there
    site = heart_disease_frame("va")
    fit_half, check_half = train_test_split(site, test_size=0.5, stratify=site["disease"], random_state=0)
    record = recalibrate_bundle(path, fit_half, "disease", tmp_path / "recal", method="intercept",
                                data_name="va, first half")
    assert record["a"] > 0
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before_files  # the original is untouched
    new = load_bundle(tmp_path / "recal")
    assert new.card["recalibrations"][0]["n"] == len(fit_half)
    assert "Recalibration" in (tmp_path / "recal" / "card.md").read_text()
    old_check = validate_bundle(bundle, check_half, "disease")
    new_check = validate_bundle(new, check_half, "disease")
    a_old = old_check.performance["calibration"]["intercept"]
    a_new = new_check.performance["calibration"]["intercept"]
    assert abs(a_new) < abs(a_old) and abs(a_new) < 0.5
    assert new_check.performance["brier"] < old_check.performance["brier"]
    # the ranking, and so the AUC and each patient's class, are unchanged
    assert new_check.performance["auc"] == pytest.approx(old_check.performance["auc"])
    assert (new_check.predictions["above_threshold"] == old_check.predictions["above_threshold"]).all()
    # logistic recalibration folds a + b logit p into the output neuron: check it on one patient by hand
    logistic = recalibrate_bundle(path, fit_half, "disease", tmp_path / "recal2", method="logistic")
    from scipy.special import expit, logit

    X = check_half[TRANSPORT].fillna(check_half[TRANSPORT].median()).iloc[:5]
    p_old = bundle.model.predict_proba(X)[:, 1]
    p_new = load_bundle(tmp_path / "recal2").model.predict_proba(X)[:, 1]
    assert p_new == pytest.approx(expit(logistic["a"] + logistic["b"] * logit(p_old)))
    from scintiml.errors import ScintimlError

    with pytest.raises(ScintimlError, match="new folder"):
        recalibrate_bundle(path, fit_half, "disease", path)
    with pytest.raises(ScintimlError, match="method must be one of intercept, logistic"):
        recalibrate_bundle(path, fit_half, "disease", tmp_path / "x", method="isotonic")


def test_internal_external_cv_on_the_four_hospitals():
    from scintiml.external import internal_external_cv, pool_auc

    cohort = load_heart_disease()
    out = internal_external_cv(cohort.X[TRANSPORT], cohort.y, heart_disease_sites(cohort))
    rows = {r["site"]: r for r in out["per_site"]}
    assert set(rows) == {"cleveland", "hungarian", "switzerland", "va"}
    assert rows["switzerland"]["n"] == 123 and rows["switzerland"]["n_development"] == 797
    # the summary is the random-effects pooling of exactly these per-site results
    done = [r for r in out["per_site"] if "skipped" not in r]
    again = pool_auc([r["auc"] for r in done], [r["auc_se"] for r in done])
    assert out["summary"]["auc"]["auc"] == pytest.approx(again["auc"])
    pi = out["summary"]["auc"]["auc_prediction_interval95"]
    assert pi[0] < out["summary"]["auc"]["auc_ci95"][0] and 0 <= out["summary"]["auc"]["i2"] <= 1
    # Switzerland's 93 % prevalence: a model from the other sites predicts too low there
    assert rows["switzerland"]["calibration_intercept_ci95"][0] > 0


def test_internal_external_cv_seeds_the_pipeline_and_pools_only_weighable_sites():
    from scintiml.external import default_site_model, internal_external_cv, pool_auc

    rng = np.random.RandomState(3)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    y = rng.binomial(1, 1 / (1 + np.exp(-1.5 * X["a"].to_numpy())))
    sites = np.repeat(["s1", "s2", "s3", "tiny"], [95, 95, 95, 15])
    # the small site: its events are exactly its patients with the highest `a` -> AUC 1 with DeLong SE 0
    tiny = sites == "tiny"
    y[tiny] = 0
    y[np.flatnonzero(tiny)[np.argsort(X["a"].to_numpy()[tiny])[-5:]]] = 1
    X.loc[tiny, "a"] += 3 * y[tiny]
    assert any(k.endswith("__random_state") for k in default_site_model().get_params())
    first = internal_external_cv(X, y, sites, random_state=0)
    again = internal_external_cv(X, y, sites, random_state=0)
    assert [r.get("auc") for r in first["per_site"]] == [r.get("auc") for r in again["per_site"]]
    rows = {r["site"]: r for r in first["per_site"]}
    assert rows["tiny"]["auc"] == 1.0 and rows["tiny"]["auc_se"] == 0.0
    summary = first["summary"]["auc"]
    assert summary["left_out"] == ["tiny"] and summary["k"] == 3
    assert summary["auc"] == pytest.approx(pool_auc([rows[s]["auc"] for s in ("s1", "s2", "s3")],
                                                    [rows[s]["auc_se"] for s in ("s1", "s2", "s3")])["auc"])


def test_internal_external_cv_ticks_once_per_site_it_fits():
    """The study's progress bar moves after each left-out site's refit; a skipped site (one outcome) fits none."""
    from scintiml.external import internal_external_cv

    rng = np.random.RandomState(5)
    X = pd.DataFrame(rng.normal(size=(250, 2)), columns=["a", "b"])
    y = rng.binomial(1, 1 / (1 + np.exp(-X["a"].to_numpy())))
    sites = np.repeat(["s1", "s2", "s3", "none"], [80, 80, 80, 10])
    y[sites == "none"] = 0
    ticks = []
    out = internal_external_cv(X, y, sites, random_state=0, progress=ticks.append)
    assert ["skipped" in r for r in out["per_site"]] == [False, False, False, True]
    assert ticks == [1, 1, 1]


def test_internal_external_cv_refuses_one_site():
    from scintiml.errors import ScintimlError
    from scintiml.external import internal_external_cv

    cohort = load_heart_disease("cleveland")
    with pytest.raises(ScintimlError, match="at least 2 sites"):
        internal_external_cv(cohort.X[TRANSPORT], cohort.y, np.repeat("cleveland", 303))


# --- the command line -------------------------------------------------------------------------------------------

def test_validate_refuses_repeated_ids_and_a_reference_it_cannot_read_and_reads_decimal_commas(
        cleveland_bundle, tmp_path, capsys):
    import json

    from conftest import run_cli

    path, bundle = cleveland_bundle
    site = heart_disease_frame("hungarian")
    site["pid"] = [f"H{i}" for i in range(len(site))]
    dup = site.copy()
    dup.loc[5, "pid"] = "H3"
    dup.to_csv(tmp_path / "dup.csv", index=False)
    args = ["--target", "disease", "--no-pdf"]
    assert run_cli(["validate", str(path), str(tmp_path / "dup.csv"), *args, "--id", "pid",
                    "--out", str(tmp_path / "v1")]) == 2
    assert "id column 'pid' has 1 duplicated id(s), e.g. ['H3']" in capsys.readouterr().err
    site.to_csv(tmp_path / "site.csv", index=False)
    site.drop(columns=[bundle.inputs[0]]).to_csv(tmp_path / "lacks.csv", index=False)
    assert run_cli(["validate", str(path), str(tmp_path / "site.csv"), *args, "--reference",
                    str(tmp_path / "lacks.csv"), "--out", str(tmp_path / "v2")]) == 2
    err = capsys.readouterr().err
    assert "the reference table (--reference): the data lack the model's input column(s)" in err, err
    assert not (tmp_path / "v1").exists() and not (tmp_path / "v2").exists()
    # the site table given as its own reference: no membership "result" (cross-validation anti-learns), a note
    assert run_cli(["validate", str(path), str(tmp_path / "site.csv"), *args, "--reference",
                    str(tmp_path / "site.csv"), "--out", str(tmp_path / "v5")]) == 0
    assert "the very same patients" in capsys.readouterr().err
    assert json.loads((tmp_path / "v5" / "validation.json").read_text())["membership"] is None
    # a decimal-comma export: refused with the option named, and read with it (same AUC as the plain file)
    comma = site.copy()
    column = next(c for c in bundle.inputs if (site[c].dropna() % 1 != 0).any())
    comma[column] = comma[column].map(lambda v: "" if pd.isna(v) else str(v).replace(".", ","))
    comma.to_csv(tmp_path / "comma.csv", index=False, sep=";")
    assert run_cli(["validate", str(path), str(tmp_path / "comma.csv"), *args, "--out", str(tmp_path / "v3")]) == 2
    assert "--decimal-comma" in capsys.readouterr().err
    assert run_cli(["validate", str(path), str(tmp_path / "comma.csv"), *args, "--decimal-comma",
                    "--out", str(tmp_path / "v3")]) == 0
    assert run_cli(["validate", str(path), str(tmp_path / "site.csv"), *args, "--out", str(tmp_path / "v4")]) == 0
    aucs = [json.loads((tmp_path / v / "validation.json").read_text())["performance"]["auc"] for v in ("v3", "v4")]
    assert aucs[0] == aucs[1]
    assert run_cli(["recalibrate", str(path), str(tmp_path / "comma.csv"), "--target", "disease", "--decimal-comma",
                    "--out", str(tmp_path / "r")]) == 0


def test_recalibration_keeps_a_patient_exactly_at_the_threshold_on_the_same_side(tmp_path):
    from scintiml.bundle import load_bundle, save_bundle
    from scintiml.datasets import load_heart_failure
    from scintiml.external import recalibrate_bundle
    from scintiml.study import run_study

    # two coarse inputs: many patients share a score, and the threshold is one of them
    cohort = load_heart_failure().subset(["ejection_fraction", "serum_creatinine"])
    cohort.groups = {}
    study = run_study(cohort, inputs="all", selection="split", readiness=False, random_state=0)
    path = save_bundle(study, tmp_path / "m")
    frame = cohort.X.assign(DEATH_EVENT=cohort.y)
    before = load_bundle(path).predict(frame)
    assert (before["probability"] == load_bundle(path).threshold).any()  # ties at the threshold exist
    for method in ("intercept", "logistic"):
        recalibrate_bundle(path, frame, "DEATH_EVENT", tmp_path / method, method=method)
        after = load_bundle(tmp_path / method).predict(frame)
        assert (after["predicted_class"] == before["predicted_class"]).all(), method


def test_cli_validate_and_recalibrate(cleveland_bundle, tmp_path, capsys):
    import json

    from conftest import run_cli

    path, _ = cleveland_bundle
    for site in ("cleveland", "switzerland"):
        heart_disease_frame(site).to_csv(tmp_path / f"{site}.csv", index=False)
    out = tmp_path / "validation"
    code = run_cli(["validate", str(path), str(tmp_path / "switzerland.csv"), "--target", "disease", "--out", str(out),
                    "--reference", str(tmp_path / "cleveland.csv"), "--protocol", "camera=A"])
    assert code == 0
    v = json.loads((out / "validation.json").read_text())
    assert v["verdict"] in {"transportable", "recalibrate", "retrain"} and v["performance"]["n"] == 123
    assert f"verdict: {v['verdict']}" in capsys.readouterr().out
    predictions = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    assert len(predictions) == 123 and (predictions["imputed"] != "").sum() == v["n_imputed_patients"]
    html = (out / "report.html").read_text()
    assert "Verdict: " + v["verdict"] in html and "Site-membership model" in html
    # an infinite LR+ (no non-event called positive) printed "n/a" for the ratio and its interval both
    from scintiml.external.report import _render_html

    v["performance"]["tests"]["lr_positive"] = {"value": None, "ci95": [3.04, None]}
    assert "∞ (no non-event called positive)</td>\n<td class=\"num\">3.040–∞" in _render_html(v, {})
    assert {p.name for p in (out / "figures").iterdir()} >= {"calibration.png", "decision_curve.png", "roc.png"}
    from pypdf import PdfReader

    text = " ".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages)
    assert "Verdict: " + v["verdict"] in text and f"{v['performance']['auc']:.3f}" in text
    # bad options: one error line, exit 2, nothing written
    assert run_cli(["validate", str(path), str(tmp_path / "switzerland.csv"), "--target", "disease",
                    "--out", str(tmp_path / "v2"), "--max-missing", "1.5"]) == 2
    assert "error: --max-missing must be in (0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "v2").exists()
    assert run_cli(["validate", str(path), str(tmp_path / "switzerland.csv"), "--target", "disease",
                    "--out", str(out)]) == 2  # the output exists
    code = run_cli(["recalibrate", str(path), str(tmp_path / "switzerland.csv"), "--target", "disease",
                    "--method", "intercept", "--out", str(tmp_path / "recal")])
    assert code == 0 and (tmp_path / "recal" / "bundle.json").exists()
    assert "calibration-in-the-large" in capsys.readouterr().out
    assert run_cli(["recalibrate", str(path), str(tmp_path / "switzerland.csv"), "--target", "disease",
                    "--method", "isotonic", "--out", str(tmp_path / "r2")]) == 2
    assert "error: --method must be one of intercept, logistic" in capsys.readouterr().err


def test_cli_study_with_site_column_adds_internal_external_cv(tmp_path, capsys):
    import json

    from conftest import run_cli

    frame = heart_disease_frame(["cleveland", "hungarian", "va"])[["site", "age", "sex", "cp", "exang", "disease"]]
    frame.to_csv(tmp_path / "three.csv", index=False)
    out = tmp_path / "study"
    code = run_cli(["study", "--no-pdf", str(tmp_path / "three.csv"), "--target", "disease", "--site-column", "site",
                    "--inputs", "all", "--out", str(out)])
    assert code == 0
    r = json.loads((out / "results.json").read_text())
    assert "site" not in r["inputs"]["all"]  # the site is never an input
    ie = r["internal_external"]
    assert [s["site"] for s in ie["per_site"]] == ["cleveland", "hungarian", "va"]
    assert [s["n"] for s in ie["per_site"]] == [303, 294, 200]
    assert ie["summary"]["k"] == 3 and ie["summary"]["auc"]["auc_prediction_interval95"] is not None
    assert "internal-external cross-validation: summary AUC" in capsys.readouterr().out
    assert "Internal–external cross-validation" in (out / "report.html").read_text()
    assert run_cli(["study", str(tmp_path / "three.csv"), "--target", "disease", "--site-column", "hospital",
                    "--out", str(tmp_path / "s2")]) == 2
    assert "error: site column 'hospital' not found" in capsys.readouterr().err


def test_demo_heart_disease_is_the_thallium_readiness_case():
    from scintiml.study import DEMO_COHORTS, demo_cohort

    assert "heart-disease" in DEMO_COHORTS
    cohort = demo_cohort("heart-disease")
    assert cohort.n_patients == 303 and cohort.groups["imaging"] == ["thal"]
    assert "ca" not in cohort.groups["clinical"] and cohort.groups["fluoroscopy"] == ["ca"]


def test_predict_reports_the_batch_drift(cleveland_bundle, tmp_path):
    from scintiml.bundle import predict_file

    path, _ = cleveland_bundle
    heart_disease_frame("switzerland").to_csv(tmp_path / "swiss.csv", index=False)
    run = predict_file(path, tmp_path / "swiss.csv", tmp_path / "p.csv")
    drift = run.drift.set_index("input")
    # Swiss patients: thalach 122 on average against Cleveland's ~150
    assert drift.loc["thalach", "shifted"] and drift.loc["thalach", "smd"] < -1
    assert any(line.startswith("input 'thalach' differs from the training patients: SMD -") for line in run.warnings)
    # the same hospital's patients raise no alarm on most inputs
    heart_disease_frame("cleveland").to_csv(tmp_path / "cle.csv", index=False)
    same = predict_file(path, tmp_path / "cle.csv", tmp_path / "p2.csv").drift
    assert same["shifted"].sum() <= 1 and same["smd"].abs().max() < 0.15


def test_outputs_never_land_on_inputs(cleveland_bundle, tmp_path):
    from scintiml.errors import ScintimlError
    from scintiml.external import recalibrate_bundle, write_validation

    path, _ = cleveland_bundle
    heart_disease_frame("va").to_csv(tmp_path / "va.csv", index=False)
    with pytest.raises(ScintimlError, match="new folder outside the original bundle"):
        recalibrate_bundle(path, heart_disease_frame("va"), "disease", path / "inside")
    with pytest.raises(ScintimlError, match="is \\(or holds\\) the input"):
        recalibrate_bundle(path, heart_disease_frame("va"), "disease", path.parent, overwrite=True)
    with pytest.raises(ScintimlError, match="is \\(or holds\\) the input"):
        write_validation(path, tmp_path / "va.csv", "disease", tmp_path, overwrite=True)
    assert (tmp_path / "va.csv").exists() and sorted(p.name for p in path.iterdir()) == [
        ".scintiml-output", "bundle.json", "card.json", "card.md", "weights.npz"]


def test_validation_keeps_patient_ids_as_written(cleveland_bundle, tmp_path):
    from scintiml.external import write_validation

    path, _ = cleveland_bundle
    frame = heart_disease_frame("switzerland")
    frame.insert(0, "pid", [f"{i:05d}" for i in range(len(frame))])  # 00000, 00001, ...
    frame.to_csv(tmp_path / "site.csv", index=False)
    write_validation(path, tmp_path / "site.csv", "disease", tmp_path / "v", id_column="pid", pdf=False)
    written = pd.read_csv(tmp_path / "v" / "predictions.csv", dtype=str)
    assert list(written.iloc[:3, 0]) == ["00000", "00001", "00002"], written.columns.tolist()


def test_site_outcome_names_an_empty_table_and_shows_values_plainly():
    from scintiml.errors import TargetClassesError
    from scintiml.external.validate import site_outcome

    with pytest.raises(TargetClassesError, match="no patient rows"):
        site_outcome(pd.DataFrame({"cad": pd.Series([], dtype=float)}), "cad", 1)
    with pytest.raises(TargetClassesError, match=r"\(values: \[0\]\); check the outcome coding"):
        site_outcome(pd.DataFrame({"cad": np.zeros(5, dtype=np.int64)}), "cad", 1)
    # the training coding is known and this site uses it: the site had no event, there is nothing to recode
    with pytest.raises(TargetClassesError, match=r"no patient of this site has the event cad = 1 \(values: \[0\]\): "
                                                 "an AUC and a calibration need both outcomes"):
        site_outcome(pd.DataFrame({"cad": np.zeros(5, dtype=np.int64)}), "cad", 1, training_values=[0, 1])


def test_site_outcome_refuses_another_coding_than_the_training_table():
    from scintiml.errors import TargetClassesError
    from scintiml.external.validate import site_outcome

    frame = pd.DataFrame({"cad": [1, 2, 2, 1, 2]})  # a site that codes no/yes as 1/2
    with pytest.raises(TargetClassesError, match=r"holds \[1, 2\] at this site, but the model was trained on \[0, 1\]"):
        site_outcome(frame, "cad", 1, training_values=[0, 1])
    assert site_outcome(frame, "cad", 1).tolist() == [1, 0, 0, 1, 0]  # an old bundle (no values recorded) cannot tell
    words = pd.DataFrame({"cad": [" Yes", "no", "NO", "yes"]})
    assert site_outcome(words, "cad", "yes", training_values=["no", "yes"]).tolist() == [1, 0, 0, 1]


def test_the_bundle_records_the_training_outcome_coding(tmp_path):
    from scintiml import load_cohort
    from scintiml.bundle import load_bundle, save_bundle
    from scintiml.study import run_study

    frame = load_heart_disease("cleveland").X[["age", "thalach"]].copy()
    frame["cad"] = np.where(load_heart_disease("cleveland").y == 1, "yes", "no")
    cohort = load_cohort(frame, "cad")
    assert cohort.outcome_values == ["no", "yes"]
    study = run_study(cohort, inputs="all", readiness=False, selection="split")
    assert study.results["dataset"]["outcome_values"] == ["no", "yes"]
    bundle = load_bundle(save_bundle(study, tmp_path / "model"))
    assert bundle.spec["outcome_values"] == ["no", "yes"]
    classes = bundle.predict(frame)["predicted_class"]
    assert set(classes) <= {"no", "yes"} and len(set(classes)) == 2  # the table's own words, not "not yes"


def test_a_one_hot_input_is_rebuilt_for_the_drift_check_not_read_as_missing(tmp_path):
    from scintiml.bundle import predict_file, save_bundle
    from scintiml.cohort import load_cohort
    from scintiml.external import validate_bundle
    from scintiml.study import run_study

    rng = np.random.default_rng(5)
    grade = rng.choice(list("ABCD"), 240)
    z = rng.normal(size=240)
    frame = pd.DataFrame({"z": z.round(3), "grade": grade,
                          "ev": (z + (grade == "D") * 1.5 + rng.normal(size=240) > 0.4).astype(int)})
    frame.loc[::17, "grade"] = None  # missing stays missing in the rebuilt indicator
    frame.to_csv(tmp_path / "train.csv", index=False)
    study = run_study(load_cohort(tmp_path / "train.csv", "ev"), inputs="all", readiness=False, random_state=0)
    assert "grade=D" in study.selected_inputs
    model = save_bundle(study, tmp_path / "model")
    run = predict_file(model, tmp_path / "train.csv", tmp_path / "p.csv")
    drift = run.drift.set_index("input")
    # its own training table: the indicator is present wherever grade is, and nothing reads as shifted
    assert drift.loc["grade=D", "missing_share_new"] == pytest.approx(frame["grade"].isna().mean())
    assert not drift["shifted"].any() and not [w for w in run.warnings if "grade=" in w]
    from scintiml.bundle import load_bundle

    shift = validate_bundle(load_bundle(model), frame, "ev").shift.set_index("input")
    assert not shift.loc["grade=D", "shifted"] and shift.loc["grade=D", "n"] == frame["grade"].notna().sum()


def test_a_site_column_no_two_sites_can_be_validated_under_is_refused_before_the_study(tmp_path, capsys):
    from conftest import run_cli

    from scintiml.study import _site_warnings

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x0": rng.normal(size=120).round(4), "x1": rng.normal(size=120),
                          "hospital": np.repeat(["north", "south"], 60), "y": [0, 1] * 60})
    frame.to_csv(tmp_path / "t.csv", index=False)
    # a measurement given as the site column: 120 "sites" of one patient each
    assert run_cli(["study", str(tmp_path / "t.csv"), "--target", "y", "--site-column", "x0",
                    "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "120 site(s), of which 0 hold at least 5 events" in err and not (tmp_path / "out").exists()
    # sites left out of the summary, and a summary on two sites, are said
    lines = _site_warnings({"per_site": [{"site": "A", "n": 200}, {"site": "B", "n": 190},
                                         {"site": "C", "skipped": "4 events and 6 non-events: fewer than 5"}],
                            "summary": {"k": 2}})
    assert lines[0].startswith("1 of 3 sites could not be validated") and "C: 4 events" in lines[0]
    assert "rests on 2 sites" in lines[1]
    assert _site_warnings({"per_site": [{"site": s} for s in "ABC"], "summary": {"k": 3}}) == []


def test_an_id_column_named_like_an_output_column_is_refused_not_a_traceback(cleveland_bundle, tmp_path):
    """An id column called ``probability`` (or ``outcome`` in validate) once crashed with pandas' "cannot insert
    probability, already exists": the output cannot hold both columns, so the table's column must be renamed."""
    from scintiml.bundle import predict_file
    from scintiml.errors import BundleError
    from scintiml.external import write_validation

    path, _ = cleveland_bundle
    frame = heart_disease_frame("switzerland")
    for name in ("probability", "predicted_class", "imputed"):
        frame.insert(0, name, [f"p{i}" for i in range(len(frame))])
        frame.to_csv(tmp_path / "site.csv", index=False)
        with pytest.raises(BundleError, match=f"the id column '{name}' has the name of an output column"):
            predict_file(path, tmp_path / "site.csv", tmp_path / "p.csv", id_column=name)
        frame = frame.drop(columns=name)
    frame.insert(0, "outcome", [f"p{i}" for i in range(len(frame))])
    frame.to_csv(tmp_path / "site.csv", index=False)
    with pytest.raises(BundleError, match="the id column 'outcome' has the name of an output column"):
        write_validation(path, tmp_path / "site.csv", "disease", tmp_path / "v", id_column="outcome", pdf=False)
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "v").exists()
    # the same column as an ordinary extra column (another id) is no clash: predictions carry only the id
    frame.insert(0, "pid", range(len(frame)))
    frame.to_csv(tmp_path / "site.csv", index=False)
    run = predict_file(path, tmp_path / "site.csv", tmp_path / "p.csv", id_column="pid")
    assert list(run.predictions.columns[:2]) == ["pid", "probability"] and len(run.predictions) == len(frame)


def test_calibration_fit_and_brier_ci_refuse_what_external_performance_refuses():
    # 1/2 coding gave an intercept of 71.6 (SE 0) and a slope of 132264; one class ±1e21 intervals; probabilities
    # in percent "separated"; unequal lengths an IndexError
    from scintiml.external.metrics import brier_ci, calibration_fit

    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 200)
    y = (rng.random(200) < p).astype(int)
    for bad_y, bad_p, phrase in ((y + 1, p, "must be 0/1"), (np.zeros(200), p, "calibration fit"),
                                 (y, p * 100, "outside"), (y[:-1], p, "length")):
        with pytest.raises(ValueError, match=phrase):
            calibration_fit(bad_y, bad_p)
    with pytest.raises(ValueError, match="must be 0/1"):
        brier_ci(y + 1, p)
    value, _ = brier_ci(np.zeros(200), p)  # one class: the Brier score is still defined
    assert value == pytest.approx(np.mean(p ** 2))


def test_validation_arguments_that_switched_a_guard_off_are_refused(cleveland_bundle):
    # max_missing_share NaN switched the missing-input guard off; level 95 gave intervals of None; a threshold
    # of 1.5 called every patient "no event"
    from scintiml.errors import ScintimlError
    from scintiml.external import random_effects, validate_bundle
    from scintiml.external.metrics import external_performance

    path, bundle = cleveland_bundle
    with pytest.raises(ScintimlError, match="max_missing_share must be a share from 0 to 1, got nan"):
        validate_bundle(bundle, heart_disease_frame("hungarian"), "disease", max_missing_share=float("nan"))
    with pytest.raises(ValueError, match="level must be a share strictly between 0 and 1"):
        random_effects([0.7, 0.8], [0.05, 0.06], level=95)
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 100)
    with pytest.raises(ValueError, match="threshold must be a probability strictly between 0 and 1, got 1.5"):
        external_performance((rng.random(100) < p).astype(int), p, threshold=1.5)


def test_a_machine_without_the_pdf_library_still_gets_the_validation_report(cleveland_bundle, tmp_path, no_pango):
    # the study's report had this guard; validate (PDF by default) lost the whole run to pango's OSError
    from scintiml.external import validate_bundle
    from scintiml.external.report import write_validation_report

    path, bundle = cleveland_bundle
    result = validate_bundle(bundle, heart_disease_frame("hungarian"), "disease")

    with pytest.warns(UserWarning, match="report.pdf not written: the PDF writer cannot start here .*libpango"):
        written = write_validation_report({**result.to_dict(), "model": "cleveland", "data": "hungarian"}, tmp_path)
    assert "pdf" not in written and written["html"].stat().st_size > 5_000
    assert not (tmp_path / "report.pdf").exists()


def test_a_model_whose_study_found_no_signal_is_never_called_transportable(tmp_path):
    # validated on its own training patients, a model of noise scored AUC 0.727 and "transportable"
    import numpy as np
    import pandas as pd

    from scintiml.cohort import load_cohort
    from scintiml.external import validate_bundle
    from scintiml.stages.results import NO_SIGNAL

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80), "y": rng.integers(0, 2, 80)})
    from scintiml.bundle import load_bundle, save_bundle
    from scintiml.study import run_study

    study = run_study(load_cohort(frame, target="y"), selection="split", readiness=False, random_state=0)
    assert study.results["signal"]["verdict"] == NO_SIGNAL  # the premise: the study itself said so
    bundle = load_bundle(save_bundle(study, tmp_path / "model"))
    assert bundle.card["signal"]["verdict"] == NO_SIGNAL
    result = validate_bundle(bundle, frame, "y")
    assert result.verdict == "retrain"
    assert result.reasons[0].startswith("the study that made this model found no signal")
    bundle.card.pop("signal")  # a card written before it carried the verdict: read from its known limits
    assert validate_bundle(bundle, frame, "y").verdict == "retrain"


def test_site_stage_refits_the_whole_pipeline_so_a_left_out_sites_outcomes_choose_nothing():
    # until 0.7.1 each left-out site was validated on the inputs and hidden layers chosen on all sites, its own
    # outcomes included: permuting one site's outcomes changed the network "developed on the other sites"
    from scintiml.external import internal_external_cv, site_stage
    from scintiml.select import SelectedNetworkClassifier
    from scintiml.select.pipeline import FINAL_RESTARTS

    rng = np.random.RandomState(0)
    X = pd.DataFrame({c: rng.normal(size=180) for c in ("a", "b", "n1", "n2", "n3")})
    sites = np.repeat(["s1", "s2", "s3"], 60)
    logit = 1.2 * X["a"] + np.where(sites == "s3", 2.5 * X["n1"], 0.0)  # n1 carries the signal at s3 only
    y = rng.binomial(1, 1 / (1 + np.exp(-logit)))
    permuted = y.copy()
    s3 = np.flatnonzero(sites == "s3")
    permuted[s3] = y[np.random.RandomState(1).permutation(s3)]

    def rows(outcome, **kw):
        out = site_stage(X, outcome, sites, method="growing", stability=False, cv="split", random_state=0, **kw)
        return out, {r["site"]: r for r in out["per_site"]}

    out, first = rows(y)
    _, again = rows(permuted)
    assert (again["s3"]["inputs"], again["s3"]["hidden_layer_sizes"]) == (first["s3"]["inputs"],
                                                                            first["s3"]["hidden_layer_sizes"])
    assert again["s3"]["auc"] != first["s3"]["auc"]  # the permutation did reach s3's own validation
    assert out["inputs"] == [c for c in X.columns if any(c in r["inputs"] for r in first.values())]
    assert out["hidden_layer_sizes"] is None and out["n_restarts"] == FINAL_RESTARTS > 1

    def per_site(n_restarts):  # each site's network is the best of the study's starts, not of one
        model = SelectedNetworkClassifier(method="growing", stability=False, cv="split", n_restarts=n_restarts)
        return [r["auc"] for r in internal_external_cv(X, y, sites, estimator=model, random_state=0)["per_site"]]

    assert [first[s]["auc"] for s in ("s1", "s2", "s3")] == per_site(FINAL_RESTARTS)
    assert [first[s]["auc"] for s in ("s1", "s2", "s3")] != per_site(1)


def test_brier_ci_in_blocks_is_the_percentile_bootstrap_of_one_draw(monkeypatch):
    """Drawn a block of resamples at a time (memory at 50,000 patients), the interval is still the one of the
    (n_bootstrap, n) draws that one call of the same RandomState gives, computed here by hand."""
    from scintiml.external import metrics

    rng = np.random.RandomState(3)
    p = rng.uniform(0.02, 0.98, 301)
    y = rng.binomial(1, p)
    monkeypatch.setattr(metrics, "_BOOTSTRAP_CELLS", 1000)  # 3 resamples a block, the last block of 2
    value, (lo, hi) = metrics.brier_ci(y, p, n_bootstrap=50, level=0.9, random_state=7)
    idx = np.random.RandomState(7).randint(0, len(y), size=(50, len(y)))
    by_hand = np.mean((p[idx] - y[idx]) ** 2, axis=1)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(by_hand, [0.05, 0.95])), abs=1e-15)
    assert value == pytest.approx(np.mean((p - y) ** 2), abs=1e-15)
    assert lo < value < hi
