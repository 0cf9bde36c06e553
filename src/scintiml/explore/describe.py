"""Descriptive statistics per input, overall and by outcome, and univariate discrimination."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from ..errors import TargetClassesError
from ..evaluate.roc import auc_ci

#: The columns of :func:`univariate_tests`' table, also where no input can be tested.
UNIVARIATE_COLUMNS = ["input", "auc", "auc_ci_low", "auc_ci_high", "auc_oriented", "direction", "auc_oriented_ci_low",
                      "auc_oriented_ci_high", "mann_whitney_u", "p_value"]


def check_frame(X: Any) -> pd.DataFrame:
    """``X`` itself where it is a DataFrame; a clear error where it is not (a numpy array has no input names).

    Examples
    --------
    >>> import numpy as np
    >>> check_frame(np.zeros((2, 2)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: X must be a pandas DataFrame with one named column per input, got ndarray; wrap it, e.g. ...
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame with one named column per input, got {type(X).__name__}; wrap "
                        "it, e.g. pd.DataFrame(X, columns=names)")
    return X


def check_outcome(y: ArrayLike, n_rows: int | None = None, both_classes: str | None = None) -> np.ndarray:
    """The outcome as an int array of 0/1 (1 = event), or a clear error.

    Parameters
    ----------
    y : array-like
        One outcome per patient: 0/1 or False/True (1 and True = event).
    n_rows : int or None
        The number of rows of ``X`` that ``y`` must match.
    both_classes : str or None
        What needs both events and non-events (``"rule extraction"``), named in the error where ``y`` holds one
        class only; None where one class is fine.

    Raises
    ------
    ValueError
        ``y`` not 1-D, or of another length than ``X``.
    TargetClassesError
        ``y`` coded other than 0/1 (1/2, text, missing values), or of one class where ``both_classes`` is given.

    Examples
    --------
    >>> check_outcome([True, False, True])
    array([1, 0, 1])
    >>> check_outcome([1, 2, 2])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    scintiml.errors.TargetClassesError: y must be coded 0/1, got values [1, 2]; code the event as 1 and the ...
    """
    values = np.asarray(y)
    if values.ndim != 1:
        raise ValueError(f"y must hold one outcome per patient (1-D), got shape {values.shape}; pass a single column")
    if n_rows is not None and len(values) != n_rows:
        raise ValueError(f"X has {n_rows} rows but y has {len(values)} values; pass one outcome per row of X")
    # pd.unique, not np.unique: it does not sort, so a mix such as [0, 1, None] is reported rather than a TypeError
    found = pd.unique(pd.Series(values, dtype=object)).tolist()
    if not set(found) <= {0, 1}:  # True and False hash and compare as 1 and 0
        raise TargetClassesError(f"y must be coded 0/1, got values {_values_text(found)}; code the event as 1 and the "
                                 "non-event as 0")
    out = values.astype(int)
    if both_classes is not None and len(set(found)) < 2:
        held = "only events" if len(out) and out[0] == 1 else "only non-events" if len(out) else "no patient"
        raise TargetClassesError(f"y holds {held}; {both_classes} needs both events and non-events")
    return out


def _values_text(values: list) -> str:
    """At most five of an outcome's distinct values, sorted where they can be."""
    try:
        values = sorted(values)
    except TypeError:  # text beside numbers
        pass
    return repr(values[:5]) + (" ..." if len(values) > 5 else "")


def input_names(names: str | Iterable[str], X: pd.DataFrame, what: str = "inputs") -> list[str]:
    """Column names as a list, a single name taken as a one-element list (as :func:`scintiml.cohort.read_table`
    takes ``text_columns``); a clear error for a name that is no column of ``X``.

    Examples
    --------
    >>> import pandas as pd
    >>> input_names("age", pd.DataFrame({"age": [60], "sex": [1]}))
    ['age']
    """
    if isinstance(names, str) or not isinstance(names, Iterable):  # one name, not its letters
        names = [names]
    names = list(names)
    unknown = [n for n in names if n not in X.columns]
    if unknown:
        columns = list(X.columns)
        raise ValueError(f"{what} {unknown} are not columns of X; choose among {columns[:10]}"
                         + (f" and {len(columns) - 10} more" if len(columns) > 10 else ""))
    return names


def _stats(values: pd.Series) -> dict[str, float]:
    v = values.dropna()
    q1, med, q3 = (np.quantile(v, [0.25, 0.5, 0.75]) if len(v) else (np.nan,) * 3)
    return {
        "n": int(v.size), "missing": int(values.isna().sum()),
        "mean": float(v.mean()) if len(v) else np.nan, "sd": float(v.std(ddof=1)) if len(v) > 1 else np.nan,
        "median": float(med), "q1": float(q1), "q3": float(q3),
        "min": float(v.min()) if len(v) else np.nan, "max": float(v.max()) if len(v) else np.nan,
    }


def describe_inputs(X: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """n, missing, mean, SD, median, IQR (q1, q3), min, max — overall, in events, in non-events.

    Returns a DataFrame with one row per input and columns such as ``mean``,
    ``mean_event``, ``mean_no_event``. One outcome class is allowed: the other class's columns are then empty
    (``n`` 0, the rest NaN).

    Raises
    ------
    TypeError
        ``X`` is not a DataFrame.
    ValueError
        ``y`` of another length than ``X``.
    TargetClassesError
        ``y`` not coded 0/1 (1 = event).

    Examples
    --------
    >>> import pandas as pd
    >>> d = describe_inputs(pd.DataFrame({"age": [50.0, 60.0, 70.0, 80.0]}), [0, 0, 1, 1])
    >>> d.loc["age", ["mean", "mean_event", "mean_no_event", "n_no_event"]].tolist()
    [65.0, 75.0, 55.0, 2.0]
    """
    X = check_frame(X)
    y = check_outcome(y, len(X))
    rows = {}
    for col in X.columns:
        row = {}
        for suffix, mask in (("", slice(None)), ("_event", y == 1), ("_no_event", y == 0)):
            for k, v in _stats(X[col][mask] if suffix else X[col]).items():
                row[k + suffix] = v
        rows[col] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def univariate_tests(X: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """Each input alone: AUC with DeLong 95 % CI, direction, and the Mann-Whitney U test.

    ``auc`` is the AUC of the input as a score for the event (below 0.5 when
    lower values go with the event); ``auc_oriented`` = max(auc, 1 − auc) and
    ``direction`` (``"higher"`` / ``"lower"`` values with the event), with its
    interval ``auc_oriented_ci_low/high``.
    Sorted by ``auc_oriented``, best first. Missing values are left out per input; an input whose measured
    patients are all of one class (or that no patient has) is left out of the table.

    Raises
    ------
    TypeError
        ``X`` is not a DataFrame.
    ValueError
        ``y`` of another length than ``X``.
    TargetClassesError
        ``y`` not coded 0/1 (1 = event), or of one class only.
    """
    X = check_frame(X)
    y = check_outcome(y, len(X), both_classes="a univariate AUC")
    rows = []
    for col in X.columns:
        ok = X[col].notna().to_numpy()
        v, t = X[col].to_numpy()[ok], y[ok]
        if len(t) == 0 or t.min() == t.max():  # never measured (an empty min raised), or measured in one class only
            continue
        res = auc_ci(t, v)
        u = stats.mannwhitneyu(v[t == 1], v[t == 0], alternative="two-sided")
        auc = res.auc
        rows.append({
            "input": col, "auc": auc, "auc_ci_low": res.ci[0], "auc_ci_high": res.ci[1],
            "auc_oriented": max(auc, 1 - auc), "direction": "higher" if auc >= 0.5 else "lower",
            "auc_oriented_ci_low": res.ci[0] if auc >= 0.5 else 1 - res.ci[1],
            "auc_oriented_ci_high": res.ci[1] if auc >= 0.5 else 1 - res.ci[0],
            "mann_whitney_u": float(u.statistic), "p_value": float(u.pvalue),
        })
    # the columns are named even without rows: an empty table, not a KeyError from sort_values
    table = pd.DataFrame(rows, columns=UNIVARIATE_COLUMNS)
    return table.sort_values("auc_oriented", ascending=False, kind="stable").reset_index(drop=True)
