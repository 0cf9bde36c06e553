"""Review of the session-16 external-validation sweep (docs/robustness.md, "Session 16"): false alarms its new
checks raised on ordinary sites, a refusal that sent the user to convert a column in the right unit, a misleading
reason, and a slow loop. Each test failed before its fix. No study is run: the bundles are built in memory (a
logistic regression stands in for the network; validation only asks it for probabilities).
"""

import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scintiml.datasets import heart_disease_frame


def _bundle(frame, inputs, target, ranges=None):
    """An in-memory bundle of a logistic regression on ``inputs`` (no training summary, empty card)."""
    from sklearn.linear_model import LogisticRegression

    from scintiml.bundle import Bundle

    model = LogisticRegression().fit(frame[inputs], frame[target])
    ranges = ranges or {c: [float(frame[c].min()), float(frame[c].max())] for c in inputs}
    return Bundle({"inputs": inputs, "threshold": 0.5, "positive": 1, "outcome_values": [0, 1], "target": target,
                   "imputation": frame[inputs].median().to_dict(), "training_ranges": ranges}, model, {})


# --- the unit line for one patient ------------------------------------------------------------------------------

def test_one_patients_extreme_cpk_or_platelets_are_not_called_another_unit():
    """The heart-failure model's creatine phosphokinase (30-7861 U/l in training): one patient with 25 000
    (rhabdomyolysis) was told "times 0.0113 it would fit: creatinine in µmol/l where training had mg/dl?" ("creat"
    matched the kinase), and without that "percent where training had a fraction?"; a platelet count of 3 000 000
    the same. The EF written as a fraction is still named."""
    from scintiml.bundle.predict import scale_mismatches

    ranges = {"creatinine_phosphokinase": [30.0, 7861.0], "platelets": [25100.0, 742000.0],
              "ejection_fraction": [14.0, 65.0], "serum_creatinine": [0.6, 6.1]}
    bundle = SimpleNamespace(inputs=list(ranges), categories={}, spec={"training_ranges": ranges})
    patient = {"creatinine_phosphokinase": 582.0, "platelets": 265000.0, "ejection_fraction": 20.0,
               "serum_creatinine": 1.9}
    for column, value in [("creatinine_phosphokinase", 25000.0), ("creatinine_phosphokinase", 60000.0),
                          ("platelets", 3.0e6)]:
        lines = scale_mismatches(bundle, pd.DataFrame([{**patient, column: value}]))
        assert not lines, (column, value, lines)
    ef = scale_mismatches(bundle, pd.DataFrame([{**patient, "ejection_fraction": 0.35}]))
    assert ef and "times 100 it would fit" in ef[0], ef
    creatinine = scale_mismatches(bundle, pd.DataFrame([{**patient, "serum_creatinine": 150.0}]))
    assert creatinine and "creatinine in µmol/l" in creatinine[0], creatinine


# --- one probability for every patient --------------------------------------------------------------------------

def test_a_site_whose_patients_share_every_input_is_not_called_saturated():
    """A model of sex alone at a site of men only (a veterans' hospital): one probability for all, rightly; the note
    said the network's neurons were saturated by "an input far outside its training range"."""
    from scintiml.external import validate_bundle

    rng = np.random.RandomState(0)
    train = pd.DataFrame({"sex": rng.randint(0, 2, 200).astype(float)})
    train["cad"] = rng.binomial(1, 0.3 + 0.3 * train["sex"])
    bundle = _bundle(train, ["sex"], "cad")
    site = pd.DataFrame({"sex": np.ones(40), "cad": np.r_[np.ones(25), np.zeros(15)].astype(int)})
    notes = validate_bundle(bundle, site, "cad").notes
    assert not [n for n in notes if "saturated" in n], notes
    assert [n for n in notes if "same values of the model's inputs" in n], notes


# --- repeated rows and the development patients -----------------------------------------------------------------

def test_coarse_correlated_columns_are_not_called_repeated_rows():
    """Cleveland's 303 patients in age, sex, chest pain, slope and thallium scan (a model of those) with the
    outcome: 49 "repeat an earlier row ... more than chance explains — remove the copies"; they are different
    patients whose coarse columns go together (chance was computed as if they were independent). The table
    exported twice is still noted."""
    from scintiml.external.validate import repeated_rows

    table = heart_disease_frame("cleveland")[["age", "sex", "cp", "slope", "thal", "disease"]]
    assert not repeated_rows(table, table["disease"].to_numpy(), "disease")
    whole = heart_disease_frame("cleveland")
    twice = pd.concat([whole, whole], ignore_index=True)
    said = repeated_rows(twice, twice["disease"].to_numpy(), "disease")
    assert said and said[0].startswith("303 patient row(s)"), said


