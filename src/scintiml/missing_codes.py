"""Missing-value codes: numbers (or words) a table uses for "not measured" — ``0`` for a cholesterol nobody
measured, ``-9`` or ``999`` in registry exports — read as missing when the user names them, and the values that
look like such a code warned of when the user has not.

A code read as a measurement is silent damage: 172 cholesterol values of 0 in the Swiss and VA heart-disease
records (Detrano et al. 1989) make "low cholesterol" look protective. The table cannot say which it is, so
nothing is changed unasked: a named code is applied (and recorded, so a model bundle applies it to new patients),
a suspected one is only warned of.
"""

from __future__ import annotations

import math
import re
import shlex
import unicodedata
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import TargetColumnError

#: The key of a code that applies to every input column.
ALL = "*"

#: Values a department's export typically uses for "not measured": 0, -1, and runs of 9 or 8 (9, -9, 99, 999,
#: -99, 88 ...). Only these are suspected; any value can be named.
_CODE_LIKE = re.compile(r"^(0|-1|-?9+|-?8{2,})$")
#: How far a suspected code must lie from every other value of its column, in units of the column's usual step
#: between neighbouring distinct values: far enough that it is no ordinary low or high measurement.
GAP_STEPS = 5
#: Fewest distinct other values a column needs before one of its values is called out of line with the rest.
MIN_OTHER_VALUES = 5

#: More suspected columns than this are said in one line (5,000 radiomic features with the same three zeros).
MAX_SUSPECT_LINES = 5

MissingCodes = Mapping[str, Sequence[Any]]


def parse_missing_codes(specs: Sequence[str], decimal: str = ".", percent: bool = False) -> dict[str, list[Any]]:
    """The CLI's ``--missing`` options as codes: ``COLUMN=VALUE`` for one column, ``VALUE`` for every input.

    A value that reads as a number is a number (``0`` matches ``0.0``); anything else is matched as text. The
    value is read as the table is: with ``decimal=","`` ``0,5`` is 0.5, with ``percent`` ``0%`` is 0.

    Examples
    --------
    >>> parse_missing_codes(["chol=0", "-9", "smoking = unknown", "chol=-1"])
    {'chol': [0.0, -1.0], '*': [-9.0], 'smoking': ['unknown']}
    >>> parse_missing_codes(["chol=0,5", "ef=0%"], decimal=",", percent=True)
    {'chol': [0.5], 'ef': [0.0]}
    """
    codes: dict[str, list[Any]] = {}
    for spec in specs:
        column, sep, value = str(spec).rpartition("=")
        column, value = column.strip(), value.strip()
        if sep and not column:
            raise TargetColumnError(f"--missing {spec!r} names no column; write COLUMN=VALUE (e.g. chol=0), or "
                                    "VALUE alone for every input")
        if not value:
            raise TargetColumnError(f"--missing {spec!r} gives no value; write COLUMN=VALUE (e.g. chol=0), or "
                                    "VALUE alone for every input")
        if percent and re.fullmatch(r"-?[\d.,]+\s*%", value):
            value = value.rstrip("%").strip()
        if decimal == "," and re.fullmatch(r"-?\d+,\d+", value):
            value = value.replace(",", ".")
        code = _as_code(value)
        bucket = codes.setdefault(unicodedata.normalize("NFC", column) if sep else ALL, [])
        if code not in bucket:
            bucket.append(code)
    return codes


def _as_code(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_, bytes, bytearray)) or value is None:
        raise TargetColumnError(f"a missing-value code must be a number or a word, not {value!r}")
    try:
        if isinstance(value, (int, float, np.integer, np.floating)):
            number = float(value)
        else:
            text = str(value).strip()
            if not text:
                raise TargetColumnError("a missing-value code must not be empty")
            try:
                number = float(text)
            except ValueError:
                return text
    except OverflowError:  # an integer beyond float64
        number = float("inf")
    if not math.isfinite(number):
        raise TargetColumnError(f"a missing-value code must be a finite number or a word, not {str(value)[:40]!r}")
    return number + 0.0  # -0 and 0 are one code


