import re

import numpy as np
import pandas as pd
import pytest

from scintiml import impute_median, load_cohort
from scintiml.cohort import MAX_TABLE_BYTES, model_inputs, read_table
from scintiml.errors import (
    CohortFileError,
    ColumnNameError,
    NumberFormatError,
    TableLimitError,
    DuplicateIdError,
    GroupsError,
    InfiniteValueError,
    NonNumericInputError,
    PositiveClassError,
    TargetClassesError,
    TargetColumnError,
    TooFewEventsError,
)


def test_valid_frame_loads(small_frame):
    cohort = load_cohort(small_frame, target="outcome", id_column="pid")
    assert cohort.X.shape == (40, 3)
    assert cohort.n_events == 20
    assert list(cohort.ids[:2]) == ["P000", "P001"]
    assert "pid" not in cohort.inputs


def test_input_frame_is_not_modified(small_frame):
    before = small_frame.copy()
    small_frame.loc[0, "washout"] = np.nan
    before.loc[0, "washout"] = np.nan
    load_cohort(small_frame, target="outcome", id_column="pid")
    pd.testing.assert_frame_equal(small_frame, before)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".xlsx"])
def test_file_formats(small_frame, tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        small_frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        small_frame.to_csv(path, sep="\t", index=False)
    else:
        pytest.importorskip("openpyxl")
        small_frame.to_excel(path, index=False)
    cohort = load_cohort(path, target="outcome", id_column="pid")
    assert cohort.X.shape == (40, 3)
    np.testing.assert_allclose(cohort.X["washout"], small_frame["washout"])


def test_missing_file(tmp_path):
    with pytest.raises(CohortFileError, match="does not exist"):
        load_cohort(tmp_path / "nope.csv", target="y")


def test_unreadable_file(tmp_path):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(b"this is not a spreadsheet")
    with pytest.raises(CohortFileError, match="is not a workbook Excel can have written"):
        load_cohort(path, target="y")


def test_unknown_suffix(tmp_path):
    path = tmp_path / "data.sav"
    path.write_text("x")
    with pytest.raises(CohortFileError, match="unknown file type"):
        load_cohort(path, target="y")


def test_target_absent_suggests_close_names(small_frame):
    with pytest.raises(TargetColumnError, match="did you mean 'outcome'"):
        load_cohort(small_frame, target="outcme")


def test_target_three_classes(small_frame):
    small_frame["outcome"] = np.arange(40) % 3
    with pytest.raises(TargetClassesError, match="exactly two classes"):
        load_cohort(small_frame, target="outcome")


def test_target_one_class(small_frame):
    small_frame["outcome"] = 1
    with pytest.raises(TargetClassesError, match="has 1"):
        load_cohort(small_frame, target="outcome")


def test_target_missing_values(small_frame):
    small_frame["outcome"] = small_frame["outcome"].astype(float)
    small_frame.loc[3, "outcome"] = np.nan
    with pytest.raises(TargetClassesError, match="missing for 1 patient"):
        load_cohort(small_frame, target="outcome")


def test_positive_not_among_classes(small_frame):
    with pytest.raises(PositiveClassError, match=r"not a value of 'outcome'.*\[0, 1\]"):
        load_cohort(small_frame, target="outcome", positive=2)


def test_positive_string_classes(small_frame):
    small_frame["outcome"] = np.where(small_frame["outcome"] == 1, "PE", "no PE")
    cohort = load_cohort(small_frame, target="outcome", positive="PE", id_column="pid")
    assert cohort.n_events == 20 and cohort.positive == "PE"
    # never guessed: PE / no PE is not a coding with a known event, whatever the class sizes
    small_frame.loc[:25, "outcome"] = "no PE"
    with pytest.raises(PositiveClassError, match="'no PE' and 'PE'.*--positive"):
        load_cohort(small_frame, target="outcome", id_column="pid")


def test_categorical_one_hot_and_reported(small_frame):
    small_frame["collimator"] = np.where(np.arange(40) % 3 == 0, "LEHR", np.where(np.arange(40) % 3 == 1, "LEGP", "ME"))
    cohort = load_cohort(small_frame, target="outcome", id_column="pid")
    assert {"collimator=LEHR", "collimator=ME"} <= set(cohort.inputs)
    assert "collimator" not in cohort.inputs
    assert any("one-hot encoded categorical input 'collimator'" in n for n in cohort.notes)


def test_free_text_refused(small_frame):
    small_frame["comment"] = [f"note number {i}" for i in range(40)]
    with pytest.raises(NonNumericInputError, match=r"'comment' \(40 values, e\.g\. 'note number 0', 'note number 1'\) "
                                                   r"hold free text.*--site-column"):
        load_cohort(small_frame, target="outcome", id_column="pid")


def test_free_text_can_be_excluded(small_frame):
    small_frame["comment"] = [f"note number {i}" for i in range(40)]
    cohort = load_cohort(small_frame, target="outcome", id_column="pid", exclude=["comment"])
    assert "comment" not in cohort.inputs
    assert any("excluded on request: comment" in n for n in cohort.notes)


def test_numbers_stored_as_text_are_numbers(small_frame):
    small_frame["age"] = small_frame["age"].astype(str)
    cohort = load_cohort(small_frame, target="outcome", id_column="pid")
    assert cohort.X["age"].dtype == float


def test_infinities_refused(small_frame):
    small_frame.loc[5, "washout"] = np.inf
    with pytest.raises(InfiniteValueError, match=r"\['washout'\]"):
        load_cohort(small_frame, target="outcome", id_column="pid")


def test_duplicate_ids(small_frame):
    small_frame.loc[7, "pid"] = "P001"
    with pytest.raises(DuplicateIdError, match="'P001'"):
        load_cohort(small_frame, target="outcome", id_column="pid")


def test_too_few_events(small_frame):
    small_frame["outcome"] = (np.arange(40) < 9).astype(int)
    with pytest.raises(TooFewEventsError, match="only 9 event"):
        load_cohort(small_frame, target="outcome", id_column="pid")


def test_constant_input_dropped_and_reported(small_frame):
    small_frame["camera"] = 1.0
    cohort = load_cohort(small_frame, target="outcome", id_column="pid")
    assert "camera" not in cohort.inputs
    assert any("dropped constant input(s): camera" in n for n in cohort.notes)


def test_missing_values_reported_and_kept(small_frame):
    small_frame.loc[[1, 2, 3], "hm_ratio"] = np.nan
    cohort = load_cohort(small_frame, target="outcome", id_column="pid")
    assert cohort.missing == {"hm_ratio": 3}
    assert cohort.X["hm_ratio"].isna().sum() == 3


def test_median_imputation_uses_training_rows_only():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 100.0, 200.0, np.nan]})
    filled, used = impute_median(X, fit_rows=np.array([0, 1, 2]))
    assert used == {"a": 2.0}  # the median of the training rows, not of all rows (3.0)
    assert filled.loc[5, "a"] == 2.0
    assert np.isnan(X.loc[5, "a"])  # input untouched


