"""The study in stages: each stage is a public function taking and returning plain data.

:func:`scintiml.run_study` calls them in order::

    data      = split_stage(cohort, ratios, random_state)          # StudyData
    explored  = explore_stage(data)                                 # Exploration
    inputs    = select_inputs_stage(data, method, max_inputs, ...)  # InputSelection
    order     = select_order_stage(data, inputs.selected, ...)      # OrderSelection
    fitted    = fit_stage(data, inputs.selected, order.hidden_layer_sizes)   # FittedModel
    testing   = test_stage(data, fitted)                            # TestingAnalysis
    explained = explain_stage(data, fitted, explored.univariate_fit)  # dict of results sections
    readiness = readiness_stage(cohort)                             # dict or None
    results   = assemble_results(data, explored, inputs, order, fitted, testing, explained, readiness, seed)

so a user can rerun or replace one stage (say, a fixed input list instead of input selection) and keep the rest.

The two select stages default to ``selection="split"`` (the published single-split workflow, fast), while
:func:`scintiml.run_study` defaults to ``"stable"``: to rerun a stage as the study ran it, pass the study's own
``selection`` (``results["selection"]["mode"]``) and ``random_state`` (``results["seed"]``).
"""

from .base import INPUT_METHODS, RESAMPLED_MODES, SELECTION_MODES, Progress, StageClock, StudyData, resolve_seed
from .explain import explain_stage
from .explore import Exploration, explore_stage
from .fit import FittedModel, fit_stage
from .readiness import readiness_applies, readiness_stage
from .results import SCHEMA_VERSION, assemble_results, dataset_section
from .select import InputSelection, OrderSelection, select_inputs_stage, select_order_stage
from .split import split_stage
from .testing import TestingAnalysis, baseline_models, test_stage

__all__ = [
    "INPUT_METHODS", "RESAMPLED_MODES", "SELECTION_MODES", "SCHEMA_VERSION", "Progress", "StageClock", "StudyData",
    "resolve_seed",
    "split_stage", "explore_stage", "Exploration", "select_inputs_stage", "select_order_stage", "InputSelection",
    "OrderSelection", "fit_stage", "FittedModel", "test_stage", "TestingAnalysis", "baseline_models",
    "explain_stage", "readiness_stage", "readiness_applies", "assemble_results", "dataset_section",
]
