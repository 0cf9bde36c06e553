"""Session 16: external validation and prediction on a new site, fed what a department's export holds.

A heart-failure network (four inputs, ``inputs="all"``: fast) is validated and applied to the bundled table changed
the way another hospital's export changes it: a unit, the outcome's coding, a header, repeated rows, the
development patients themselves. Each test here failed before its fix (docs/robustness.md, "Session 16").
"""

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

INPUTS = ["age", "ejection_fraction", "serum_creatinine", "serum_sodium"]
TARGET = "DEATH_EVENT"


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    """The bundle (its folder and the loaded bundle) and the raw heart-failure table (299 x 13)."""
    from scintiml.bundle import load_bundle, save_bundle
    from scintiml.datasets import load_heart_failure
    from scintiml.study import run_study

    cohort = load_heart_failure().subset(INPUTS)
    cohort.groups = {}
    study = run_study(cohort, inputs="all", readiness=False, random_state=0, selection="split")
    path = save_bundle(study, tmp_path_factory.mktemp("models") / "hf")
    frame = pd.read_csv(files("scintiml.datasets").joinpath("data", "heart_failure.csv"))
    return path, load_bundle(path), frame


def _cli(args, capsys):
    """``scintiml ARGS`` in-process: (exit status, stdout, stderr)."""
    from conftest import run_cli

    code = run_cli([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


# --- the outcome -------------------------------------------------------------------------------------------------

def test_an_outcome_of_inverted_meaning_is_named_not_called_chance(hf):
    """1 = survived where training had 1 = died: AUC 0.22 (0.16-0.28). The reason said the interval "does not
    exclude 0.5", which it plainly does; it lies wholly below 0.5 — the mark of an outcome coded the other way."""
    from scintiml.external import validate_bundle
    from sklearn.metrics import roc_auc_score

    _, bundle, frame = hf
    result = validate_bundle(bundle, frame.assign(**{TARGET: 1 - frame[TARGET]}), TARGET)
    p = result.predictions["probability"]
    assert result.performance["auc"] == pytest.approx(roc_auc_score(1 - frame[TARGET], p))
    assert result.performance["auc_ci95"][1] < 0.5 and result.verdict == "retrain"
    text = " ".join(result.reasons)
    assert "does not exclude 0.5" not in text, text
    assert "wholly below 0.5" in text and f"{TARGET} = 1" in text and "coded" in text, text


def test_a_site_where_every_patient_had_the_event_is_told_so_not_asked_to_recode(hf):
    """A 0/1 site of deaths only is coded as training was; "must have two values, has [1]; recode it" sent the
    user to recode a column that was right."""
    from scintiml.errors import TargetClassesError
    from scintiml.external import validate_bundle

    _, bundle, frame = hf
    with pytest.raises(TargetClassesError) as caught:
        validate_bundle(bundle, frame[frame[TARGET] == 1], TARGET)
    message = str(caught.value)
    assert "recode" not in message and "every patient of this site has the event" in message, message


def test_an_outcome_missing_for_every_patient_is_called_empty(hf):
    """"Remove those rows" for all 299 rows would leave no table: the column is empty (the wrong column?)."""
    from scintiml.errors import TargetClassesError
    from scintiml.external import validate_bundle

    _, bundle, frame = hf
    with pytest.raises(TargetClassesError) as caught:
        validate_bundle(bundle, frame.assign(**{TARGET: np.nan}), TARGET)
    message = str(caught.value)
    assert "remove those rows" not in message and "empty for every patient" in message, message


def test_one_event_among_five_patients_says_two_of_each_are_needed(hf):
    """1 event and 4 non-events hold both outcomes; "need both outcomes" did not say what was short."""
    from scintiml.errors import TargetClassesError
    from scintiml.external import validate_bundle

    _, bundle, frame = hf
    tiny = pd.concat([frame[frame[TARGET] == 1].head(1), frame[frame[TARGET] == 0].head(4)])
    with pytest.raises(TargetClassesError, match="at least 2 patients with the event and 2 without"):
        validate_bundle(bundle, tiny, TARGET)


# --- the header --------------------------------------------------------------------------------------------------

def test_validate_names_a_column_spelt_otherwise_as_predict_does(hf, tmp_path, capsys):
    """``Ejection_Fraction`` for ``ejection_fraction``: predict said which column was there; validate and
    recalibrate only that the input was missing."""
    _, bundle, frame = hf
    path = hf[0]
    frame.rename(columns={"ejection_fraction": "Ejection_Fraction"}).to_csv(tmp_path / "site.csv", index=False)
    hint = "the table has 'Ejection_Fraction' where the model has 'ejection_fraction'"
    code, _, err = _cli(["validate", path, tmp_path / "site.csv", "--target", TARGET, "--out", tmp_path / "v",
                         "--no-pdf"], capsys)
    assert code == 2 and hint in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "v").exists()
    code, _, err = _cli(["recalibrate", path, tmp_path / "site.csv", "--target", TARGET, "--out", tmp_path / "r"],
                        capsys)
    assert code == 2 and hint in err, err


def test_validate_reads_a_dataframes_header_as_predict_does(hf):
    """Python callers: predict read a header cell " age " as ``age``, validate refused it as absent; a repeated
    outcome column raised pandas' "truth value of a Series is ambiguous"; an array raised AttributeError."""
    from scintiml.errors import ScintimlError
    from scintiml.external import validate_bundle

    _, bundle, frame = hf
    plain = validate_bundle(bundle, frame, TARGET)
    spaced = validate_bundle(bundle, frame.rename(columns={"age": " age ", TARGET: f"{TARGET} "}), TARGET)
    assert spaced.performance["auc"] == plain.performance["auc"]
    with pytest.raises(ScintimlError, match=f"{TARGET!r} appears twice"):
        validate_bundle(bundle, pd.concat([frame, frame[[TARGET]]], axis=1), TARGET)
    with pytest.raises(ScintimlError, match="pandas DataFrame"):
        validate_bundle(bundle, frame.to_numpy(), TARGET)


# --- the same patients twice, or the development patients -----------------------------------------------------

def test_a_table_holding_its_rows_twice_is_noted(hf):
    """The whole table twice: 598 "patients", a confidence interval narrower by √2, and not a word."""
    from scintiml.external import validate_bundle

    _, bundle, frame = hf
    assert not [n for n in validate_bundle(bundle, frame, TARGET).notes if "repeat" in n]
    twice = validate_bundle(bundle, pd.concat([frame, frame], ignore_index=True), TARGET)
    said = [n for n in twice.notes if "repeat an earlier row" in n]
    assert said and "299 patient row(s)" in said[0], twice.notes


def test_site_patients_found_in_the_development_data_are_said_not_external(hf):
    """Half the development table validated against it (--reference): no note, verdict "transportable"."""
    from scintiml.external import validate_bundle

    _, bundle, frame = hf
    overlap = validate_bundle(bundle, frame.iloc[:150], TARGET, reference=frame)
    said = [n for n in overlap.notes if "not an external validation" in n]
    assert said and "every patient of this table" in said[0], overlap.notes
    part = validate_bundle(bundle, pd.concat([frame.iloc[:40], frame.iloc[200:]]), TARGET,
                           reference=frame.iloc[:150])
    said = [n for n in part.notes if "not an external validation" in n]
    assert said and "40 of the 139 patients" in said[0], part.notes
    apart = validate_bundle(bundle, frame.iloc[150:], TARGET, reference=frame.iloc[:150])
    assert not [n for n in apart.notes if "external validation" in n], apart.notes
    assert apart.membership is not None


# --- units -------------------------------------------------------------------------------------------------------

def test_one_patient_in_another_unit_gets_the_unit_named(hf):
    """A clinician predicting one patient whose EF reads 0.35 got a risk of 0.89 and "1 patient(s) have inputs
    outside the training range"; from five patients on the unit was named. A single patient far outside the range
    where no unit explains it is not called another unit."""
    _, bundle, frame = hf
    one = bundle.predict(frame.head(1).assign(ejection_fraction=0.35), warn=False)
    lines = [w for w in one.attrs["warnings"] if "ejection_fraction" in w]
    assert lines and "times 100 it would fit" in lines[0], one.attrs["warnings"]
    creat = bundle.predict(frame.head(2).assign(serum_creatinine=[150.0, 97.0]), warn=False)
    assert any("µmol/l" in w for w in creat.attrs["warnings"]), creat.attrs["warnings"]
    sick = bundle.predict(frame.head(1).assign(serum_creatinine=9.0), warn=False)  # above 6.1, in mg/dl still
    assert not [w for w in sick.attrs["warnings"] if "another unit" in w], sick.attrs["warnings"]


def test_recalibration_refuses_an_input_in_another_unit(hf, tmp_path, capsys):
    """EF as a fraction: ``recalibrate`` wrote a bundle with slope 189 fitted to saturated predictions, silently."""
    from scintiml.errors import ScintimlError
    from scintiml.external import recalibrate_bundle

    path, _, frame = hf
    fraction = frame.assign(ejection_fraction=frame["ejection_fraction"] / 100)
    with pytest.raises(ScintimlError, match=r"ejection_fraction.*times 100 it would fit.*then recalibrate"):
        recalibrate_bundle(path, fraction, TARGET, tmp_path / "r")
    assert not (tmp_path / "r").exists()
    fraction.to_csv(tmp_path / "site.csv", index=False)
    code, _, err = _cli(["recalibrate", path, tmp_path / "site.csv", "--target", TARGET, "--out", tmp_path / "r"],
                        capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "ejection_fraction" in err, err


def test_predictions_all_but_equal_are_said_to_rank_nothing(hf):
    """Creatinine in µmol/l saturates the network: every patient 0.892 (spread 1e-12 in months of age), and an
    AUC of 0.578 (0.543-0.612) "above chance" ranked rounding noise."""
    from scintiml.external import validate_bundle

    _, bundle, frame = hf
    months = validate_bundle(bundle, frame.assign(age=frame["age"] * 12), TARGET)
    assert np.ptp(months.predictions["probability"]) < 1e-6
    said = [n for n in months.notes if "same probability" in n]
    assert said and "rounding" in said[0], months.notes
    assert not [n for n in validate_bundle(bundle, frame, TARGET).notes if "same probability" in n]