def test_patients_of_another_hospital_are_not_called_development_patients():
    """Cleveland validated against the Swiss patients as --reference, in six columns of a model (age, sex, chest
    pain, angina, thallium scan, the outcome): "35 of the 303 patients ... match a patient of the reference ...
    not an external validation"; two hospitals on two continents. The development patients themselves still are."""
    from scintiml.external.validate import development_overlap

    columns = ["age", "sex", "cp", "exang", "thal", "disease"]
    cleveland, swiss = heart_disease_frame("cleveland"), heart_disease_frame("switzerland")
    assert not development_overlap(cleveland[columns], swiss[columns])
    assert not development_overlap(swiss[columns], cleveland[columns])
    said = development_overlap(cleveland.iloc[:150], cleveland)
    assert said and "every patient of this table" in said[0], said


# --- recalibration ----------------------------------------------------------------------------------------------

def test_recalibration_is_not_refused_for_sicker_patients_in_the_same_unit(monkeypatch, tmp_path):
    """A site whose washout (39-66 %) lies mostly above training's (7-47 %) was refused: "another unit or scale
    — ... would fit the model to another unit; convert the column", though no unit factor fits and there is
    nothing to convert. A washout written as a fraction is still refused."""
    from scintiml.errors import ScintimlError
    from scintiml.external import recalibrate as module

    rng = np.random.RandomState(3)
    train = pd.DataFrame({"delta_lvef": rng.normal(-9, 6, 200).round(1), "washout": rng.normal(28, 7, 200).round(1)})
    train["toxicity"] = rng.binomial(1, 1 / (1 + np.exp(-(train["washout"] - 28) / 5)))
    bundle = _bundle(train, ["delta_lvef", "washout"], "toxicity")
    bundle.model.coefs_ = [bundle.model.coef_.T]  # what the recalibration rescales (the network's last layer)
    bundle.model.intercepts_ = [bundle.model.intercept_]
    written = []
    monkeypatch.setattr(module, "load_bundle", lambda path: bundle)
    monkeypatch.setattr(module, "card_markdown", lambda card: "")
    monkeypatch.setattr(module, "write_bundle", lambda *args, **kwargs: written.append(args))
    site = pd.DataFrame({"delta_lvef": rng.normal(-9, 6, 120).round(1), "washout": rng.normal(52, 5, 120).round(1)})
    site["toxicity"] = rng.binomial(1, 0.4, 120)
    assert (site["washout"] > train["washout"].max()).mean() > 0.5
    record = module.recalibrate_bundle(tmp_path / "model", site, "toxicity", tmp_path / "out", method="intercept")
    assert record["n"] == 120 and written
    with pytest.raises(ScintimlError, match=r"washout.*times 100 it would fit.*then recalibrate"):
        module.recalibrate_bundle(tmp_path / "model", train.assign(washout=train["washout"] / 100), "toxicity",
                                  tmp_path / "out2", method="intercept")


# --- the verdict's reasons ----------------------------------------------------------------------------------------

def test_ranked_backwards_on_a_handful_of_patients_says_chance_can_do_it():
    """2 events among 10 patients ranked at random give an interval wholly below 0.5 one time in 12 (DeLong's
    interval is too narrow there): "ranks backwards — check the coding" then needs the caveat; 150 patients not."""
    from scintiml.external import verdict

    cal = {"intercept": 0.0, "intercept_ci95": [-1, 1], "slope": 1.0, "slope_ci95": [0.5, 1.5]}
    few = verdict({"auc": 0.12, "auc_ci95": [0.0, 0.35], "n": 10, "n_events": 2, "calibration": cal}, 0.8,
                  event="cad = 1")
    text = " ".join(few[1])
    assert few[0] == "retrain" and "only 2 patients in the smaller outcome class" in text and "chance" in text, text
    many = verdict({"auc": 0.22, "auc_ci95": [0.16, 0.28], "n": 150, "n_events": 60, "calibration": cal}, 0.8)
    assert "smaller outcome class" not in " ".join(many[1])


# --- a large site -------------------------------------------------------------------------------------------------

def test_imputation_flags_of_a_large_site_take_no_row_loop():
    """``prepare_inputs`` named each patient's imputed inputs cell by cell through pandas: 50 000 patients of 11
    inputs took 50 s of a 107 s validation (and again for the reference)."""
    from scintiml.external import prepare_inputs

    rng = np.random.RandomState(0)
    inputs = [f"x{i}" for i in range(10)]
    frame = pd.DataFrame(rng.normal(size=(20000, 10)), columns=inputs)
    frame = frame.mask(rng.uniform(size=frame.shape) < 0.05)
    start = time.perf_counter()
    X, imputed, _ = prepare_inputs(frame, inputs, {c: 0.0 for c in inputs})
    assert time.perf_counter() - start < 5
    row = int(np.flatnonzero(frame.isna().sum(axis=1).to_numpy() == 2)[0])
    assert imputed.iloc[row] == ";".join(c for c in inputs if np.isnan(frame[c].iloc[row]))
    assert (imputed == "").sum() == int((~frame.isna().any(axis=1)).sum()) and not X.isna().any().any()
