"""Stage 7: explain the network — importance, best single predictor, best pair, clinical rule, partial dependence."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..evaluate import auc_ci
from ..explain import best_pair, extract_rule, partial_dependence_curves, permutation_importance_grouped
from ..split import PARTS
from .base import StudyData
from .fit import FittedModel


#: Partial-dependence curves are drawn for this many inputs at most, the most important first: with 500 inputs
#: kept (``--inputs all``) the figure was 1903 x 86,768 pixels and 28 s of the study.
MAX_CURVES = 12


def _most_important(inputs: list[str], ranked: list[str], k: int) -> list[str]:
    """The model's ``inputs`` ordered by the importance of their group (a one-hot ``grade=D`` by ``grade``'s),
    the first ``k``.

    >>> _most_important(["a", "g=x", "g=y", "b"], ["g", "b", "a"], 3)
    ['g=x', 'g=y', 'b']
    """
    rank = {group: i for i, group in enumerate(ranked)}
    order = sorted(inputs, key=lambda name: rank.get(name, rank.get(name.partition("=")[0], len(rank))))
    return order[:k]


def explain_stage(
    data: StudyData,
    fitted: FittedModel,
    univariate_fit: pd.DataFrame,
    n_repeats: int = 20,
    random_state: int | None = 0,
) -> dict[str, Any]:
    """What carries the signal, in forms a clinician can check.

    Returns the results sections ``importance`` (permutation, on the selection part),
    ``best_single_predictor`` (chosen on training + selection, reported on testing), ``best_combination``
    (best pair of the five most important inputs), ``rule`` (on training + selection, evaluated on testing)
    and ``partial_dependence`` (over the training patients).

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage, explore_stage, fit_stage
    >>> data = split_stage(make_mibg_cohort(n_patients=200, random_state=0))
    >>> fitted = fit_stage(data, ["delta_lvef", "planar_washout"], (2,), n_restarts=1)
    >>> explained = explain_stage(data, fitted, explore_stage(data).univariate_fit, n_repeats=2)
    >>> sorted(c["input"] for c in explained["rule"]["conditions"])
    ['delta_lvef', 'planar_washout']
    """
    inputs = fitted.inputs
    training, selection, testing = (data.part(p) for p in PARTS)
    X_se, y_se = data.part("selection", inputs)
    importance = permutation_importance_grouped(fitted.model, X_se, y_se, n_repeats=n_repeats,
                                                random_state=random_state)
    ranked = list(importance["group"])
    best = univariate_fit.iloc[0]
    sign = 1 if best["direction"] == "higher" else -1
    single_test = auc_ci(testing[1], testing[0][best["input"]].to_numpy() * sign)
    rule_inputs = ranked[:3]
    rows = data.fit_rows
    # the rule is found and judged on the values as measured: a clinician cannot apply "x >= 3" to a patient
    # whose x was never measured, so a missing value meets no condition (the training median filled in for the
    # network would put the threshold at the median and count every unmeasured patient on one side)
    raw = data.raw
    rule = extract_rule(raw.iloc[rows], data.y[rows], rule_inputs, max_conditions=min(2, len(rule_inputs)),
                        categories=getattr(data.cohort, "categories", None))
    raw_testing = raw.iloc[data.split.testing]
    rule.evaluate(raw_testing, testing[1])
    rule_section = rule.to_dict()
    rule_section["test"]["patients_missing_a_rule_input"] = int(
        raw_testing[[c.input for c in rule.conditions]].isna().any(axis=1).sum())
    return {
        "importance": importance.to_dict(orient="records"),
        "best_single_predictor": {
            "input": best["input"], "direction": best["direction"],
            "auc_training_selection": float(best["auc_oriented"]),
            "test_auc": single_test.auc, "test_auc_ci95": list(single_test.ci),
        },
        "best_combination": best_pair(ranked[:5], training, selection, testing, random_state=random_state),
        "rule": rule_section,
        "partial_dependence": partial_dependence_curves(fitted.model, data.part("training", inputs)[0],
                                                        columns=_most_important(inputs, ranked, MAX_CURVES)),
    }
