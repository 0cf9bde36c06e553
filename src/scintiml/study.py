"""The whole tabular study: cohort → split → explore → select → fit → evaluate → explain → readiness.

:func:`run_study` is a plain function returning a :class:`StudyResult`: a
JSON-able ``results`` dict (documented in ``docs/results.md``) plus the fitted
objects needed to write a model bundle. Reports and bundles are written from
it; they never recompute, and the study never draws.
"""

from __future__ import annotations

import itertools
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._version import __version__
from .ann import ANNClassifier
from .cohort import Cohort, impute_median
from .errors import ScintimlError, SplitError
from .evaluate import auc_ci, delong_test, evaluate_binary, youden_threshold
from .explain import extract_rule, permutation_importance_grouped
from .explore import correlation_matrix, correlation_with_outcome, describe_inputs, redundancy_groups, univariate_tests
from .select import InputSelector, OrderSelector
from .split import Split, split_cohort

SCHEMA_VERSION = "1.0"
INPUT_METHODS = ("growing", "pruning", "genetic", "all")

#: Progress callback: ``progress(stage, advance_networks)``; ``advance_networks`` is 0 when a stage starts.
Progress = Callable[[str, int], None]


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


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, pd.DataFrame):
        return _jsonable(obj.to_dict(orient="records"))
    return obj


def _baselines(X_tr, y_tr, X_te, y_te, p_network, seed) -> dict[str, Any]:
    models = {
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        "random_forest": RandomForestClassifier(n_estimators=500, random_state=seed, n_jobs=1),
        "gradient_boosting": HistGradientBoostingClassifier(random_state=seed),
    }
    out = {}
    for name, model in models.items():
        p = model.fit(X_tr, y_tr).predict_proba(X_te)[:, 1]
        res = auc_ci(y_te, p)
        comparison = delong_test(y_te, p_network, p)
        out[name] = {
            "auc": res.auc, "auc_ci95": list(res.ci), "n_inputs": int(X_tr.shape[1]),
            "network_minus_baseline": comparison.difference, "difference_ci95": list(comparison.ci),
            "p_value": comparison.p_value,
        }
    return out


