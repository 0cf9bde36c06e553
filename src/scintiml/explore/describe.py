"""Descriptive statistics per input, overall and by outcome, and univariate discrimination."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..evaluate.roc import auc_ci


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
    ``mean_event``, ``mean_no_event``.
    """
    y = np.asarray(y).astype(int)
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
    Sorted by ``auc_oriented``, best first. Missing values are left out per input.
    """
    y = np.asarray(y).astype(int)
    rows = []
    for col in X.columns:
        ok = X[col].notna().to_numpy()
        v, t = X[col].to_numpy()[ok], y[ok]
        if t.min() == t.max():
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
    return pd.DataFrame(rows).sort_values("auc_oriented", ascending=False, kind="stable").reset_index(drop=True)
