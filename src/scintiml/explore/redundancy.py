"""Correlation matrices and redundancy groups (inputs that duplicate each other)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage

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


#: Inputs per block of :func:`_condensed_distance`: two blocks' correlation matrix is (2 x 512)^2 floats, 8 MB.
_BLOCK = 512


def _condensed_distance(X: pd.DataFrame, method: str) -> np.ndarray:
    """The condensed distance ``1 - |r|`` (a missing r counts as 0) between every pair of inputs, as
    :func:`scipy.spatial.distance.squareform` would condense the whole matrix, built block by block.

    The whole input-by-input matrix (and its copies: |r|, 1 - |r|, clipped, symmetrised) is never held: with
    20,000 inputs each copy was 3.2 GB. Each block pair is correlated by :func:`correlation_matrix` on its
    columns in the table's order, and a pairwise-complete r depends only on its two columns, so every distance
    is the one the whole matrix gave, to the last bit.

    Examples
    --------
    >>> X = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [2.0, 4, 6, 8], "c": [1.0, 3, 3, 1]})
    >>> _condensed_distance(X, "pearson").round(3).tolist()
    [0.0, 1.0, 1.0]
    """
    k = X.shape[1]
    out = np.empty(k * (k - 1) // 2)
    starts = list(range(0, k, _BLOCK))

    def row_offset(i: int) -> int:  # where the pairs (i, j > i) begin in the condensed vector
        return i * k - i * (i + 1) // 2

    for a in starts:
        rows = np.arange(a, min(a + _BLOCK, k))
        for b in starts[starts.index(a):]:
            cols = np.arange(b, min(b + _BLOCK, k))
            both = rows if b == a else np.r_[rows, cols]
            corr = correlation_matrix(X.iloc[:, both], method).abs().fillna(0.0).to_numpy()
            dist = np.clip(1.0 - corr, 0.0, None)
            dist = (dist + dist.T) / 2.0
            block = dist[:len(rows), len(both) - len(cols):]  # rows x cols
            for r, i in enumerate(rows):
                first = max(b, i + 1)  # pairs (i, j) with j > i only
                if first >= cols[-1] + 1:
                    continue
                at = row_offset(i) + first - i - 1
                out[at:at + cols[-1] + 1 - first] = block[r, first - b:]
    return out


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
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    if y is not None:  # before the clustering: a bad outcome is reported before any work is done
        y = check_outcome(y, len(X), both_classes="choosing a representative by the outcome")
    names = list(X.columns)
    if len(names) < 2:
        return []
    labels = fcluster(linkage(_condensed_distance(X, method), method="complete"), t=1.0 - threshold + 1e-12,
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
        # the members' own matrix: each pairwise-complete r is the one the whole matrix held
        sub = correlation_matrix(X[members], method).abs().fillna(0.0).to_numpy()
        groups.append({
            "members": members, "representative": representative,
            "min_abs_r": float(sub[np.triu_indices(len(members), 1)].min()),
        })
    return sorted(groups, key=lambda g: -len(g["members"]))
