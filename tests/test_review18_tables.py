"""Findings of a hostile-input sweep of the table commands (session 18): numbers written with thousands commas read
1,000 times too small or one-hot encoded as categories, and the fixes a message suggested for them."""

from __future__ import annotations

import re

import pytest

from scintiml.cohort import load_cohort, read_table
from scintiml.errors import NumberFormatError


def _write(path, header, rows, times=15):
    path.write_text(header + "\n" + "".join(rows) * times)
    return path


def test_thousands_commas_in_a_comma_separated_file_are_not_read_as_decimal_commas(tmp_path):
    path = _write(tmp_path / "us.csv", "cpk,sc,y", ['129,1.2,0\n', '"1,820",1.5,1\n', '250,0.9,0\n', '"2,100",2.1,1\n'])
    with pytest.raises(NumberFormatError, match=r"column 'cpk' holds '1,820'.*column 'sc' writes decimals with a "
                                                r"point \('1.2'\).*group thousands \(1820\)"):
        read_table(path, decimal=",")
    # the same cells in a semicolon file are decimal commas, as the flag says: no guess against the user
    semi = _write(tmp_path / "eu.csv", "cpk;sc;y", ['129;1,2;0\n', '1,820;1,5;1\n', '250;0,9;0\n', '2,100;2,1;1\n'])
    assert sorted(read_table(semi, decimal=",")["cpk"].unique()) == [1.82, 2.1, 129.0, 250.0]
    # and a comma-separated file whose only commas are quoted decimal commas (no point decimals) is read
    quoted = _write(tmp_path / "q.csv", "a,b,y", ['"1,5",2,0\n', '"2,25",3,1\n', '"0,5",4,0\n'])
    assert sorted(read_table(quoted, decimal=",")["a"].unique()) == [0.5, 1.5, 2.25]


def test_a_few_numbers_with_thousands_commas_are_refused_not_one_hot_encoded(tmp_path):
    path = _write(tmp_path / "t.csv", "x,sc,y", ['129,1.2,0\n', '"1,820",1.5,1\n', '250,0.9,0\n', '"2,100",2.1,1\n'])
    with pytest.raises(NumberFormatError, match="input 'x' holds numbers except in 30 cell.*'1,820'.*without "
                                                "thousands separators") as e:
        load_cohort(path, target="y")
    assert "--missing" not in str(e.value)  # a measurement is not "not measured"


def test_a_bucketed_count_with_a_top_bucket_stays_a_category(tmp_path):
    """"≥3" is the top bucket of a category (vessels 0 / 1 / 2 / ≥3) as often as a value beyond a limit: a column
    of few levels written so stays one-hot encoded (a review of the first version of this change refused it)."""
    path = _write(tmp_path / "t.csv", "vessels,sc,y", ['0,1.2,0\n', '1,1.5,1\n', '2,0.9,0\n', '≥3,2.1,1\n'])
    cohort = load_cohort(path, target="y")
    assert {c for c in cohort.X.columns if c.startswith("vessels=")} == {"vessels=1", "vessels=2", "vessels=≥3"}


def test_words_among_numbers_written_more_than_once_stay_a_category(tmp_path):
    path = _write(tmp_path / "t.csv", "site,sc,y", ['1,1.2,0\n', '2,1.5,1\n', 'external,0.9,0\n', '3,2.1,1\n'])
    cohort = load_cohort(path, target="y")
    assert any(c.startswith("site=") for c in cohort.X.columns)


@pytest.mark.parametrize("first_row, said", [(["Cohort export 2024"], "a title ('Cohort export 2024')"),
                                             ([None], "blank")])
def test_a_workbook_with_a_title_row_above_the_header_says_so(tmp_path, first_row, said):
    openpyxl = pytest.importorskip("openpyxl")
    from scintiml.errors import ColumnNameError

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(first_row)
    sheet.append(["age", "ef", "event"])
    for k in range(30):
        sheet.append([50 + k, 30 + k % 20, k % 2])
    book.save(tmp_path / "t.xlsx")
    with pytest.raises(ColumnNameError, match=f"the first row is {re.escape(said)} and the next one looks like the "
                                              r"header \('age', 'ef', 'event'\): delete the row\(s\) above"):
        read_table(tmp_path / "t.xlsx")


def test_the_thousands_check_ignores_text_columns_and_a_header_starting_bzh_is_a_table(tmp_path):
    times = _write(tmp_path / "t.csv", "inj_time,usg,y", ['08.30,"1,015",0\n', '09.15,"1,020",1\n', '10.45,"1,025",0\n'])
    assert sorted(read_table(times, decimal=",", text_columns=["inj_time"])["usg"].unique()) == [1.015, 1.02, 1.025]
    bzh = _write(tmp_path / "b.csv", "BZh_score,age,y", ["1,60,0\n", "2,70,1\n"])
    assert list(read_table(bzh).columns) == ["BZh_score", "age", "y"]
