"""Stage 2: explore the inputs (descriptive statistics, univariate tests, correlation, redundancy)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..explore import correlation_matrix, correlation_with_outcome, describe_inputs, redundancy_groups, univariate_tests
from .base import StudyData

#: Column names that usually hold something measured *after* the outcome (follow-up, survival, status ...).
#: ``time`` / ``days`` only as the whole name: time-activity curve parameters (``time_to_peak``, ``rise_time``)
#: and durations measured at the scan (``qrs_duration``) are ordinary inputs in nuclear medicine.
LEAK_NAME = re.compile(r"^(time|days?)$|(^|[_\W])(follow|fu|followup|surv|survival|los|death|died|"
                       r"censor\w*|outcome|event|status)([_\W]|$)", re.IGNORECASE)
#: A single input this strong is worth a second look: is it known before the outcome?
LEAK_AUC = 0.9


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
    # the description is of the patients as they are: every patient, missing values left out per input (pairwise
    # for correlations), not the training medians filled in for the network, which pull a univariate AUC and a
    # correlation toward no effect; the best-single-predictor rule is fitted as the network sees its inputs
    raw, y = data.raw, data.y
    rows = data.fit_rows
    pearson = correlation_matrix(raw)
    univariate = univariate_tests(raw, y)
    data.warnings.extend(leak_warnings(univariate))
    results = {
        "describe": describe_inputs(raw, y).reset_index(names="input").to_dict(orient="records"),
        "univariate": univariate.to_dict(orient="records"),
        "correlation": {"inputs": list(pearson.columns), "matrix": pearson.to_numpy().tolist()},
        "correlation_with_outcome": correlation_with_outcome(raw, y).to_dict(),
        "redundancy_groups": redundancy_groups(raw, y, threshold=redundancy_threshold),
    }
    return Exploration(results=results, univariate_fit=univariate_tests(data.X.iloc[rows], y[rows]))


def leak_warnings(univariate: pd.DataFrame) -> list[str]:
    """Inputs that may be known only after the outcome: by name (follow-up time, survival, status ...) or by
    separating the outcome almost alone (oriented AUC >= :data:`LEAK_AUC`). A leaked input makes a study look
    excellent and worthless; whether it is known before the outcome only the user can say, so these warn.

    Examples
    --------
    >>> table = pd.DataFrame({"input": ["age", "followup_days", "copy"], "auc_oriented": [0.6, 0.7, 0.99]})
    >>> for line in leak_warnings(table):
    ...     print(line[:60])
    input 'followup_days': its name suggests it is known only af
    input 'copy' separates the outcome almost alone (AUC 0.99 on
    """
    out = []
    for name, auc in zip(univariate["input"], univariate["auc_oriented"]):
        kind = leak_kind(name, auc)
        if kind == "name":
            out.append(f"input {name!r}: its name suggests it is known only after the outcome (follow-up time, "
                       "survival, status); if so it leaks the answer — leave it out with --exclude")
        elif kind == "auc":
            out.append(f"input {name!r} separates the outcome almost alone (AUC {auc:.2f} on its own): check that "
                       "it is known before the outcome; if not, leave it out with --exclude")
    return out


def leak_kind(name: Any, auc: float | None) -> str | None:
    """Why an input may leak the outcome: ``"name"`` (:data:`LEAK_NAME`), ``"auc"`` (oriented AUC >=
    :data:`LEAK_AUC`) or None; the study's warnings and the web app's pre-ticked exclusions both ask this.

    Examples
    --------
    >>> leak_kind("time", 0.84), leak_kind("time_to_peak", 0.95), leak_kind("age", 0.6)
    ('name', 'auc', None)
    """
    if LEAK_NAME.search(str(name)):
        return "name"
    if auc is not None and auc >= LEAK_AUC:
        return "auc"
    return None
