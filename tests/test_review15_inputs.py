"""Review 15 on inputs: which sheet of a workbook is read, DICOM pixel cells whose high bits are not the value's,
and files of one name in different subfolders named apart in ingest's messages.

Each test fails without its fix (the behaviour before it is named in the test's comment), or asserts a behaviour
that could be otherwise."""

import copy
import os

import numpy as np
import pandas as pd
import pytest

from scintiml.cohort import load_cohort, read_table
from scintiml.errors import CohortFileError, NonNumericInputError

openpyxl = pytest.importorskip("openpyxl")


def _table(sheet, first_age=50, n=30):
    sheet.append(["site", "age", "outcome"])
    for i in range(n):
        sheet.append(["north" if i == 0 else None, first_age + i, i % 2])


def _chart_sheet(book, data, index=0, title="chart"):
    from openpyxl.chart import BarChart, Reference

    chart = BarChart()
    chart.add_data(Reference(data, min_col=2, min_row=1, max_row=data.max_row), titles_from_data=True)
    book.create_chartsheet(title, index).add_chart(chart)


# ----------------------------------------------------------------------------- 1. which sheet is read
def test_a_hidden_first_sheet_is_not_read_in_place_of_the_table_the_user_sees(tmp_path):
    book = openpyxl.Workbook()
    old = book.active
    old.title = "R&D <old>"
    _table(old, first_age=900)  # a hidden old copy of the table: the same columns, other values
    old.sheet_state = "hidden"
    data = book.create_sheet("Q&A 'data'")  # XML-escaped in the file: looked up by name all the same
    _table(data)
    data["B5"] = "#DIV/0!"
    book.active = 1
    book.save(tmp_path / "hidden.xlsx")
    # before: pandas read the first worksheet, hidden or not: ages 900-929, and no error cell (the hidden sheet's)
    frame = read_table(tmp_path / "hidden.xlsx")
    assert frame["age"].iloc[0] == 50 and "sheets" not in frame.attrs
    assert frame.attrs["error_cells"]["sheet"] == "Q&A 'data'"
    with pytest.raises(NonNumericInputError, match=r"sheet \"Q&A 'data'\": column 'age' holds Excel error\(s\) in "
                                                   r"cell B5 \(#DIV/0!\)"):
        load_cohort(tmp_path / "hidden.xlsx", "outcome", min_events=1)

    old.sheet_state = "veryHidden"
    book.save(tmp_path / "very_hidden.xlsx")
    assert read_table(tmp_path / "very_hidden.xlsx")["age"].iloc[0] == 50


def test_a_chart_sheet_first_does_not_lose_the_tables_merged_and_error_cells(tmp_path):
    book = openpyxl.Workbook()
    data = book.active
    data.title = "data"
    _table(data)
    data.merge_cells("A2:A31")  # the site written once, merged down its patients' rows
    data["B5"] = "#VALUE!"
    _chart_sheet(book, data)
    book.save(tmp_path / "chart_first.xlsx")
    # before: the table was read, but the merges and error cells were looked up in the chart sheet (the workbook's
    # first): 29 sites read as missing, and the failed formula imputed like a value never measured
    frame = read_table(tmp_path / "chart_first.xlsx")
    assert frame["site"].tolist() == ["north"] * 30 and frame.attrs["merged_cells"] == ["A2:A31"]
    assert frame.attrs["error_cells"]["cells"] == {"age": [("B5", "#VALUE!")]}


def test_a_workbook_showing_no_worksheet_is_read_only_where_one_table_can_be_meant(tmp_path):
    book = openpyxl.Workbook()
    data = book.active
    data.title = "data"
    _table(data)
    _chart_sheet(book, data)
    data.sheet_state = "hidden"  # a chart shown, its table hidden behind it: the one table there is
    book.active = 0
    book.save(tmp_path / "one_hidden.xlsx")
    assert read_table(tmp_path / "one_hidden.xlsx")["age"].iloc[0] == 50

    other = book.create_sheet("lookup")
    other.append(["code", "label"])
    other.sheet_state = "hidden"
    book.save(tmp_path / "two_hidden.xlsx")
    # before: the first hidden worksheet was read, whichever of the two held the table
    with pytest.raises(CohortFileError, match=r"shows no worksheet: its worksheet\(s\) 'data', 'lookup' are hidden; "
                                              "unhide the one that holds the table"):
        read_table(tmp_path / "two_hidden.xlsx")


