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

SCHEMA_VERSION = "1.8"  # 1.8: readiness.settings.penalty (the lasso's penalty chosen per training fold) and
#                         readiness.settings.patients_without_imaging; 1.7: internal_external.per_site[].inputs /
#                         hidden_layer_sizes (selection repeated per site), its top-level hidden_layer_sizes null;
#                         1.6: internal_external.n_restarts; 1.5: environment;
#                         1.4: explore.correlation holds at most 100 inputs (n_inputs, shown);
#                         1.3: dataset.missing_codes; 1.2: signal, rule on measured values,
#                         rule.test.patients_missing_a_rule_input


def environment_section() -> dict[str, Any]:
    """What computed the study besides scintiml: Python, the numerical libraries and the BLAS with its thread
    count. Same table, same seed and the same environment give the same study to the last bit; on large tables
    the BLAS thread count alone changes the last bits of the products (docs/results.md), so it is recorded.

    Examples
    --------
    >>> env = environment_section()
    >>> sorted(env)
    ['blas', 'machine', 'numpy', 'pandas', 'python', 'scikit_learn', 'scipy', 'system']
    >>> sorted(env["blas"][0]) if env["blas"] else ['library', 'threads', 'version']
    ['library', 'threads', 'version']
    """
    import platform

    import numpy
    import pandas
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    blas = [{"library": info.get("internal_api"), "version": info.get("version"), "threads": info.get("num_threads")}
            for info in threadpool_info() if info.get("user_api") == "blas"]
    blas.sort(key=lambda lib: (str(lib["library"]), str(lib["version"])))
    return {"python": platform.python_version(), "numpy": numpy.__version__, "scipy": scipy.__version__,
            "scikit_learn": sklearn.__version__, "pandas": pandas.__version__, "machine": platform.machine(),
            "system": platform.system(), "blas": blas}


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
        "missing_codes": dict(c.missing_codes),
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
    warnings = data.warnings + testing.warnings + _mostly_imputed(data, fitted.inputs)
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
        "environment": environment_section(),
        "warnings": warnings,
        **(extra or {}),
    }
    results["signal"] = chance_verdict(results)
    if results["signal"]["verdict"] == NO_SIGNAL:
        results["warnings"] = [results["signal"]["message"]] + results["warnings"]
    return jsonable(results)


#: ``results["signal"]["verdict"]`` when the study's AUC interval reaches 0.5.
NO_SIGNAL = "not distinguishable from chance"
#: How that verdict's message begins (in results["warnings"], the report and the model card's known limits).
NO_SIGNAL_MESSAGE = "no signal the patients can support"


def not_a_finding(results: dict[str, Any]) -> str:
    """`` (not a finding: ...)`` to put after the rule when the study found no signal, else ``""`` (one
    wording for the CLI, the report, the model card and the web app).

    Examples
    --------
    >>> not_a_finding({"signal": {"verdict": NO_SIGNAL, "basis": "testing part"}})
    ' (not a finding: the testing part AUC is not distinguishable from chance)'
    >>> not_a_finding({"signal": {"verdict": "above chance", "basis": "testing part"}})
    ''
    """
    signal = results.get("signal") or {}
    if signal.get("verdict") != NO_SIGNAL:
        return ""
    return f" (not a finding: the {signal['basis']} AUC is {NO_SIGNAL})"


#: An input of the final model missing for more than this share of the patients is warned of: the share above which
#: ``scintiml validate`` refuses a site's input (:data:`scintiml.external.missing.MAX_MISSING_SHARE`, its default
#: ``--max-missing``), so a study says what validation would refuse. It was 0.5 before: an input 84 % imputed had
#: been warned of only when the selection kept it, and one 40 % imputed never, while validate refused both.
MOSTLY_IMPUTED = 0.3


