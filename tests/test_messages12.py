"""Three misleading messages: date-times and times of day read as free text (with a patient-id hint), every input
constant reported as "no usable input", and two selections of identical copies reported as a disagreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scintiml.cohort import holds_dates, holds_times, load_cohort
from scintiml.errors import NonNumericInputError
from scintiml.stages import split_stage
from scintiml.stages.select import select_inputs_stage, selections_differ

N = 200


def _table(rng: np.random.RandomState, **extra) -> pd.DataFrame:
    frame = pd.DataFrame({"pid": [f"P{i:04d}" for i in range(N)], "x1": rng.normal(size=N),
                          "x2": rng.normal(size=N), "outcome": rng.randint(0, 2, N)})
    for name, values in extra.items():
        frame[name] = values
    return frame


def _stamps(rng: np.random.RandomState) -> pd.DatetimeIndex:
    return pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.randint(0, 300 * 24 * 60, N), unit="min")


# -- 1. date-times and times of day -------------------------------------------------------------------------------

DATE_TIME_FORMATS = ["%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S",
                     "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d-%m-%Y %H:%M"]


@pytest.mark.parametrize("fmt", DATE_TIME_FORMATS)
def test_date_times_read_as_dates_not_ids(fmt):
    rng = np.random.RandomState(0)
    frame = _table(rng, scan_time=_stamps(rng).strftime(fmt))
    assert holds_dates(frame["scan_time"])
    with pytest.raises(NonNumericInputError) as info:
        load_cohort(frame, "outcome", id_column="pid")
    message = str(info.value)
    assert "['scan_time'] hold dates" in message and "exclude" in message
    assert "free text" not in message and "patient id" not in message and "--id" not in message


def test_pure_dates_still_dates():
    rng = np.random.RandomState(1)
    for fmt in ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y-%m-%d", "%Y-%m-%dT%H:%M"):
        assert holds_dates(pd.Series(_stamps(rng).strftime(fmt)))


@pytest.mark.parametrize("fmt", ["%H:%M", "%H:%M:%S", "%I:%M %p"])
def test_times_of_day_get_their_own_message(fmt):
    rng = np.random.RandomState(2)
    frame = _table(rng, scan_clock=_stamps(rng).strftime(fmt))
    assert holds_times(frame["scan_clock"]) and not holds_dates(frame["scan_clock"])
    with pytest.raises(NonNumericInputError) as info:
        load_cohort(frame, "outcome", id_column="pid")
    message = str(info.value)
    assert "['scan_clock'] hold times of day" in message
    assert "minutes since midnight" in message and "exclude=[...] (CLI: --exclude)" in message
    assert "free text" not in message and "patient id" not in message


def test_titres_and_durations_are_no_times_of_day():
    assert not holds_times(pd.Series(["1:80", "1:160", "1:40", "1:320"]))  # titres
    assert not holds_times(pd.Series(["31:15", "45:02", "27:59"]))  # hours beyond a day
    assert not holds_times(pd.Series([f"P{i}" for i in range(20)]))


def test_unread_date_forms_get_no_id_hint():
    """A date-time in a form not read as a date ("03-Nov-2024 14:05") stays free text, yet is never called a
    patient id, however unique; a text id still gets the hint."""
    rng = np.random.RandomState(3)
    frame = _table(rng, scan_time=_stamps(rng).strftime("%d-%b-%Y %H:%M"))
    with pytest.raises(NonNumericInputError) as info:
        load_cohort(frame, "outcome", id_column="pid")
    message = str(info.value)
    assert "look like patient ids" not in message and "--id" not in message
    assert "['scan_time'] look like dates or times" in message
    with pytest.raises(NonNumericInputError, match=r"\['pid'\] look like patient ids"):
        load_cohort(frame.drop(columns="scan_time"), "outcome")


def test_describe_cli_date_time(tmp_path, capsys):
    """The tester's reproducer: ``scintiml describe FILE.csv --target outcome --id pid``."""
    from conftest import run_cli

    rng = np.random.RandomState(4)
    path = tmp_path / "scans.csv"
    _table(rng, scan_time=_stamps(rng).strftime("%d/%m/%Y %H:%M")).to_csv(path, index=False)
    assert run_cli(["describe", str(path), "--target", "outcome", "--id", "pid"]) != 0
    err = capsys.readouterr().err
    assert "hold dates" in err
    assert "free text" not in err and "look like patient ids" not in err


# -- 2. every input constant ---------------------------------------------------------------------------------------

def test_all_inputs_constant():
    rng = np.random.RandomState(5)
    frame = pd.DataFrame({f"x{i}": 3.0 for i in range(5)}, index=range(N))
    frame["outcome"] = rng.randint(0, 2, N)
    with pytest.raises(NonNumericInputError) as info:
        load_cohort(frame, "outcome")
    message = str(info.value)
    assert message.startswith("all 5 input columns are constant (x0, x1, x2, x3, x4)")
    assert "cannot tell patients apart" in message
    assert "no usable input" not in message and "numeric input" not in message