def test_a_chart_only_workbook_is_named_as_such_not_as_a_damaged_file(tmp_path):
    from openpyxl.chart import BarChart

    book = openpyxl.Workbook()
    book.create_chartsheet("results").add_chart(BarChart())
    book.remove(book.active)
    book.save(tmp_path / "charts.xlsx")
    # before: "is not a workbook Excel can have written (a renamed or damaged file?)"
    with pytest.raises(CohortFileError, match=r"holds chart sheets only \('results'\), no worksheet with a table"):
        read_table(tmp_path / "charts.xlsx")


def test_an_empty_first_sheet_before_the_table_names_the_sheets(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Sheet1"
    _table(book.create_sheet("data"))
    book.save(tmp_path / "empty_first.xlsx")
    with pytest.raises(CohortFileError, match="holds no table on its first sheet.*the workbook's 2 sheets is read, "
                                              "'Sheet1'; the others are 'data'"):
        read_table(tmp_path / "empty_first.xlsx")


# ----------------------------------------------------------------------------- 2. high bits of the pixel cells
pydicom = pytest.importorskip("pydicom")

from scintiml.imaging import PlanarStudy, read_studies, write_nm_study  # noqa: E402

COUNTS = np.random.RandomState(0).poisson(50, (16, 16)).astype(float)
COUNTS[0, 0] = 2000


def _nm_file(folder, change):
    path = write_nm_study(PlanarStudy(views={"ANT": COUNTS.copy()}, pixel_spacing_mm=(3.0, 3.0), patient_id="P1"),
                          folder)[0]
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)
    return path


def test_high_bit_other_than_bits_stored_minus_one_is_refused_by_the_tag(tmp_path):
    def left_aligned(ds):  # 12 stored bits in the cell's high bits (HighBit 15), as ACR-NEMA allowed
        ds.BitsStored, ds.HighBit = 12, 15
        ds.PixelData = (np.minimum(COUNTS, 200).astype(np.uint16) << 4).tobytes()

    path = _nm_file(tmp_path, left_aligned)
    # before: pydicom read the low 12 bits whatever HighBit said: every count 16 times too high, and the study read
    studies, skipped = read_studies(tmp_path)
    assert studies == []
    assert skipped[0]["reason"].startswith(f"{path}: HighBit 15 with BitsStored 12: DICOM stores the values in the "
                                           "low bits (HighBit 11)")
    assert "correct HighBit to 11" in skipped[0]["reason"]


@pytest.mark.parametrize("signed", [0, 1])
def test_an_overlay_declared_in_the_high_bits_is_masked_off_the_counts(tmp_path, signed):
    def overlay(ds):  # an old file's overlay in bit 12 of the cells (Overlay Bit Position), no Overlay Data
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, signed
        cells = COUNTS.astype(np.uint16)
        cells[4:8, 4:8] |= 1 << 12
        ds.PixelData = cells.tobytes()
        for element, vr, value in ((0x0010, "US", 16), (0x0011, "US", 16), (0x0040, "CS", "G"),
                                   (0x0050, "SS", [1, 1]), (0x0100, "US", 16), (0x0102, "US", 12)):
            ds.add_new(0x60000000 | element, vr, value)

    _nm_file(tmp_path, overlay)
    # before: refused, "16 pixel(s) hold stored values beyond 12 bits ... the header does not describe the data"
    studies, skipped = read_studies(tmp_path)
    assert skipped == [] and np.array_equal(studies[0].views["ANT"], COUNTS)


def test_undeclared_bits_above_bits_stored_are_refused_naming_the_tag(tmp_path):
    def garbage(ds):
        ds.BitsStored, ds.HighBit = 12, 11
        cells = COUNTS.astype(np.uint16)
        cells[4:8, 4:8] |= 1 << 13
        ds.PixelData = cells.tobytes()

    _nm_file(tmp_path, garbage)
    studies, skipped = read_studies(tmp_path)
    assert studies == [] and "16 pixel(s) hold stored values beyond 12 bits" in skipped[0]["reason"]
    assert "the header (BitsStored 12) does not describe the pixel data" in skipped[0]["reason"]
    assert "no overlay is declared in those bits (OverlayBitPosition)" in skipped[0]["reason"]