def normalise_missing_codes(codes: Any) -> dict[str, list[Any]]:
    """Codes given as a mapping ``{column: value or [values]}`` (``"*"``: every input), a list of values or one
    value (every input), in one form: ``{column: [numbers or words]}``.

    Examples
    --------
    >>> normalise_missing_codes({"chol": 0, "*": [-9, 999]})
    {'chol': [0.0], '*': [-9.0, 999.0]}
    >>> normalise_missing_codes(-9)
    {'*': [-9.0]}
    >>> normalise_missing_codes(None)
    {}
    """
    if codes is None:
        return {}
    if not isinstance(codes, Mapping):
        codes = {ALL: codes}
    out: dict[str, list[Any]] = {}
    for column, values in codes.items():
        if not isinstance(column, str) or not column.strip():
            raise TargetColumnError(f"missing-value codes are keyed by column name (or '*'), not {column!r}")
        if isinstance(values, (set, frozenset)):
            values = sorted(values, key=str)  # a set's own order changes between processes
        elif isinstance(values, (np.ndarray, pd.Series, pd.Index, tuple, list)):
            values = list(values)
        else:
            values = [values]
        bucket = out.setdefault(column if column == ALL else unicodedata.normalize("NFC", column.strip()), [])
        for value in values:
            code = _as_code(value)
            if code not in bucket:
                bucket.append(code)
    return out


def _matches(column: pd.Series, codes: Sequence[Any]) -> pd.Series:
    """Cells equal to one of ``codes``: numbers by value, also when written as text (never a boolean: TRUE is no
    code 1), words as trimmed text ignoring case, as category levels are read (``unknown`` is ``Unknown``)."""
    numbers = [c for c in codes if isinstance(c, float)]
    words = {c.casefold() for c in codes if isinstance(c, str)}
    hit = pd.Series(False, index=column.index)
    if pd.api.types.is_bool_dtype(column):
        return hit
    if numbers and pd.api.types.is_numeric_dtype(column):  # the usual case, one vectorised test
        hit |= column.isin(numbers).to_numpy()
    elif numbers:
        is_number = column.map(lambda v: isinstance(v, (int, float, np.integer, np.floating))
                               and not isinstance(v, (bool, np.bool_)))
        values = pd.to_numeric(column.where(is_number), errors="coerce")
        hit |= values.isin(numbers).to_numpy()
    if words or (numbers and not pd.api.types.is_numeric_dtype(column)):
        # a text cell: a word by its trimmed text, a number by its value ("-9" in a column of words is -9)
        hit |= column.map(lambda v: isinstance(v, str) and (v.strip().casefold() in words
                                                            or _number_of(v) in numbers))
    return hit


def _which_code(cell: Any, codes: Sequence[Any]) -> Any:
    """The code a matching cell holds, as the user gave it (``Unknown`` counts under the code ``unknown``)."""
    if isinstance(cell, str):
        text = cell.strip().casefold()
        for code in codes:
            if isinstance(code, str) and code.casefold() == text:
                return code
        return _as_code(cell)  # a number written as text
    return _as_code(cell)


