"""The whole tabular study: split → explore → select inputs → select order → fit → test → explain → readiness.

:func:`run_study` is a short sequence of the public stage functions of :mod:`scintiml.stages`; each takes and
returns plain data, so a user can rerun or replace one stage. It returns a :class:`StudyResult`: the JSON-able
``results`` dict (documented in ``docs/results.md``) plus the fitted objects a model bundle needs. Reports and
bundles are written from it; they never recompute, and the study never draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .ann import ANNClassifier
from .cohort import Cohort
from .errors import ScintimlError
from .split import Split, predefined_split
from .stages import (INPUT_METHODS, SCHEMA_VERSION, Progress, StageClock, assemble_results, explain_stage,
                     explore_stage, fit_stage, readiness_applies, readiness_stage, resolve_seed, select_inputs_stage,
                     select_order_stage, split_stage, test_stage)

__all__ = ["run_study", "StudyResult", "predefined_split", "INPUT_METHODS", "SCHEMA_VERSION", "Progress"]


@dataclass
class StudyResult:
    """What a study produced: JSON-able ``results`` and the objects a bundle needs."""

    results: dict[str, Any]
    model: ANNClassifier
    cohort: Cohort
    split: Split
    selected_inputs: list[str]
    medians: dict[str, float] = field(default_factory=dict)
    training_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    stages: dict[str, Any] = field(default_factory=dict)


def run_study(
    cohort: Cohort,
    ratios: Sequence[float] = (0.6, 0.2, 0.2),
    inputs: str = "growing",
    max_inputs: int | None = None,
    random_state: int | np.random.RandomState | None = 0,
    protocol: dict[str, str] | None = None,
    readiness: bool = True,
    progress: Progress | None = None,
    split: Split | None = None,
    selection: str = "split",
    seed: int | None = None,
) -> StudyResult:
    """Run the published ANN workflow on a cohort, stage by stage (see :mod:`scintiml.stages`).

    Parameters
    ----------
    cohort : Cohort
    ratios : three floats
        Training / selection / testing fractions (default 60:20:20), stratified.
    inputs : {"growing", "pruning", "genetic", "all"}
        Input selection method (``all`` keeps every input).
    max_inputs : int, optional
    random_state : int, RandomState or None
        Seeds the split and every random start: same int, same study (recorded as ``results["seed"]``).
    protocol : dict, optional
        Acquisition protocol (``KEY=VALUE`` pairs) recorded in the results and model card.
    readiness : bool
        Run the "is deep learning warranted?" stage when the cohort has ``imaging`` and ``clinical`` groups.
    progress : callable, optional
        ``progress(stage, n_networks)`` for a progress display.
    split : Split, optional
        A predefined split (e.g. :func:`scintiml.split.predefined_split`); ``ratios`` is then ignored.
    selection : {"split"}
        How the select stages judge candidates (see :mod:`scintiml.stages.select`).
    seed : int, optional
        Older name of ``random_state`` (kept so existing scripts run).

    Returns
    -------
    StudyResult

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout", "age"])
    >>> result = run_study(cohort, inputs="all", readiness=False, random_state=0)
    >>> result.results["inputs"]["selected"]
    ['delta_lvef', 'planar_washout', 'age']
    >>> 0.5 < result.results["test"]["auc"] <= 1
    True
    """
    if inputs not in INPUT_METHODS:
        raise ScintimlError(f"inputs must be one of {', '.join(INPUT_METHODS)}, got {inputs!r}")
    seed = resolve_seed(random_state if seed is None else seed)
    clock = StageClock(progress)
    with clock("split"):
        data = split_stage(cohort, ratios, random_state=seed, split=split)
    with clock("explore"):
        explored = explore_stage(data)
    with clock("input_selection") as tick:
        chosen = select_inputs_stage(data, inputs, max_inputs, seed, selection=selection, progress=tick)
    with clock("order_selection") as tick:
        order = select_order_stage(data, chosen.selected, random_state=seed, selection=selection, progress=tick)
    with clock("final_training"):
        fitted = fit_stage(data, chosen.selected, order.hidden_layer_sizes, random_state=seed)
    with clock("testing_analysis"):
        testing = test_stage(data, fitted, random_state=seed)
    with clock("explain"):
        explained = explain_stage(data, fitted, explored.univariate_fit, random_state=seed)
    readiness_result = None
    if readiness and readiness_applies(cohort):
        with clock("readiness"):
            readiness_result = readiness_stage(cohort, random_state=seed)
    results = assemble_results(data, explored, chosen, order, fitted, testing, explained, readiness_result, seed,
                               protocol=protocol, timings=clock.timings)
    stages = {"data": data, "explored": explored, "inputs": chosen, "order": order, "fitted": fitted,
              "testing": testing}
    return StudyResult(results=results, model=fitted.model, cohort=cohort, split=data.split,
                       selected_inputs=fitted.inputs, medians=data.medians,
                       training_ranges=fitted.training_ranges, stages=stages)