def test_some_inputs_constant_still_a_note():
    rng = np.random.RandomState(6)
    frame = pd.DataFrame({"x0": 3.0, "x1": rng.normal(size=N), "outcome": rng.randint(0, 2, N)})
    assert "dropped constant input(s): x0" in load_cohort(frame, "outcome").notes


def test_one_level_text_is_a_constant():
    """A text column of one level made no one-hot column ("1 levels"): it is a constant, said so."""
    rng = np.random.RandomState(7)
    y = rng.randint(0, 2, N)
    cohort = load_cohort(pd.DataFrame({"site": "A", "x": rng.normal(size=N), "outcome": y}), "outcome")
    assert "dropped constant input(s): site" in cohort.notes
    assert not any("1 levels" in note for note in cohort.notes)
    with pytest.raises(NonNumericInputError, match=r"the only input column, 'site', is constant"):
        load_cohort(pd.DataFrame({"site": "A", "outcome": y}), "outcome")


def test_other_causes_keep_their_own_wording():
    rng = np.random.RandomState(8)
    y = rng.randint(0, 2, N)
    ids = [f"P{i}" for i in range(N)]
    cases = [
        (pd.DataFrame({"pid": ids, "outcome": y}), {"id_column": "pid"},
         "the table has no input column: it holds only the target 'outcome' and the id 'pid'"),
        (pd.DataFrame({"pid": ids, "a": rng.normal(size=N), "b": 1.0, "outcome": y}),
         {"id_column": "pid", "exclude": ["a", "b"]}, "is excluded on request (a, b); leave at least one"),
        (pd.DataFrame({"a": np.nan, "b": np.nan, "outcome": y}), {}, "all 2 input columns hold no value at all (a, b)"),
        (pd.DataFrame({"a": np.nan, "b": 2.0, "outcome": y}), {},
         "1 input(s) are constant (b) and 1 hold no value at all (a)"),
    ]
    for frame, kwargs, wording in cases:
        with pytest.raises(NonNumericInputError) as info:
            load_cohort(frame, "outcome", **kwargs)
        assert wording in str(info.value)
        assert "numeric input" not in str(info.value)


# -- 3. copies and the comparison of selections --------------------------------------------------------------------

def test_selections_of_copies_agree():
    stability = {"family_threshold": 0.9, "frequencies": [
        {"input": f"dup{i}", "family": 0} for i in range(200)] + [{"input": "age", "family": 1}]}
    assert selections_differ(["dup2"], ["dup3"], stability) is None
    assert selections_differ(["dup2", "age"], ["age", "dup199"], stability) is None
    assert selections_differ(["age"], ["dup3"], stability) == ""
    assert selections_differ(["dup2", "age"], ["dup3"], stability) == (
        " (near-copies, |r| >= 0.9, counted as one family: dup2 and dup3)")


def test_study_with_copies_warns_no_disagreement():
    """120 patients, the informative column written 4 times: the cross-validated selection and the resampled ones
    keep different copies (dup3 and dup0 with these seeds), which is no disagreement."""
    rng = np.random.RandomState(0)
    n = 120
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"x{i}" for i in range(4)])
    y = (X.x3 + 0.7 * rng.normal(size=n) > 0).astype(int)
    for i in range(4):
        X[f"dup{i}"] = X.x3
    frame = X.drop(columns="x3").assign(outcome=y)
    data = split_stage(load_cohort(frame, "outcome"))
    chosen = select_inputs_stage(data, selection="stable", random_state=0)
    assert set(chosen.selected) <= {f"dup{i}" for i in range(4)}
    assert set(chosen.info["cv_selected"]) <= {f"dup{i}" for i in range(4)}
    assert not any("one cross-validated selection" in w for w in data.warnings), data.warnings


def test_a_model_input_spelt_otherwise_in_the_header_is_named():
    # predict on a header saying BIG where the model has big: "the data lack ['big']", with BIG in plain sight
    import pandas as pd
    import pytest

    from scintiml.cohort import model_inputs
    from scintiml.errors import TargetColumnError

    with pytest.raises(TargetColumnError, match="the table has 'BIG' where the model has 'big' "
                                                r"\(names are matched exactly"):
        model_inputs(pd.DataFrame({"BIG": [1.0, 2.0], "age": [3.0, 4.0]}), ["big", "age"])
    with pytest.raises(TargetColumnError) as refused:  # a column the model reads itself is not offered instead
        model_inputs(pd.DataFrame({"age": [3.0, 4.0]}), ["age", "age2"])
    assert "the table has" not in str(refused.value)