def _number_of(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def apply_missing_codes(frame: pd.DataFrame, codes: MissingCodes, skip: Sequence[str] = (),
                        strict: bool = True) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """A copy of ``frame`` with the cells holding a code set to missing, and how many per column and code.

    Parameters
    ----------
    frame : DataFrame
        A table as :func:`scintiml.cohort.read_table` returns it (never modified).
    codes : mapping
        ``{column: [codes]}``; the key ``"*"`` applies to every column but those in ``skip``.
    skip : sequence of str
        Columns never touched (the outcome, the patient id).
    strict : bool
        Refuse a code for a column the table lacks (a study's table); a new site's table may lack a column the
        model does not use, so prediction passes False.

    Examples
    --------
    >>> frame = pd.DataFrame({"chol": [0, 230, 0, 180], "outcome": [0, 1, 0, 1]})
    >>> cleaned, counts = apply_missing_codes(frame, {"chol": [0.0]}, skip=["outcome"])
    >>> cleaned["chol"].tolist(), counts
    ([nan, 230.0, nan, 180.0], {'chol': {'0': 2}})
    """
    codes = normalise_missing_codes(codes)
    skip = set(skip)
    named = [c for c in codes if c != ALL]
    refused = [c for c in named if c in skip]
    if refused:
        raise TargetColumnError(f"missing-value code(s) given for {refused}, the outcome or the patient id; those "
                                "are never read as missing — remove the code, or the rows without an outcome")
    absent = [c for c in named if c not in frame.columns]
    if absent and strict:
        import difflib

        hints = {c: difflib.get_close_matches(c, [str(n) for n in frame.columns], n=1, cutoff=0.6) for c in absent}
        hint = "; ".join(f"did you mean {h[0]!r} for {c!r}?" for c, h in hints.items() if h)
        raise TargetColumnError(f"missing-value code(s) given for column(s) {absent} the table does not have"
                                + (f" ({hint})" if hint else "") + "; name an existing column")
    hits: dict[str, pd.Series] = {}
    # numeric columns sharing one list of number codes (the usual "-9 everywhere" of a wide radiomics table):
    # one vectorised test per list, not one per column (20,000 columns: 1.9 s -> a fraction of that)
    by_codes: dict[tuple[float, ...], list[str]] = {}
    for column in frame.columns:
        if column in skip:
            continue
        wanted = codes.get(column, []) + [c for c in codes.get(ALL, []) if c not in codes.get(column, [])]
        if not wanted:
            continue
        series = frame[column]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if numeric and all(isinstance(c, float) for c in wanted):
            by_codes.setdefault(tuple(wanted), []).append(column)
            continue
        hit = _matches(series, wanted)
        if hit.any():
            hits[column] = hit
    for wanted, columns in by_codes.items():
        block = frame[columns].isin(list(wanted))
        any_hit = block.any()
        for column in any_hit.index[any_hit.to_numpy()]:
            hits[column] = block[column]
    out = frame.copy()
    counts: dict[str, dict[str, int]] = {}
    for column in frame.columns:  # in the table's order
        if column not in hits:
            continue
        hit = hits[column].to_numpy(dtype=bool)
        wanted = codes.get(column, []) + codes.get(ALL, [])
        found = frame[column][hit].map(lambda v, wanted=wanted: _label(_which_code(v, wanted))).value_counts()
        counts[column] = {str(k): int(v) for k, v in found.items() if v > 0}  # a categorical lists empty levels
        out[column] = out[column].astype(object).mask(hit, np.nan).infer_objects()
    return out, counts


def code_label(code: Any) -> str:
    """A code as it is printed (:func:`_label`): exact, never rounded.

    Examples
    --------
    >>> code_label(9999999.0), code_label(-0.5), code_label("unknown")
    ('9999999', '-0.5', 'unknown')
    """
    return _label(code)


def _label(code: Any) -> str:
    """``0.0`` as ``0``, ``-9.5`` as ``-9.5``, ``1234568.0`` as ``1234568`` (never rounded: two codes must never
    print alike), a word as itself."""
    if isinstance(code, float):
        code = float(code)  # numpy's float64 prints as np.float64(...)
        return str(int(code)) if code.is_integer() and abs(code) < 1e16 else repr(code)
    return str(code)


#: A code given for every input that blanks more than this share of one column's values is warned of: there
#: it is most likely a value (a 0/1 input's 0), not a code.
GLOBAL_CODE_SHARE = 0.2


def global_code_warnings(frame: pd.DataFrame, codes: MissingCodes, counts: Mapping[str, Mapping[str, int]]
                         ) -> list[str]:
    """A line per column where a code given for every input (``"*"``) blanked more than :data:`GLOBAL_CODE_SHARE`
    of the values present: ``--missing 0`` also empties a yes/no column's every "no".

    Examples
    --------
    >>> frame = pd.DataFrame({"diabetes": [0, 1, 0, 0, 1], "chol": [0, 230, 180, 210, 250]})
    >>> global_code_warnings(frame, {"*": [0.0]}, {"diabetes": {"0": 3}, "chol": {"0": 1}})[0]  # doctest: +ELLIPSIS
    "the code 0 given for every input blanked 3 of the 5 values of 'diabetes' (60 %): ...
    """
    codes = normalise_missing_codes(codes)
    everywhere = {_label(c) for c in codes.get(ALL, [])}
    lines = []
    for column, found in counts.items():
        named = {_label(c) for c in codes.get(column, [])}
        n = sum(k for code, k in found.items() if code in everywhere and code not in named)
        present = int(frame[column].notna().sum())
        if present and n / present > GLOBAL_CODE_SHARE:
            shown = ", ".join(code for code in found if code in everywhere and code not in named)
            lines.append(f"the code {shown} given for every input blanked {n} of the {present} values of {column!r} "
                         f"({100 * n / present:.0f} %): if {shown} is a value there (a no, a count of none), give the "
                         f"code per column instead (CLI: --missing COLUMN={shown.split(', ')[0]})")
    return lines


def unused_codes(codes: MissingCodes, counts: Mapping[str, Mapping[str, int]]) -> list[str]:
    """A line per named code that matched no cell (most often a typo or the wrong column).

    Examples
    --------
    >>> unused_codes({"chol": [0.0, -1.0], "*": [-9.0]}, {"chol": {"0": 3}})
    ["missing-value code -1 matched no cell of 'chol'", 'missing-value code -9 matched no cell of any input']
    """
    lines = []
    for column, values in normalise_missing_codes(codes).items():
        for code in values:
            label = _label(code)
            if column == ALL:
                if not any(label in found for found in counts.values()):
                    lines.append(f"missing-value code {label} matched no cell of any input")
            elif label not in counts.get(column, {}):
                lines.append(f"missing-value code {label} matched no cell of {column!r}")
    return lines


def suspected_codes(X: pd.DataFrame) -> list[str]:
    """A warning per numeric input holding a value that looks like a code for "not measured": 0, -1 or a run of
    9s or 8s (0 or negative at the low end, positive at the high end), at one end of the column and far from every other value (more than :data:`GAP_STEPS` of the
    column's usual step between neighbouring distinct values), held by at least two patients, in a column with at
    least :data:`MIN_OTHER_VALUES` other distinct values. Nothing is changed: only the user knows what 0 means.

    Examples
    --------
    >>> rng = np.random.RandomState(0)
    >>> chol = np.r_[rng.randint(150, 400, 95), [0] * 5].astype(float)
    >>> oldpeak = np.r_[np.round(rng.uniform(0.1, 4, 90), 1), [0] * 10]  # ST depression: 0 is a measurement
    >>> for line in suspected_codes(pd.DataFrame({"chol": chol, "oldpeak": oldpeak})):
    ...     print(line)  # doctest: +ELLIPSIS
    input 'chol': 5 patient(s) have 0, and no other value is below 151 — if that means 'not measured', ...
    """
    lines = []
    codes_seen: list[str] = []
    names_seen: list[str] = []
    for name in X.columns:
        values = pd.to_numeric(X[name], errors="coerce").to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        distinct = np.unique(values)
        if len(distinct) < MIN_OTHER_VALUES + 1:
            continue
        for codes, others in (_end_codes(distinct, low=True), _end_codes(distinct, low=False)):
            if not codes:
                continue
            nearest = others[0] if codes[0] < others[0] else others[-1]
            step = float(np.median(np.diff(others)))
            if abs(nearest - codes[-1]) <= GAP_STEPS * step:
                continue
            counts = [int(np.sum(values == code)) for code in codes]
            if sum(counts) < 2:  # one odd value is an outlier (or a typo); a code for "not measured" recurs
                continue
            side = "below" if codes[0] < nearest else "above"
            labels = [_label(c) for c in codes]
            have = labels[0] if len(codes) == 1 else f"{labels[0]} or {labels[1]} ({counts[0]} and {counts[1]})"
            cli = " ".join("--missing " + shlex.quote(f"{name}={label}") for label in labels)
            web = "; ".join(f"{name}={label}" for label in labels)
            python = labels[0] if len(codes) == 1 else f"[{', '.join(labels)}]"
            codes_seen.append(labels[0])
            names_seen.append(name)
            lines.append(f"input {name!r}: {sum(counts)} patient(s) have {have}, and no other value is {side} "
                         f"{_label(nearest)} — if that means 'not measured', read it as missing (CLI: {cli}; web app: "
                         f"{web} under 'values meaning not measured'; Python: missing_codes={{{name!r}: {python}}}); "
                         "if it is a measurement, nothing needs doing")
    if len(lines) > MAX_SUSPECT_LINES:  # a wide radiomics table: one line, not one per feature
        shown = ", ".join(repr(name) for name in names_seen[:5])  # a name may hold an apostrophe
        # ties go to the code met first in the table's column order: a set's order follows the per-process
        # string hash, which made the same table name a different code from one run to the next
        common = max(dict.fromkeys(codes_seen), key=codes_seen.count)
        return [f"{len(lines)} inputs hold a value that looks like a code for 'not measured' ({shown} …; most often "
                f"{common}), e.g. {lines[0]}; if {common} means 'not measured' in every input, read it as missing "
                f"for all of them (CLI: --missing {common})"]
    return lines


def _end_codes(distinct: np.ndarray, low: bool) -> tuple[list[float], np.ndarray]:
    """The code-like values at one end of a column's sorted distinct values (at most two: 0 and -1, 99 and 999
    appear together), and the column's other values. A code is chosen to be impossible: 0 or below at the low end
    (0, -1, -9 ...), a run of 9s or 8s at the high end (99, 999 ...); a lone 9 below values of 32 and more is an
    outlier, not a code."""
    ordered = distinct if low else distinct[::-1]
    codes = []
    for value in ordered[:2]:
        if _CODE_LIKE.match(_label(float(value))) and (value <= 0 if low else value > 0):
            codes.append(float(value))
        else:
            break
    others = distinct[len(codes):] if low else distinct[:len(distinct) - len(codes)]
    return codes, others
