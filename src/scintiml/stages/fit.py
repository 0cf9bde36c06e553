"""Stage 5: train the final network on the chosen inputs and hidden layers; pick the threshold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..ann import ANNClassifier
from ..evaluate import youden_threshold
from ..select.pipeline import FINAL_RESTARTS
from .base import StudyData


@dataclass
class FittedModel:
    """The final network, its inputs, the threshold chosen on the selection patients and its training ranges.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage, fit_stage
    >>> data = split_stage(make_mibg_cohort(n_patients=200, random_state=0))
    >>> fitted = fit_stage(data, ["delta_lvef"], (1,), n_restarts=1)
    >>> fitted.p_testing.shape, fitted.training_ranges["delta_lvef"][0] <= fitted.training_ranges["delta_lvef"][1]
    ((40,), True)
    """

    model: ANNClassifier
    inputs: list[str]
    threshold: float
    p_selection: np.ndarray
    p_testing: np.ndarray
    training_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


def fit_stage(
    data: StudyData,
    inputs: Sequence[str],
    hidden_layer_sizes: Sequence[int],
    n_restarts: int = FINAL_RESTARTS,
    random_state: int | None = 0,
) -> FittedModel:
    """Train :class:`~scintiml.ann.ANNClassifier` on the training part and choose the Youden-optimal threshold on
    the selection part; it is applied unchanged to testing.

    The network is trained to convergence of its regularised loss (the norm penalty is what keeps it smooth); the
    selection part's error is recorded at every iteration for the report's loss curves, not used to stop early.
    The start of lowest training loss among ``n_restarts`` is kept.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage
    >>> data = split_stage(make_mibg_cohort(n_patients=200, random_state=0))
    >>> fitted = fit_stage(data, ["delta_lvef", "planar_washout"], (2,), n_restarts=1)
    >>> fitted.model.architecture_
    (2, 2, 1)
    >>> 0 < fitted.threshold < 1
    True
    """
    inputs = list(inputs)
    X_tr, y_tr = data.part("training", inputs)
    X_se, y_se = data.part("selection", inputs)
    X_te, _ = data.part("testing", inputs)
    model = ANNClassifier(hidden_layer_sizes=tuple(hidden_layer_sizes), n_restarts=n_restarts,
                          random_state=random_state)
    model.fit(X_tr, y_tr, selection=(X_se, y_se))
    p_se = model.predict_proba(X_se)[:, 1]
    p_te = model.predict_proba(X_te)[:, 1]
    ranges = {c: (float(X_tr[c].min()), float(X_tr[c].max())) for c in inputs}
    return FittedModel(model, inputs, float(youden_threshold(y_se, p_se)), p_se, p_te, ranges)