def test_groups_from_dict_glob_and_file(small_frame, tmp_path):
    cohort = load_cohort(small_frame, target="outcome", id_column="pid",
                         groups={"imaging": ["washout", "hm_*"], "clinical": "age"})
    assert cohort.groups == {"imaging": ["washout", "hm_ratio"], "clinical": ["age"]}
    path = tmp_path / "groups.yaml"
    path.write_text("imaging: [washout, hm_ratio]\nclinical: [age]\n")
    assert load_cohort(small_frame, target="outcome", id_column="pid", groups=path).groups == cohort.groups
    path = tmp_path / "groups.json"
    path.write_text('{"imaging": ["washout", "hm_ratio"], "clinical": ["age"]}')
    assert load_cohort(small_frame, target="outcome", id_column="pid", groups=str(path)).groups == cohort.groups


def test_groups_unknown_column(small_frame):
    with pytest.raises(GroupsError, match="'lvef' matches no input"):
        load_cohort(small_frame, target="outcome", id_column="pid", groups={"clinical": ["lvef"]})


def test_id_like_text_column_gets_a_hint(small_frame):
    with pytest.raises(NonNumericInputError, match="look like patient ids"):
        load_cohort(small_frame, target="outcome")


def test_exclude_unknown_column(small_frame):
    with pytest.raises(TargetColumnError, match="cannot exclude"):
        load_cohort(small_frame, target="outcome", exclude=["nothing"])


# --------------------------------------------------------------------------- the outcome rule never guesses
@pytest.mark.parametrize("event, other, expected", [
    (1.0, 0.0, 1.0),  # 1.0/0.0: 1.0 is the event (0.0 was once taken as the event)
    (1, 0, 1),
    ("yes", "no", "yes"),
    ("TRUE", "FALSE", True),  # booleans as text read as booleans: True is the event
])
def test_recognised_codings_make_1_true_yes_the_event(small_frame, event, other, expected):
    # 28 events and 12 non-events: the event is the majority, so the old "less frequent class" guess
    # would pick the wrong one; the rule must not depend on class sizes
    small_frame["outcome"] = [event] * 28 + [other] * 12
    cohort = load_cohort(small_frame, target="outcome", id_column="pid")
    assert cohort.positive == expected and cohort.n_events == 28
    assert any(note.startswith("event: outcome =") for note in cohort.notes)


