"""Stages 3 and 4: choose the inputs, then the network's hidden layers.

``selection`` says how the inputs and the network are chosen:

* ``"stable"`` (the study's default; these stage functions default to ``"split"``): the inputs chosen in at
  least the threshold share of 20 resampled selections (:class:`~scintiml.select.StabilitySelector`:
  complementary half-samples of the training and selection patients, each selection the lowest loss); the single
  cross-validated selection (below) is run and reported beside it;
  hidden layers by stratified 5-fold cross-validation, one-standard-error rule;
* ``"cv"``: inputs and hidden layers by stratified 5-fold cross-validation over the training and selection
  patients, one-standard-error rule; the selection frequencies are reported beside;
* ``"split"``: the published Neural Designer workflow: trained on the training part, judged on the selection part,
  a 3 % parsimony margin.

The testing part is never seen.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ScintimlError
from ..explain import extract_rule
from ..select import InputSelector, OrderSelector, StabilitySelector, correlation_with_target, resampled_selector
from ..select.stability import stable_support
from .base import INPUT_METHODS, RESAMPLED_MODES, SELECTION_MODES, StudyData

#: Cross-validation folds of the "cv" mode, and the complementary half-sample pairs of the selection frequencies.
CV_FOLDS = 5
STABILITY_PAIRS = 10
#: The published workflow's margin (a candidate must lower the selection loss by 3 %), kept for "split".
SPLIT_TOLERANCE = 0.03


@dataclass
class InputSelection:
    """The chosen inputs and the JSON-able ``selection`` section of the results.

    Examples
    --------
    >>> InputSelection(["delta_lvef"], {"method": "fixed"}).selected
    ['delta_lvef']
    """

    selected: list[str]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class OrderSelection:
    """The chosen hidden layers and the JSON-able ``order_selection`` section of the results.

    Examples
    --------
    >>> OrderSelection((3,), {"hidden_layer_sizes": [3], "history": []}).hidden_layer_sizes
    (3,)
    """

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
    n_jobs: int | None = None,
) -> InputSelection:
    """Choose the inputs with :class:`~scintiml.select.InputSelector` (or keep all with ``method="all"``).

    Parameters
    ----------
    data : StudyData
        From :func:`split_stage`.
    method : {"growing", "pruning", "genetic", "all"}
    max_inputs : int, optional
    random_state : int, RandomState or None
    selection : {"stable", "cv", "split"}
        How the inputs are chosen (see the module docstring).
    progress : callable, optional
        ``progress(n_networks_trained)``.
    n_jobs : int, optional
        Processes for the resampled selections (joblib; ``-1``: every core); the result does not depend on it.

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
        # "mode" as docs/results.md promises it always: nothing was selected, so none of the selection modes ran
        return InputSelection(list(data.cohort.inputs), {"method": "all", "mode": "none", "n_candidates": 0,
                                                         "n_networks": 0, "history": []})
    if selection == "split":
        X_tr, y_tr = data.part("training")
        X_se, y_se = data.part("selection")
        selector = InputSelector(method=method, max_inputs=max_inputs, tolerance=SPLIT_TOLERANCE, trials=3,
                                 random_state=random_state)
        selector.fit(X_tr, y_tr, selection=(X_se, y_se), progress=progress)
    else:
        X_fit, y_fit = data.X.iloc[data.fit_rows], data.y[data.fit_rows]
        selector = InputSelector(method=method, cv=CV_FOLDS, max_inputs=max_inputs, random_state=random_state)
        selector.fit(X_fit, y_fit, progress=progress)
    info = {
        "method": method, "mode": selection, "n_folds": selector.n_folds_,
        "judged_on": ("the selection part (one split, the published workflow)" if selection == "split" else
                      f"stratified {CV_FOLDS}-fold cross-validation over the training and selection patients"),
        "n_candidates": selector.n_candidates_, "n_networks": selector.n_networks_,
        "best_selection_loss": selector.best_selection_loss_, "best_selection_se": selector.best_selection_se_,
        "tolerance": selector.tolerance, "history": selector.history_.to_dict(orient="records"),
    }
    selected = list(selector.selected_inputs_)
    if selection in RESAMPLED_MODES:
        info["stability"] = stability_section(data, method, max_inputs, random_state, progress, n_jobs=n_jobs)
        stability = info["stability"]
        stable, share = stability["stable_inputs"], f"{100 * stability['threshold']:.0f} %"
        n_runs = len(stability["runs"])
        info["cv_selected"] = selected
        if selection == "stable":
            info["judged_on"] = (f"{n_runs} resampled selections (complementary half-samples of the training and "
                                 "selection patients, each keeping the subset of lowest selection loss)")
            selected = stability["kept_inputs"]
            if stability["fallback_input"]:
                data.warnings.append(
                    f"no input was chosen in at least {share} of the {n_runs} resampled selections: the signal is "
                    f"weak or spread thin; kept the one chosen most often ({stability['fallback_input']}) — read "
                    "the result with caution")
            if stability["capped"]:
                data.warnings.append(
                    f"{len(stable)} inputs were chosen in at least {share} of the resampled selections, more than "
                    f"max_inputs = {max_inputs}: kept the {len(selected)} chosen most often, left out "
                    f"{', '.join(stability['capped'])}")
            differ = selections_differ(selector.selected_inputs_, selected, stability)
            if differ is not None and not stability["fallback_input"]:
                data.warnings.append(
                    f"one cross-validated selection (one-SE rule) kept {', '.join(selector.selected_inputs_)}, the "
                    f"resampled selections {', '.join(selected)}{differ}: see how often each input was chosen")
        else:
            for key in ("kept_inputs", "fallback_input", "capped"):  # the study keeps the CV pick in this mode
                stability.pop(key)
            differ = selections_differ(selected, stable, stability)
            if differ is not None:
                data.warnings.append(
                    f"the inputs kept by cross-validation ({', '.join(selected)}) differ from those chosen in at "
                    f"least {share} of the {n_runs} resampled selections ({', '.join(stable) or 'none'}){differ}: "
                    "see how often each input was chosen")
    return InputSelection(selected, info)


