"""Tables a department opens in a spreadsheet: text that cannot run as a formula there.

A patient id, a DICOM PatientID or a column name is written to CSV as it was read. One that starts with ``=``
(``=HYPERLINK("http://…"&A1)``) is run by Excel or LibreOffice when a colleague opens the predictions or the
worklist ("CSV injection", OWASP). Such text gets a leading ``'``, which both programs show as text; numbers and
text that reads as a number (``-3.2``, ``+1``) are left as they are.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pandas.api.types import is_numeric_dtype

__all__ = ["formula_safe", "spreadsheet_safe"]

#: What a spreadsheet reads as the start of a formula: = + - @, a tab, a carriage return (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: Any) -> Any:
    """``value`` unchanged unless it is text a spreadsheet would run as a formula; then with a leading ``'``.

    Examples
    --------
    >>> formula_safe("=1+1"), formula_safe("-3.2"), formula_safe("P1"), formula_safe(-0.5), formula_safe("@SUM(A1)")
    ("'=1+1", '-3.2', 'P1', -0.5, "'@SUM(A1)")
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    try:
        float(value)  # "-3.2", "+1", "-inf": a number, not a formula
        return value
    except ValueError:
        return "'" + value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names pass through :func:`formula_safe`.

    Examples
    --------
    >>> t = spreadsheet_safe(pd.DataFrame({"@id": ["=1+1", "-3.2", "P1"], "p": [-0.5, 0.2, 0.3]}))
    >>> list(t.columns), list(t["'@id"]), list(t["p"])
    (["'@id", 'p'], ["'=1+1", '-3.2', 'P1'], [-0.5, 0.2, 0.3])
    """
    out = frame.copy()
    for column in out.columns:
        if not is_numeric_dtype(out[column]):  # object, str or category text (numbers and bools hold no formula)
            out[column] = out[column].map(formula_safe)
    out.columns = [formula_safe(str(c)) for c in out.columns]
    return out
