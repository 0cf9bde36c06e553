"""Correlation matrices and redundancy groups (inputs that duplicate each other)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from .describe import check_frame, check_outcome


def correlation_matrix(X: pd.DataFrame, method: str = "pearson") -> pd.DataFrame:
    """Pearson or Spearman correlation of every pair of inputs (pairwise complete).

    Raises
    ------
    TypeError
        ``X`` is not a DataFrame.
    ValueError
        ``method`` is neither ``"pearson"`` nor ``"spearman"``.
    """
    X = check_frame(X)
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    return X.corr(method=method)


def correlation_with_outcome(X: pd.DataFrame, y: np.ndarray, method: str = "pearson") -> pd.Series:
    """Correlation of each input with the 0/1 outcome (Pearson = point-biserial), by |r| descending.

    Raises
    ------
    TypeError
        ``X`` is not a DataFrame.
    ValueError
        ``y`` of another length than ``X``.
    TargetClassesError
        ``y`` not coded 0/1 (1 = event), or of one class only (a correlation with a constant is undefined).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [4.0, 1.0, 3.0, 2.0]})
    >>> correlation_with_outcome(X, [0, 0, 1, 1]).round(3).to_dict()
    {'a': 0.894, 'b': 0.0}
    """
    X = check_frame(X)
    y = check_outcome(y, len(X), both_classes="a correlation with the outcome")
    r = X.corrwith(pd.Series(y.astype(float), index=X.index), method=method)
    return r.reindex(r.abs().sort_values(ascending=False, kind="stable").index)


def redundancy_groups(
    X: pd.DataFrame, y: np.ndarray | None = None, threshold: float = 0.9, method: str = "pearson"
) -> list[dict]:
    """Groups of inputs whose |r| is at least ``threshold``, with a representative each.

    Complete-linkage clustering on the distance ``1 − |r|``, cut at
    ``1 − threshold``: within a group *every* pair has |r| ≥ threshold (no
    chaining through intermediates). The representative is the member most
    correlated with the outcome when ``y`` is given (else the first by name).
    Only groups of two or more inputs are returned.

    Raises
    ------
    TypeError
        ``X`` is not a DataFrame.
    ValueError
        ``y`` (where given) of another length than ``X``.
    TargetClassesError
        ``y`` (where given) not coded 0/1 (1 = event), or of one class only.
    """
    X = check_frame(X)
    if y is not None:  # before the clustering: a bad outcome is reported before any work is done
        y = check_outcome(y, len(X), both_classes="choosing a representative by the outcome")
    corr = correlation_matrix(X, method).abs().fillna(0.0).to_numpy()
    names = list(X.columns)
    if len(names) < 2:
        return []
    dist = np.clip(1.0 - corr, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    dist = (dist + dist.T) / 2.0
    labels = fcluster(linkage(squareform(dist, checks=False), method="complete"), t=1.0 - threshold + 1e-12,
                      criterion="distance")
    outcome_r = correlation_with_outcome(X, y, method).abs() if y is not None else None
    groups = []
    for label in np.unique(labels):
        members = [names[i] for i in np.flatnonzero(labels == label)]
        if len(members) < 2:
            continue
        if outcome_r is not None:
            representative = max(members, key=lambda m: (outcome_r.get(m, 0.0), -members.index(m)))
        else:
            representative = sorted(members)[0]
        sub = corr[np.ix_([names.index(m) for m in members], [names.index(m) for m in members])]
        groups.append({
            "members": members, "representative": representative,
            "min_abs_r": float(sub[np.triu_indices(len(members), 1)].min()),
        })
    return sorted(groups, key=lambda g: -len(g["members"]))
