"""Recalibration: a new bundle version whose probabilities fit a new site, the original left untouched.

Two updating methods (Steyerberg 2019, *Clinical Prediction Models*, ch. 20; Janssen et al. 2008):

* ``intercept`` — calibration-in-the-large: ``logit p' = a + logit p`` (fixes risks that are too high or too
  low on average);
* ``logistic`` — logistic recalibration: ``logit p' = a' + b logit p`` (also fixes predictions that are too
  extreme or too modest).

Both keep the ranking, so the AUC does not change. The network's output neuron is logistic, ``p = σ(W h + c)``,
so the update is folded into that neuron — ``W ← b W``, ``c ← b c + a'`` — and the new bundle is an ordinary
``tabular-ann`` bundle that every scintiml command reads. The threshold is mapped the same way, so each patient
is classified as before (the operating point, chosen at development, is a ranking cut; recalibration moves the
probabilities, not the ranking). The card records the recalibration data, date, size and calibration before and
after on those patients.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from ..bundle import card_markdown, load_bundle, write_bundle
from ..io.atomic import BUNDLE_OUTPUT
from ..bundle.tabular import KIND, WEIGHTS, spec_digest
from ..errors import ScintimlError
from ..io import check_output_path, jsonable
from .metrics import calibration_fit, external_performance, slope_text
from .missing import MAX_MISSING_SHARE, prepare_inputs
from .validate import bundle_medians, check_site_target, site_outcome, site_table

__all__ = ["recalibrate_bundle", "RECALIBRATION_METHODS"]

RECALIBRATION_METHODS = ("intercept", "logistic")


def recalibrate_bundle(
    model: str | Path,
    frame: pd.DataFrame,
    target: str,
    out: str | Path,
    method: str = "logistic",
    data_name: str | None = None,
    max_missing_share: float = MAX_MISSING_SHARE,
    overwrite: bool = False,
    random_state=0,
) -> dict[str, Any]:
    """Recalibrate a tabular bundle on a site's patients and write it as a new bundle at ``out``.

    Parameters
    ----------
    model : path
        The bundle to recalibrate (read, never written).
    frame : DataFrame
        The site's patients, with the outcome.
    target : str
        Outcome column (coded with the bundle's event value).
    out : path
        The new bundle folder (must differ from ``model``).
    method : {"intercept", "logistic"}
    data_name : str, optional
        How the card names the recalibration data (e.g. the file name).
    max_missing_share : float
        Missing-input rule, as in validation (:mod:`.missing`).
    overwrite : bool
        Replace an existing ``out``.
    random_state : int, RandomState or None

    Returns
    -------
    dict
        ``method``, ``a``, ``b``, ``n``, ``n_events``, ``before`` and ``after`` (AUC, calibration and Brier on the
        recalibration patients), ``threshold_before`` / ``threshold_after``, ``out``.

    Raises
    ------
    ScintimlError
        Unknown method, ``out`` equal to ``model``, a slope ≤ 0 (the model ranks backwards here: retrain), and the
        missing-input and outcome errors of validation.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from scintiml.bundle import save_bundle
    >>> from scintiml.datasets import heart_disease_frame, load_heart_disease
    >>> from scintiml.study import run_study
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> cohort = load_heart_disease("cleveland").subset(["age", "sex", "cp", "thalach"])
    >>> model = save_bundle(run_study(cohort, inputs="all", readiness=False), folder / "model")
    >>> record = recalibrate_bundle(model, heart_disease_frame("va"), "disease", folder / "model-va",
    ...                             method="intercept")
    >>> record["a"] > 0, abs(record["after"]["calibration"]["intercept"]) < 1e-6  # VA's risks were too low
    (True, True)
    """
    if method not in RECALIBRATION_METHODS:
        raise ScintimlError(f"method must be one of {', '.join(RECALIBRATION_METHODS)}, got {method!r}")
    if Path(out).resolve() == Path(model).resolve() or Path(model).resolve() in Path(out).resolve().parents:
        raise ScintimlError("the recalibrated bundle must go to a new folder outside the original bundle: the "
                            "original is never modified")
    # before any work: never inside the original, never in place of a study or a validation
    check_output_path(out, overwrite=overwrite, inputs=(model,), output=BUNDLE_OUTPUT)
    from ..cohort import column_name

    target = column_name(target)  # as the header is read: trimmed, NFC
    bundle = load_bundle(model)
    frame = site_table(frame)  # the header as a file's is read; a repeated column refused by name
    frame = bundle.read_as_trained(frame)  # the training table's codes for "not measured", read as missing
    check_site_target(bundle, frame, target)
    y = site_outcome(frame, target, bundle.spec.get("positive", 1), bundle.spec.get("outcome_values"))
    if min(y.sum(), len(y) - y.sum()) < 5:
        raise ScintimlError(f"{int(y.sum())} event(s) and {int(len(y) - y.sum())} non-event(s): recalibration needs "
                            "at least 5 of each")
    X, imputed, share = prepare_inputs(frame, bundle.inputs, bundle_medians(bundle), max_missing_share,
                                       categories=bundle.categories)
    from ..bundle.predict import scale_mismatches

    mismatched = scale_mismatches(bundle, frame, with_factor=True)
    if mismatched:
        # EF as a fraction saturated the network (every risk 0.892) and a slope of 189 was fitted to its rounding
        # and written as a new bundle without a word: two numbers cannot put an input back into its unit. Only
        # where a unit factor fits: a site of sicker patients in the same unit has no column to convert
        raise ScintimlError("; ".join(mismatched) + " — a recalibration fitted to these values would fit the model "
                            "to another unit; convert the column as the training table had it, then recalibrate")
    p = bundle.probabilities(X)
    fit = calibration_fit(y, p)
    if fit.separated and method != "intercept":
        raise ScintimlError("the model's probabilities separate these patients' outcomes perfectly: a calibration "
                            "slope cannot be estimated from them (it runs off without bound) — recalibrate on more "
                            "patients, or shift only the average risk with --method intercept")
    a, b = (fit.intercept, 1.0) if method == "intercept" else (fit.slope_intercept, fit.slope)
    if b <= 0:
        raise ScintimlError(f"the calibration slope here is {b:.2f} (≤ 0): the model ranks these patients backwards; "
                            "recalibration cannot repair that — retrain")
    coefs = [np.array(w, float) for w in bundle.model.coefs_]
    intercepts = [np.array(c, float) for c in bundle.model.intercepts_]
    coefs[-1] = coefs[-1] * b
    intercepts[-1] = intercepts[-1] * b + a
    # The new network computes b·z + a inside its last layer, so a patient exactly at the old threshold (the
    # threshold is one of the selection patients' scores, and coarse inputs make ties common) can land one
    # rounding step below the mapped threshold and change class. A relative 1e-12 below keeps "at the threshold"
    # on the same side; scores that close carry no information anyway.
    threshold = float(expit(a + b * logit(bundle.threshold))) * (1 - 1e-12)
    p_new = expit(a + b * logit(np.clip(p, 1e-12, 1 - 1e-12)))
    before = external_performance(y, p, bundle.threshold, random_state=random_state)
    after = external_performance(y, p_new, threshold, random_state=random_state)
    keep = ("auc", "auc_ci95", "calibration", "brier", "brier_ci95", "observed_rate", "mean_predicted")
    record = jsonable({
        "method": method, "a": a, "b": b, "formula": f"logit p' = {a:+.4f} + {b:.4f} · logit p",
        "data": data_name or "unnamed table", "date": _dt.date.today().isoformat(),
        "n": len(y), "n_events": int(y.sum()), "n_imputed_patients": int((imputed != "").sum()),
        "missing_share": share,
        "before": {k: before[k] for k in keep}, "after": {k: after[k] for k in keep},
        "threshold_before": bundle.threshold, "threshold_after": threshold,
        "parent_spec_sha256": bundle.spec.get("spec_sha256"),
        "note": "calibration after is measured on the same patients it was fitted on: judge it on other patients",
    })
    spec = dict(bundle.spec)
    spec["threshold"] = threshold
    spec["recalibrations"] = list(spec.get("recalibrations", [])) + [record]
    spec.pop("spec_sha256", None)
    spec["spec_sha256"] = spec_digest(spec)
    card = dict(bundle.card)
    card["recalibrations"] = list(card.get("recalibrations", [])) + [record]
    if isinstance(card.get("metrics"), dict):
        card["metrics"] = {**card["metrics"], "threshold": threshold}
    markdown = card_markdown(card) + _recalibration_markdown(card["recalibrations"])
    arrays = {}
    for i, (w, c) in enumerate(zip(coefs, intercepts)):
        arrays[f"coef_{i}"], arrays[f"intercept_{i}"] = w, c
    write_bundle(out, KIND, spec, {WEIGHTS: lambda path: np.savez(path, **arrays)}, card=card,
                 card_markdown=markdown, overwrite=overwrite)
    return {**record, "out": str(out)}


def _recalibration_markdown(records: list[dict[str, Any]]) -> str:
    lines = ["", "## Recalibration"]
    for r in records:
        cb, ca = r["before"]["calibration"], r["after"]["calibration"]
        lines += [
            f"- {r['date']}: {r['method']} recalibration on {r['data']} ({r['n']} patients, {r['n_events']} events): "
            f"{r['formula']}; threshold {r['threshold_before']:.3f} → {r['threshold_after']:.3f} (same patients "
            "classified as before)",
            f"  - before: calibration-in-the-large {cb['intercept']:+.2f}, slope {slope_text(cb)}, Brier "
            f"{r['before']['brier']:.3f}; after (same patients): {ca['intercept']:+.2f}, {slope_text(ca)}, "
            f"{r['after']['brier']:.3f}",
        ]
    lines.append("- the figures after recalibration are measured on the patients it was fitted on; validate the "
                 "new version on other patients of the site")
    return "\n".join(lines) + "\n"
