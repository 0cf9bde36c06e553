"""The study's check of repeated rows uses the external validation's chance model (:mod:`scintiml.repeats`).

Each column taken as independent had understated chance where coarse columns go together: 18 of 582 sets of 3-5
coarse columns of Cleveland's 303 different patients were called "entered twice" (2026-11-27).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scintiml.cohort import _repeated_rows
from scintiml.datasets import heart_disease_frame
from scintiml.repeats import _row_codes, chance_pairs


@pytest.fixture(scope="module")
def cleveland() -> pd.DataFrame:
    return heart_disease_frame(["cleveland"])


# each warned on the model of independent columns ("49 patient row(s) repeat an earlier row", 58, 52)
@pytest.mark.parametrize("columns", [["age", "sex", "cp", "slope", "thal"], ["age", "cp", "fbs", "ca", "thal"],
                                     ["age", "cp", "restecg", "exang", "slope"]])
def test_coarse_columns_of_different_patients_are_not_called_copies(cleveland, columns):
    X = cleveland[columns].astype(float)
    assert X.assign(y=cleveland["disease"]).duplicated().sum() > 40  # they do share rows: by chance
    assert _repeated_rows(X, cleveland["disease"].to_numpy(), False) == []


def test_the_whole_table_written_twice_is_still_warned_of(cleveland):
    X = cleveland.drop(columns=["site", "num", "disease"]).astype(float)
    y = cleveland["disease"].to_numpy()
    [line] = _repeated_rows(pd.concat([X, X], ignore_index=True), np.r_[y, y], True)
    assert line.startswith("303 patient row(s) repeat an earlier row in every input and the outcome under another id")
    assert "patients 304, 305, 306, 307, 308 …" in line


def test_the_expected_pairs_are_the_hand_computed_figure():
    # f and y go together: the block (f, y) holds 3 + 3 patients, 3 + 3 = 6 pairs; m, independent of them, agrees
    # in 1/3 of pairs: 6 * 1/3 = 2.0 (every column independent: 15 pairs * 1/2 * 1/2 * 1/3 = 1.25)
    table = pd.DataFrame({"f": [0, 0, 0, 1, 1, 1.0], "m": [1, 1, 2, 2, 3, 3.0], "y": [0, 0, 0, 1, 1, 1]})
    assert chance_pairs(*_row_codes(table)) == pytest.approx((2.0, False))
    # m missing for one patient: the block splits by it (2 + 1 + 3 patients: 1 + 0 + 3 pairs), and m agrees among
    # the 5 with a value in (1 + 4 + 4) / 25 of pairs: 4 * 9/25 = 1.44
    table.loc[1, "m"] = np.nan
    assert chance_pairs(*_row_codes(table)) == pytest.approx((1.44, False))


def test_flags_made_from_a_grade_add_no_chance_and_take_no_place_in_the_block():
    rng = np.random.RandomState(8)
    grade = rng.randint(0, 4, 250)
    X = pd.DataFrame({"sex": rng.randint(0, 2, 250), "nyha": rng.randint(1, 5, 250), "grade": grade,
                      "ischemic": (grade > 0).astype(int), "severe": (grade >= 2).astype(int)}).astype(float)
    y = rng.randint(0, 2, 250)
    without = chance_pairs(*_row_codes(X[["sex", "nyha", "grade"]].assign(y=y)))
    assert chance_pairs(*_row_codes(X.assign(y=y))) == pytest.approx(without)
    assert _repeated_rows(X, y, False) == []
