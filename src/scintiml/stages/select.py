"""Stages 3 and 4: choose the inputs, then the network's hidden layers, judged on the selection patients.

``selection`` says how a candidate is judged: ``"split"`` (the published workflow: trained on the training
part, judged on the selection part). Resampled selection (``"cv"``) plugs in here by adding a mode to
:data:`~scintiml.stages.base.SELECTION_MODES` and a branch below; the stage's inputs and outputs stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..errors import ScintimlError
from ..select import InputSelector, OrderSelector
from .base import INPUT_METHODS, SELECTION_MODES, StudyData


@dataclass
class InputSelection:
    """The chosen inputs and the JSON-able ``selection`` section of the results."""

    selected: list[str]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class OrderSelection:
    """The chosen hidden layers and the JSON-able ``order_selection`` section of the results."""

    hidden_layer_sizes: tuple[int, ...]
    info: dict[str, Any] = field(default_factory=dict)


def _check_mode(selection: str) -> None:
    if selection not in SELECTION_MODES:
        raise ScintimlError(f"selection must be one of {', '.join(SELECTION_MODES)}, got {selection!r}")


def select_inputs_stage(
    data: StudyData,
    method: str = "growing",
    max_inputs: int | None = None,
    random_state: int | None = 0,
    selection: str = "split",
    progress: Callable[[int], None] | None = None,
) -> InputSelection:
    """Choose the inputs with :class:`~scintiml.select.InputSelector` (or keep all with ``method="all"``).

    Parameters
    ----------
    data : StudyData
        From :func:`split_stage`.
    method : {"growing", "pruning", "genetic", "all"}
    max_inputs : int, optional
    random_state : int, RandomState or None
    selection : {"split"}
        How candidates are judged (see the module docstring).
    progress : callable, optional
        ``progress(n_networks_trained)``.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage
    >>> data = split_stage(make_mibg_cohort(n_patients=200, random_state=0))
    >>> len(select_inputs_stage(data, method="all").selected) == data.cohort.n_inputs
    True
    """
    if method not in INPUT_METHODS:
        raise ScintimlError(f"inputs must be one of {', '.join(INPUT_METHODS)}, got {method!r}")
    _check_mode(selection)
    if method == "all":
        return InputSelection(list(data.cohort.inputs), {"method": "all", "n_candidates": 0, "n_networks": 0,
                                                         "history": []})
    X_tr, y_tr = data.part("training")
    X_se, y_se = data.part("selection")
    selector = InputSelector(method=method, max_inputs=max_inputs, random_state=random_state)
    selector.fit(X_tr, y_tr, selection=(X_se, y_se), progress=progress)
    info = {
        "method": method, "n_candidates": selector.n_candidates_, "n_networks": selector.n_networks_,
        "best_selection_loss": selector.best_selection_loss_, "tolerance": selector.tolerance,
        "history": selector.history_.to_dict(orient="records"),
    }
    return InputSelection(list(selector.selected_inputs_), info)


def select_order_stage(
    data: StudyData,
    inputs: Sequence[str],
    max_neurons: int = 8,
    max_layers: int = 2,
    random_state: int | None = 0,
    selection: str = "split",
    progress: Callable[[int], None] | None = None,
) -> OrderSelection:
    """Choose the hidden layers with :class:`~scintiml.select.OrderSelector` for the given inputs.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage
    >>> data = split_stage(make_mibg_cohort(n_patients=200, random_state=0))
    >>> order = select_order_stage(data, ["delta_lvef", "planar_washout"], max_neurons=2, max_layers=1)
    >>> len(order.hidden_layer_sizes)
    1
    """
    _check_mode(selection)
    X_tr, y_tr = data.part("training", inputs)
    X_se, y_se = data.part("selection", inputs)
    order = OrderSelector(max_neurons=max_neurons, max_layers=max_layers, random_state=random_state)
    order.fit(X_tr, y_tr, selection=(X_se, y_se), progress=progress)
    hidden = tuple(order.hidden_layer_sizes_)
    info = {"hidden_layer_sizes": list(hidden), "history": order.history_.to_dict(orient="records")}
    return OrderSelection(hidden, info)
