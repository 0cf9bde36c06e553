"""Hostile tables and bundles on the tabular paths: each test reproduces one finding of a sweep and checks its fix."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scintiml.bundle.format import _load_json, spec_digest
from scintiml.bundle.tabular import _check_spec
from scintiml.cohort import load_cohort, model_inputs, read_table
from scintiml.errors import BundleError, ColumnNameError, NonNumericInputError, TargetClassesError
from scintiml.external.validate import site_outcome
from scintiml.stages.results import _mostly_imputed


def _cohort_frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"pid": [f"P{i:03d}" for i in range(n)], "age": rng.normal(60, 10, n).round(1),
                         "ef": rng.normal(3, 1, n).round(2), "event": np.tile([0, 1], n // 2)})


# 1. Excel error cells ----------------------------------------------------------------------------------------------

def _workbook(path: Path, errors: dict[str, str]) -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "data"
    frame = _cohort_frame()
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append(list(row))
    for ref, value in errors.items():
        sheet[ref] = value  # openpyxl stores an error code's text as an error cell (t="e")
    book.save(path)
    return path


def test_excel_error_cells_are_refused_by_cell_as_the_csv_refuses_their_text(tmp_path):
    path = _workbook(tmp_path / "t.xlsx", {"B3": "#DIV/0!", "B5": "#VALUE!"})
    with pytest.raises(NonNumericInputError, match=r"'t.xlsx', sheet 'data': column 'age' holds Excel error\(s\) in "
                                                   r"cells B3 \(#DIV/0!\), B5 \(#VALUE!\).*fix the formula"):
        load_cohort(path, target="event", id_column="pid")
    frame = _cohort_frame().astype({"age": object})
    frame.loc[1, "age"] = "#DIV/0!"
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(NonNumericInputError):  # the same table as CSV: refused too
        load_cohort(tmp_path / "t.csv", target="event", id_column="pid")
    # left out on request, the column's errors matter no more than a CSV's text there
    assert "age" not in load_cohort(path, target="event", id_column="pid", exclude=["age"]).inputs
    # predict: the model's columns are checked by cell as well
    with pytest.raises(NonNumericInputError, match="cells B3"):
        model_inputs(read_table(path), ["age", "ef"])


def test_excel_na_error_reads_as_missing_as_in_a_csv(tmp_path):
    cohort = load_cohort(_workbook(tmp_path / "t.xlsx", {"C4": "#N/A"}), target="event", id_column="pid")
    assert cohort.missing == {"ef": 1} and any("'#N/A' x1" in note for note in cohort.notes)


# 2. a raw category and an old one-hot column of the model's input name --------------------------------------------

def test_a_one_hot_column_beside_its_category_is_refused_unless_identical():
    frame = pd.DataFrame({"age": [61.0, 70.0, 55.0], "grade": ["lo", "mid", "hi"]})
    categories = {"grade": ["hi", "lo", "mid"]}
    stale = frame.assign(**{"grade=mid": [1, 0, 0]})
    with pytest.raises(ColumnNameError, match=r"both the categorical column 'grade' and a column 'grade=mid'.*"
                                              r"disagree \(data row 1, 2\)"):
        model_inputs(stale, ["age", "grade=mid"], categories=categories)
    same = frame.assign(**{"grade=mid": [0, 1, 0]})
    assert model_inputs(same, ["age", "grade=mid"], categories=categories)["grade=mid"].tolist() == [0, 1, 0]


# 5. trailing blank-named, empty columns -----------------------------------------------------------------------------

def test_several_trailing_empty_nameless_columns_are_dropped(tmp_path):
    text = _cohort_frame().to_csv(index=False)
    path = tmp_path / "t.csv"
    path.write_text("\n".join(line + ",," for line in text.strip().split("\n")) + "\n")
    assert list(read_table(path).columns) == ["pid", "age", "ef", "event"]
    path.write_text("pid,age,,\n" + "".join(f"P{i},{i},,x\n" for i in range(3)))  # a nameless column with values
    with pytest.raises(ColumnNameError, match="column 4 of .* has values but no name"):
        read_table(path)


# 6. fully blank trailing rows ---------------------------------------------------------------------------------------

def test_blank_rows_are_left_out_before_reading_cells(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(_cohort_frame().to_csv(index=False) + ",,,\n , ,,\n")
    cohort = load_cohort(path, target="event", id_column="pid")
    assert cohort.positive == 1 and isinstance(cohort.positive, int)  # not 1.0
    assert not any(note.startswith("read as missing") for note in cohort.notes)
    assert "left out 2 empty row(s) (every cell blank)" in cohort.notes
    assert cohort.n_patients == 40


# 7. edited bundle labels ------------------------------------------------------------------------------------------

def _spec(**edits) -> dict:
    spec = {"inputs": ["age"], "architecture": [1, 1], "activation": "logistic", "threshold": 0.5,
            "scaler": {"method": "meanstd", "offset": [50.0], "scale": [10.0]},
            "training_ranges": {"age": [20.0, 80.0]}, "classes": [0, 1], "target": "event", "positive": "yes",
            "outcome_values": ["no", "yes"]}
    spec.update(edits)
    spec["spec_sha256"] = spec_digest(spec)
    return spec


@pytest.mark.parametrize("edits, message", [
    ({"positive": 7}, "positive outcome 7 is not the event of its outcome_values"),
    ({"outcome_values": ["yes", "no"]}, "positive outcome 'yes' is not the event"),
    ({"outcome_values": ["yes", "yes"]}, "one value twice"),
    ({"classes": [1, 0]}, r"classes are \[1, 0\], not \[0, 1\]"),
    ({"classes": [True, False]}, "not \\[0, 1\\]"),
    ({"scaler": {"method": "none", "offset": [50.0], "scale": [10.0]}}, "method and the numbers disagree"),
    ({"scaler": {"method": "zscore", "offset": [50.0], "scale": [10.0]}}, "scaling method 'zscore' is not one of"),
])
def test_inconsistent_bundle_labels_are_refused(edits, message):
    assert _check_spec(_spec()) == (["age"], [1, 1])
    with pytest.raises(BundleError, match=message):
        _check_spec(_spec(**edits))


# 8. JSON numbers a bundle never holds -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ('{"threshold": NaN}', "holds the constant NaN"),
    ('{"threshold": -Infinity}', "holds the constant -Infinity"),
    ('{"n": ' + "9" * 5000 + "}", r"holds a 5000-digit integer \(9999"),
    ("", "is empty"),
])
def test_bad_json_numbers_are_named(tmp_path, text, message):
    path = tmp_path / "bundle.json"
    path.write_text(text)
    with pytest.raises(BundleError, match=message):
        _load_json(path, "bundle.json")
    path.write_text(json.dumps({"n": 10 ** 20, "t": 0.5}))
    assert _load_json(path, "bundle.json") == {"n": 10 ** 20, "t": 0.5}


# 9. outcome codings at a validation site ----------------------------------------------------------------------------

@pytest.mark.parametrize("trained, positive", [(["no", "yes"], "yes"), ([0, 1], 1), ([False, True], True)])
@pytest.mark.parametrize("site", [["Yes", "no"], [True, False], ["TRUE", "false"], [1.0, 0.0], ["1", "0"]])
def test_the_study_s_codings_are_read_as_each_other_both_ways(trained, positive, site):
    frame = pd.DataFrame({"event": site * 2})
    assert site_outcome(frame, "event", positive, trained).tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize("trained, positive, site", [
    (["no", "yes"], "yes", ["y", "n"]),  # y/n needs --positive in a study: not read as yes/no
    ([0, 1], 0, ["true", "false"]),  # a model whose event is 0: only its own coding says which is the event
    ([1, 2], 2, ["yes", "no"]),
])
def test_other_codings_must_match_the_training_one(trained, positive, site):
    with pytest.raises(TargetClassesError, match="recode this site's outcome the same way"):
        site_outcome(pd.DataFrame({"event": site * 2}), "event", positive, trained)


# 4. study warnings for mostly missing inputs -------------------------------------------------------------------------

def test_a_study_warns_of_inputs_missing_beyond_what_validate_accepts():
    cohort = SimpleNamespace(n_patients=100, missing={"ef": 40, "bmi": 84, "age": 10}, inputs=["age", "ef", "bmi"])
    lines = _mostly_imputed(SimpleNamespace(cohort=cohort), ["age", "ef"])
    assert len(lines) == 2
    assert lines[0].startswith("input 'ef' is missing for 40 % of the patients (40 of 100)")
    assert "--max-missing 0.3" in lines[0]
    assert lines[1].startswith("candidate input(s) missing for more than 30 %") and "'bmi' (84 %)" in lines[1]


def test_the_study_command_prints_what_reading_the_table_did(tmp_path, capsys):
    # before 0.7.1 `study` printed no notes: an input dropped while reading was said only in the report
    from conftest import run_cli

    frame = _cohort_frame(60).assign(bmi=np.nan)
    frame.to_csv(tmp_path / "t.csv", index=False)
    code = run_cli(["study", "--no-pdf", str(tmp_path / "t.csv"), "--target", "event", "--id", "pid", "--selection",
                    "split", "--out", str(tmp_path / "s")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    notes = [line for line in captured.err.splitlines() if line.startswith("note:")]
    assert any("bmi" in line for line in notes), captured.err
    assert not any("bmi" in line for line in captured.out.splitlines()[:1])  # stdout's first line: the summary


def test_an_excel_error_in_the_header_row_is_no_column_name(tmp_path):
    # the error's text was written into the header: a column named '#DIV/0!' was studied
    import re
    import zipfile

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["age", "placeholder", "event"])
    for i in range(40):
        sheet.append([50 + i, i * 0.5, i % 2])
    book.save(tmp_path / "h.xlsx")
    with zipfile.ZipFile(tmp_path / "h.xlsx") as z:
        parts = {name: z.read(name) for name in z.namelist()}
    name = next(n for n in parts if n.startswith("xl/worksheets/") and n.endswith(".xml"))
    parts[name] = re.sub(rb'<c r="B1"[^>]*>.*?</c>', b'<c r="B1" t="e"><f>1/0</f><v>#DIV/0!</v></c>', parts[name])
    with zipfile.ZipFile(tmp_path / "h.xlsx", "w") as z:
        for n, data in parts.items():
            z.writestr(n, data)
    with pytest.raises(ColumnNameError, match="no name"):
        load_cohort(tmp_path / "h.xlsx", "event")