def selections_differ(first: Sequence[str], second: Sequence[str], stability: dict[str, Any]) -> str | None:
    """``None`` when two selections keep the same near-copy families (``stability["frequencies"]``), else ``""``
    or, where some of the inputs kept by one are near-copies of those kept by the other, a note naming them.

    Near-copies (|r| >= the family threshold, exact copies among them) are one family to the resampled
    selections: which copy a selection keeps is chance, not a disagreement.

    Examples
    --------
    >>> stability = {"family_threshold": 0.9, "frequencies": [{"input": "dup2", "family": 0},
    ...              {"input": "dup3", "family": 0}, {"input": "age", "family": 1}]}
    >>> selections_differ(["dup2"], ["dup3"], stability) is None
    True
    >>> selections_differ(["dup2", "age"], ["dup3"], stability)
    ' (near-copies, |r| >= 0.9, counted as one family: dup2 and dup3)'
    >>> selections_differ(["age"], ["dup3"], stability)
    ''
    """
    family = {row["input"]: row["family"] for row in stability.get("frequencies", [])}

    def families(names: Sequence[str]) -> set:
        return {family.get(name, name) for name in names}

    if families(first) == families(second):
        return None
    copies = [f"{a} and {b}" for a in first for b in second
              if a != b and family.get(a, a) == family.get(b, b)]
    if not copies:
        return ""
    return (f" (near-copies, |r| >= {stability.get('family_threshold', 0.9):g}, counted as one family: "
            f"{'; '.join(copies)})")


