import numpy as np
import pandas as pd
import pytest

from scintiml import impute_median, load_cohort
from scintiml.errors import (
    CohortFileError,
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
    with pytest.raises(CohortFileError, match="cannot read"):
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
    # default: the less frequent class, or a yes/1/true style word
    small_frame.loc[:25, "outcome"] = "no PE"
    assert load_cohort(small_frame, target="outcome", id_column="pid").positive == "PE"


def test_categorical_one_hot_and_reported(small_frame):
    small_frame["collimator"] = np.where(np.arange(40) % 3 == 0, "LEHR", np.where(np.arange(40) % 3 == 1, "LEGP", "ME"))
    cohort = load_cohort(small_frame, target="outcome", id_column="pid")
    assert {"collimator=LEHR", "collimator=ME"} <= set(cohort.inputs)
    assert "collimator" not in cohort.inputs
    assert any("one-hot encoded categorical input 'collimator'" in n for n in cohort.notes)


def test_free_text_refused(small_frame):
    small_frame["comment"] = [f"note number {i}" for i in range(40)]
    with pytest.raises(NonNumericInputError, match=r"\['comment'\].*free text"):
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