def run_study(
    cohort: Cohort,
    ratios: Sequence[float] = (0.6, 0.2, 0.2),
    inputs: str = "growing",
    max_inputs: int | None = None,
    seed: int = 0,
    protocol: dict[str, str] | None = None,
    readiness: bool = True,
    progress: Progress | None = None,
    split: Split | None = None,
) -> StudyResult:
    """Run the published ANN workflow on a cohort.

    Parameters
    ----------
    cohort : Cohort
    ratios : three floats
        Training / selection / testing fractions (default 60:20:20), stratified.
    inputs : {"growing", "pruning", "genetic", "all"}
        Input selection method (``all`` keeps every input).
    max_inputs : int, optional
    seed : int
        Seeds the split and every random start: same seed, same study.
    protocol : dict, optional
        Acquisition protocol (``KEY=VALUE`` pairs) recorded in the results and model card.
    readiness : bool
        Run the "is deep learning warranted?" analysis when the cohort has
        ``imaging`` and ``clinical`` groups.
    progress : callable, optional
        ``progress(stage, n_networks)`` for a progress display.
    split : Split, optional
        A predefined split (e.g. :func:`predefined_split` for SPECTF's UCI
        split) used instead of a random one; ``ratios`` is then ignored.

    Returns
    -------
    StudyResult
    """
    if inputs not in INPUT_METHODS:
        raise ScintimlError(f"inputs must be one of {', '.join(INPUT_METHODS)}, got {inputs!r}")
    notify = progress or (lambda stage, n: None)
    timings: dict[str, float] = {}
    study_warnings: list[str] = []
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now

    # --- split ---------------------------------------------------------------------------
    notify("split", 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if split is None:
            split = split_cohort(cohort, ratios, random_state=seed)
        else:
            ratios = [len(split.training), len(split.selection), len(split.testing)]
    study_warnings += [str(w.message) for w in caught]
    X_all, medians = impute_median(cohort.X, split.training)
    y = cohort.y
    tr, se, te = split.training, split.selection, split.testing
    if len(se) == 0 or len(te) == 0:
        raise SplitError("the selection and testing parts must not be empty; use e.g. --split 60:20:20")
    lap("split")

    # --- explore -------------------------------------------------------------------------
    notify("explore", 0)
    described = describe_inputs(cohort.X, y)
    univariate = univariate_tests(X_all, y)
    fit_rows = np.r_[tr, se]
    univariate_fit = univariate_tests(X_all.iloc[fit_rows], y[fit_rows])
    pearson = correlation_matrix(X_all)
    outcome_r = correlation_with_outcome(X_all, y)
    redundancy = redundancy_groups(X_all, y, threshold=0.9)
    lap("explore")

    # --- input selection -------------------------------------------------------------------
    X_tr, X_se, X_te = X_all.iloc[tr], X_all.iloc[se], X_all.iloc[te]
    y_tr, y_se, y_te = y[tr], y[se], y[te]
    notify("input selection", 0)
    if inputs == "all":
        selected = list(cohort.inputs)
        selection_info = {"method": "all", "n_candidates": 0, "n_networks": 0, "history": []}
    else:
        selector = InputSelector(method=inputs, max_inputs=max_inputs, random_state=seed)
        selector.fit(X_tr, y_tr, selection=(X_se, y_se), progress=lambda n: notify("input selection", n))
        selected = selector.selected_inputs_
        history = selector.history_.copy()
        selection_info = {
            "method": inputs, "n_candidates": selector.n_candidates_, "n_networks": selector.n_networks_,
            "best_selection_loss": selector.best_selection_loss_, "tolerance": selector.tolerance,
            "history": history.to_dict(orient="records"),
        }
    lap("input_selection")

    # --- order selection -------------------------------------------------------------------
    notify("order selection", 0)
    order = OrderSelector(max_neurons=8, max_layers=2, random_state=seed)
    order.fit(X_tr[selected], y_tr, selection=(X_se[selected], y_se), progress=lambda n: notify("order selection", n))
    hidden = order.hidden_layer_sizes_
    lap("order_selection")

    # --- final training -----------------------------------------------------------------
    notify("final training", 0)
    model = ANNClassifier(hidden_layer_sizes=hidden, n_restarts=5, random_state=seed)
    model.fit(X_tr[selected], y_tr, selection=(X_se[selected], y_se))
    p_se = model.predict_proba(X_se[selected])[:, 1]
    p_te = model.predict_proba(X_te[selected])[:, 1]
    threshold = youden_threshold(y_se, p_se)
    lap("final_training")

    # --- testing analysis ----------------------------------------------------------------
    notify("testing analysis", 0)
    evaluation = evaluate_binary(y_te, p_te, threshold=threshold, random_state=seed)
    baselines = _baselines(X_tr, y_tr, X_te, y_te, p_te, seed)
    lap("testing_analysis")

    # --- explain ---------------------------------------------------------------------------
    notify("explain", 0)
    importance = permutation_importance_grouped(model, X_se[selected], y_se, n_repeats=20, random_state=seed)
    ranked = list(importance["group"])
    best_single = univariate_fit.iloc[0]
    single_test = auc_ci(y_te, X_te[best_single["input"]].to_numpy() * (1 if best_single["direction"] == "higher" else -1))
    combination = _best_combination(ranked[:5], X_tr, y_tr, X_se, y_se, X_te, y_te, seed)
    rule_inputs = ranked[:3]
    rule = extract_rule(X_all.iloc[fit_rows], y[fit_rows], rule_inputs, max_conditions=min(2, len(rule_inputs)))
    rule.evaluate(X_te, y_te)
    partial = _partial_dependence(model, X_tr[selected])
    lap("explain")

    # --- readiness -------------------------------------------------------------------------
    readiness_result = None
    if readiness and {"imaging", "clinical"} <= set(cohort.groups):
        notify("readiness", 0)
        from .readiness import assess_readiness

        readiness_result = assess_readiness(cohort.subset(cohort.inputs), random_state=seed).to_dict()
        lap("readiness")

    for name, info in baselines.items():
        if info["auc"] - evaluation.auc.auc > 0.02:
            study_warnings.append(
                f"the {name.replace('_', ' ')} baseline (all {info['n_inputs']} inputs) has a higher testing AUC "
                f"({info['auc']:.3f}) than the network ({evaluation.auc.auc:.3f})"
            )
    study_warnings += evaluation.warnings
    training_ranges = {c: (float(X_tr[c].min()), float(X_tr[c].max())) for c in selected}
    n_events = cohort.n_events
    results = {
        "schema_version": SCHEMA_VERSION,
        "scintiml_version": __version__,
        "seed": seed,
        "dataset": {
            "name": cohort.name, "n_patients": cohort.n_patients, "n_inputs": cohort.n_inputs,
            "target": cohort.target, "positive": cohort.positive, "n_events": n_events,
            "groups": cohort.groups, "notes": cohort.notes, "missing": cohort.missing, "citation": cohort.citation,
            "imputation": {"method": "median of the training instances", "values": medians},
        },
        "protocol": dict(protocol or {}),
        "split": {**split.counts(), "ratios": [float(r) for r in np.asarray(ratios) / np.sum(ratios)],
                  "events": {k: v["events"] for k, v in split.counts(y).items()}},
        "explore": {
            "describe": described.reset_index(names="input").to_dict(orient="records"),
            "univariate": univariate.to_dict(orient="records"),
            "correlation": {"inputs": list(pearson.columns), "matrix": pearson.to_numpy().tolist()},
            "correlation_with_outcome": outcome_r.to_dict(),
            "redundancy_groups": redundancy,
        },
        "inputs": {"all": cohort.inputs, "selected": selected},
        "architecture": [len(selected), *hidden, 1],
        "network": {
            "hidden_layer_sizes": list(hidden), "activation": model.activation, "loss": model.loss,
            "regularization": model.regularization, "regularization_weight": model.regularization_weight,
            "training_error": model.training_error_, "selection_error": model.selection_error_,
            "n_iter": model.n_iter_, "expression": model.expression(),
        },
        "selection": selection_info,
        "order_selection": {"hidden_layer_sizes": list(hidden), "history": order.history_.to_dict(orient="records")},
        "test": {
            **evaluation.to_dict(),
            "threshold_rule": "Youden-optimal on the selection instances, applied unchanged to the testing instances",
        },
        "selection_auc": float(auc_ci(y_se, p_se).auc),
        "baselines": baselines,
        "importance": importance.to_dict(orient="records"),
        "best_single_predictor": {
            "input": best_single["input"], "direction": best_single["direction"],
            "auc_training_selection": float(best_single["auc_oriented"]),
            "test_auc": single_test.auc, "test_auc_ci95": list(single_test.ci),
        },
        "best_combination": combination,
        "rule": rule.to_dict(),
        "partial_dependence": partial,
        "readiness": readiness_result,
        "timings": timings,
        "warnings": study_warnings,
    }
    return StudyResult(
        results=_jsonable(results), model=model, cohort=cohort, split=split, selected_inputs=list(selected),
        medians=medians, training_ranges=training_ranges,
    )


def predefined_split(cohort: Cohort, selection_fraction: float = 0.25, random_state=0) -> Split:
    """A published training/testing split (``cohort.predefined_split``) with a selection part
    carved, stratified, out of its training part (the published splits have none)."""
    if not cohort.predefined_split:
        raise ValueError(f"cohort {cohort.name!r} has no predefined split")
    train = np.asarray(cohort.predefined_split["training"])
    inner = split_cohort(cohort.y[train], (1 - selection_fraction, selection_fraction, 0.0), random_state)
    return Split(np.sort(train[inner.training]), np.sort(train[inner.selection]),
                 np.asarray(cohort.predefined_split["testing"]))


def _best_combination(candidates, X_tr, y_tr, X_se, y_se, X_te, y_te, seed) -> dict[str, Any] | None:
    """Best pair of the most important inputs: small networks judged on the selection AUC."""
    if len(candidates) < 2:
        return None
    best = None
    for pair in itertools.combinations(candidates, 2):
        cols = list(pair)
        net = ANNClassifier(hidden_layer_sizes=(3,), random_state=seed).fit(X_tr[cols], y_tr)
        sel_auc = auc_ci(y_se, net.predict_proba(X_se[cols])[:, 1]).auc
        if best is None or sel_auc > best[0]:
            best = (sel_auc, cols, net)
    sel_auc, cols, net = best
    test = auc_ci(y_te, net.predict_proba(X_te[cols])[:, 1])
    return {"inputs": cols, "selection_auc": sel_auc, "test_auc": test.auc, "test_auc_ci95": list(test.ci)}


def _partial_dependence(model: ANNClassifier, X: pd.DataFrame, n_points: int = 25) -> dict[str, Any]:
    """Mean predicted probability over the training patients as one input sweeps its 5th-95th percentiles."""
    out = {}
    for col in X.columns:
        grid = np.linspace(*np.quantile(X[col], [0.05, 0.95]), n_points)
        values = []
        for g in grid:
            Xg = X.copy()
            Xg[col] = g
            values.append(float(model.predict_proba(Xg)[:, 1].mean()))
        out[col] = {"grid": grid.tolist(), "mean_probability": values}
    return out