def stability_section(data: StudyData, method: str = "growing", max_inputs: int | None = None,
                      random_state: int | None = 0, progress: Callable[[int], None] | None = None,
                      n_pairs: int = STABILITY_PAIRS, n_jobs: int | None = None) -> dict[str, Any]:
    """Selection frequencies: the input selection repeated on complementary half-samples of the training and
    selection patients (:class:`~scintiml.select.StabilitySelector`); JSON-able.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage
    >>> data = split_stage(make_mibg_cohort(n_patients=300, random_state=1).subset(["delta_lvef", "planar_washout", "age"]))
    >>> stability_section(data, n_pairs=2)["stable_inputs"]
    ['delta_lvef', 'planar_washout']
    """
    X_fit, y_fit = data.X.iloc[data.fit_rows], data.y[data.fit_rows]
    stable = StabilitySelector(resampled_selector(method, max_inputs), n_pairs=n_pairs, n_jobs=n_jobs,
                               random_state=random_state)
    stable.fit(X_fit, y_fit, progress=None if progress is None else (lambda n: progress(0)))
    kept = [name for name, keep in zip(stable.names_, stable_support(stable, max_inputs)) if keep]
    rules = [_resample_rule(X_fit, y_fit, rows, inputs) for (rows, _), inputs in zip(stable.resamples_, stable.runs_)]
    forms = Counter(form for _, form in rules if form)
    modal_form, n_modal = forms.most_common(1)[0] if forms else ("", 0)
    return {
        "resampling": f"{n_pairs} complementary pairs of stratified half-samples (each half selects, judged on "
                      f"the other half, the lowest selection loss): {2 * n_pairs} selections",
        "threshold": stable.threshold, "family_threshold": stable.family_threshold,
        "representative": "the family member chosen most often (ties: higher |r| with the outcome)",
        "stable_inputs": list(stable.selected_inputs_),
        "kept_inputs": kept,
        "fallback_input": None if stable.selected_inputs_ else kept[0],
        "capped": [name for name in stable.selected_inputs_ if name not in kept],
        "frequencies": stable.frequencies_.to_dict(orient="records"),
        "contains_share": stable.contains_share_, "mean_run_size": stable.mean_run_size_,
        "same_set_share": stable.same_set_share_, "modal_set": stable.modal_set_,
        "modal_set_share": stable.modal_set_share_, "runs": stable.runs_, "n_networks": stable.n_networks_,
        "rules": [text for text, _ in rules], "modal_rule_form": modal_form,
        "modal_rule_form_share": n_modal / len(rules) if rules else 0.0,
        "rule_note": "each selection's rule: extract_rule on the three of its inputs most correlated with the "
                     "outcome on its own half-sample, fitted there; the form is the inputs, directions and join, "
                     "thresholds aside",
    }


def _resample_rule(X, y, rows, inputs) -> tuple[str, str]:
    """The clinical rule of one resampled selection (text) and its form (inputs, directions, join)."""
    if not inputs:
        return "", ""
    # a selection keeps its lowest-loss subset, often with inputs of its own beside the stable ones: the rule takes
    # the three most correlated with the outcome on the selection's own patients, not the first three columns
    r = correlation_with_target(X.iloc[rows][list(inputs)].to_numpy(float), y[rows])
    top = [inputs[j] for j in np.argsort(-r, kind="stable")[:3]]
    rule = extract_rule(X.iloc[rows], y[rows], top, max_conditions=min(2, len(top)))
    form = f" {rule.join} ".join(f"{c.input} {c.op}" for c in sorted(rule.conditions, key=lambda c: c.input))
    return rule.text, form


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
    if selection == "split":
        X_tr, y_tr = data.part("training", inputs)
        X_se, y_se = data.part("selection", inputs)
        order = OrderSelector(max_neurons=max_neurons, max_layers=max_layers, tolerance=SPLIT_TOLERANCE, trials=3,
                              random_state=random_state)
        order.fit(X_tr, y_tr, selection=(X_se, y_se), progress=progress)
    else:
        X_fit, y_fit = data.X.iloc[data.fit_rows][list(inputs)], data.y[data.fit_rows]
        order = OrderSelector(max_neurons=max_neurons, max_layers=max_layers, cv=CV_FOLDS, random_state=random_state)
        order.fit(X_fit, y_fit, progress=progress)
    hidden = tuple(order.hidden_layer_sizes_)
    info = {"hidden_layer_sizes": list(hidden), "mode": selection, "tolerance": order.tolerance,
            "history": order.history_.to_dict(orient="records")}
    return OrderSelection(hidden, info)