def test_yes_with_spaces_and_case_is_one_class(small_frame):
    small_frame["outcome"] = ["yes ", " YES", "Yes", "yes"] * 5 + ["no", "No "] * 10
    cohort = load_cohort(small_frame, target="outcome", id_column="pid")
    assert cohort.positive == "yes" and cohort.n_events == 20
    assert any("case and spaces ignored" in n for n in cohort.notes)


def test_the_outcome_keeps_the_tables_own_spelling(small_frame):
    # predictions print predicted_class in these values: "Yes"/"No" as written, not folded to "yes"/"no"
    small_frame["outcome"] = ["Yes"] * 28 + ["No"] * 12
    cohort = load_cohort(small_frame, target="outcome", id_column="pid")
    assert cohort.positive == "Yes" and cohort.outcome_values == ["No", "Yes"] and cohort.n_events == 28
    # mixed spellings: the most frequent one, and on a tie the one written first
    small_frame["outcome"] = ["yes"] * 8 + ["YES"] * 12 + ["No", "no"] * 10
    cohort = load_cohort(small_frame, target="outcome", id_column="pid")
    assert cohort.positive == "YES" and cohort.outcome_values == ["No", "YES"] and cohort.n_events == 20


def test_one_two_coding_needs_positive(small_frame):
    small_frame["outcome"] = small_frame["outcome"] + 1  # 1/2: the old rule took 1 as the event
    with pytest.raises(PositiveClassError, match="1 and 2.*--positive"):
        load_cohort(small_frame, target="outcome", id_column="pid")
    cohort = load_cohort(small_frame, target="outcome", id_column="pid", positive="2")
    assert cohort.positive == 2 and cohort.n_events == 20


# --------------------------------------------------------------------------- column names
def test_duplicate_column_names_refused_not_renamed(small_frame, tmp_path):
    path = tmp_path / "dup.csv"
    text = small_frame.to_csv(index=False).splitlines()
    text[0] += ",outcome"  # a duplicated target would otherwise become the input outcome.1
    path.write_text("\n".join(line + ("" if i == 0 else "," + line.split(",")[-1]) for i, line in enumerate(text)))
    with pytest.raises(ColumnNameError, match="'outcome' appears twice.*columns 5 and 6"):
        load_cohort(path, target="outcome", id_column="pid")
    frame = small_frame.copy()
    frame.columns = ["pid", "age", "age ", "hm_ratio", "outcome"]  # equal once trimmed
    with pytest.raises(ColumnNameError, match="'age' appears twice"):
        load_cohort(frame, target="outcome", id_column="pid")


def test_one_hot_name_collision_refused(small_frame):
    small_frame["grade"] = np.where(np.arange(40) % 2 == 0, "x", "y")
    small_frame["grade=y"] = np.arange(40.0)
    with pytest.raises(ColumnNameError, match="'grade=y'.*same name"):
        load_cohort(small_frame, target="outcome", id_column="pid")


def test_model_inputs_rebuilds_one_hot_and_booleans(small_frame):
    small_frame["grade"] = np.where(np.arange(40) % 2 == 0, "x", "y")
    small_frame["smoker"] = np.where(np.arange(40) % 4 == 0, "TRUE", "FALSE")
    cohort = load_cohort(small_frame, target="outcome", id_column="pid")
    again = model_inputs(small_frame, cohort.inputs)
    pd.testing.assert_frame_equal(again.reset_index(drop=True), cohort.X, check_dtype=False)
    with pytest.raises(TargetColumnError, match="lack the model's input"):
        model_inputs(small_frame.drop(columns=["grade"]), cohort.inputs)


# --------------------------------------------------------------------------- spreadsheet dialects and limits
def test_semicolon_csv_with_decimal_commas(small_frame, tmp_path):
    path = tmp_path / "eu.csv"
    small_frame.round(2).to_csv(path, sep=";", decimal=",", index=False)
    with pytest.raises(NumberFormatError, match="decimal comma.*--decimal-comma"):
        load_cohort(path, target="outcome", id_column="pid")  # the cause is named, not "target not found"
    cohort = load_cohort(path, target="outcome", id_column="pid", decimal=",")
    np.testing.assert_allclose(cohort.X["washout"], small_frame["washout"].round(2))


def test_percent_signs_named_or_read(small_frame, tmp_path):
    frame = small_frame.copy()
    frame["washout"] = [f"{v:.0f}%" for v in frame["washout"]]
    with pytest.raises(NumberFormatError, match="percentages.*'\\d+%'|percentages"):
        load_cohort(frame, target="outcome", id_column="pid")
    cohort = load_cohort(frame, target="outcome", id_column="pid", percent=True)
    np.testing.assert_allclose(cohort.X["washout"], small_frame["washout"].round(0))


