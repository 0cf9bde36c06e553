"""Stage 2: explore the inputs (descriptive statistics, univariate tests, correlation, redundancy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..explore import correlation_matrix, correlation_with_outcome, describe_inputs, redundancy_groups, univariate_tests
from .base import StudyData


@dataclass
class Exploration:
    """``results``: the JSON-able ``explore`` section; ``univariate_fit``: univariate tests on the
    training + selection patients only (the best single predictor is chosen from it, never from testing).

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage, explore_stage
    >>> explored = explore_stage(split_stage(make_mibg_cohort(n_patients=200, random_state=0)))
    >>> len(explored.results["univariate"]) == len(explored.univariate_fit)
    True
    """

    results: dict[str, Any]
    univariate_fit: pd.DataFrame


def explore_stage(data: StudyData, redundancy_threshold: float = 0.9) -> Exploration:
    """Describe every input by outcome, test it alone, and group near-copies (|r| >= ``redundancy_threshold``).

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage
    >>> explored = explore_stage(split_stage(make_mibg_cohort(n_patients=200, random_state=0)))
    >>> sorted(explored.results)
    ['correlation', 'correlation_with_outcome', 'describe', 'redundancy_groups', 'univariate']
    >>> explored.univariate_fit.iloc[0]["input"] in {"delta_lvef", "planar_washout"}
    True
    """
    X, y = data.X, data.y
    rows = data.fit_rows
    pearson = correlation_matrix(X)
    results = {
        "describe": describe_inputs(data.raw, y).reset_index(names="input").to_dict(orient="records"),
        "univariate": univariate_tests(X, y).to_dict(orient="records"),
        "correlation": {"inputs": list(pearson.columns), "matrix": pearson.to_numpy().tolist()},
        "correlation_with_outcome": correlation_with_outcome(X, y).to_dict(),
        "redundancy_groups": redundancy_groups(X, y, threshold=redundancy_threshold),
    }
    return Exploration(results=results, univariate_fit=univariate_tests(X.iloc[rows], y[rows]))
