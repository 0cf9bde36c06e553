"""Partial dependence of the predicted probability on each input (scikit-learn's brute-force method)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import partial_dependence

from ..explore.describe import check_frame, input_names


def partial_dependence_curves(model, X: pd.DataFrame, n_points: int = 25,
                              percentiles: tuple[float, float] = (0.05, 0.95),
                              columns: str | list[str] | None = None) -> dict[str, Any]:
    """Mean predicted probability over the rows of ``X`` as one input sweeps its 5th–95th percentiles.

    Uses :func:`sklearn.inspection.partial_dependence` (``method="brute"``) on an evenly spaced grid of
    ``n_points`` values per input; for a binary classifier that is the mean probability of the positive class.
    ``columns``: the inputs to sweep (default every column of ``X``; one name alone is taken as a list of one).
    Missing values are left out of the percentiles (the curve still averages over every row of ``X``); where the
    two percentiles coincide (a rare 0/1 input) the grid spans the observed minimum to maximum instead.

    Raises
    ------
    TypeError
        ``X`` is not a DataFrame (a numpy array has no input names to report the curves by).
    ValueError
        ``columns`` names a column ``X`` does not have, or a column without any observed value.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    >>> model = LogisticRegression().fit(X, np.arange(20) >= 10)
    >>> curves = partial_dependence_curves(model, X, n_points=5)
    >>> curves["a"]["mean_probability"][0] < curves["a"]["mean_probability"][-1]
    True
    """
    X = check_frame(X)
    out = {}
    for col in (X.columns if columns is None else input_names(columns, X, "columns")):
        observed = X[col].to_numpy(dtype=float)
        observed = observed[~np.isnan(observed)]  # np.quantile of a column with one NaN is NaN: a grid of NaNs
        if len(observed) == 0:
            raise ValueError(f"input {col!r} has no observed value in X; leave it out of columns (or impute it)")
        low, high = np.quantile(observed, list(percentiles))
        if low == high:
            # a rare 0/1 input (or one value in 90 % of patients): the percentiles coincide and the sweep would be
            # one value repeated, a flat curve read as "no effect"; sweep the observed range instead
            low, high = observed.min(), observed.max()
        grid = np.linspace(low, high, n_points)
        pd_result = partial_dependence(model, X, [col], custom_values={col: grid}, kind="average", method="brute",
                                       response_method="predict_proba")
        out[col] = {"grid": grid.tolist(), "mean_probability": [float(v) for v in pd_result["average"][0]]}
    return out
