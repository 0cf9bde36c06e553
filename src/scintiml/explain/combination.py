"""The best small combination: which pair of the most important inputs carries the most signal."""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..ann import ANNClassifier
from ..evaluate import auc_ci
from ..explore.describe import input_names


def best_pair(
    candidates: Sequence[str],
    training: tuple[pd.DataFrame, np.ndarray],
    selection: tuple[pd.DataFrame, np.ndarray],
    testing: tuple[pd.DataFrame, np.ndarray],
    hidden_layer_sizes: tuple[int, ...] = (3,),
    random_state: int | None = 0,
) -> dict[str, Any] | None:
    """Best pair of ``candidates``: a small network per pair, chosen on the selection AUC, reported on testing.

    Every pair is trained on the training part only; the winner is chosen on the selection part, so
    its testing AUC (with DeLong CI) is an honest estimate. ``None`` with fewer than two different candidates
    (one name alone is taken as a list of one, a repeated name counts once).

    Raises
    ------
    ValueError
        ``candidates`` names a column the training inputs do not have.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.split import split_cohort
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0)
    >>> s = split_cohort(cohort, random_state=0)
    >>> X, y = cohort.X.fillna(0), cohort.y
    >>> parts = [(X.iloc[r], y[r]) for r in (s.training, s.selection, s.testing)]
    >>> best_pair(["age", "delta_lvef", "planar_washout"], *parts)["inputs"]
    ['delta_lvef', 'planar_washout']
    """
    (X_tr, y_tr), (X_se, y_se), (X_te, y_te) = training, selection, testing
    # a single name was paired letter by letter (KeyError ['a', 'g'] for "age"), a repeated one with itself
    candidates = list(dict.fromkeys(input_names(candidates, X_tr, "candidates")))
    if len(candidates) < 2:
        return None
    best = None
    for pair in itertools.combinations(candidates, 2):
        cols = list(pair)
        net = ANNClassifier(hidden_layer_sizes=hidden_layer_sizes, random_state=random_state).fit(X_tr[cols], y_tr)
        sel_auc = auc_ci(y_se, net.predict_proba(X_se[cols])[:, 1]).auc
        if best is None or sel_auc > best[0]:
            best = (sel_auc, cols, net)
    sel_auc, cols, net = best
    test = auc_ci(y_te, net.predict_proba(X_te[cols])[:, 1])
    return {"inputs": cols, "selection_auc": sel_auc, "test_auc": test.auc, "test_auc_ci95": list(test.ci)}
