"""Load and validate a cohort: one row per patient, numeric inputs, a binary outcome.

The boundary of the toolkit: everything a spreadsheet can get wrong is caught
here, with an error that names the problem and the fix. What is repaired
rather than refused (constant inputs dropped, few-level categories one-hot
encoded, excluded columns) is recorded in :attr:`Cohort.notes` so that the
report can say it.

Missing values are *kept* (as NaN) and counted in :attr:`Cohort.missing`; the
documented policy is median imputation fitted on the training instances only
(:func:`impute_median`), applied by the study after the split so that no
selection or testing value leaks into training.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import fnmatch
import io
import json
import os
import re
import shlex
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .missing_codes import (apply_missing_codes, global_code_warnings, normalise_missing_codes, suspected_codes,
                            unused_codes)
# the chance model of repeated rows, shared with the external validation; the constants stay importable from here
from .repeats import (MAX_DEPENDENCE_CELLS, MAX_DETERMINING, REPEATED_ROW_P,  # noqa: F401
                      repeats_beyond_chance)
from .errors import (
    CohortFileError,
    ColumnNameError,
    NumberFormatError,
    ScintimlError,
    TableLimitError,
    DuplicateIdError,
    GroupsError,
    MissingIdError,
    InfiniteValueError,
    NonNumericInputError,
    PositiveClassError,
    TargetClassesError,
    TargetColumnError,
    TooFewEventsError,
)

#: A non-numeric column with at most this many distinct values is treated as a
#: category and one-hot encoded; more levels are taken as free text and refused.
MAX_CATEGORY_LEVELS = 10
#: Largest magnitude accepted in an input: beyond it squares and variances overflow float64 (1e307 did).
MAX_ABS_VALUE = 1e15
#: Smallest magnitude of a column's largest value: below it squares underflow (a column in 1e-300 had a variance
#: of 0 and was silently useless to the network; 1e-160 still worked).
MIN_ABS_VALUE = 1e-100
#: The fewest events (and non-events) a study accepts.
MIN_EVENTS = 10


@dataclass(repr=False)
class Cohort:
    """A validated cohort.

    Attributes
    ----------
    X : pandas.DataFrame
        Numeric inputs, one row per patient, NaN where missing.
    y : numpy.ndarray of int
        Outcome, 1 for the event (``positive``), 0 otherwise.
    ids : numpy.ndarray
        Patient identifiers (row numbers when no id column is given).
    target : str
        Name of the outcome column.
    positive : object
        The outcome value counted as the event.
    groups : dict of str to list of str
        Named groups of inputs, e.g. ``{"imaging": [...], "clinical": [...]}``.
    notes : list of str
        What was changed on the way in (dropped, encoded, excluded columns).
    missing : dict of str to int
        Number of missing values per input (only inputs with any).
    name : str
        A short name for reports.
    citation : str
        Where the data come from (bundled cohorts).
    predefined_split : dict or None
        A published split (e.g. UCI's for SPECTF): ``{"training": idx, "testing": idx}``.
    truth : dict or None
        For simulated teaching cohorts: the known truth.
    outcome_values : list
        The outcome's two values as the table held them, ``[non-event, event]`` (empty when not read from a
        table); a model bundle records them so another site's coding can be checked.
    missing_codes : dict of str to list
        Values read as missing on request (``{column: [codes]}``, ``"*"``: every input); a model bundle records
        them so new patients are read the same way.
    warnings : list of str
        What the reader should check before trusting a study of this cohort (values that look like a code for
        "not measured", requested codes that matched nothing).
    categories : dict of str to list of str
        The levels of each one-hot encoded text column, reference first (``{"grade": ["high", "low", "mid"]}``);
        a model bundle records them so a level a new patient holds and training never saw is flagged and named
        (the patient's one-hot inputs imputed like missing values) instead of passing unnoticed.
    """

    X: pd.DataFrame
    y: np.ndarray
    ids: np.ndarray
    target: str
    positive: Any
    groups: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)
    name: str = "cohort"
    citation: str = ""
    predefined_split: dict[str, np.ndarray] | None = None
    truth: dict[str, Any] | None = None
    outcome_values: list[Any] = field(default_factory=list)
    missing_codes: dict[str, list[Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)

    def __repr__(self) -> str:
        # a notebook shows the repr of a cell's last value: the dataclass one printed every patient (9,000+
        # characters); this says what the cohort is
        events = int(np.sum(self.y))
        return (f"Cohort({self.name!r}: {len(self.y)} patients, {events} with {self.target} = {self.positive}, "
                f"{self.X.shape[1]} inputs)")

    @property
    def n_patients(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_events(self) -> int:
        return int(self.y.sum())

    @property
    def inputs(self) -> list[str]:
        return list(self.X.columns)

    @property
    def uci_split(self) -> dict[str, np.ndarray] | None:
        """Alias of :attr:`predefined_split` (the name used for SPECTF)."""
        return self.predefined_split

    def subset(self, columns: Sequence[str]) -> "Cohort":
        """The same patients restricted to ``columns`` (groups restricted alike)."""
        columns = list(columns)
        unknown = [c for c in columns if c not in self.X.columns]
        if unknown:
            raise GroupsError(f"unknown input(s) {unknown}; the cohort has {self.inputs}")
        groups = {g: [c for c in cols if c in columns] for g, cols in self.groups.items()}
        return Cohort(
            X=self.X[columns].copy(), y=self.y.copy(), ids=self.ids.copy(), target=self.target,
            positive=self.positive, groups={g: c for g, c in groups.items() if c},
            notes=list(self.notes), missing={c: n for c, n in self.missing.items() if c in columns},
            name=self.name, citation=self.citation, predefined_split=self.predefined_split,
            truth=self.truth, outcome_values=list(self.outcome_values),
            missing_codes={k: list(v) for k, v in self.missing_codes.items()},
            warnings=[w for w in self.warnings if not w.startswith("input '") or _names_one_of(w, columns)],
            categories=categories_of(self.categories, columns),
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-able description of the cohort."""
        return {
            "name": self.name,
            "n_patients": self.n_patients,
            "n_inputs": self.n_inputs,
            "target": self.target,
            "positive": _jsonable(self.positive),
            "n_events": self.n_events,
            "groups": self.groups,
            "missing": self.missing,
            "notes": self.notes,
            "citation": self.citation,
            "missing_codes": self.missing_codes,
            "warnings": self.warnings,
        }


def categories_of(categories: Mapping[str, Sequence[str]], columns: Sequence[str]) -> dict[str, list[str]]:
    """The categorical columns (with their levels) that still have a one-hot input among ``columns``.

    Examples
    --------
    >>> categories_of({"grade": ["a", "b"], "site": ["x", "y"]}, ["age", "grade=b"])
    {'grade': ['a', 'b']}
    """
    return {src: list(levels) for src, levels in categories.items() if any(str(c).startswith(f"{src}=")
                                                                          for c in columns)}


def _names_one_of(line: str, columns: Sequence[str]) -> bool:
    """Does a per-input warning (``"input 'x': ..."``) name one of ``columns``?"""
    return any(line.startswith(f"input {c!r}:") for c in columns)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


#: Largest data file read (bytes); a bigger one is refused with this limit named, never read for minutes.
MAX_TABLE_BYTES = 100 * 1024 * 1024
#: Cell texts read as a missing value (after trimming spaces); each one found is counted and reported.
MISSING_MARKERS = ("", "?", "NA", "N/A", "n/a", "na", "-", "--", ".", "NaN", "nan", "NULL", "null", "None",
                   "#N/A", "missing")
_DELIMITERS = (",", ";", "\t", "|")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
#: A number written with decimal commas and dots grouping thousands: 6.834 (= 6834), 1.000,5, -12.345.678
_THOUSANDS_DOTS = re.compile(r"^[+-]?[1-9]\d{0,2}(?:\.\d{3})+(?:,\d+)?$")
_COMMA_NUMBER = re.compile(r"^[+-]?\d+(?:,\d+)?$")
#: A number with commas grouping thousands, as US / UK exports write it: 1,820, 12,345.5, -1,000,000.
_COMMA_THOUSANDS = re.compile(r"^[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")
#: A number written with a decimal point and digits after it that cannot group thousands: 1.2, 0.35, 12.3456.
_POINT_DECIMAL = re.compile(r"^[+-]?\d*\.(?:\d{1,2}|\d{4,})$")
_PERCENT = re.compile(r"^[+-]?\d+(?:[.,]\d+)?\s*%$")


def _sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the header and the first rows into one same number (> 1) of fields.

    A decimal comma inside a semicolon file does not fool it: the header, which holds no numbers, then
    splits differently on ``,`` than the rows do.
    """
    lines = [line for line in sample.splitlines() if line.strip()]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end inside a line
    lines = lines[:50]
    best, best_fields = ",", 1
    for delimiter in _DELIMITERS:
        counts = _field_counts(lines, delimiter)
        if counts and counts[0] > best_fields and all(c == counts[0] for c in counts):
            best, best_fields = delimiter, counts[0]
    if best_fields == 1 and lines:  # ragged rows: take the delimiter that splits the header most
        header = {d: (_field_counts(lines[:1], d) or [1])[0] for d in _DELIMITERS}
        best = max(_DELIMITERS, key=lambda d: (header[d], d == ","))
    return best


def _field_counts(lines: Sequence[str], delimiter: str) -> list[int]:
    """Fields per line split on ``delimiter``; [] when it leaves a field over the csv module's size limit
    (a wide header that this delimiter does not split: it is not the delimiter)."""
    try:
        return [len(row) for row in csv.reader(lines, delimiter=delimiter)]
    except csv.Error:
        return []


def column_name(name: Any) -> str:
    """A column name as the tables are read: trimmed, Unicode NFC. Names a user types (``--target``, ``--id``,
    ``--exclude``, groups) go through it too, so ``alcool_é`` finds its column whichever way either was composed.

    Examples
    --------
    >>> column_name(" alcool_e\u0301 ") == "alcool_\u00e9"
    True
    """
    return unicodedata.normalize("NFC", str(name).strip())


def column_names(names: Sequence[Any], where: str) -> list[str]:
    """Every name through :func:`column_name`; a name held twice once read so is refused, naming both columns
    (1-based) — a file's header and a caller's DataFrame are read by this one rule.

    Examples
    --------
    >>> column_names([" age", "cad"], "the table")
    ['age', 'cad']
    >>> column_names(["cad", "cad "], "the table")
    Traceback (most recent call last):
    ...
    scintiml.errors.ColumnNameError: column name 'cad' appears twice in the table (columns 1 and 2); rename or ...
    """
    clean = [column_name(n) for n in names]
    seen: dict[str, int] = {}
    for i, name in enumerate(clean, start=1):
        if name in seen:
            raise ColumnNameError(
                f"column name {name!r} appears twice in {where} (columns {seen[name]} and {i}); rename or remove "
                "one — a duplicated column is never silently renamed or chosen"
            )
        seen[name] = i
    return clean


def _check_header(names: Sequence[Any], path: Path) -> list[str]:
    """Trimmed column names in Unicode NFC form (a macOS export writes ``é`` as ``e`` + a combining accent, which
    looks the same and compares different); duplicates (pandas would rename them ``x.1``) are refused."""
    seen: dict[str, int] = {}
    for i, name in enumerate((column_name(n) for n in names), start=1):
        if name in seen and name in ("", "nan", "None", "NaT"):  # blank header cells, not a repeated name
            raise ColumnNameError(
                f"the first row of {path.name!r} has blank cells (columns {seen[name]} and {i}): it must hold the "
                "column names — delete any title or blank rows above the header, and name every column"
            )
        seen.setdefault(name, i)
    return column_names(names, repr(path.name))


def _is_text(column: pd.Series) -> bool:
    """Object or string dtype (pandas 3 reads text as ``str``)."""
    return column.dtype == object or isinstance(column.dtype, pd.StringDtype)


def _clean_frame(frame: pd.DataFrame, decimal: str = ".", percent: bool = False,
                 text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Trim text, read the missing markers as missing (counted in ``frame.attrs["missing_markers"]``),
    numbers stored as text as numbers (decimal commas and ``45%`` only when asked), TRUE/FALSE as booleans.
    ``text_columns`` (patient ids) stay trimmed text: ``007`` must not become ``7``."""
    cleaned = _clean_text_block(frame, decimal, percent, text_columns)
    if cleaned is not None:
        return cleaned
    markers: dict[str, dict[str, int]] = {}
    out: dict[str, pd.Series] = {}
    for name in frame.columns:
        column = frame[name]
        if name in text_columns:
            # only strip: a DataFrame's integer ids stay integers, an empty cell is missing
            out[name] = column.map(lambda v: (v.strip() or np.nan) if isinstance(v, str) else v)
            continue
        if not _is_text(column):
            out[name] = column
            continue
        text = column.map(lambda v: v.strip() if isinstance(v, str) else v)
        is_marker = text.isin(MISSING_MARKERS)
        if is_marker.any():
            markers[name] = _marker_counts(text[is_marker])
            text = text.mask(is_marker)
        out[name] = _clean_text_column(text, decimal, percent)
    cleaned = pd.DataFrame(out, index=frame.index)
    cleaned.attrs["missing_markers"] = markers
    return cleaned


def _marker_counts(cells: pd.Series) -> dict[str, int]:
    return {str(k) if k else "(empty)": int(v) for k, v in cells.value_counts().items()}


def _thousands_dots_to_number(value: Any) -> Any:
    """``"1.000,5"`` → ``"1000.5"`` (text in a decimal-comma table); any other cell as it is."""
    return value.replace(".", "").replace(",", ".") if isinstance(value, str) else value


#: A minus written as U+2212 MINUS SIGN, an en dash, or the small / full-width hyphen-minus before a number: what
#: Word, PDFs and lab reports put where a spreadsheet writes "-". Read as a minus, not as text.
_NUMBER_LIKE = re.compile("^[+-]?[0-9.,' \u00a0\u202f]*[0-9][0-9.,' \u00a0\u202f]*([eE][+-]?[0-9]+)?\\s*%?$")
_UNICODE_MINUS = re.compile("^[\u2212\u2013\ufe63\uff0d](?=[0-9.,])")


def _clean_text_column(text: pd.Series, decimal: str, percent: bool) -> pd.Series:
    """One trimmed text column, markers already missing: numbers, decimal commas, percentages, booleans, or text."""
    present = text.dropna()
    if present.empty:
        return pd.Series(np.nan, index=text.index, dtype=float)
    # the text cells (a spreadsheet's column may also hold cells it stores as numbers: those stay numbers)
    strings = present[[isinstance(v, str) for v in present]].astype(str)
    if strings.str.match(_UNICODE_MINUS.pattern).any():  # "−1.5" pasted from a report beside "-1.0": one minus
        replaced = text.map(lambda v: _UNICODE_MINUS.sub("-", v) if isinstance(v, str) else v)
        # only in a column of numbers: a category level written "–1" among words keeps its spelling
        if replaced.dropna().astype(str).str.match(_NUMBER_LIKE.pattern).mean() >= 0.8:
            text = replaced
            present = text.dropna()
            strings = present[[isinstance(v, str) for v in present]].astype(str)
    if decimal == "," and strings.str.contains(".", regex=False).any():
        # Dots in a table read with decimal commas. Where every dotted value groups thousands ("6.834",
        # "1.000,5") they are thousands separators: read as decimal points they had mixed two scales 1000 x
        # apart in one column ("6.834" beside "519") without a word. A column with a dot that cannot group
        # thousands ("39.94", "0.35") and no comma was written with decimal points: read as such. Such dots
        # beside decimal commas ("1.25" and "2,5") are left as text, refused by name.
        as_text = strings
        if (as_text.str.match(_THOUSANDS_DOTS.pattern) | as_text.str.match(_COMMA_NUMBER.pattern)).all():
            # thousands only on evidence: a decimal comma in the column, or a number with two dot groups;
            # "6.834" alone could be either, and "1.968" is as likely an H/M ratio written as %.3f
            grouping = as_text.str.count(r"\.").gt(1) | (as_text.str.contains(".", regex=False)
                                                         & as_text.str.contains(",", regex=False))
            evidence = as_text.str.contains(",", regex=False).any() or grouping.any()
            if evidence:
                values = pd.to_numeric(text.map(_thousands_dots_to_number), errors="coerce")
                dotted = as_text.str.contains(".", regex=False)
                rest = values.loc[as_text.index[~dotted]].abs()
                if (not grouping.any() and len(rest) and rest.max() > 0
                        and values.loc[as_text.index[dotted]].abs().min() > 10 * rest.max()):
                    # the only evidence is decimal commas elsewhere, and every "6.834" read as 6834 lands more
                    # than 10 x beyond the column's other values ("53,5", "59,1"): as likely 68,34 or 6,834
                    # mistyped as a thousand, so left as text and refused by name (points mixed with commas)
                    return text
                return values
            return text  # ambiguous: refused by name (_number_format_problem) if it is an input
        if as_text.str.contains(",", regex=False).any():
            return text
    number = pd.to_numeric(text, errors="coerce")
    if number.notna().sum() == len(present):
        return number
    as_text = present.astype(str)
    # "61,5" beside "70": a whole number needs no comma (matching only "d,d" one-hot encoded such a column);
    # per cell, so that a cell a spreadsheet already stores as a number stays that number
    # (a cell in scientific notation without a dot, "1e1", is a number in either reading: it stayed text, and
    # made the whole column text, before)
    if decimal == "," and (strings.str.match(_COMMA_NUMBER.pattern)
                           | (~strings.str.contains(".", regex=False)
                              & pd.to_numeric(strings, errors="coerce").notna())).all():
        return pd.to_numeric(text.map(_thousands_dots_to_number), errors="coerce")
    if percent and as_text.str.match(_PERCENT.pattern).all():
        digits = text.str.rstrip("%").str.strip()
        digits = digits.str.replace(",", ".", regex=False) if decimal == "," else digits
        return pd.to_numeric(digits, errors="coerce")
    lower = as_text.str.lower()
    if set(lower.unique()) <= {"true", "false"}:
        return text.map(lambda v: v.lower() == "true" if isinstance(v, str) else pd.NA).astype("boolean")
    return text


#: Cells cleaned in one pass: bounds the memory of the Python-object copies (a few hundred MB at most).
_BLOCK_CELLS = 2_000_000


def _clean_text_block(frame: pd.DataFrame, decimal: str, percent: bool,
                      text_columns: tuple[str, ...]) -> pd.DataFrame | None:
    """:func:`_clean_frame` for a table of text cells only (what ``read_table`` reads from CSV), trimmed and
    checked for markers a block of columns at a time instead of column by column; None for any other frame
    (numbers or other objects among the text, pandas' nullable ``"string"`` dtype, ``pd.NA`` cells), which the
    column-by-column rules handle.

    Written here because pandas has no whole-frame string trim: column by column, a 200 x 20,000 radiomics
    export spent 15 s in per-column pandas calls; the per-column rules run only on columns that are not plain
    numbers once trimmed.
    """
    names = list(frame.columns)
    plain_text = [dtype == object or (isinstance(dtype, pd.StringDtype) and dtype.na_value is not pd.NA)
                  for dtype in frame.dtypes]
    if not names or len(set(names)) != len(names) or not all(plain_text):
        return None
    step = max(1, _BLOCK_CELLS // max(1, len(frame)))
    markers: dict[str, dict[str, int]] = {}
    out: dict[str, Any] = {}
    for first in range(0, len(names), step):
        block = frame.iloc[:, first:first + step]
        values = block.to_numpy(dtype=object)
        flat = pd.Series(values.ravel(order="F"), dtype=object)
        if pd.api.types.infer_dtype(flat, skipna=True) not in ("string", "empty"):
            return None  # numbers or other objects among the text: the general path keeps them as they are
        if any(v is pd.NA for v in flat[flat.isna()]):
            return None  # pd.NA, unlike NaN, cannot be compared: the general path keeps its own rules for it
        stripped = flat.str.strip()
        shape = values.shape
        del values, flat
        is_marker = stripped.isin(MISSING_MARKERS).to_numpy().reshape(shape, order="F")
        cells = stripped.to_numpy(dtype=object).reshape(shape, order="F")
        del stripped
        n_present = (~(pd.isna(cells) | is_marker)).sum(axis=0)
        for j, name in enumerate(block.columns):
            out[name] = _clean_one(cells[:, j], is_marker[:, j], int(n_present[j]), name in text_columns,
                                   frame.index, markers, name, decimal, percent)
    cleaned = pd.DataFrame(out, index=frame.index)
    cleaned.attrs["missing_markers"] = markers
    return cleaned


def _clean_one(column: np.ndarray, is_marker: np.ndarray, n_present: int, is_id: bool, index: pd.Index,
               markers: dict[str, dict[str, int]], name: str, decimal: str, percent: bool) -> Any:
    """One trimmed column of :func:`_clean_text_block` (NaN for missing cells, strings otherwise)."""
    if is_id:
        empty = pd.isna(column)
        empty[~empty] = column[~empty] == ""
        # built without a dtype, as Series.map builds it: text, or float when every id is missing
        return pd.Series(np.where(empty, np.nan, column), index=index, dtype=object).infer_objects()
    if is_marker.any():
        markers[name] = _marker_counts(pd.Series(column[is_marker], dtype=object))
        column = np.where(is_marker, np.nan, column)
    if n_present == 0:
        return pd.Series(np.nan, index=index, dtype=float)
    number = pd.to_numeric(column, errors="coerce")
    dots = decimal == "," and any("." in v for v in column[~pd.isna(column)])  # thousands dots: the rules below
    if not dots and np.count_nonzero(~pd.isna(number)) == n_present:
        return number  # an array: the frame is built from them at once
    # the rarer columns (decimal commas, percentages, booleans, text): a text dtype as Series.map would give
    return _clean_text_column(pd.Series(column, index=index, dtype=object).infer_objects(), decimal, percent)


def read_table(path: str | Path, *, decimal: str = ".", percent: bool = False,
               max_bytes: int = MAX_TABLE_BYTES, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV (delimiter sniffed), TSV, XLSX or Parquet file into a DataFrame, or say exactly why not.

    Column names and text cells are trimmed; duplicated column names are refused; ``?``, ``NA``, ``-`` and
    empty cells are missing (counted per column in ``frame.attrs["missing_markers"]``); ``TRUE``/``FALSE``
    text becomes booleans. Decimal commas (``decimal=","``) and percent signs (``percent=True``) are read
    only when asked. Pipes, devices and files over ``max_bytes`` are refused before any reading. Text cells of
    the columns named in ``text_columns`` (patient ids) are only trimmed, never converted to numbers, so ``007``
    in a CSV stays ``007`` (cells an XLSX or Parquet file already stores as numbers stay numbers); an empty
    cell there is missing, and the other missing markers are kept as written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("age ; outcome\\n61;yes \\n?;no\\n")
    >>> frame = read_table(path)
    >>> list(frame.columns), list(frame["outcome"]), frame.attrs["missing_markers"]
    (['age', 'outcome'], ['yes', 'no'], {'age': {'?': 1}})
    >>> _ = path.write_text("id,age\\n007,61\\n12,70\\n")
    >>> list(read_table(path, text_columns=["id"])["id"]), list(read_table(path)["id"])
    (['007', '12'], [7, 12])
    """
    from .io.atomic import is_regular_readable

    path = Path(path)
    if not path.exists():
        raise CohortFileError(f"data file {str(path)!r} does not exist; check the path")
    if path.is_dir():
        raise CohortFileError(f"{str(path)!r} is a folder; give the path of a CSV, TSV, XLSX or Parquet file")
    if not is_regular_readable(path):
        raise TableLimitError(
            f"{str(path)!r} is not a regular file (a pipe, socket or device); save the table to a file and "
            "give its path"
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise TableLimitError(
            f"{str(path)!r} is {size / 2**20:.0f} MB; scintiml reads tables up to {max_bytes / 2**20:.0f} MB "
            "(one row per patient fits easily) — remove unused columns or rows, or save it as Parquet"
        )
    if size == 0:
        raise CohortFileError(f"data file {str(path)!r} is empty; export the table again")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] == b"\x1f\x8b" or magic == b"\x28\xb5\x2f\xfd" or (magic[:3] == b"BZh" and magic[3:4] in b"123456789" and magic[3:4] != b"") or (
            magic == b"PK\x03\x04" and path.suffix.lower() in {".zip", ".csv", ".tsv", ".tab", ".txt"}):
        # a compressed table (table.csv.gz, a zip of the export) was "unknown file type '.gz'" or "a binary file"
        kind = {b"\x1f\x8b": "gzip", b"\x28\xb5": "zstd", b"BZ": "bzip2", b"PK": "zip"}[magic[:2]]
        raise CohortFileError(f"{str(path)!r} is a {kind}-compressed file, not a table; decompress it first "
                              "(e.g. open it with the file manager, or gunzip / unzip) and give the .csv, .xlsx or "
                              ".parquet file inside")
    suffix = path.suffix.lower()
    try:
        if suffix in {".csv", ".txt", ".tsv", ".tab"}:
            frame = _read_text_table(path, "\t" if suffix in {".tsv", ".tab"} else None)
        elif suffix in {".xlsx", ".xlsm", ".xls"}:
            with open(path, "rb") as fh:
                if fh.read(8) == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
                    # the OLE container: an Excel 97-2003 .xls, or an .xlsx saved with a password (Excel encrypts it)
                    raise CohortFileError(f"{str(path)!r} is an old .xls workbook or one protected by a password; "
                                          "open it in Excel and save it as .xlsx without a password, or export the "
                                          "table as CSV")
            raw, sheet, sheets = _first_visible_sheet(path)
            raw, merged = _fill_merged_cells(raw, path, sheet)
            if raw.empty:
                raise CohortFileError(f"{str(path)!r} holds no table on its first sheet; put the table on the first "
                                      "sheet, with the column names in the first row" + _sheet_list_hint(sheets))
            raw, errors = _with_error_cells(raw, path, sheet)
            frame = _without_nameless_columns(raw.iloc[1:].reset_index(drop=True), list(raw.iloc[0]), path)
            frame = frame.infer_objects()
            if errors:
                frame.attrs["error_cells"] = {"sheet": sheet, "file": path.name, "cells": {
                    column_name(raw.iat[0, c]): cells for c, cells in errors.items()}}
            if len(sheets) > 1:  # only the first is read: said where a column is not found
                frame.attrs["sheets"] = sheets
            frame.attrs["workbook"] = True  # an empty column may be formulas never computed: said where it matters
            if merged:
                frame.attrs["merged_cells"] = merged
        elif suffix in {".parquet", ".pq"}:
            frame = pd.read_parquet(path)
            named = [n for n in frame.index.names if n is not None]
            if named and not set(map(str, named)) & set(map(str, frame.columns)):
                # df.set_index("pid").to_parquet(): the id is stored as the index (ids 1..n come back as a named
                # RangeIndex); it is a column of the table
                frame = frame.reset_index()
            else:  # an unnamed row number, a leftover index of filtered rows, or a copy of a column
                frame = frame.reset_index(drop=True)
            frame.columns = _check_header(list(frame.columns), path)
        else:
            raise CohortFileError(
                f"unknown file type {suffix!r} for {str(path)!r}; use .csv, .tsv, .xlsx or .parquet"
            )
    except ScintimlError:
        raise
    except ImportError as exc:  # optional readers (openpyxl, pyarrow)
        raise CohortFileError(
            f"cannot read {str(path)!r}: {exc}; install the reader with "
            f"`pip install 'scintiml[excel]'` or `'scintiml[parquet]'`, or save the table as CSV"
        ) from exc
    except UnicodeDecodeError as exc:
        raise CohortFileError(
            f"{str(path)!r} is not UTF-8 text (byte {exc.start}); save it again as 'CSV UTF-8'"
        ) from exc
    except MemoryError:  # pyarrow's ArrowMemoryError too: the machine's refusal, not a corrupt file
        raise
    except Exception as exc:  # any parser failure is the file's fault, say so
        if suffix in {".xlsx", ".xlsm", ".xls"}:  # openpyxl's and xlrd's words ("specify an engine") mean nothing here
            raise CohortFileError(f"{str(path)!r} is not a workbook Excel can have written (a renamed or damaged "
                                  "file?); open it in Excel and save it as .xlsx, or export the table as CSV") from exc
        raise CohortFileError(
            f"cannot read {str(path)!r} as a {suffix[1:].upper()} table ({type(exc).__name__}: {exc}); "
            "check the file is not corrupt or save it again as CSV"
        ) from exc
    if isinstance(text_columns, str):  # one name, not its letters
        text_columns = (text_columns,)
    kept = {k: frame.attrs[k] for k in ("sheets", "workbook", "merged_cells", "error_cells") if k in frame.attrs}
    delimiter = frame.attrs.get("delimiter")
    # A spreadsheet's blank row (",,,,") is no patient: left out and counted, never predicted or studied. Left out
    # before the cells are read: counted after, its empty cells were reported as missing values of every column
    # ("read as missing: age ('(empty)' x2)") and its NaN made an integer outcome float ("event = 1.0").
    blank = _blank_rows(frame)
    n_blank = int(blank.sum()) if blank.any() and not blank.all() else 0
    if n_blank:
        frame = frame.loc[~blank].reset_index(drop=True)
    if decimal == "," and delimiter == ",":
        _check_thousands_commas(frame, path, tuple(c for c in text_columns if c is not None))
    cleaned = _clean_frame(frame, decimal=decimal, percent=percent, text_columns=tuple(text_columns))
    cleaned.attrs.update(kept)
    # a row of missing markers only ("NA,?,-"), missing once read: no patient either
    empty = cleaned.isna().all(axis=1).to_numpy()
    if empty.any() and not empty.all():
        attrs = dict(cleaned.attrs)
        cleaned = cleaned.loc[~empty].reset_index(drop=True)
        cleaned.attrs = attrs
        n_blank += int(empty.sum())
    if n_blank:
        cleaned.attrs["empty_rows"] = n_blank
    return cleaned


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is empty (None, NaN or only spaces), as a boolean mask.

    Only rows with a blank first cell are checked cell by cell: blank rows are rare, and a wide radiomics table
    must not pay a per-cell pass for them.

    Examples
    --------
    >>> _blank_rows(pd.DataFrame({"a": ["1", "", " "], "b": ["2", "", "x"]})).tolist()
    [False, True, False]
    """
    blank = np.zeros(len(frame), dtype=bool)
    if frame.shape[1] == 0 or len(frame) == 0:
        return blank
    for i in np.flatnonzero(frame.iloc[:, 0].map(_blank_cell).to_numpy(dtype=bool)):
        blank[i] = all(_blank_cell(v) for v in frame.iloc[i])
    return blank


_MERGE_REF = re.compile(r"""<(?:[\w.-]+:)?mergeCell\b[^>]*\bref=["']([A-Z]{1,3}[0-9]+:[A-Z]{1,3}[0-9]+)["']""")


def _first_visible_sheet(path: Path) -> tuple[pd.DataFrame, str, list[str]]:
    """The cells of a workbook's first visible worksheet (no header row taken), its name, and the names of the
    visible worksheets in the workbook's order (so the one read first).

    Excel opens on the visible sheets' tabs; pandas reads the first worksheet of the file, hidden or not: a hidden
    lookup sheet (or a hidden old copy of the table) was read in place of the table the user sees, silently where
    its columns were the table's, and the hint said "put the table on the first sheet" where it already was. A chart
    sheet holds no cells: pandas skips it, and so it is here. A workbook that shows no worksheet is read only where
    it has one (hidden behind a chart); of several hidden ones, which is the table cannot be told, and it is said."""
    with pd.ExcelFile(path) as excel:
        worksheets = getattr(excel.book, "worksheets", None)
        if worksheets is None:  # not openpyxl's workbook: its first sheet, as pandas reads it
            names = [str(n) for n in excel.sheet_names]
            return pd.read_excel(excel, sheet_name=0, header=None, dtype=object), names[0] if names else "", names
        visible = [str(ws.title) for ws in worksheets if getattr(ws, "sheet_state", "visible") == "visible"]
        if not visible and len(worksheets) == 1:
            # a chart shown, its one table hidden behind it: no other table can be meant, so that one is read
            visible = [str(worksheets[0].title)]
        if not visible:
            charts = [str(c.title) for c in getattr(excel.book, "chartsheets", [])]
            if not worksheets:
                raise CohortFileError(
                    f"{str(path)!r} holds chart sheets only ({', '.join(map(repr, charts[:4]))}), no worksheet "
                    "with a table; save the table the charts were made from as .xlsx or CSV and give that file")
            hidden = [str(ws.title) for ws in worksheets]
            raise CohortFileError(
                f"{str(path)!r} shows no worksheet: its worksheet(s) {', '.join(map(repr, hidden[:4]))}"
                f"{' …' if len(hidden) > 4 else ''} are hidden; unhide the one that holds the table (in Excel: "
                "right-click a sheet tab > Unhide), save the workbook and read it again, or export the table as CSV")
        return pd.read_excel(excel, sheet_name=visible[0], header=None, dtype=object), visible[0], visible


def _sheet_xml(path: Path, sheet: str | None = None) -> str | None:
    """The XML of the workbook's sheet named ``sheet`` (its first sheet when ``None``), or None when its parts
    cannot be found this way. Looked up by name: the sheet read is the first visible worksheet, which need not be
    the workbook's first sheet (a chart sheet or a hidden sheet before it), and the merged ranges and error cells
    of a sheet not read were applied to the one read."""
    import html
    import zipfile

    try:
        with zipfile.ZipFile(path) as book:
            workbook = book.read("xl/workbook.xml").decode("utf-8", "replace")
            rid = None
            for tag in re.finditer(r"<(?:[\w.-]+:)?sheet\s[^>]*>", workbook):
                named = re.search(r"""\sname=(["'])(.*?)\1""", tag.group(0))  # XML-escaped: "R&amp;D"
                if sheet is None or (named is not None and html.unescape(named.group(2)) == sheet):
                    # the relationship id under whatever prefix the writer gave its namespace (r:id, rel:id)
                    rid = re.search(r"""[\w.-]+:id=["']([^"']+)["']""", tag.group(0))
                    break
            rels = book.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
            target = None
            for rel in re.findall(r"<(?:[\w.-]+:)?Relationship\b[^>]*>", rels):
                if rid and re.search(r"""\bId=["']%s["']""" % re.escape(rid.group(1)), rel):
                    target = re.search(r"""\bTarget=["']([^"']+)["']""", rel)
            if target is None:
                return None
            name = target.group(1)
            name = name.lstrip("/") if name.startswith("/") else "xl/" + name
            return book.read(name).decode("utf-8", "replace")
    except (KeyError, OSError, zipfile.BadZipFile, ValueError):
        return None


def _sheet_merges(path: Path, sheet: str | None = None) -> list[str]:
    """The merged cell ranges (``"A5:A9"``) of a workbook's sheet (see :func:`_sheet_xml`), read from its XML:
    pandas (through openpyxl's read-only mode) gives a merged range's value to its first cell only, and the
    read-only mode does not list the ranges. A workbook whose parts cannot be found this way has none listed (it
    was read already)."""
    xml = _sheet_xml(path, sheet)
    return _MERGE_REF.findall(xml) if xml else []


#: The opening tag of a cell the workbook stores as an Excel error (``t="e"``), with the cell's reference.
_ERROR_CELL = re.compile(r"""<(?:[\w.-]+:)?c\b(?=[^>]*\bt=["']e["'])[^>]*\br=["']([A-Z]{1,3}[0-9]+)["'][^>]*>""")
_CELL_VALUE = re.compile(r"<(?:[\w.-]+:)?v>([^<]*)</(?:[\w.-]+:)?v>")
_CELL_END = re.compile(r"</(?:[\w.-]+:)?c>")


def _sheet_errors(path: Path, sheet: str | None = None) -> list[tuple[str, str]]:
    """The cells of a workbook's sheet (see :func:`_sheet_xml`) that hold an Excel error (``#DIV/0!``, ``#VALUE!``
    ...), as ``(reference, error)``: pandas reads them as empty cells, so a broken formula would be imputed like a
    value never measured, where the same table saved as CSV holds the error's text and is refused."""
    xml = _sheet_xml(path, sheet)
    if not xml or not re.search(r"""\bt=["']e["']""", xml):  # the common case: no error cell, no cell-by-cell scan
        return []
    found = []
    for tag in _ERROR_CELL.finditer(xml):
        value = None
        if not tag.group(0).endswith("/>"):  # <c r="B3" t="e"><f>1/0</f><v>#DIV/0!</v></c>
            close = _CELL_END.search(xml, tag.end())
            value = _CELL_VALUE.search(xml, tag.end(), close.start() if close else len(xml))
        found.append((tag.group(1), value.group(1) if value else "#ERROR"))
    return found


def _fill_merged_cells(raw: pd.DataFrame, path: Path, sheet: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Give every cell of a merged range below the header row the value the workbook shows across it (the
    range's first cell), as a reader of the sheet sees it — a site or group name merged down its patients' rows
    would otherwise be read as missing in all rows but the first. Ranges touching the header row are left as
    they are (a merged header cell is refused as a blank or repeated name). Returns the table and the ranges
    filled, in the workbook's notation.

    Examples
    --------
    >>> raw = pd.DataFrame([["site", "age"], ["A", 60], [None, 61]], dtype=object)
    >>> import unittest.mock as mock
    >>> with mock.patch(f"{__name__}._sheet_merges", return_value=["A2:A3"]):
    ...     filled, ranges = _fill_merged_cells(raw, Path("t.xlsx"))
    >>> list(filled[0]), ranges
    (['site', 'A', 'A'], ['A2:A3'])
    """
    from openpyxl.utils.cell import range_boundaries

    filled: list[str] = []
    # a blank spacer row inside a merged block (or below the last patient) stays blank: filled, it became a
    # patient without an outcome and refused the table
    blank = raw.isna().to_numpy().all(axis=1)
    raw = raw.copy()
    for ref in _sheet_merges(path, sheet):
        try:
            c0, r0, c1, r1 = range_boundaries(ref)
        except ValueError:
            continue
        # pandas keeps the sheet's leading empty rows and columns: row r, column c of the sheet is raw[r-1, c-1]
        if r0 < 2 or r0 > len(raw) or c0 > raw.shape[1]:
            continue
        rows = [r for r in range(r0 - 1, min(r1, len(raw))) if not blank[r]]
        raw.iloc[rows, c0 - 1:c1] = raw.iat[r0 - 1, c0 - 1]
        filled.append(ref)
    return raw, filled


def _with_error_cells(raw: pd.DataFrame, path: Path,
                      sheet: str | None = None) -> tuple[pd.DataFrame, dict[int, list[tuple[str, str]]]]:
    """The sheet with each Excel error cell holding its error's text (``#DIV/0!``), as the same table saved as CSV
    holds it, and those cells by column position: ``{1: [("B3", "#DIV/0!")]}``. ``#N/A`` is read as missing, as in
    a CSV (it is one of :data:`MISSING_MARKERS`: Excel's NA() means "not available"), so it is not listed."""
    from openpyxl.utils.cell import coordinate_from_string, column_index_from_string

    errors: dict[int, list[tuple[str, str]]] = {}
    cells = _sheet_errors(path, sheet)
    if not cells:
        return raw, errors
    raw = raw.copy()
    for ref, value in cells:
        letters, row = coordinate_from_string(ref)
        # pandas keeps the sheet's leading empty rows and columns: row r, column c of the sheet is raw[r-1, c-1]
        r, c = row - 1, column_index_from_string(letters) - 1
        # the header row's error stays an empty name (refused as "values but no name"): written in, "#DIV/0!" would
        # pass as a column's name and be studied
        if r >= len(raw) or c >= raw.shape[1] or r == 0:
            continue
        raw.iat[r, c] = value
        if value.strip() not in MISSING_MARKERS:
            errors.setdefault(c, []).append((ref, value))
    return raw, errors


def _refuse_error_cells(attrs: Mapping[str, Any], columns: Sequence[str]) -> None:
    """Refuse Excel error cells (``#DIV/0!`` ...) in the ``columns`` a study or a model reads, naming the sheet, the
    cells and the errors (``attrs["error_cells"]`` of a table from :func:`read_table`). Columns left out (``exclude``)
    may hold them, as a CSV's may hold any text there.

    Examples
    --------
    >>> attrs = {"error_cells": {"sheet": "data", "file": "t.xlsx", "cells": {"age": [("A3", "#DIV/0!")]}}}
    >>> _refuse_error_cells(attrs, ["age"])
    Traceback (most recent call last):
    scintiml.errors.NonNumericInputError: 't.xlsx', sheet 'data': column 'age' holds Excel error(s) in cell A3 ...
    """
    found = attrs.get("error_cells")
    if not found:
        return
    wanted = set(columns)
    bad = [(name, cells) for name, cells in found["cells"].items() if name in wanted]
    if not bad:
        return
    shown = "; ".join(
        f"column {name!r} holds Excel error(s) in cell{'s' if len(cells) > 1 else ''} "
        + ", ".join(f"{ref} ({value})" for ref, value in cells[:5]) + (" …" if len(cells) > 5 else "")
        for name, cells in bad[:5])
    raise NonNumericInputError(
        f"{found['file']!r}, sheet {found['sheet']!r}: {shown} — a formula that failed, not a value; fix the "
        "formula in Excel (or clear the cell if the value was not measured: an empty cell is read as missing), "
        "save the workbook and read it again")


def _blank_cell(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str)
                                                                               and not value.strip())


def _title_row_advice(header: list[Any], data: pd.DataFrame) -> str:
    """Advice where the header row is a title or blank row (at most one name) and the next row reads as the header
    (every cell filled with text that is no number): a department's export with "Cohort 2024" above the table was
    told only that column 2 has no name."""
    named = [h for h in header if not _blank_cell(h)]
    if len(named) > 1 or data.empty:
        return ""
    below = list(data.iloc[0])
    if not all(isinstance(v, str) and v.strip() and pd.isna(pd.to_numeric(v.strip(), errors="coerce"))
               for v in below):
        return ""
    title = f"a title ({str(named[0])[:40]!r})" if named else "blank"
    shown = ", ".join(repr(str(v).strip()[:20]) for v in below[:3]) + (", ..." if len(below) > 3 else "")
    return (f"the first row is {title} and the next one looks like the header ({shown}): delete the row(s) above "
            "the header, so that the column names are the first row")


def _without_nameless_columns(data: pd.DataFrame, header: list[Any], path: Path) -> pd.DataFrame:
    """A workbook's rows under its header row: columns with a blank header cell dropped when they hold nothing (the
    formatting Excel keeps beside a table), refused when they hold values — as a CSV's are (before, a blank header
    cell of an XLSX became an input named 'nan')."""
    blank = [i for i, name in enumerate(header) if _blank_cell(name)]
    for i in blank:
        if not data.iloc[:, i].map(_blank_cell).all():
            raise ColumnNameError(f"column {i + 1} of {str(path)!r} has values but no name in the header row; "
                                  f"{_title_row_advice(header, data) or 'give it a name'}")
    keep = [i for i in range(len(header)) if i not in set(blank)]
    data = data.iloc[:, keep]
    data.columns = _check_header([header[i] for i in keep], path)
    return data


#: The longest header row read (bytes): tens of thousands of radiomic column names fit; a binary file does not.
MAX_HEADER_BYTES = 16 * 2**20


#: Excel's first line naming the delimiter of a CSV it wrote for another locale ("sep=;").
_EXCEL_SEP_LINE = re.compile(rb"^(?:\xef\xbb\xbf)?sep=(.)[ \t]*(\r\n|\n|\r)")


def _text_source(path: Path) -> tuple[Path | io.BytesIO, str | None]:
    """The text table's bytes as UTF-8, and the delimiter named by an Excel ``sep=`` line; the file itself when
    nothing needs changing (no copy of a large table in memory).

    Three things a plain CSV reader gets wrong in hospital exports: Excel's "Unicode Text" / UTF-16 CSV (a
    byte-order mark, then two bytes a character; called a binary file before), its ``sep=;`` first line (read as
    the header before), and a DOS end-of-file byte (Ctrl-Z) after the last row (read as one more patient).
    """
    with open(path, "rb") as fh:
        start = fh.read(4096)
        fh.seek(0, 2)
        fh.seek(max(0, fh.tell() - 1))
        last = fh.read(1)
    utf16 = start[:2] in (b"\xff\xfe", b"\xfe\xff")
    sep = None if utf16 else _EXCEL_SEP_LINE.match(start)
    if not (utf16 or sep or last == b"\x1a"):
        return path, None
    data = path.read_bytes()
    if utf16:
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise CohortFileError(f"{str(path)!r} starts as UTF-16 text but byte {exc.start} is not; save it again "
                                  "as 'CSV UTF-8'") from None
        sep = _EXCEL_SEP_LINE.match(data)
    if sep:
        data = data[sep.end():]
    data = data.rstrip(b"\x1a")
    return io.BytesIO(data), (sep.group(1).decode("latin-1") if sep else None)


def _read_text_table(path: Path, delimiter: str | None) -> pd.DataFrame:
    source, named = _text_source(path)
    delimiter = named or delimiter
    with (open(source, "rb") if isinstance(source, Path) else contextlib.nullcontext(source)) as fh:
        # the whole header row, however wide (a radiomics table passes 64 KiB), then up to 64 KiB of rows; a row
        # ends at LF or at CR (old Mac exports), so the header is read in blocks up to the first of either
        header = b""
        while len(header) < MAX_HEADER_BYTES and not (b"\n" in header or b"\r" in header):
            block = fh.read(65536)
            if not block:
                break
            header += block
        rows = fh.read(65536)
        cut = bool(fh.read(1))
    if not isinstance(source, Path):
        source.seek(0)  # the bytes in memory are read again from the start below
    head = header + rows
    if b"\x00" in head:
        raise CohortFileError(f"{str(path)!r} is a binary file, not a text table; export the table as CSV")
    if len(header) >= MAX_HEADER_BYTES and not (b"\n" in header or b"\r" in header):
        raise CohortFileError(f"{str(path)!r}: the first row is longer than {MAX_HEADER_BYTES // 2**20} MB; "
                              "a table's header row names its columns, one per field")
    sample = head.decode("utf-8-sig", errors="ignore" if cut else "strict")
    if delimiter is None:
        delimiter = _sniff_delimiter(sample)
    try:
        # the csv module reads the header row as pandas will: a quoted cell may hold a line break ("age\n(years)",
        # Alt+Enter in Excel), which a split into lines cut in two; universal newlines for old Mac (CR) exports
        first = next(csv.reader(io.StringIO(sample, newline=None), delimiter=delimiter), [])
    except csv.Error:  # the delimiter leaves one giant field: e.g. a comma-separated file named .tsv
        raise CohortFileError(f"{str(path)!r}: split on {delimiter!r} the header row is one field of over 128 kB; "
                              "is the file separated by another character (a .tsv must be tab-separated)?") from None
    # Blank-named columns (a trailing delimiter, or several: "a,b,,") are judged once the rows are read: dropped when
    # they hold nothing, as a workbook's are; checking the header first had refused two of them as "blank cells in
    # the first row" and told the user to delete title rows there were none of.
    named = [column_name(n) for n in first]
    blank = [i for i, name in enumerate(named) if name == ""]
    _check_header([n for i, n in enumerate(first) if i not in set(blank)], path)
    frame = pd.read_csv(source, sep=delimiter, dtype=str, keep_default_na=False, na_filter=False,
                        encoding="utf-8-sig", skipinitialspace=False, header=0)
    if not isinstance(frame.index, pd.RangeIndex):  # pandas made the first column an index: rows too long
        raise CohortFileError(
            f"{str(path)!r}: the rows have more fields than the header has names; fix the header row"
        )
    if len(frame.columns) != len(named):
        raise CohortFileError(
            f"{str(path)!r}: the header has {len(named)} names but the rows {len(frame.columns)} fields"
        )
    empty = [i for i in blank if (frame.iloc[:, i].str.strip() == "").all()]
    keep = [i for i in range(len(named)) if i not in set(empty)]
    frame = frame.iloc[:, keep]
    # what is left with a blank name holds values: two or more such cells are a title row above the header
    names = _check_header([first[i] for i in keep], path)
    frame.columns = names
    for i, name in zip(keep, names):
        if name == "":
            raise ColumnNameError(f"column {i + 1} of {str(path)!r} has values but no name in the header row; "
                                  f"{_title_row_advice(list(first), frame) or 'give it a name'}")
    frame.attrs["delimiter"] = delimiter
    return frame


def _check_thousands_commas(frame: pd.DataFrame, path: Path, text_columns: Sequence[str] = ()) -> None:
    """Refuse a comma-separated table read with decimal commas whose comma cells all group thousands ("1,820",
    quoted) while another column writes decimals with a point ("1.2"): an English export's thousands separators,
    which decimal commas read 1,000 times too small (1.82), silently.

    A table with decimal commas is written with ';' between fields (the comma is the decimal mark); a
    comma-separated one with quoted "d,ddd" cells and point decimals elsewhere is the English convention.
    ``text_columns`` (ids, times written 08.30) are no numbers and no evidence.
    """
    grouped, pointed = None, None
    for name in frame.columns:
        if name in text_columns:
            continue
        cells = _text_cells(frame[name])
        if cells.empty:
            continue
        commas = cells[cells.str.contains(",", regex=False)]
        if grouped is None and len(commas) and commas.str.match(_COMMA_THOUSANDS.pattern).all():
            grouped = (name, commas.iloc[0])
        if pointed is None and cells.str.match(_POINT_DECIMAL.pattern).any():
            pointed = (name, cells[cells.str.match(_POINT_DECIMAL.pattern)].iloc[0])
    if grouped and pointed and grouped[0] != pointed[0]:
        (g_name, g_cell), (p_name, p_cell) = grouped, pointed
        raise NumberFormatError(
            f"{str(path.name)!r} is read with decimal commas (CLI: --decimal-comma), but column {g_name!r} holds "
            f"{g_cell!r} (a comma before three digits) in a comma-separated file whose column {p_name!r} writes "
            f"decimals with a point ({p_cell!r}): those commas group thousands ({g_cell.replace(',', '')})"
            + (f", and read as decimal commas they would be {g_cell.replace(',', '.')}" if g_cell.count(",") == 1
               else "") + ". Read the table without --decimal-comma and save the column without thousands separators")


def load_cohort(
    source: str | Path | pd.DataFrame,
    target: str,
    positive: Any = None,
    id_column: str | None = None,
    groups: Mapping[str, Sequence[str] | str] | str | Path | None = None,
    exclude: Sequence[str] = (),
    *,
    min_events: int = MIN_EVENTS,
    name: str | None = None,
    decimal: str = ".",
    percent: bool = False,
    missing_codes: Any = None,
) -> Cohort:
    """Load a table of patients and validate it as a binary-outcome cohort.

    Parameters
    ----------
    source : path or DataFrame
        CSV, TSV, XLSX or Parquet file, or a DataFrame (never modified).
    target : str
        Outcome column; must hold exactly two distinct values.
    positive : object, optional
        The outcome value that is the event. Never guessed: without it the outcome must be coded
        1/0 (1.0/0.0), true/false or yes/no (any case, spaces trimmed), and 1, true or yes is the event;
        any other two-value coding (1/2, PE/no PE ...) needs ``positive``.
    id_column : str, optional
        Column of patient identifiers (must be unique); not used as an input.
    groups : dict, or path of a JSON/YAML file, optional
        Named groups of inputs. Each value is a list of column names or a glob
        pattern (``"img_*"``) matched against the input names.
    exclude : sequence of str
        Columns to drop before anything else (outcome leaks, irrelevant ids).
    min_events : int
        Fewest events and non-events accepted (default 10).
    name : str, optional
        Name of the cohort for reports.
    decimal : {".", ","}
        Decimal mark of numbers stored as text; ``","`` reads ``3,5`` as 3.5 (otherwise such a column is
        refused with the cause named).
    percent : bool
        Read ``45%`` as 45 (otherwise refused with the cause named).
    missing_codes : mapping, list or value, optional
        Values that mean "not measured": ``{"chol": 0}`` for one column, ``{"*": [-9, 999]}`` or ``-9`` for every
        input (never the outcome or the id). Read as missing, counted in the notes and kept in
        :attr:`Cohort.missing_codes`. Without it a value that looks like such a code (0, -1, 9, 99, -9 …, far
        from every other value of its column, held by at least two patients) is only warned of, in
        :attr:`Cohort.warnings`.

    Returns
    -------
    Cohort

    Raises
    ------
    CohortFileError, TargetColumnError, TargetClassesError, PositiveClassError,
    NonNumericInputError, InfiniteValueError, DuplicateIdError, TooFewEventsError, GroupsError
    """
    if decimal not in (".", ","):
        raise NumberFormatError(f"decimal must be '.' or ',', got {decimal!r}")
    # the names typed read like the table's header (trimmed, NFC)
    target = column_name(target)
    id_column = column_name(id_column) if id_column is not None else None
    exclude = [column_name(c) for c in ([exclude] if isinstance(exclude, str) else exclude)]
    if not isinstance(source, (str, os.PathLike, pd.DataFrame)):
        raise CohortFileError(f"load_cohort reads a table file's path or a pandas DataFrame, got "
                              f"{type(source).__name__}; make a DataFrame with named columns first "
                              "(pandas.DataFrame(values, columns=[...]))")
    if isinstance(source, pd.DataFrame):
        if (id_column is not None and id_column not in source.columns
                and id_column in [str(n) for n in source.index.names if n is not None]):
            # df.set_index("pid"): the id named is the index, a column of the table as a notebook holds it (only
            # that level: another level of a MultiIndex, a hospital, would become an input unasked)
            source = source.reset_index(level=id_column)
        columns = _check_header(list(source.columns), Path("the DataFrame"))
        frame = source.copy()
        frame.columns = columns
        frame = _clean_frame(frame, decimal=decimal, percent=percent,
                             text_columns=(id_column,) if id_column is not None else ())
        default_name = "cohort"
    else:
        frame = read_table(source, decimal=decimal, percent=percent,
                           text_columns=(id_column,) if id_column is not None else ())
        default_name = Path(source).stem
    notes: list[str] = []
    table_attrs = dict(frame.attrs)  # the reading's findings, before any step makes a new frame
    if frame.attrs.get("empty_rows"):
        notes.append(f"left out {frame.attrs['empty_rows']} empty row(s) (every cell blank)")
    merged = frame.attrs.get("merged_cells")
    if merged:
        notes.append(f"read {len(merged)} merged cell range(s) of the workbook ({', '.join(merged[:5])}"
                     f"{', ...' if len(merged) > 5 else ''}) as their value in every row they cover, as the sheet "
                     "shows them")
    markers = frame.attrs.get("missing_markers", {})
    if markers:
        notes.append("read as missing: " + "; ".join(
            f"{col} ({', '.join(f'{m!r} x{n}' for m, n in found.items())})" for col, found in markers.items()))

    missing_excluded = [c for c in exclude if c not in frame.columns]
    if missing_excluded:
        raise TargetColumnError(
            f"cannot exclude {missing_excluded}: no such column(s); columns are {list(frame.columns)}"
        )
    if target in exclude:
        raise TargetColumnError(f"the target {target!r} is also listed in exclude; remove it from exclude")
    if id_column is not None and id_column in exclude:
        raise TargetColumnError(f"the id column {id_column!r} is also listed in exclude; an id is never an input, "
                                "so leave it out of exclude")
    if id_column is not None and id_column == target:
        raise TargetColumnError(f"the id column and the target are the same column ({target!r}); give the "
                                "column that names each patient as the id")
    if len(frame) == 0:
        raise CohortFileError("the table has no patient rows, only a header; export the table again with its rows"
                              + _sheets_hint(frame))
    codes = normalise_missing_codes(missing_codes)
    if codes:  # before excluding: a code may name a column that is excluded next
        before = frame
        # excluded columns (a site column among them) are never read: a code for one is kept but applies nowhere
        applied = {c: v for c, v in codes.items() if c not in exclude}
        frame, coded = apply_missing_codes(frame, applied,
                                           skip=[target] + ([id_column] if id_column else []) + list(exclude))
        if coded:
            notes.append("read as missing on request: " + "; ".join(
                f"{col} ({', '.join(f'{code} x{n}' for code, n in found.items())})" for col, found in coded.items()))
        code_warnings = unused_codes(applied, coded) + global_code_warnings(before, applied, coded)
    else:
        code_warnings = []
    if exclude:
        frame = frame.drop(columns=list(exclude))
        notes.append(f"excluded on request: {', '.join(exclude)}")
    _refuse_error_cells(table_attrs, list(frame.columns))

    if target not in frame.columns:
        close = difflib.get_close_matches(target, list(frame.columns), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise TargetColumnError(
            f"target column {target!r} not found{hint or '.'} Columns are: {', '.join(map(str, frame.columns))}"
            + _sheets_hint(frame)
        )

    # Outcome: exactly two classes, no missing values.
    outcome = frame[target]
    if outcome.isna().any():
        rows = [int(i) + 1 for i in np.flatnonzero(outcome.isna().to_numpy())[:5]]
        raise TargetClassesError(
            f"target {target!r} is missing for {int(outcome.isna().sum())} patient(s) (data rows {rows}...); "
            "remove those rows or fill in the outcome" + (_formula_hint(frame) if outcome.isna().all() else "")
        )
    outcome, classes, folded = _outcome_classes(outcome)
    if len(classes) != 2:
        shown = ", ".join(repr(_jsonable(c)) for c in classes[:8])
        header = [c for c in classes if isinstance(c, str) and column_name(c.lstrip("\ufeff")) == target]
        if header:  # two exports pasted together (the second's byte-order mark hides it from a plain comparison)
            row = int(np.flatnonzero((outcome == header[0]).to_numpy())[0]) + 1
            raise TargetClassesError(f"data row {row} repeats the header row — two exports pasted together? Delete "
                                     "the repeated header")
        texts = [str(c).strip().casefold() for c in classes]
        same = sorted({repr(c) for c in classes if texts.count(str(c).strip().casefold()) > 1})
        raise TargetClassesError(
            f"target {target!r} must have exactly two classes (event / no event) but has {len(classes)}: "
            f"{shown}; recode it to two values (e.g. 0/1)"
            + (f" — {' and '.join(same)} differ only in case: write each value one way (only yes/no and "
               "true/false are read in any case)" if same else "")
        )
    positive, how = _resolve_positive(classes, positive, target)
    if folded:
        how += "; upper/lower case and spaces ignored"
    y = (outcome.to_numpy() == positive).astype(int)
    n_events, n_non = int(y.sum()), int(len(y) - y.sum())
    if min(n_events, n_non) < min_events:
        raise TooFewEventsError(
            f"only {n_events} event(s) ({target} = {_jsonable(positive)!r}) and {n_non} non-event(s); a study needs at "
            f"least {min_events} of each — collect more patients or pool sites"
        )

    notes.append(f"event: {target} = {_jsonable(positive)!r} ({how})")

    # Patient ids.
    if id_column is not None:
        if id_column not in frame.columns:
            close = difflib.get_close_matches(id_column, list(frame.columns), n=3, cutoff=0.5)
            hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
            raise TargetColumnError(f"id column {id_column!r} not found{hint}; columns are {list(frame.columns)}")
        ids = frame[id_column].to_numpy()
        no_id = np.flatnonzero(pd.isna(frame[id_column]).to_numpy())
        if len(no_id):
            raise MissingIdError(
                f"patient id column {id_column!r} is empty in {len(no_id)} row(s) (table rows "
                f"{', '.join(str(i + 2) for i in no_id[:5])}{' …' if len(no_id) > 5 else ''}, counting the header "
                "as row 1); give every patient an id"
            )
        duplicated = pd.Series(ids)[pd.Series(ids).duplicated()].unique()
        if len(duplicated):
            raise DuplicateIdError(
                f"patient id column {id_column!r} has {len(duplicated)} duplicated id(s), e.g. "
                f"{[_jsonable(d) for d in duplicated[:5]]}; each patient must appear once — merge or remove repeats"
            )
        inputs = frame.drop(columns=[target, id_column])
    else:
        ids = np.arange(1, len(frame) + 1)
        inputs = frame.drop(columns=[target])

    categories: dict[str, list[str]] = {}
    X = _numeric_inputs(inputs, notes, categories, decimal=decimal)
    _check_finite(X)

    listed = [c for c in X.columns if ";" in str(c)]
    if listed:  # predictions list a patient's out-of-range and imputed inputs joined by ";"
        raise ColumnNameError(f"input name(s) {listed[:5]} hold ';', which predictions use to list a patient's "
                              "inputs (out of range, imputed); rename the column (or the category level)")
    all_missing, distinct = X.isna().all(), X.nunique(dropna=True)  # whole-frame: 20,000 columns happen
    empty = [c for c in X.columns if all_missing[c]]
    constant = [c for c in X.columns if not all_missing[c] and distinct[c] <= 1]
    if constant:
        notes.append(f"dropped constant input(s): {', '.join(constant)}")
    if empty:
        notes.append(f"dropped input(s) with no value at all: {', '.join(empty)}" + _formula_hint(frame))
    X = X.drop(columns=constant + empty)
    if X.shape[1] == 0:
        raise NonNumericInputError(_no_input_left(inputs, constant, empty, exclude, target, id_column, frame))

    missing = {c: int(n) for c, n in X.isna().sum().items() if n > 0}
    if missing:
        notes.append(
            "missing values in " + ", ".join(f"{c} ({n})" for c, n in missing.items())
            + "; imputed by the training median"
        )
    copies = _exact_copies(X)
    if copies:
        notes.append("exact copies (every value the same, missing ones too): " + "; ".join(
            f"{copy!r} of {original!r}" for copy, original in copies.items())
            + " — the selection may keep either of a pair; drop the copies with exclude=[...] (CLI: --exclude)")

    dropped = {**{c: "constant" for c in constant}, **{c: "empty" for c in empty}}
    resolved_groups = resolve_groups(groups, list(X.columns), dropped=dropped)
    duplicate_rows = _repeated_rows(X, y, id_column is not None)
    return Cohort(
        X=X.reset_index(drop=True), y=y, ids=np.asarray(ids), target=target, positive=_jsonable(positive),
        groups=resolved_groups, notes=notes, missing=missing, name=name or default_name,
        outcome_values=[_jsonable(next(c for c in classes if c != positive)), _jsonable(positive)],
        missing_codes=codes, warnings=duplicate_rows + code_warnings + suspected_codes(X) + _numeric_id_inputs(X),
        categories=categories_of(categories, X.columns),
    )


def _list_names(names: Sequence[str], limit: int = 5) -> str:
    return ", ".join(map(str, names[:limit])) + (" …" if len(names) > limit else "")


def _no_input_left(inputs: pd.DataFrame, constant: list[str], empty: list[str], exclude: Sequence[str],
                   target: str, id_column: str | None, frame: pd.DataFrame) -> str:
    """Why no input column is left, and what to do: none besides the outcome and the id (or all excluded), all
    constant, all empty, or each one of the two.

    Examples
    --------
    >>> _no_input_left(pd.DataFrame({"a": [1.0], "b": [1.0]}), ["a", "b"], [], [], "y", None, pd.DataFrame())[:60]
    'all 2 input columns are constant (a, b): a constant cannot t'
    """
    kept = f"the target {target!r}" + (f" and the id {id_column!r}" if id_column is not None else "")
    if inputs.shape[1] == 0:
        if exclude:
            return (f"no input column is left: every column besides {kept} is excluded on request "
                    f"({_list_names(list(exclude))}); leave at least one input out of exclude")
        return (f"the table has no input column: it holds only {kept}; add the columns measured for each "
                "patient (the inputs)" + _sheets_hint(frame))
    n = len(constant) + len(empty)
    tell = ("a constant cannot tell patients apart; the study needs at least one input whose value differs "
            "between patients — check the export (one value filled down every row?) or add inputs that vary")
    fill = "fill in the inputs measured for each patient" + _formula_hint(frame)
    if not empty:
        which = (f"all {n} input columns are constant ({_list_names(constant)})" if n > 1 else
                 f"the only input column, {constant[0]!r}, is constant (the same value for every patient)")
        return f"{which}: {tell}"
    if not constant:
        which = (f"all {n} input columns hold no value at all ({_list_names(empty)})" if n > 1 else
                 f"the only input column, {empty[0]!r}, holds no value at all")
        return f"{which}: {fill}"
    return (f"no usable input column is left: {len(constant)} input(s) are constant ({_list_names(constant)}) and "
            f"{len(empty)} hold no value at all ({_list_names(empty)}); {tell}, and {fill}")


#: Input names that say "patient identifier": id, pid, mrn, patient_id, subject no, case number, record id ...
_ID_NAME = re.compile(r"^(?:(?:patient|pat|subject|case|record|study|hospital)[ _.-]?(?:id|no|nr|number|num)|id|pid|"
                      r"mrn|id[ _.-]?(?:no|nr|number)|(?:patient|subject)|accession(?:[ _.-]?(?:no|number))?)$", re.I)


def _numeric_id_inputs(X: pd.DataFrame) -> list[str]:
    """A warning for an input named like a patient identifier whose values are distinct whole numbers: text ids are
    refused as free text with an ``--id`` hint, but numbered ones (1001, 1002 ...) became an input without a word —
    the model then learns the order in which patients were registered.

    Examples
    --------
    >>> _numeric_id_inputs(pd.DataFrame({"Patient_ID": [1001.0, 1002, 1003], "age": [50.0, 61, 70]}))[0][:50]
    "input 'Patient_ID' looks like a patient identifier"
    """
    lines = []
    for name in X.columns:
        values = X[name].dropna()
        if _ID_NAME.match(str(name).strip()) and len(values) == len(X) and values.is_unique \
                and np.all(np.mod(values.to_numpy(), 1) == 0):
            lines.append(f"input {name!r} looks like a patient identifier (distinct whole numbers): an id is no "
                         f"input — the model would learn the order of registration; pass it as the id (CLI: --id "
                         f"{shlex.quote(str(name))}) or leave it out (--exclude)")
    return lines


def _repeated_rows(X: pd.DataFrame, y: np.ndarray, has_ids: bool) -> list[str]:
    """A warning when rows repeat an earlier row in every input and the outcome more often than chance explains:
    a patient entered twice can sit in training and testing at once, and every AUC rises (pure noise written
    three times gave a testing AUC of 0.92).

    Chance (:func:`scintiml.repeats._chance`, the external validation's model too): the inputs of fewest values and
    the outcome are taken together, by the shares of their combinations (while there are no more combinations than
    patients), with which other inputs are missing; only the others count as independent, and one that is a
    function of another (a flag made from a grade) adds nothing. Every column taken as independent had understated
    chance where coarse columns go together: 18 of 582 sets of 3-5 coarse columns of Cleveland's 303 different
    patients were warned of. A table of whole-year ages, sex and three yes/no columns repeats rows by chance and is
    not warned of; a table with a measured value (cholesterol, a count rate) almost never does. Rows missing every
    input are left out (they agree trivially); the level is :data:`REPEATED_ROW_P`.

    Examples
    --------
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame({"chol": rng.normal(230, 40, 40).round(), "age": rng.randint(40, 80, 40).astype(float)})
    >>> y = rng.randint(0, 2, 40)
    >>> _repeated_rows(pd.concat([X, X]), np.r_[y, y], False)[0][:50]
    '40 patient row(s) repeat an earlier row in every i'
    >>> _repeated_rows(X, y, False)
    []
    """
    found = repeats_beyond_chance(X, y)
    if found is None:
        return []
    repeated, expected, stopped = found
    k = len(repeated)
    data_rows = ", ".join(str(i + 1) for i in repeated[:5])
    return [f"{k} patient row(s) repeat an earlier row in every input and the outcome"
            + (" under another id" if has_ids else "")
            + f" (patients {data_rows}{' …' if k > 5 else ''}, counting the first data row as 1; chance "
            f"explains {'under' if stopped else 'about'} {expected:.2g}): a patient entered twice counts twice and "
            "can be in training and testing at once, which inflates every AUC — remove the copies, or check the "
            "export if they are different patients"]


def _exact_copies(X: pd.DataFrame) -> dict[str, str]:
    """Columns whose every value equals an earlier column's (NaN where it has NaN): ``{copy: original}``.

    Examples
    --------
    >>> _exact_copies(pd.DataFrame({"a": [1.0, np.nan, 3], "b": [1.0, np.nan, 3], "c": [1.0, 2, 3]}))
    {'b': 'a'}
    """
    if X.shape[1] < 2:
        return {}
    values = X.to_numpy(dtype=float)
    absent = np.isnan(values)
    filled = np.where(absent, 0.0, values)
    # a signature per column from two fixed random projections (one matrix product for 20,000 columns, where a
    # loop of per-column hashes took seconds); equal columns have equal signatures, and every candidate pair is
    # then compared exactly, so a coincidence of signatures can never report a copy
    weights = np.random.default_rng(0).normal(size=(2, len(values)))
    signature = np.round(np.vstack([weights @ filled, weights @ absent]), 6)
    groups: dict[tuple, list[int]] = {}
    for j, key in enumerate(map(tuple, signature.T)):
        groups.setdefault(key, []).append(j)
    names = list(X.columns)
    copies: dict[str, str] = {}
    for members in groups.values():
        for k, j in enumerate(members[1:], start=1):
            original = next((i for i in members[:k] if names[i] not in copies
                             and np.array_equal(absent[:, i], absent[:, j])
                             and np.array_equal(filled[:, i], filled[:, j])), None)
            if original is not None:
                copies[names[j]] = names[original]
    return dict(sorted(copies.items(), key=lambda kv: names.index(kv[0])))


#: Two-value codings whose event is known without asking: (event, non-event), compared after trimming
#: spaces and folding case. Any other coding needs an explicit ``positive``.
EVENT_CODINGS = (("1", "0"), ("true", "false"), ("yes", "no"))


def coding_word(value: Any) -> str | None:
    """The word of :data:`EVENT_CODINGS` an outcome value reads as, or None: numbers 1/0 (``1.0``, ``"1"`` too),
    booleans and ``true``/``false`` text, ``yes``/``no`` text, any case and surrounding spaces.

    Examples
    --------
    >>> [coding_word(v) for v in (1.0, " Yes", True, "FALSE", "0", "y", 2)]
    ['1', 'yes', 'true', 'false', '0', None, None]
    """
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "1" if value == 1 else "0" if value == 0 else None
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            number = float(text)
        except ValueError:
            return text if any(text in pair for pair in EVENT_CODINGS) else None
        return "1" if number == 1 else "0" if number == 0 else None
    return None


def event_coding(values: Sequence[Any]) -> tuple[str, str] | None:
    """The coding of :data:`EVENT_CODINGS` (``("yes", "no")`` ...) that ``values`` hold both words of and nothing
    else, or None: the codings whose event :func:`load_cohort` knows without ``positive``.

    Examples
    --------
    >>> event_coding(["No", "Yes ", "yes"]), event_coding([0.0, 1.0]), event_coding(["y", "n"])
    (('yes', 'no'), ('1', '0'), None)
    """
    words = {coding_word(v) for v in values}
    return next((pair for pair in EVENT_CODINGS if words == set(pair)), None)


def _outcome_classes(outcome: pd.Series) -> tuple[pd.Series, list[Any], bool]:
    """The outcome with recognised words folded to one spelling, its classes, and whether folding merged any."""
    if _is_text(outcome):
        text = outcome.map(lambda v: v.strip() if isinstance(v, str) else v)
        lower = text.map(lambda v: v.lower() if isinstance(v, str) else v)
        words = set(lower.unique())
        if any(words == set(pair) for pair in EVENT_CODINGS):
            # each word keeps the table's own spelling (its most frequent one, the first written on a tie: "Yes"
            # and "yes" read as "Yes" when "Yes" is the commoner), so predictions and the report say "Yes"/"No"
            # as the department wrote them
            spelling = {word: text[lower == word].value_counts(sort=False).idxmax() for word in words}
            return lower.map(spelling), [spelling[w] for w in sorted(words)], len(set(text.unique())) > 2
        return text, list(pd.unique(text)), False
    return outcome, list(pd.unique(outcome)), False


def _resolve_positive(classes: list[Any], positive: Any, target: str) -> tuple[Any, str]:
    """The class that is the event and how it was chosen; never a guess."""
    if positive is not None:
        wanted = str(positive).strip().lower()
        for c in classes:
            if c == positive or str(c).strip().lower() == wanted:
                return c, "given as --positive"
            try:
                if float(c) == float(wanted):
                    return c, "given as --positive"
            except (TypeError, ValueError):
                pass
        raise PositiveClassError(
            f"positive class {positive!r} is not a value of {target!r}; its values are "
            f"{[_jsonable(c) for c in classes]} — pass one of them"
        )
    if all(isinstance(c, (bool, np.bool_)) for c in classes):
        return next(c for c in classes if bool(c)), "true is the event"
    if all(isinstance(c, (int, float, np.integer, np.floating)) and not isinstance(c, (bool, np.bool_))
           for c in classes) and sorted(float(c) for c in classes) == [0.0, 1.0]:
        return next(c for c in classes if float(c) == 1.0), "coded 1/0: 1 is the event"
    lowered = {str(c).strip().lower(): c for c in classes}
    for event, other in EVENT_CODINGS:
        if set(lowered) == {event, other}:
            return lowered[event], f"coded {event}/{other}: {event} is the event"
    shown = " and ".join(repr(_jsonable(c)) for c in classes)
    raise PositiveClassError(
        f"target {target!r} has the values {shown}, not a 1/0, true/false or yes/no coding, so which one is the "
        f"event cannot be known; say it with --positive (library: positive=...): "
        + " or ".join(f"--positive {shlex.quote(str(_jsonable(c)))}" for c in classes)
    )


def _as_float(column: pd.Series) -> pd.Series:
    """Numbers or booleans (nullable included) as float, missing as NaN; complex numbers refused."""
    if pd.api.types.is_complex_dtype(column):  # astype(float) would keep the real part with only a warning
        raise NonNumericInputError(f"input column {column.name!r} holds complex numbers; an input is one real number "
                                   "per patient — put the quantity meant (e.g. its magnitude) in a column of real "
                                   "numbers")
    if pd.api.types.is_bool_dtype(column):
        return column.astype(object).where(column.notna(), np.nan).astype(float)
    return pd.to_numeric(column, errors="coerce").astype(float)


def _comma_numbers(column: pd.Series) -> pd.Series:
    """A text column of a decimal-comma table as numbers where a cell reads as one ("5,82" → 5.82, "1e1" → 10),
    NaN where not ("<0,5")."""
    return pd.to_numeric(column.map(lambda v: _thousands_dots_to_number(v.strip()) if isinstance(v, str)
                                    and _COMMA_NUMBER.match(v.strip()) else v), errors="coerce")


def _text_column_problem(name: str, column: pd.Series, as_number: pd.Series | None = None,
                         decimal: str = ".") -> str | None:
    """Why a text column that is mostly numbers cannot be read as numbers: its format
    (:func:`_number_format_problem`) or a few odd cells (:func:`_odd_cells_among_numbers`), as the table was read
    (``decimal``: with decimal commas, "5,82" is a number and "<0,5" beside it is what kept the column text)."""
    if decimal == ",":
        as_number = _comma_numbers(column)
    elif as_number is None:
        as_number = pd.to_numeric(column, errors="coerce")
    return _number_format_problem(name, column, decimal) or _odd_cells_among_numbers(name, column, as_number)


def _number_format_problem(name: str, column: pd.Series, decimal: str = ".") -> str | None:
    """Why a text column of numbers was not read as numbers (decimal commas, percent signs), if that is why.

    ``decimal`` is how the table was read: with decimal commas already asked for, a column of them that stayed
    text did so for another reason (a "<0,5" cell), which :func:`_odd_cells_among_numbers` names."""
    present = column.dropna().astype(str).str.strip()
    if present.empty:
        return None
    percent = present.str.match(_PERCENT.pattern)
    number = pd.to_numeric(present, errors="coerce").notna()
    comma = present.str.match(_COMMA_NUMBER.pattern) & ~number
    point = number & present.str.contains(".", regex=False)
    grouped = present.str.match(_THOUSANDS_DOTS.pattern)
    if grouped.any() and (grouped | present.str.match(_COMMA_NUMBER.pattern)).all() and not comma.any():
        # left as text by a decimal-comma reading: "6.834" is 6834 with a thousands dot, or 6.834
        example = present[grouped].iloc[0]
        return (f"input {name!r} holds {example!r} in a table read with decimal commas: a thousands separator "
                f"({example.replace('.', '')}) or a decimal point ({example})? Write the column without the "
                f"dots, with a decimal comma ({example.replace('.', ',')}), or read the table without "
                "--decimal-comma if its numbers use points")
    if comma.any() and point.any() and (comma | number).all():  # no reading option can make this one column
        return (f"input {name!r} mixes decimal points (e.g. {present[point].iloc[0]!r}) with decimal commas (e.g. "
                f"{present[comma].iloc[0]!r}); write the column one way")
    decimal_commas = present.str.match(_DECIMAL_COMMA.pattern)
    if decimal_commas.mean() >= 0.8 and decimal != ",":
        example = present[decimal_commas].iloc[0]
        if present[decimal_commas].str.match(r"^[+-]?[1-9]\d{0,2},\d{3}$").all():
            # "6,749" in every such cell: 6749 with a thousands comma (a count) as likely as 6.749
            whole, frac = example.split(",")
            return (f"input {name!r} holds {example!r}: a thousands separator ({whole}{frac}) or a decimal comma "
                    f"({whole}.{frac})? Save the column without thousands separators if they are; read the table "
                    "with decimal=',' (CLI: --decimal-comma) only if it is a decimal comma")
        return (f"input {name!r} holds numbers with a decimal comma (e.g. {example!r}); save the table with a "
                "decimal point, or read it with decimal=',' (CLI: --decimal-comma)")
    if percent.any() and number.any() and (percent | number).all():
        return (f"input {name!r} mixes percentages (e.g. {present[percent].iloc[0]!r}) with plain numbers (e.g. "
                f"{present[number].iloc[0]!r}); write them all one way")
    if percent.mean() >= 0.8:
        example = present[percent].iloc[0]
        return (f"input {name!r} holds percentages (e.g. {example!r}); remove the % signs, or read them as "
                "numbers with percent=True (CLI: --percent)")
    spaced = present.str.match(_SPACED_THOUSANDS.pattern) & ~number
    # "189 000": the French / SI way of grouping thousands (a few such cells are named by row further on)
    if spaced.mean() > 0.2 and (spaced | number).mean() >= 0.8:
        return (f"input {name!r} groups thousands with a space or similar (e.g. {present[spaced].iloc[0]!r}); save "
                "the column without thousands separators")
    comma_exponent = present.str.match(r"^[+-]?\d+,\d+[eE][+-]?\d+$")
    if comma_exponent.any() and (comma_exponent | number).mean() >= 0.8:
        return (f"input {name!r} holds numbers in scientific notation with a decimal comma (e.g. "
                f"{present[comma_exponent].iloc[0]!r}); save the column as plain numbers (Excel: number format "
                "'Number', not 'Scientific')")
    return None


#: A value below or above a limit of detection: "<0.5", "> 1000", "≤3".
_CENSORED = re.compile(r"^[<>≤≥]=?\s*[0-9.,]+$")
#: Digits grouped in thousands by a space, a narrow space, an apostrophe or an underscore: "189 000", "1_000".
_SPACED_THOUSANDS = re.compile("^[+-]?\\d{1,3}([ \u00a0\u202f\u2009'_]\\d{3})+([.,]\\d+)?$")
#: Words a laboratory or registry export writes for a value it does not have (compared case-folded).
_NOT_MEASURED_WORDS = {"nd", "n.d.", "n.d", "not done", "unk", "unk.", "unknown", "n.a.", "n/a", "nm", "n.m.",
                       "not measured", "missing", "pending", "tbd", "nv", "n.v."}
#: Roman numerals up to XII (NYHA class IV, stage III); a lone V or X is left out (TX: "cannot be assessed").
_ROMAN = re.compile(r"^(?i:i{1,3}|iv|vi{1,3}|ix|xi{1,2})$")


def _odd_cells_among_numbers(name: str, column: pd.Series, as_number: pd.Series) -> str | None:
    """A column of numbers with a few cells that are not: the cells, by data row, and the likely fix.

    Such a column was one-hot encoded as a category before (NYHA 1-4 with one "IV" became five levels, "4" and
    "IV" among them; a lab value with "<0.5" cells was refused as free text with numbers as its examples). At
    least 80 % of the filled cells must be numbers of at least 3 distinct values. Odd cells that are words, each
    written more than once, are category levels and stay so (sites 1-3 beside "external", grade 1-3 beside "X" =
    cannot be assessed, BI-RADS 4a/4b/4c); any other odd cell — a value beyond a detection limit, thousands
    separators, a roman numeral among small whole numbers, a word for "not measured" (ND, unknown), or a slip
    ("3?", "1.2.3", a word written once) — is refused, named by data row with the likely fix.
    """
    filled = column.notna()
    numeric = as_number.notna()
    odd = filled & ~numeric
    if filled.sum() == 0 or not odd.any() or not numeric.any():  # nothing odd to name, or no number at all
        return None
    cells = column[odd].astype(str).str.strip()
    # cells that are numbers with thousands separators ("1,820", "189 000") make a column of numbers however few
    # the plain numbers are: one-hot encoded, 129 / "1,820" / 250 / "2,100" had become four unordered levels.
    # Not so "<5" or "≥3": the top or bottom bucket of a category (vessels 0 / 1 / 2 / ≥3) is written that way too
    notation = (cells.str.match(_COMMA_THOUSANDS.pattern) | cells.str.match(_SPACED_THOUSANDS.pattern)).all()
    if not notation and (numeric.sum() < 0.8 * filled.sum() or as_number.nunique() < 3):
        return None
    small_whole = bool(as_number.dropna().between(0, 12).all() and (as_number.dropna() % 1 == 0).all())
    if cells.str.match(_CENSORED.pattern).any():
        fix = ("a value beyond a limit of detection is no number the model can read: write a number for it (e.g. "
               "the limit, or half of it, the same way for every patient) or leave it empty (imputed)")
    elif cells.str.match(_SPACED_THOUSANDS.pattern).any():
        fix = "write the numbers without thousands separators"
    elif cells.str.match(_COMMA_THOUSANDS.pattern).any():
        example = cells[cells.str.match(_COMMA_THOUSANDS.pattern)].iloc[0]
        # never "--missing": the cell is a measurement. With decimal commas it is 1.820; the reader can't tell
        fix = (f"a comma groups thousands ({example!r} = {example.replace(',', '')}): save the column without "
               "thousands separators (Excel: number format without the 1000 separator); if the commas are decimal "
               "commas, read the table with decimal=',' (CLI: --decimal-comma)")
    elif small_whole and cells.str.match(_ROMAN.pattern).all():
        fix = "write roman numerals as numbers (IV as 4), as the other cells are"
    elif cells.str.casefold().isin(_NOT_MEASURED_WORDS).any():
        word = cells[cells.str.casefold().isin(_NOT_MEASURED_WORDS)].iloc[0]
        fix = (f"{word!r} reads as 'not measured': name it so (CLI: --missing {shlex.quote(name + '=' + word)}), "
               "or leave those cells empty")
    elif cells.str.contains(r"[^\W\d_]").all() and cells.value_counts().min() >= 2:
        return None  # levels written as words, each more than once: a category (site "external", grade "X")
    else:
        fix = ("correct the cells, leave them empty if the value was not measured, or name such a value as the code "
               f"for 'not measured' (CLI: --missing {shlex.quote(name + '=' + str(cells.iloc[0]))}); if the "
               "column is a category, give every level as a word (e.g. 'site 1')")
    positions = np.flatnonzero(odd.to_numpy())
    shown = ", ".join(f"data row {i + 1} holds {_shorten(c)!r}" for i, c in zip(positions[:3], cells.iloc[:3]))
    more = " …" if odd.sum() > 3 else ""
    return f"input {name!r} holds numbers except in {int(odd.sum())} cell(s) ({shown}{more}): {fix}"


#: A clock time after a date: " 14:05", "T14:05:09.5", " 2:05 PM", "T14:05:09Z", " 14:05+01:00".
_TIME_PART = r"(\s+|T)\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(\s?[AaPp]\.?[Mm]\.?)?(Z|[+-]\d{2}:?\d{2})?"
#: Text that is a date: 2021-03-04, 04.03.2021, 3/4/21 — each with a time of day or not (03/11/2024 14:05).
_DATE_TEXT = re.compile(rf"^(\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[./-]\d{{1,2}}[./-]\d{{2,4}})({_TIME_PART})?$")
#: Text that is a time of day only: 14:05, 08:30:00, 2:05 pm (hours and minutes checked in :func:`holds_times`).
_TIME_TEXT = re.compile(r"^(\d{1,2}):(\d{2})(:\d{2}(\.\d+)?)?(\s?[AaPp]\.?[Mm]\.?)?$")
#: A clock time anywhere in a cell, or a date in a form :data:`_DATE_TEXT` leaves out (3 Nov 2024, Nov-03-2024):
#: such a column is never told to be a patient id.
_MONTH = r"(?i:jan|feb|m[aä]r|apr|ma[iy]|jun|jul|aug|sep|o[ck]t|nov|de[cz])[A-Za-z]*\.?"
_TEMPORAL_HINT = re.compile(rf"\d{{1,2}}:[0-5]\d|\b\d{{1,4}}[./ -]?{_MONTH}[./ -]?\d{{1,4}}\b"
                            rf"|{_MONTH}[ -]\d{{1,2}},?[ -]\d{{2,4}}\b")


def holds_dates(column: pd.Series) -> bool:
    """A date or time column: a datetime/timedelta dtype (XLSX, Parquet), or text cells that are nearly all
    dates (at least 80 % of the filled cells)."""
    if pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_timedelta64_dtype(column):
        return True
    if not _is_text(column) and column.dtype != object:
        return False
    cells = column.dropna()
    cells = cells[cells.map(lambda v: not isinstance(v, (int, float, np.number, bool)))]
    if len(cells) == 0:
        # an object column of Python dates (openpyxl gives datetime objects)
        return False
    import datetime as _dt

    if cells.map(lambda v: isinstance(v, (_dt.date, _dt.time, pd.Timestamp))).mean() >= 0.8:
        return True
    return bool(cells.astype(str).str.strip().str.match(_DATE_TEXT.pattern).mean() >= 0.8)


def _text_cells(column: pd.Series) -> pd.Series:
    """The filled cells of a text column as stripped strings (numbers, booleans and non-text columns left out)."""
    if not _is_text(column) and column.dtype != object:
        return pd.Series([], dtype=str)
    cells = column.dropna()
    cells = cells[cells.map(lambda v: isinstance(v, str))]
    return cells.str.strip()


def holds_times(column: pd.Series) -> bool:
    """Text cells that are nearly all times of day (at least 80 % of the filled cells): 14:05, 08:30:00, 2:05 pm.

    Hours above 23 (12 with am/pm) or minutes above 59 are no clock time ("1:80" is a titre, "30:15" a duration).

    Examples
    --------
    >>> holds_times(pd.Series(["14:05", "08:30:00", "23:59", None]))
    True
    >>> holds_times(pd.Series(["1:80", "1:160", "1:40"]))
    False
    """
    cells = _text_cells(column)
    if len(cells) == 0:
        return False
    parts = cells.str.extract(_TIME_TEXT.pattern)
    hours, minutes = pd.to_numeric(parts[0], errors="coerce"), pd.to_numeric(parts[1], errors="coerce")
    meridiem = parts[4].notna()
    clock = (minutes <= 59) & (hours <= 23) & (~meridiem | hours.between(1, 12))
    return bool(clock.mean() >= 0.8)


def _looks_temporal(column: pd.Series) -> bool:
    """Cells that hold a date or a time in any form (a clock time, a month's name): never a patient id."""
    cells = _text_cells(column)
    return len(cells) > 0 and bool(cells.str.contains(_TEMPORAL_HINT.pattern).mean() >= 0.8)


def _level_spellings(column: pd.Series, folded: pd.Series) -> dict[str, str]:
    """Each case-folded level's name: its most frequent spelling in the column (ties: the first in sorted order)."""
    text = column.astype(str).str.strip().where(column.notna()).dropna()
    counts = pd.DataFrame({"key": folded.dropna(), "text": text}).value_counts()
    spellings: dict[str, str] = {}
    for (key, spelling), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])):
        spellings.setdefault(key, spelling)
    return spellings


def _numeric_inputs(inputs: pd.DataFrame, notes: list[str],
                    categories: dict[str, list[str]] | None = None, decimal: str = ".") -> pd.DataFrame:
    """Every input as numbers: numbers as they are, few-level text categories one-hot encoded (their levels, the
    reference first, put in ``categories`` when given), free text refused."""
    dtypes = list(inputs.dtypes)
    complex_columns = [name for name in inputs.columns if pd.api.types.is_complex_dtype(inputs[name])]
    if complex_columns:  # astype(float) kept the real part with only a ComplexWarning: 3+4j became 3
        raise NonNumericInputError(
            f"input column(s) {complex_columns} hold complex numbers; an input is one real number per patient — "
            "put the quantity meant in a column of real numbers (e.g. np.abs(df[col]) for the magnitude), or drop "
            "them with exclude=[...] (CLI: --exclude)")
    if dtypes and all(pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d) for d in dtypes):
        # every input a number already (the usual radiomics export): one conversion, not one per column
        numbers = inputs.astype(float)
        numbers.attrs = {}  # the table's reading notes stay with the table
        return numbers
    durations = [name for name in inputs.columns if pd.api.types.is_timedelta64_dtype(inputs[name])]
    if durations:  # a Parquet duration is no calendar date: it only needs a unit
        raise NonNumericInputError(
            f"input column(s) {durations} hold durations; give them as numbers in one unit (e.g. hours or days: "
            "df[col].dt.total_seconds() / 3600), or drop them with exclude=[...] (CLI: --exclude)")
    dates = [name for name in inputs.columns if holds_dates(inputs[name])]
    if dates:
        raise NonNumericInputError(
            f"input column(s) {dates} hold dates; a date is not an input (the model would learn the calendar, and "
            "a spreadsheet stores dates as day counts) — drop them with exclude=[...] (CLI: --exclude), or put "
            "what matters in a column of numbers, e.g. the days from diagnosis to the scan"
        )
    columns: dict[str, pd.Series] = {}
    origin: dict[str, str] = {}
    free_text: list[str] = []

    def put(key: str, values: pd.Series, source: str) -> None:
        # a one-hot name may equal a real column's name ("grade=y"): refuse rather than overwrite either
        if key in columns or (key != source and key in inputs.columns):
            other = origin.get(key, key)
            raise ColumnNameError(
                f"the one-hot column {key!r} made from categorical input {source!r} has the same name as "
                f"{'the column' if other == key else 'one made from'} {other!r}; rename that column"
            )
        columns[key] = values
        origin[key] = source

    for name in inputs.columns:
        column = inputs[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            put(name, _as_float(column), name)
            continue
        as_number = pd.to_numeric(column, errors="coerce")
        if as_number.notna().sum() == column.notna().sum():  # numbers stored as text
            problem = _number_format_problem(name, column)
            if problem:  # left as text on purpose: "6.834" in a decimal-comma table is 6834 or 6.834
                raise NumberFormatError(problem)
            put(name, as_number.astype(float), name)
            continue
        problem = _text_column_problem(name, column, as_number, decimal)
        if problem:
            raise NumberFormatError(problem)
        # levels differing only in case or surrounding spaces ("Low", "low ", "LOW") are one level, as the outcome's
        # values are: an export that capitalises some rows must not make a second category of them
        folded = column.astype(str).str.strip().str.casefold().where(column.notna())
        spellings = _level_spellings(column, folded)
        levels = sorted(spellings.values())
        if len(levels) == 1:  # one level only: a constant, dropped as such (not a one-hot input of no column)
            put(name, pd.Series(0.0, index=column.index).where(column.notna()), name)
            continue
        if len(levels) <= MAX_CATEGORY_LEVELS and len(levels) < max(2, 0.5 * column.notna().sum()):
            # One-hot with the first level as reference, so the columns stay independent.
            for level in levels[1:]:
                encoded = (folded == level.strip().casefold()).astype(float)
                encoded[column.isna()] = np.nan
                put(f"{name}={level}", encoded, name)
            notes.append(
                f"one-hot encoded categorical input {name!r} ({len(levels)} levels, reference {levels[0]!r})"
            )
            merged = {level: sorted(set(column[folded == key].astype(str).str.strip()) - {level})
                      for key, level in spellings.items()}
            merged = {level: others for level, others in merged.items() if others}
            if merged:
                notes.append(f"levels of {name!r} differing only in case or spaces read as one: " + "; ".join(
                    f"{', '.join(map(repr, others))} as {level!r}" for level, others in merged.items()))
            if categories is not None:
                categories[name] = levels
        else:
            free_text.append(name)
    times = [c for c in free_text if holds_times(inputs[c])]
    if times:
        examples = ", ".join(repr(_shorten(str(v))) for v in inputs[times[0]].dropna().unique()[:2])
        raise NonNumericInputError(
            f"input column(s) {times} hold times of day (e.g. {examples}), which the model cannot read as text; "
            "put the time in a column of numbers (e.g. minutes since midnight: 14:05 as 845, or hours as 14.08), "
            "or drop them with exclude=[...] (CLI: --exclude)")
    if free_text:
        # a date or time is never a patient id, however unique (scan date-times are): the hint would mislead
        temporal = [c for c in free_text if _looks_temporal(inputs[c])]
        id_like = [c for c in free_text
                   if c not in temporal and inputs[c].notna().all() and inputs[c].is_unique]
        hint = (
            f"; {id_like} look like patient ids: pass one as id_column=... (CLI: --id)" if id_like else ""
        ) + (
            f"; {temporal} look like dates or times in a form not read as such: a date is not an input — drop "
            "them, or put what matters in a column of numbers (e.g. the days from diagnosis to the scan)"
            if temporal else ""
        )
        # each column's count and two of its values: "hospital (30 values, e.g. 'H00', 'H01')" tells a site
        # column or a coded diagnosis from a comment field at a glance
        shown = ", ".join(f"{c!r} ({inputs[c].nunique()} values, e.g. "
                          f"{', '.join(repr(_shorten(str(v))) for v in inputs[c].dropna().unique()[:2])})"
                          for c in free_text[:5])
        raise NonNumericInputError(
            f"input column(s) {shown}{' …' if len(free_text) > 5 else ''} hold free text (more than "
            f"{MAX_CATEGORY_LEVELS} distinct non-numeric values, too many to one-hot encode); drop them with "
            "exclude=[...] (CLI: --exclude), recode them as numbers or fewer groups, or — a column naming the "
            f"hospital — give it as the site column (CLI: --site-column){hint}"
        )
    return pd.DataFrame(columns, index=inputs.index)


def _shorten(text: str, limit: int = 30) -> str:
    """A cell quoted in a message: a comment field's whole paragraph would bury the message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _indicator(column: pd.Series, level: str, fold: bool = True) -> pd.Series:
    """1.0 where ``column`` holds the category ``level`` as training saw it (text), 0.0 elsewhere.

    New data may read differently from the training file — a grade column of only 1 and 2 becomes numbers,
    one of only TRUE and FALSE booleans — so numbers and booleans are compared as such, never as ``"2.0"``
    against ``"2"`` (which would silently give 0 for every patient). Text is compared ignoring case and spaces
    (``fold``), as the study has read levels since 0.5; a bundle from before (it records no ``categories``) may
    hold ``grade=Low`` beside ``grade=low`` and is matched exactly, as it was trained.
    """
    if pd.api.types.is_bool_dtype(column):
        wanted = level.strip().lower()
        if wanted not in ("true", "false"):
            return pd.Series(0.0, index=column.index)
        return (column.astype(object) == (wanted == "true")).astype(float)
    if pd.api.types.is_numeric_dtype(column):
        try:
            return (column == float(level)).astype(float)
        except ValueError:
            return pd.Series(0.0, index=column.index)
    if not fold:
        return (column.astype(str) == level).astype(float)
    # case and spaces ignored, as training read the levels ("High" is the level "high")
    return (column.astype(str).str.strip().str.casefold() == level.strip().casefold()).astype(float)


def _check_finite(X: pd.DataFrame) -> None:
    """Refuse infinite values and values too large for the network's arithmetic (training and prediction alike)."""
    values = X.to_numpy(dtype=float)
    infinite = [c for c, bad in zip(X.columns, np.isinf(values).any(axis=0)) if bad]
    if infinite:
        raise InfiniteValueError(
            f"input(s) {infinite} hold infinite values; replace them with a finite value or leave the cell "
            "empty (missing)"
        )
    huge = [c for c, big in zip(X.columns, (np.abs(np.nan_to_num(values)) > MAX_ABS_VALUE).any(axis=0)) if big]
    if huge:
        raise InfiniteValueError(
            f"input(s) {huge} hold values beyond ±{MAX_ABS_VALUE:.0e} (e.g. {np.nanmax(np.abs(X[huge[0]])):.3g}), "
            "which overflow the network's arithmetic; check the cells or rescale the column (other units)"
        )
    with np.errstate(all="ignore"):
        largest = np.nanmax(np.abs(values), axis=0, initial=0.0)
    tiny = [(c, top) for c, top in zip(X.columns, largest) if 0 < top < MIN_ABS_VALUE]
    if tiny:
        raise InfiniteValueError(
            f"input(s) {[c for c, _ in tiny]} hold only values below ±{MIN_ABS_VALUE:.0e} (the largest "
            f"{tiny[0][1]:.3g}), too small for the network's arithmetic (their variance underflows to 0); "
            "check the cells or rescale the column (other units)"
        )


def check_number_formats(frame: pd.DataFrame, inputs: Sequence[str], decimal: str = ".",
                         missing_codes: Mapping[str, Sequence[Any]] | None = None) -> None:
    """Refuse, by name, an input column that :func:`read_table` left as text because its numbers cannot be read
    one way (a decimal point beside decimal commas, an ambiguous thousands dot, percentages beside plain
    numbers, a few cells such as "<0,5" among numbers). ``inputs`` may hold one-hot names (``"grade=D"``): their
    source column is checked. ``decimal`` is how the table was read, as for :func:`load_cohort`;
    ``missing_codes`` the model's codes for "not measured" (a bundle's), which are no odd cells.

    Examples
    --------
    >>> check_number_formats(pd.DataFrame({"cpk": ["6.834", "519"]}), ["cpk"])
    Traceback (most recent call last):
    scintiml.errors.NumberFormatError: input 'cpk' holds '6.834' in a table read with decimal commas: ...
    """
    _model_error_cells(frame, inputs)  # a failed formula is named as such, never as an odd number format
    if missing_codes:  # "ND" where the model reads it as not measured is no odd cell
        from .missing_codes import apply_missing_codes

        frame = apply_missing_codes(frame, dict(missing_codes), strict=False)[0]
    numeric = {n for n in inputs if n in frame.columns}  # a one-hot name's source column is a category: its levels
    for name in dict.fromkeys(n if n in frame.columns else input_source(n, frame.columns) for n in inputs):
        if name in frame.columns and _is_text(frame[name]):
            problem = (_text_column_problem(name, frame[name], decimal=decimal) if name in numeric
                       else _number_format_problem(name, frame[name], decimal))
            if problem:
                raise NumberFormatError(problem)


def _model_error_cells(frame: pd.DataFrame, inputs: Sequence[str]) -> None:
    """Refuse Excel error cells in the columns a model reads (a one-hot input's source column too)."""
    _refuse_error_cells(frame.attrs, [column_name(n) for n in inputs]
                        + [column_name(input_source(n, frame.columns)) for n in inputs])


def one_hot_source(name: str, columns: Iterable[Any]) -> str | None:
    """The column of ``columns`` that the one-hot input ``name`` is made from: the longest ``c`` with ``name``
    starting ``c=`` (``None`` where there is none). A column whose own name holds ``=`` (``EF<=35`` with levels
    yes/no gives the input ``EF<=35=yes``) was split at its first ``=``, so the model looked for a column ``EF<``.

    >>> [one_hot_source(name, ["age", "EF<=35", "grade"]) for name in ("EF<=35=yes", "grade=mid", "age")]
    ['EF<=35', 'grade', None]
    """
    found = [str(c) for c in columns if name.startswith(f"{c}=")]
    return max(found, key=len) if found else None


def input_source(name: str, columns: Iterable[Any]) -> str:
    """The column a model input ``name`` comes from: its one-hot source among ``columns``
    (:func:`one_hot_source`), else the text before its first ``=`` (``name`` itself when it has none).

    >>> input_source("EF<=35=yes", ["EF<=35"]), input_source("grade=mid", []), input_source("age", [])
    ('EF<=35', 'grade', 'age')
    """
    return one_hot_source(name, columns) or name.partition("=")[0]


def _one_hot_parts(name: str, categories: Mapping[str, Sequence[str]],
                   columns: Iterable[Any] = ()) -> tuple[str, str, str]:
    """``name`` as ``(source, "=", level)``: split after the longest recorded categorical column (or, without a
    record, column of the table) it starts with; else at the first ``=``, as before.

    >>> _one_hot_parts("stage=T=b", {"stage=T": ["a", "b"]}), _one_hot_parts("grade=mid", {})
    (('stage=T', '=', 'b'), ('grade', '=', 'mid'))
    """
    source = one_hot_source(name, categories) or one_hot_source(name, columns)
    return (source, "=", name[len(source) + 1:]) if source is not None else name.partition("=")


def model_inputs(frame: pd.DataFrame, inputs: Sequence[str],
                 categories: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """The numeric input matrix a fitted model needs, from a raw table read like the training one.

    A name is taken from a column of that name when there is one; else ``"col=level"`` is rebuilt from the
    categorical column ``col`` as its one-hot indicator (missing stays missing), exactly as :func:`load_cohort`
    encoded it. Booleans and ``TRUE``/``FALSE`` text become 1/0 in both places. Columns that are absent, or
    hold text where numbers are needed, are refused.

    Examples
    --------
    >>> frame = pd.DataFrame({"age": [61, 70], "grade": ["x", "y"], "smoker": [True, False]})
    >>> model_inputs(frame, ["age", "grade=y", "smoker"]).to_numpy().tolist()
    [[61.0, 0.0, 1.0], [70.0, 1.0, 0.0]]
    """
    columns = _check_header(list(frame.columns), Path("the data"))
    _model_error_cells(frame, inputs)
    sheets = frame.attrs.get("sheets")
    frame = _clean_frame(frame.set_axis(columns, axis=1))
    if sheets:
        frame.attrs["sheets"] = sheets
    out: dict[str, pd.Series] = {}
    missing, textual = [], []
    categories = categories or {}
    folded = {column_name(c) for c in categories}
    for name in inputs:
        key = column_name(name)  # a bundle's names as the header is read (one written before NFC reading)
        source, sep, level = _one_hot_parts(name, categories, frame.columns)
        source = column_name(source)
        if key in frame.columns and sep and source in frame.columns and (not categories or source in folded):
            # Both the categorical column ("grade") and a column named like its one-hot input ("grade=mid", left
            # from an earlier export) are there. The literal column used to win without a word, so a stale or
            # hand-edited copy decided the prediction. Refused unless the two agree exactly (missing where the
            # other is missing): then nothing depends on which is read, and a table exported with both is fine.
            rebuilt = _indicator(frame[source], level, fold=source in folded)
            rebuilt[frame[source].isna()] = np.nan
            literal = _as_float(frame[key])
            if not (literal.isna().equals(rebuilt.isna()) and (literal == rebuilt)[rebuilt.notna()].all()):
                rows = np.flatnonzero(~((literal == rebuilt) | (literal.isna() & rebuilt.isna())).to_numpy())
                raise ColumnNameError(
                    f"the table has both the categorical column {source!r} and a column {key!r}, the model's one-hot "
                    f"input made from it, and they disagree (data row {', '.join(str(r + 1) for r in rows[:5])}"
                    f"{' …' if len(rows) > 5 else ''}); remove the column {key!r} (the model rebuilds it from "
                    f"{source!r}) or correct {source!r}")
        if key in frame.columns:
            values = _as_float(frame[key])
            if (values.isna() & frame[key].notna()).any():
                textual.append(name)
            out[name] = values
            continue
        if sep and source in frame.columns:
            column = frame[source]
            # levels ignore case where the bundle says how training read them (it records its categories)
            encoded = _indicator(column, level, fold=source in folded)
            encoded[column.isna()] = np.nan
            out[name] = encoded
            continue
        missing.append(name)
    if missing:
        # a header spelt otherwise ("BIG" for the model's "big", "Age " is trimmed already): names are matched
        # exactly, so say which column is there — else the user hunts for a column they can see
        used = {column_name(input_source(n, frame.columns)) for n in inputs}  # read: no typo
        spare = [str(c) for c in frame.columns if c not in used]
        present = {c.casefold(): c for c in spare}
        close = {}
        for name in missing:
            source = name.partition("=")[0]
            match = present.get(source.casefold()) or next(iter(difflib.get_close_matches(source, spare, n=1,
                                                                                          cutoff=0.8)), None)
            if match is not None:
                close[source] = match
        hint = ("; the table has " + ", ".join(f"{found!r} where the model has {want!r}" for want, found in
                                               close.items())
                + " (names are matched exactly: rename the column)") if close else ""
        raise TargetColumnError(f"the data lack the model's input column(s) {missing}; the model needs {list(inputs)}"
                                + hint + _sheets_hint(frame))
    if textual:
        hints = [h for h in (_number_format_problem(name, frame[column_name(name)]) for name in textual) if h]
        raise NonNumericInputError(f"input column(s) {textual} hold non-numeric values; fix or remove those cells"
                                   + (f" ({hints[0]})" if hints else f" ({_first_text_cell(frame, textual)})"))
    if len(frame) == 0:
        raise CohortFileError("the table has no patient rows, only a header; export the table again with its rows"
                              + _sheets_hint(frame))
    result = pd.DataFrame(out, index=frame.index)
    _check_finite(result)
    result.attrs["unseen_levels"] = _unseen_levels(frame, result, categories or {})
    return result


def _formula_hint(frame: pd.DataFrame) -> str:
    """For a workbook: a column with no value may be formulas whose results were never stored (a workbook written
    by a script and never opened in Excel keeps the formulas only; no reader can compute them)."""
    if not frame.attrs.get("workbook"):
        return ""
    return (" (if those cells hold formulas, open the workbook in Excel and save it, so that their values are "
            "stored, or export it as CSV)")


def _sheets_hint(frame: pd.DataFrame) -> str:
    """`` (only the first of the workbook's sheets is read: ...)`` for a workbook of several sheets, else ``""``."""
    return _sheet_list_hint(frame.attrs.get("sheets") or [])


def _sheet_list_hint(sheets: list[str]) -> str:
    if len(sheets) < 2:
        return ""
    return (f" (only the first of the workbook's {len(sheets)} sheets is read, {sheets[0]!r}; the others are "
            f"{', '.join(map(repr, sheets[1:4]))}{' …' if len(sheets) > 4 else ''} — put the table on the first sheet)")


def _first_text_cell(frame: pd.DataFrame, names: Sequence[str]) -> str:
    """Where the first text cell of ``names`` is: ``data row 148 of 'age' holds 'age'`` — and, when a row holds the
    column names themselves, that the header is repeated there (two exports pasted together)."""
    name = column_name(names[0])
    column = frame[name]
    text = column.notna() & _as_float(column).isna()
    position = int(np.flatnonzero(text.to_numpy())[0])
    cell = str(column.iloc[position]).strip()
    row = frame.iloc[position].astype(str).str.strip()
    if cell == name or (row == pd.Index(map(str, frame.columns))).mean() >= 0.5:
        return (f"data row {position + 1} repeats the header row — two exports pasted together? Delete the repeated "
                "header")
    return f"e.g. data row {position + 1} of {name!r} holds {_shorten(cell)!r}"


def _unseen_levels(frame: pd.DataFrame, X: pd.DataFrame, categories: Mapping[str, Sequence[str]]
                   ) -> dict[str, dict[str, int]]:
    """Cells of a categorical column holding a level training never saw: that column's one-hot inputs are set to
    missing in those rows of ``X``, so the caller imputes and flags them and can name the level. The imputed value
    is the training median of each one-hot input — most often the reference level's coding, so the score may
    equal the reference level's; what changes is that the patient is flagged and the level named, where before
    it passed unnoticed. Returns ``{column: {level: count}}``."""
    found: dict[str, dict[str, int]] = {}
    for source, levels in categories.items():
        encoded = [c for c in X.columns if c.startswith(f"{source}=") and column_name(c) not in frame.columns]
        source = column_name(source)
        if source not in frame.columns or not encoded:
            continue
        column = frame[source]
        known = sum(_indicator(column, str(level)) for level in levels)
        unseen = column.notna() & (known == 0)
        if unseen.any():
            X.loc[unseen, encoded] = np.nan
            counts = column[unseen].astype(str).str.strip().value_counts()
            found[source] = {str(k): int(v) for k, v in counts.items()}
    return found


def resolve_groups(
    groups: Mapping[str, Sequence[str] | str] | str | Path | None, inputs: Sequence[str],
    dropped: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """Turn a groups specification (dict, JSON/YAML file) into name → input columns.

    ``dropped`` (input → why: ``"constant"``, ``"empty"``) names the columns dropped on loading, so that a group
    naming one says so instead of "matches no input"."""
    if groups is None:
        return {}
    if isinstance(groups, (str, os.PathLike)):
        path = Path(groups)
        if not path.exists():
            raise GroupsError(f"groups file {str(path)!r} does not exist")
        from .io.atomic import is_regular_readable

        if not is_regular_readable(path) or path.stat().st_size > 1_000_000:
            raise GroupsError(f"groups file {str(path)!r} is not a small regular file (at most 1 MB of YAML or JSON)")
        try:
            text = path.read_text(encoding="utf-8-sig")  # Notepad writes a byte-order mark
        except UnicodeDecodeError as exc:
            raise GroupsError(f"groups file {str(path)!r} is not UTF-8 text") from exc
        try:
            if path.suffix.lower() in {".yaml", ".yml"}:
                groups = _yaml_without_repeated_keys(text)
            else:
                groups = json.loads(text, object_pairs_hook=_no_repeated_keys)
        except GroupsError as exc:
            raise GroupsError(f"groups file {str(path)!r}: {exc}") from None
        except Exception as exc:
            raise GroupsError(f"cannot parse groups file {str(path)!r}: {exc}") from exc
    if not isinstance(groups, Mapping) or not groups:
        raise GroupsError(
            'groups must map a group name to input columns, e.g. {"imaging": ["washout"], "clinical": ["age"]}'
        )
    resolved: dict[str, list[str]] = {}
    for group, spec in groups.items():
        if not isinstance(spec, (str, list, tuple)) or not all(isinstance(p, str) for p in
                                                                 ([spec] if isinstance(spec, str) else spec)):
            # nested lists (a YAML alias bomb among them) or numbers are not column names: refuse, never str() them
            raise GroupsError(
                f"group {str(group)!r} must be a column name, a glob pattern, or a list of them (text only)"
            )
        patterns = [column_name(p) for p in ([spec] if isinstance(spec, str) else list(spec))]  # NFC, trimmed
        if not patterns:
            raise GroupsError(f"group {str(group)!r} is empty; list at least one input column")
        columns: list[str] = []
        for pattern in patterns:
            # an exact column name first: "SUV[max]" or "washout [%]" are names, not glob character classes
            matched = [pattern] if pattern in inputs else [c for c in inputs if fnmatch.fnmatchcase(c, str(pattern))]
            if not matched:
                gone = [c for c in (dropped or {}) if c == pattern or fnmatch.fnmatchcase(c, str(pattern))]
                if gone:
                    why = {"constant": "as constant (the same value for every patient)", "empty": "as empty (no value "
                           "at all)"}
                    by_reason = {reason: [c for c in gone if dropped[c] == reason] for reason in dict.fromkeys(
                        dropped[c] for c in gone)}
                    raise GroupsError(
                        f"group {group!r}: {pattern!r} names only input(s) dropped on loading "
                        + "; ".join(f"{why.get(reason, reason)}: " + ", ".join(names[:6])
                                    + (f" and {len(names) - 6} more" if len(names) > 6 else "")
                                    for reason, names in by_reason.items())
                        + " — they cannot tell patients apart; remove them from the group"
                        + (" (it has no other input)" if len(patterns) == 1 else "")
                    )
                raise GroupsError(
                    f"group {group!r}: {pattern!r} matches no input; inputs are {list(inputs)}"
                )
            columns.extend(c for c in matched if c not in columns)
        resolved[str(group)] = columns
    # an input in two groups would count twice: "imaging alone" would hold a clinical input, say
    seen: dict[str, str] = {}
    for group, columns in resolved.items():
        for c in columns:
            if c in seen:
                raise GroupsError(f"input {c!r} is in group {seen[c]!r} and in group {group!r}; an input belongs "
                                  "to one group — remove it from one of them")
            seen[c] = group
    return resolved


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` hook: a key given twice is refused (JSON keeps the last and drops the first silently)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise GroupsError(f"group {key!r} is given twice; merge its lists into one")
        out[key] = value
    return out


def _yaml_without_repeated_keys(text: str) -> Any:
    """``yaml.safe_load`` that refuses a mapping key given twice (PyYAML keeps the last silently)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        # merge keys ("<<: *base") are the merged mapping's business, not a repeated key
        keys = [loader.construct_object(k, deep=deep) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"]
        repeated = [k for i, k in enumerate(keys) if k in keys[:i]]
        if repeated:
            raise GroupsError(f"group {repeated[0]!r} is given twice; merge its lists into one")
        return loader.construct_mapping(node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass: safe_load's constructors only


def impute_median(X: pd.DataFrame, fit_rows: np.ndarray) -> tuple[pd.DataFrame, dict[str, float]]:
    """Fill missing values with medians computed on ``fit_rows`` only.

    Parameters
    ----------
    X : DataFrame
        Inputs, NaN where missing. Not modified.
    fit_rows : array of int
        Positions of the training instances: the only rows the medians see.

    Returns
    -------
    X_filled : DataFrame
    medians : dict
        The value used for each column that had missing values. A column with no value at all among
        ``fit_rows`` is filled with 0.0 (as scikit-learn's ``SimpleImputer(keep_empty_features=True)``, which the
        nested pipeline uses): never with a median of the other rows, which would carry the selection and testing
        patients' values into the training inputs, the scaling layer and the bundle.
    """
    medians = X.iloc[np.asarray(fit_rows)].median(numeric_only=True)
    needs = [c for c in X.columns if X[c].isna().any()]
    filled = X.copy()
    used: dict[str, float] = {}
    for c in needs:
        value = float(medians[c]) if np.isfinite(medians[c]) else 0.0
        filled[c] = filled[c].fillna(value)
        used[c] = value
    return filled, used