def _mostly_imputed(data: StudyData, inputs: list[str]) -> list[str]:
    """A warning per model input missing for more than :data:`MOSTLY_IMPUTED` of the patients: the network sees the
    training median in its place, and validation at another site would refuse such a share."""
    n = data.cohort.n_patients
    lines = []
    for name in inputs:
        k = int(data.cohort.missing.get(name, 0))
        if n and k / n > MOSTLY_IMPUTED:
            lines.append(f"input {name!r} is missing for {100 * k / n:.0f} % of the patients ({k} of {n}): the "
                         "network sees the training median in its place for them, so it may learn who was "
                         "measured as much as what was measured; in the rule a missing value meets no "
                         f"condition — and `scintiml validate` refuses an input missing for more than "
                         f"{100 * MOSTLY_IMPUTED:.0f} % of a site's patients (--max-missing {MOSTLY_IMPUTED:g}), "
                         "so a site measured like this one could not be validated without raising it")
    # the candidates the selection left out were imputed too while it compared them: said in one line, since a
    # mostly imputed input that is not chosen was chosen against on median values, not on measurements
    others = [(c, int(data.cohort.missing.get(c, 0))) for c in data.cohort.inputs if c not in set(inputs)]
    others = [(c, k) for c, k in others if n and k / n > MOSTLY_IMPUTED]
    if others:
        lines.append(f"candidate input(s) missing for more than {100 * MOSTLY_IMPUTED:.0f} % of the patients: "
                     + ", ".join(f"{c!r} ({100 * k / n:.0f} %)" for c, k in others[:10])
                     + (" …" if len(others) > 10 else "")
                     + " — the selection compared them on training-median values in those patients; not in the "
                       "model, but a finding that they do not help rests on few measurements")
    return lines


def chance_verdict(results: dict[str, Any]) -> dict[str, Any]:
    """Is the study's AUC distinguishable from chance? Judged on the headline (nested cross-validation, selection
    included) when the study has one, else on the testing part: ``verdict`` is ``"not distinguishable from
    chance"`` when the 95 % interval reaches 0.5 — then the inputs kept and the rule are what the procedure
    returns on these patients, not findings.

    Examples
    --------
    >>> chance_verdict({"test": {"auc": 0.56, "auc_ci95": [0.41, 0.70]}})["verdict"]
    'not distinguishable from chance'
    >>> "wrong way round" in chance_verdict({"test": {"auc": 0.11, "auc_ci95": [0.03, 0.18]}})["message"]
    True
    >>> chance_verdict({"test": {"auc": 0.56, "auc_ci95": [0.41, 0.70]},
    ...                 "nested": {"auc": 0.71, "auc_ci95": [0.62, 0.80]}})["basis"]
    'nested cross-validation'
    """
    nested = results.get("nested") or {}
    ci_n = nested.get("auc_ci95")
    if ci_n and None not in ci_n and all(v == v for v in ci_n):  # a NaN interval: judge on the testing part
        basis, auc, ci = "nested cross-validation", nested["auc"], nested["auc_ci95"]
    else:
        basis, auc, ci = "testing part", results["test"]["auc"], results["test"].get("auc_ci95")
    if not ci or None in ci or any(v != v for v in ci):
        return {"verdict": "undetermined", "basis": basis, "auc": auc, "auc_ci95": ci,
                "message": "the AUC has no confidence interval here, so it cannot be told from chance"}
    if ci[0] > 0.5:
        return {"verdict": "above chance", "basis": basis, "auc": auc, "auc_ci95": list(ci),
                "message": f"the {basis} AUC {auc:.3f} (95 % CI {ci[0]:.3f}-{ci[1]:.3f}) is above chance"}
    below = ci[1] < 0.5
    message = (f"{NO_SIGNAL_MESSAGE}: the {basis} AUC {auc:.3f} (95 % CI {ci[0]:.3f}-{ci[1]:.3f}) "
               + (("lies wholly below 0.5, which resampling gives on pure noise" if basis != "testing part" else
                   # one held-out part has no such bias: a ranking reversed beyond chance is a finding of its own
                   "lies wholly below 0.5: the model ranks these testing patients the wrong way round — check "
                   "that the outcome is coded the same way throughout (which value is the event)") if below else
                  "does not exclude chance (0.5)")
               + "; the inputs kept and the rule are what the procedure returns on these patients, not findings")
    return {"verdict": NO_SIGNAL, "basis": basis, "auc": auc, "auc_ci95": list(ci),
            "message": message}
