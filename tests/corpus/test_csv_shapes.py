"""Property-based CSV shapes (hypothesis): whatever a spreadsheet export looks like, ``describe`` either reads it
right or refuses it in one line.

Every drawn table must give: no traceback, exit 0 or 2, exactly one ``error:`` line when refused. Tables the
oracle fully understands (numeric, categorical and missing-marker columns with clean names, a recognised outcome
coding) must be accepted with the right patient count, event count and event value.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from corpus_cases import run  # noqa: E402

CODINGS = [(1, 0, "1"), (1.0, 0.0, "1.0"), ("yes", "no", "'yes'"), ("YES ", " no", "'YES'"),
           ("True", "False", "True"), ("TRUE", "false", "True"), (2, 1, None), ("PE", "no PE", None)]
SAFE_KINDS = ("float", "int", "markers", "category")
ALL_KINDS = SAFE_KINDS + ("free_text", "any_text", "decimal_comma", "percent", "bool_text", "inf")
MARKERS = ("?", "NA", "-", "", "N/A", "null")


@st.composite
def tables(draw):
    n = draw(st.integers(20, 45))
    event, other, printed = draw(st.sampled_from(CODINGS))
    n_events = draw(st.integers(10, n - 10))
    outcome = [event] * n_events + [other] * (n - n_events)
    outcome = draw(st.permutations(outcome))
    kinds = draw(st.lists(st.sampled_from(ALL_KINDS), min_size=1, max_size=4))
    clean_names = draw(st.booleans())
    columns = {"pid": [f"p{i}" for i in range(n)], "outcome": list(outcome)}
    for j, kind in enumerate(kinds):
        if clean_names:
            name = f"c{j}"
        else:
            name = draw(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n"),
                                min_size=0, max_size=8))
        floats = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=n, max_size=n))
        if kind == "float":
            values = [round(v, 3) for v in floats]
        elif kind == "int":
            values = [int(v) for v in floats]
        elif kind == "markers":
            values = [round(v, 2) for v in floats]
            for k in draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True)):
                values[k] = draw(st.sampled_from(MARKERS))
        elif kind == "category":
            values = [draw(st.sampled_from(("LEHR", "LEGP", "ME"))) for _ in range(n)]
        elif kind == "free_text":
            values = [f"note {k} {v:.0f}" for k, v in enumerate(floats)]
        elif kind == "any_text":
            values = draw(st.lists(st.text(max_size=6), min_size=n, max_size=n))
        elif kind == "decimal_comma":
            values = [f"{v:.2f}".replace(".", ",") for v in floats]
        elif kind == "percent":
            values = [f"{abs(v) % 100:.0f}%" for v in floats]
        elif kind == "bool_text":
            values = [draw(st.sampled_from(("TRUE", "FALSE", "true"))) for _ in range(n)]
        else:
            values = ["inf"] + [round(v, 1) for v in floats[1:]]
        columns.setdefault(name, values)
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    pad = draw(st.sampled_from(["", " "]))
    understood = clean_names and set(kinds) <= set(SAFE_KINDS) and printed is not None
    return columns, delimiter, pad, (n, n_events, printed) if understood else None


@settings(max_examples=60, deadline=None, derandomize=True)
@given(tables())
def test_any_csv_shape_is_read_right_or_refused_in_one_line(tmp_path_factory, drawn):
    columns, delimiter, pad, expected = drawn
    folder = tmp_path_factory.mktemp("shape")
    names = list(columns)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow([pad + name + pad for name in names])
    writer.writerows(zip(*(columns[name] for name in names)))
    path = folder / "t.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    code, out, err = run(["describe", str(path), "--target", "outcome", "--id", "pid"])
    assert "Traceback" not in err and code in (0, 2), err[-800:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    if code == 2:
        assert len(errors) == 1, err
    if expected is not None:
        n, n_events, printed = expected
        assert code == 0, err
        assert f"{n} patients, {n_events} events (outcome = {printed})" in out, out