def test_missing_markers_read_as_missing_and_reported(small_frame, tmp_path):
    frame = small_frame.astype(object)
    frame.loc[1, "age"], frame.loc[2, "age"], frame.loc[3, "washout"], frame.loc[4, "washout"] = "?", "NA", "-", ""
    path = tmp_path / "m.csv"
    frame.to_csv(path, index=False)
    cohort = load_cohort(path, target="outcome", id_column="pid")
    assert cohort.missing == {"age": 2, "washout": 2}
    note = next(n for n in cohort.notes if n.startswith("read as missing"))
    assert "'?' x1" in note and "'-' x1" in note and "'(empty)' x1" in note


def test_pipes_and_oversized_files_refused(tmp_path):
    import os

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(TableLimitError, match="not a regular file"):
        read_table(fifo)  # would block forever if opened
    big = tmp_path / "big.csv"
    big.write_text("a,b\n1,2\n")
    with pytest.raises(TableLimitError, match="reads tables up to 0 MB"):
        read_table(big, max_bytes=4)
    assert MAX_TABLE_BYTES >= 50 * 2**20  # the 50 MB file is read, not refused


def test_trailing_delimiter_and_spaces_in_header(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(" age , outcome ,\n61, yes ,\n70,no,\n")
    frame = read_table(path)
    assert list(frame.columns) == ["age", "outcome"] and list(frame["outcome"]) == ["yes", "no"]


def test_model_inputs_one_hot_when_new_data_read_as_numbers_or_booleans(small_frame):
    # training: mixed text levels; new data holding only some levels is read as numbers or booleans
    small_frame["grade"] = (["1", "2", "x"] * 14)[:40]
    small_frame["flag"] = (["TRUE", "FALSE", "maybe"] * 14)[:40]
    cohort = load_cohort(small_frame, target="outcome", id_column="pid")
    assert {"grade=2", "grade=x", "flag=TRUE", "flag=maybe"} <= set(cohort.inputs)
    new = pd.DataFrame({"age": [60.0] * 3, "washout": [20.0] * 3, "hm_ratio": [2.0] * 3,
                        "grade": [1.0, 2.0, 2.0], "flag": ["TRUE", "FALSE", "TRUE"]})  # as Excel gives them
    X = model_inputs(new, cohort.inputs)
    assert X["grade=2"].tolist() == [0.0, 1.0, 1.0] and X["grade=x"].tolist() == [0.0, 0.0, 0.0]
    assert X["flag=TRUE"].tolist() == [1.0, 0.0, 1.0] and X["flag=maybe"].tolist() == [0.0, 0.0, 0.0]


def test_patient_ids_keep_their_text(small_frame, tmp_path):
    frame = small_frame.copy()
    frame["pid"] = [f"{i:04d}" for i in range(len(frame))]  # 0000, 0001, ...: numbers to a naive reader
    path = tmp_path / "ids.csv"
    frame.to_csv(path, index=False)
    cohort = load_cohort(path, target="outcome", id_column="pid")
    assert list(cohort.ids[:3]) == ["0000", "0001", "0002"]
    # without naming it an id column, the same column reads as numbers (and would be refused as an input later)
    assert read_table(path)["pid"].iloc[1] == 1


def test_empty_patient_id_is_refused_with_its_row(small_frame, tmp_path):
    from scintiml.errors import MissingIdError

    frame = small_frame.copy()
    frame["pid"] = frame["pid"].astype(object)
    frame.loc[3, "pid"] = ""
    path = tmp_path / "ids.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(MissingIdError, match=r"empty in 1 row\(s\) \(table rows 5,"):
        load_cohort(path, target="outcome", id_column="pid")
    # one name given as a string is one column, not its letters
    assert read_table(path, text_columns="pid")["pid"].iloc[0] == "P000"


def test_header_only_table_id_equal_to_target_and_excluded_id_are_named(small_frame):
    with pytest.raises(CohortFileError, match="no patient rows, only a header"):
        load_cohort(small_frame.iloc[:0], target="outcome")
    with pytest.raises(TargetColumnError, match="the id column and the target are the same column"):
        load_cohort(small_frame, target="outcome", id_column="outcome")
    with pytest.raises(TargetColumnError, match="'pid' is also listed in exclude"):
        load_cohort(small_frame, target="outcome", id_column="pid", exclude=["pid"])


def test_model_inputs_refuse_what_training_refuses(small_frame):
    with pytest.raises(InfiniteValueError, match=r"\['washout'\] hold infinite"):
        model_inputs(small_frame.assign(washout=np.where(small_frame.index == 3, -np.inf, small_frame["washout"])),
                     ["washout"])
    with pytest.raises(InfiniteValueError, match="beyond"):
        model_inputs(small_frame.assign(washout=1e300), ["washout"])
    with pytest.raises(CohortFileError, match="no patient rows"):
        model_inputs(small_frame.iloc[:0], ["washout"])
    # the small end: a column in 1e-300 had a variance of 0 and was silently useless to the network
    tiny = small_frame.assign(washout=small_frame["washout"] * 1e-300)
    with pytest.raises(InfiniteValueError, match=r"\['washout'\] hold only values below ±1e-100 \(the largest "
                                                 r"[0-9.]+e-29\d\)"):
        load_cohort(tiny, target="outcome", id_column="pid")
    assert np.isfinite(load_cohort(small_frame.assign(washout=small_frame["washout"] * 1e-90), "outcome", id_column="pid")
                       .X["washout"]).all()
    zeros = load_cohort(small_frame.assign(washout=0.0), target="outcome", id_column="pid")
    assert "washout" not in zeros.inputs and "dropped constant input(s): washout" in zeros.notes  # not "tiny"
    comma = small_frame.assign(washout=small_frame["washout"].map(lambda v: f"{v:.2f}".replace(".", ",")))
    with pytest.raises(NonNumericInputError, match="--decimal-comma"):
        model_inputs(comma, ["washout"])


def test_an_input_without_any_value_is_dropped_and_called_empty_not_constant(small_frame):
    cohort = load_cohort(small_frame.assign(blank=np.nan), target="outcome", id_column="pid")
    assert "blank" not in cohort.inputs
    assert any("no value at all: blank" in n for n in cohort.notes)
    assert not any("constant" in n and "blank" in n for n in cohort.notes)


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_a_header_row_wider_than_the_sniffed_sample_is_read_whole(tmp_path, sep):
    # 3,000 radiomics-style names: a ~100 kB header row, past the 64 kB the delimiter is sniffed on
    rng = np.random.default_rng(0)
    names = [f"original_glszm_LargeAreaEmphasis_{i:05d}" for i in range(3000)]
    frame = pd.DataFrame(rng.normal(size=(24, 3000)).round(3), columns=names).assign(outcome=[0, 1] * 12)
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False, sep=sep)
    assert len(path.read_text().splitlines()[0]) > 65536
    cohort = load_cohort(path, "outcome", min_events=5)
    assert list(cohort.X.columns) == names
    np.testing.assert_allclose(cohort.X.to_numpy(), frame[names].to_numpy())


@pytest.mark.parametrize("seed", range(8))
def test_whole_table_cleaning_equals_the_column_by_column_rules(seed, monkeypatch):
    """The one-pass cleaning of an all-text table (written for 20,000-column radiomics exports) gives exactly
    what the column-by-column rules give: values, dtypes and the missing-marker counts."""
    from scintiml import cohort

    rng = np.random.default_rng(seed)
    n = 30
    pools = {
        "number": lambda: f"{rng.normal():.3f}", "integer": lambda: str(int(rng.integers(-5, 50))),
        "padded": lambda: f"  {rng.integers(0, 9)} ", "comma": lambda: f"{rng.integers(0, 9)},{rng.integers(0, 99)}",
        "percent": lambda: f"{rng.integers(0, 100)}%", "bool": lambda: str(rng.choice(["TRUE", "false", " True"])),
        "text": lambda: str(rng.choice(["LEHR", "MEGP", "a b"])), "id": lambda: f"00{rng.integers(0, 999)}",
    }
    markers = ["", " ", "NA", "?", "-", "n/a", "missing", "  NULL "]
    columns = {}
    for k, kind in enumerate(rng.choice(list(pools), size=12)):
        share = rng.choice([0.0, 0.1, 0.5, 1.0])  # 1.0: a column of markers only
        columns[f"c{k}_{kind}"] = [rng.choice(markers) if rng.random() < share else pools[kind]() for _ in range(n)]
    columns["pid"] = [f"  {i:03d} " if i % 7 else "" for i in range(n)]
    columns["blank_id"] = [""] * n
    frame = pd.DataFrame(columns, dtype=str)
    nullable = frame.astype("string")
    nullable.iloc[::5, :] = pd.NA  # pandas' nullable strings: the general rules, and no TypeError on pd.NA
    with_na = frame.astype(object)
    with_na.iloc[3, 0] = pd.NA
    if seed % 2:  # blocks of a few columns, as a long table is cleaned
        monkeypatch.setattr(cohort, "_BLOCK_CELLS", 3 * n)
    ids = ("pid", "blank_id")
    for table, decimal, percent in ((frame, ".", False), (frame, ",", True), (frame.astype(object), ".", True),
                                    (nullable, ".", False), (with_na, ".", False)):
        fast = cohort._clean_frame(table, decimal=decimal, percent=percent, text_columns=ids)
        with monkeypatch.context() as m:
            m.setattr(cohort, "_clean_text_block", lambda *a, **k: None)
            slow = cohort._clean_frame(table, decimal=decimal, percent=percent, text_columns=ids)
        pd.testing.assert_frame_equal(fast, slow, check_dtype=True)
        assert fast.attrs["missing_markers"] == slow.attrs["missing_markers"]
        assert fast.attrs["missing_markers"] or table is nullable  # the markers were counted at all


def test_an_id_column_holding_pd_na_is_named_missing_not_a_type_error():
    from scintiml.errors import MissingIdError

    frame = pd.DataFrame({"pid": ["001", None, "003", "004"] * 5, "age": ["61", "70", "55", "80"] * 5,
                          "outcome": ["0", "1"] * 10}, dtype="string")
    with pytest.raises(MissingIdError, match="is empty in 5 row"):
        load_cohort(frame, "outcome", id_column="pid", min_events=3)
    cohort = load_cohort(frame.assign(pid=[f"{i:03d}" for i in range(20)]), "outcome", id_column="pid",
                         min_events=3)
    assert cohort.X.attrs == {} and list(cohort.ids[:2]) == ["000", "001"]


def test_exact_copies_are_noted_and_near_copies_are_not():
    rng = np.random.default_rng(0)
    a = rng.normal(size=60).round(2)
    a[3] = np.nan
    frame = pd.DataFrame({"a": a, "b": rng.normal(size=60), "outcome": [0, 1] * 30})
    frame["a_copy"] = frame["a"]
    frame["a_near"] = frame["a"].where(frame.index != 7, 99.0)  # one value differs
    frame["a_filled"] = frame["a"].fillna(0.0)  # the same values where a has one: missing differs
    frame["b_copy"] = frame["b"]
    notes = [n for n in load_cohort(frame, "outcome").notes if n.startswith("exact copies")]
    assert len(notes) == 1 and "'a_copy' of 'a'; 'b_copy' of 'b'" in notes[0]
    assert "a_near" not in notes[0] and "a_filled" not in notes[0]
    assert not [n for n in load_cohort(frame[["a", "b", "outcome"]], "outcome").notes if "exact cop" in n]


@pytest.mark.parametrize("name, text, words", [
    ("twice.yaml", "imaging: [img1]\nimaging: [img2]\nclinical: [c1]\n", "group 'imaging' is given twice"),
    ("twice.json", '{"imaging": ["img1"], "imaging": ["img2"], "clinical": ["c1"]}', "group 'imaging' is given twice"),
    ("empty.yaml", "imaging: []\nclinical: [c1]\n", "group 'imaging' is empty"),
    ("both.yaml", "imaging: [img1, c1]\nclinical: [c1]\n", "input 'c1' is in group 'imaging' and in group 'clinical'"),
])
def test_groups_files_that_would_mislead_the_readiness_comparison_are_refused(tmp_path, name, text, words):
    from scintiml.cohort import resolve_groups
    from scintiml.errors import GroupsError

    (tmp_path / name).write_text(text)
    with pytest.raises(GroupsError, match=re.escape(words)):
        resolve_groups(tmp_path / name, ["img1", "img2", "c1"])


def test_a_group_entry_is_an_exact_column_name_before_it_is_a_pattern(tmp_path):
    from scintiml.cohort import resolve_groups

    inputs = ["SUV[max]", "washout [%]", "lesion1", "lesion2", "lesion[12]", "age"]
    groups = resolve_groups({"imaging": ["SUV[max]", "washout [%]", "lesion[12]"], "clinical": ["age"]}, inputs)
    assert groups["imaging"] == ["SUV[max]", "washout [%]", "lesion[12]"]  # not lesion1 / lesion2
    assert resolve_groups({"imaging": ["lesion?"], "clinical": ["age"]}, inputs)["imaging"] == ["lesion1", "lesion2"]


def test_decimal_commas_read_dots_as_thousands_and_refuse_a_decimal_point(tmp_path):
    from scintiml.errors import NumberFormatError

    rows = ["cpk;age;y", "6.834;61,5;1", "519;70;0", "5.168;55;1", "786;80;0", "1.000,5;45;1", "-12,5;50;0"]
    (tmp_path / "eu.csv").write_text("\n".join(rows * 1 + rows[1:] * 4) + "\n")
    cohort = load_cohort(tmp_path / "eu.csv", "y", decimal=",", min_events=1)
    assert cohort.X["cpk"].tolist()[:6] == [6834.0, 519.0, 5168.0, 786.0, 1000.5, -12.5]
    assert cohort.X["age"].tolist()[:2] == [61.5, 70.0]
    # a decimal point among decimal commas is no number the table's own rules can read: named, not guessed
    (tmp_path / "mixed.csv").write_text("cpk;y\n" + "2,5;1\n1.25;0\n519;1\n" * 8)
    with pytest.raises(NumberFormatError, match=r"input 'cpk' mixes decimal points \(e\.g\. '1\.25'\) with decimal "
                                                r"commas \(e\.g\. '2,5'\)"):
        load_cohort(tmp_path / "mixed.csv", "y", decimal=",", min_events=1)
    # a column written with decimal points ("78.0", "0.35": no thousands grouping) in such a table reads as such
    (tmp_path / "points.csv").write_text("age;washout;y\n" + "78.0;0,35;1\n61.5;0,5;0\n70.125;1;1\n" * 8)
    points = load_cohort(tmp_path / "points.csv", "y", decimal=",", min_events=1).X
    assert points["age"].tolist()[:3] == [78.0, 61.5, 70.125] and points["washout"].tolist()[:3] == [0.35, 0.5, 1.0]
    # a thousands dot only on evidence (a comma, or two dot groups): "1.968" alone may be an H/M ratio
    (tmp_path / "hm.csv").write_text("hm;y\n" + "1.968;1\n2.105;0\n1.500;1\n" * 8)
    with pytest.raises(NumberFormatError, match=r"'1\.968' in a table read with decimal commas: a thousands "
                                                r"separator \(1968\) or a decimal point \(1\.968\)\?"):
        load_cohort(tmp_path / "hm.csv", "y", decimal=",", min_events=1)
    (tmp_path / "big.csv").write_text("dose;y\n" + "1.234.567;1\n519;0\n" * 12)
    assert load_cohort(tmp_path / "big.csv", "y", decimal=",", min_events=1).X["dose"].tolist()[:2] == [1234567, 519]
    # cells a spreadsheet stores as numbers stay numbers beside "72,5" (a text-only rule made them missing)
    sheet = pd.DataFrame({"a": ["72,5", 62.0, 58, "61,5"] * 5, "b": ["1.000,5", 2.5, "3,5", 4] * 5, "y": [0, 1] * 10})
    X = load_cohort(sheet, "y", decimal=",", min_events=1).X
    assert X["a"].tolist()[:4] == [72.5, 62.0, 58.0, 61.5] and X["b"].tolist()[:4] == [1000.5, 2.5, 3.5, 4.0]
    frame = pd.DataFrame({"a": ["41%", "0.42", "39%", "0.5"] * 5, "y": [0, 1] * 10})
    with pytest.raises(NumberFormatError, match=r"mixes percentages \(e\.g\. '41%'\) with plain numbers"):
        load_cohort(frame, "y", percent=True, min_events=1)


def test_yaml_groups_keep_merge_keys_and_safe_loading_while_refusing_a_repeated_key():
    import yaml

    from scintiml.cohort import _yaml_without_repeated_keys
    from scintiml.errors import GroupsError

    merged = _yaml_without_repeated_keys("defaults: &d {imaging: [img1]}\ngroups:\n  <<: *d\n  clinical: [c1]\n")
    assert merged["groups"] == {"imaging": ["img1"], "clinical": ["c1"]}
    with pytest.raises(yaml.constructor.ConstructorError):  # no python objects, as with yaml.safe_load
        _yaml_without_repeated_keys("a: !!python/object/apply:os.system [ls]")
    with pytest.raises(GroupsError, match="group 'a' is given twice"):
        _yaml_without_repeated_keys("a: [x]\na: [y]\n")


def test_control_characters_in_names_reach_the_terminal_as_escapes(tmp_path, capfd):
    # an ESC sequence in a column name cleared the terminal; a line break in one printed a forged "error:" line
    from conftest import run_cli

    rng = np.random.default_rng(0)
    # constant inputs, so that describe names them ("dropped constant input(s): ...")
    frame = pd.DataFrame({"a\x1b[2Jb": 1.0, "x\nerror: forged": 2.0, "z": rng.normal(size=40),
                          "outcome": [0, 1] * 20})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    assert run_cli(["describe", str(path), "--target", "outcome"]) == 0
    out, err = capfd.readouterr()
    assert "\x1b" not in out + err and "a\\x1b[2Jb" in out and "x\\nerror: forged" in out
    assert not [line for line in (out + err).splitlines() if line.startswith("error:")]
    assert run_cli(["describe", str(path), "--target", "outcome\x1b]0;title\x07"]) == 2
    out, err = capfd.readouterr()
    assert "\x1b" not in err and "\x07" not in err and len(err.strip().splitlines()) == 1


def test_a_stray_library_warning_is_one_warning_line(tmp_path, capfd):
    # matplotlib's "Glyph 27 (\x1b) missing from font", raised while the report draws a column name holding an ESC,
    # came out as Python shows warnings: file, line, source line and the raw control character
    from conftest import run_cli

    rng = np.random.default_rng(0)
    x = rng.normal(size=100)
    frame = pd.DataFrame({"a\x1b[31m1": x, "outcome": (x + rng.normal(size=100) > 0).astype(int)})
    frame.to_csv(tmp_path / "g.csv", index=False)
    code = run_cli(["study", "--no-pdf", str(tmp_path / "g.csv"), "--target", "outcome", "--out", str(tmp_path / "st"),
                    "--inputs", "all", "--selection", "split"])
    err = capfd.readouterr().err
    assert code == 0 and "\x1b" not in err and "UserWarning" not in err
    assert any(line.startswith("warning: Glyph 27 (\\x1b) missing") for line in err.splitlines())


def test_a_censored_cell_in_a_decimal_comma_column_is_named_when_decimal_commas_were_asked_for(tmp_path):
    # with --decimal-comma given, "<0,5" beside "5,82" was refused with "read it with --decimal-comma"
    rows = ["id;crp;outcome"] + [f"{i};{2 + i % 7},{i % 10}{i % 3};{i % 2}" for i in range(40)]
    rows[5] = "4;<0,5;0"
    (tmp_path / "h.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(NumberFormatError, match=r"data row 5 holds '<0,5'.*limit of detection"):
        load_cohort(tmp_path / "h.csv", target="outcome", id_column="id", decimal=",")
    with pytest.raises(NumberFormatError, match="decimal comma.*--decimal-comma"):
        load_cohort(tmp_path / "h.csv", target="outcome", id_column="id")
    # predict, validate and recalibrate check a new table the same way
    from scintiml.cohort import check_number_formats

    table = read_table(tmp_path / "h.csv", decimal=",")
    with pytest.raises(NumberFormatError, match=r"data row 5 holds '<0,5'"):
        check_number_formats(table, ["crp"], decimal=",")
    check_number_formats(pd.DataFrame({"grade": ["1", "2", "X"]}), ["grade=2", "grade=X"])  # a category's level


def test_a_lone_thousands_dot_far_beyond_its_column_is_refused_not_read_as_thousands(tmp_path):
    # "6.834" among ages "53,5".."79,2" read as 6834 without a word; "1.834" among CPK 100-900 is 1834
    ages = [f"{50 + i % 30},{i % 10}" for i in range(40)]
    ages[1] = "6.834"
    (tmp_path / "a.csv").write_text("\n".join(["age;outcome"] + [f"{a};{i % 2}" for i, a in enumerate(ages)]))
    with pytest.raises(NumberFormatError, match="mixes decimal points .*'6.834'"):
        load_cohort(tmp_path / "a.csv", target="outcome", decimal=",")
    cpk = [f"{100 + 20 * i},5" for i in range(40)]
    cpk[1] = "1.834"
    (tmp_path / "c.csv").write_text("\n".join(["cpk;outcome"] + [f"{c};{i % 2}" for i, c in enumerate(cpk)]))
    assert load_cohort(tmp_path / "c.csv", target="outcome", decimal=",").X["cpk"].iloc[1] == 1834.0


def test_missing_cells_in_the_repeated_row_check_raise_no_numpy_warning():
    # missing cells became inf, and inf - inf = NaN != 0 counted each as a value of its own (and numpy warned on
    # every heart-disease load)
    import warnings

    from scintiml.datasets import load_heart_disease

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        cohort = load_heart_disease()
    assert cohort.X.isna().any().any() and cohort.X.shape == (920, 13)


def test_a_number_in_scientific_notation_in_a_decimal_comma_column_is_read(tmp_path):
    # "1e1" beside "5,82" kept the whole column text: study crashed (IndexError), predict refused it
    rows = ["x;z;outcome"] + [f"{2 + i % 7},{i % 10};{i};{i % 2}" for i in range(40)]
    rows[3] = "1e1;2;0"
    (tmp_path / "e.csv").write_text("\n".join(rows) + "\n")
    cohort = load_cohort(tmp_path / "e.csv", target="outcome", decimal=",")
    assert cohort.X["x"].iloc[2] == 10.0 and cohort.X["x"].iloc[0] == 2.0 and cohort.X["x"].dtype == float
