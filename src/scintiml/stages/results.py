"""Assemble the stages' outputs into the JSON-able ``results`` dict documented in ``docs/results.md``."""

from __future__ import annotations

from typing import Any

from .._version import __version__
from ..io import jsonable
from .base import StudyData
from .explore import Exploration
from .fit import FittedModel
from .select import InputSelection, OrderSelection
from .testing import TestingAnalysis

SCHEMA_VERSION = "1.1"


def dataset_section(data: StudyData) -> dict[str, Any]:
    """The ``dataset`` section: the cohort, its groups and notes, and the imputation values.

    Examples
    --------
    >>> from scintiml.datasets import load_heart_failure
    >>> from scintiml.stages import split_stage
    >>> dataset_section(split_stage(load_heart_failure()))["n_patients"]
    299
    """
    c = data.cohort
    return {
        "name": c.name, "n_patients": c.n_patients, "n_inputs": c.n_inputs, "target": c.target,
        "positive": c.positive, "n_events": c.n_events, "groups": c.groups, "notes": c.notes,
        "missing": c.missing, "citation": c.citation, "outcome_values": list(c.outcome_values),
        "imputation": {"method": "median of the training instances", "values": data.medians},
    }


def assemble_results(
    data: StudyData,
    explored: Exploration,
    inputs: InputSelection,
    order: OrderSelection,
    fitted: FittedModel,
    testing: TestingAnalysis,
    explained: dict[str, Any],
    readiness: dict[str, Any] | None,
    random_state: int,
    protocol: dict[str, str] | None = None,
    timings: dict[str, float] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One strict-JSON ``results`` dict from the stage outputs; ``extra`` adds (or replaces) top-level keys
    — the seam for new analyses (e.g. nested cross-validation, site cross-validation).

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import (split_stage, explore_stage, select_inputs_stage, select_order_stage,
    ...                              fit_stage, test_stage, explain_stage)
    >>> data = split_stage(make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"]))
    >>> explored, chosen = explore_stage(data), select_inputs_stage(data, "all")
    >>> order = select_order_stage(data, chosen.selected, max_neurons=1, max_layers=1)
    >>> fitted = fit_stage(data, chosen.selected, order.hidden_layer_sizes, n_restarts=1)
    >>> results = assemble_results(data, explored, chosen, order, fitted, test_stage(data, fitted),
    ...                            explain_stage(data, fitted, explored.univariate_fit, n_repeats=2), None, 0,
    ...                            extra={"site_cv": {"n_sites": 1}})
    >>> results["architecture"], results["site_cv"]
    ([2, 1, 1], {'n_sites': 1})
    """
    model = fitted.model
    results = {
        "schema_version": SCHEMA_VERSION,
        "scintiml_version": __version__,
        "seed": random_state,
        "dataset": dataset_section(data),
        "protocol": dict(protocol or {}),
        "split": {**data.split.counts(), "ratios": data.ratios,
                  "events": {k: v["events"] for k, v in data.split.counts(data.y).items()}},
        "explore": explored.results,
        "inputs": {"all": data.cohort.inputs, "selected": fitted.inputs},
        "architecture": [len(fitted.inputs), *order.hidden_layer_sizes, 1],
        "network": {
            "hidden_layer_sizes": list(order.hidden_layer_sizes), "activation": model.activation,
            "loss": model.loss, "regularization": model.regularization,
            "regularization_weight": model.regularization_weight, "training_error": model.training_error_,
            "selection_error": model.selection_error_, "n_iter": model.n_iter_, "expression": model.expression(),
        },
        "selection": inputs.info,
        "order_selection": order.info,
        "test": testing.test,
        "selection_auc": testing.selection_auc,
        "baselines": testing.baselines,
        **explained,
        "readiness": readiness,
        "timings": dict(timings or {}),
        "warnings": data.warnings + testing.warnings,
        **(extra or {}),
    }
    return jsonable(results)
