"""Input importance: permutation (single inputs or groups) and removal (retraining without it)."""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.utils import check_random_state


def permutation_importance_grouped(
    model,
    X: pd.DataFrame,
    y: np.ndarray,
    groups: Mapping[str, Sequence[str]] | None = None,
    n_repeats: int = 20,
    scoring: Callable[[np.ndarray, np.ndarray], float] | None = None,
    random_state=None,
) -> pd.DataFrame:
    """Drop in AUC when an input — or a whole group of inputs, jointly — is shuffled.

    The rows of the group's columns are permuted together (one permutation per
    repeat), which keeps the group's internal correlation and breaks only its
    link with the outcome (the grouped permutation importance of Gregorutti
    et al. 2017). With ``groups=None`` every input is its own group, which is
    scikit-learn's ``permutation_importance`` with the AUC as score.

    Returns a DataFrame: ``group, importance_mean, importance_sd, baseline``,
    by importance descending. ``importance_sd`` is the sample SD over the repeats (``ddof=1``); scikit-learn's
    ``importances_std`` divides by ``n_repeats`` (``ddof=0``) and is smaller by ``sqrt((n_repeats - 1) / n_repeats)``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame({"signal": rng.normal(size=200), "noise": rng.normal(size=200)})
    >>> y = (X["signal"] + 0.3 * rng.normal(size=200) > 0).astype(int)
    >>> model = LogisticRegression().fit(X, y)
    >>> permutation_importance_grouped(model, X, y, n_repeats=5, random_state=0)["group"].tolist()
    ['signal', 'noise']
    """
    rng = check_random_state(random_state)
    scoring = scoring or (lambda t, p: roc_auc_score(t, p))
    y = np.asarray(y)
    groups = groups or {c: [c] for c in X.columns}
    base = scoring(y, model.predict_proba(X)[:, 1])
    rows = []
    values = X.to_numpy(copy=True)
    for name, cols in groups.items():
        idx = [X.columns.get_loc(c) for c in cols]
        drops = []
        for _ in range(n_repeats):
            shuffled = values.copy()
            shuffled[:, idx] = values[rng.permutation(len(values))][:, idx]
            drops.append(base - scoring(y, model.predict_proba(pd.DataFrame(shuffled, columns=X.columns))[:, 1]))
        rows.append({"group": name, "importance_mean": float(np.mean(drops)),
                     "importance_sd": float(np.std(drops, ddof=1)) if n_repeats > 1 else 0.0, "baseline": base})
    return pd.DataFrame(rows).sort_values("importance_mean", ascending=False, kind="stable").reset_index(drop=True)


def removal_importance(
    train_subsets: Callable[[list[list[int]]], np.ndarray], inputs: Sequence[str]
) -> pd.DataFrame:
    """Increase in selection loss when each input is removed and the network retrained.

    ``train_subsets(subsets) -> selection losses`` trains the given column subsets
    (see :func:`scintiml.select.candidates.train_candidates`); the first subset
    is all ``inputs``.

    Examples
    --------
    >>> losses = {(0, 1): 0.10, (1,): 0.30, (0,): 0.12}  # without input 0 the loss rises most
    >>> table = removal_importance(lambda subsets: [losses[tuple(s)] for s in subsets], ["a", "b"])
    >>> table["input"].tolist(), round(float(table["loss_increase"].iloc[0]), 2)
    (['a', 'b'], 0.2)
    """
    k = len(inputs)
    subsets = [list(range(k))] + [[j for j in range(k) if j != i] for i in range(k)] if k > 1 else [[0]]
    losses = np.asarray(train_subsets(subsets))
    if k == 1:
        return pd.DataFrame({"input": list(inputs), "loss_increase": [np.nan], "loss_without": [np.nan]})
    return pd.DataFrame({
        "input": list(inputs), "loss_without": losses[1:], "loss_increase": losses[1:] - losses[0],
    }).sort_values("loss_increase", ascending=False, kind="stable").reset_index(drop=True)