# ----------------------------------------------------------------------------- 3. files of one name, two subfolders
def _two_views(folder):
    rng = np.random.RandomState(1)
    study = PlanarStudy(views={"ANT": rng.poisson(50, (16, 16)).astype(float),
                               "POST": rng.poisson(40, (16, 16)).astype(float)},
                        pixel_spacing_mm=(3.0, 3.0), patient_id="P1")
    return [pydicom.dcmread(p) for p in write_nm_study(study, folder, layout="per_view")]


def _save_as_series(datasets, root):
    """Each data set as ``seriesN/IM0001.dcm``, as a camera's export names them."""
    paths = []
    for i, ds in enumerate(datasets, 1):
        (root / f"series{i}").mkdir(parents=True)
        ds.save_as(root / f"series{i}" / "IM0001.dcm")
        paths.append(root / f"series{i}" / "IM0001.dcm")
    return paths


def test_an_ambiguous_sop_instance_uid_names_the_files_below_the_folder_given(tmp_path):
    datasets = _two_views(tmp_path / "written")
    for ds in datasets:  # an exporter that gave both views one UID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = datasets[0].SOPInstanceUID
    paths = _save_as_series(datasets, tmp_path / "in")
    # before: "(IM0001.dcm (ANT, frame 1); IM0001.dcm (POST, frame 1))": which two files could not be found
    studies, skipped = read_studies(tmp_path / "in")
    one, two = os.path.join("series1", "IM0001.dcm"), os.path.join("series2", "IM0001.dcm")
    assert studies == [] and f"({one} (ANT, frame 1); {two} (POST, frame 1))" in skipped[0]["reason"]
    # a list of files (the PACS listener's): named below the folder that holds them all
    _, skipped = read_studies(paths)
    assert f"({one} (ANT, frame 1); {two} (POST, frame 1))" in skipped[0]["reason"]


def test_a_view_given_twice_and_files_without_study_uid_name_each_file(tmp_path):
    ant = _two_views(tmp_path / "written")[0]
    twice = [ant, copy.deepcopy(ant)]  # the ANT view exported twice, each copy under a UID of its own
    for ds in twice:
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    _save_as_series(twice, tmp_path / "in")
    # before: "view ANT is ambiguous — given 2 times (IM0001.dcm)": two files named as one
    _, skipped = read_studies(tmp_path / "in")
    one, two = os.path.join("series1", "IM0001.dcm"), os.path.join("series2", "IM0001.dcm")
    assert f"view ANT is ambiguous — given 2 times ({one}, {two})" in skipped[0]["reason"]

    for ds in twice:
        del ds.StudyInstanceUID
    _save_as_series(twice, tmp_path / "no_uid")
    # before: "(IM0001.dcm, IM0001.dcm) have no Study Instance UID"
    _, skipped = read_studies(tmp_path / "no_uid")
    assert f"({one}, {two}) have no Study Instance UID" in skipped[0]["reason"]


def test_a_categorical_column_whose_name_holds_an_equals_sign_is_read_back_by_the_bundle(tmp_path):
    # "EF<=35" with levels yes/no gives the input "EF<=35=yes"; predict split it at the first "=" and looked for a
    # column "EF<", refusing the very table the model was trained on
    import warnings

    from scintiml.bundle import load_bundle, save_bundle
    from scintiml.cohort import load_cohort
    from scintiml.external import validate_bundle
    from scintiml.external.missing import absent_inputs
    from scintiml.study import run_study

    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"age": rng.normal(60, 5, 120), "EF<=35": rng.choice(["yes", "no"], 120)})
    frame["event"] = rng.binomial(1, 1 / (1 + np.exp(-(2 * (frame["EF<=35"] == "yes") - 1))))
    cohort = load_cohort(frame, "event")
    assert cohort.inputs == ["age", "EF<=35=yes"] and cohort.categories == {"EF<=35": ["no", "yes"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = run_study(cohort, inputs="all", selection="split", readiness=False, random_state=0)
        bundle = load_bundle(save_bundle(study, tmp_path / "model"))
        predicted = bundle.predict(frame.drop(columns="event"))["probability"]
        assert validate_bundle(bundle, frame, "event").verdict in {"transportable", "recalibrate", "retrain"}
    expected = study.model.predict_proba(study.stages["data"].X[bundle.inputs].to_numpy())[:, 1]
    np.testing.assert_allclose(predicted, expected)
    assert absent_inputs(frame, bundle.inputs) == []
