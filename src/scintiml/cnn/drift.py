"""Protocol drift: the same model on the same (simulated) patients acquired under other protocols.

For each protocol the table gives the AUC with its DeLong CI, calibration-in-the-large and slope, sensitivity and
specificity at the bundle's fixed threshold with Wilson CIs, and DeLong's paired test of the AUC against the
reference protocol (the same patients, so the AUCs are correlated). A row whose sensitivity falls below the
threshold's promise is flagged. Every value is a plain number (CSV-ready); CIs are two columns each.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from ..datasets.perfusion import simulate_perfusion_scans
from ..evaluate import auc_ci, calibration_intercept_slope, delong_test, wilson_interval
from .train import CNNModel

#: Named acquisition changes, as keyword arguments of :func:`simulate_perfusion_scans`; the first is the reference.
DRIFT_PROTOCOLS: dict[str, dict[str, Any]] = {
    "reference protocol": {},
    "half counts": {"counts_per_view": 250_000},
    "general-purpose collimator": {"collimator_fwhm_mm": 9.0, "collimator_slope": 0.06},
    "half counts + general-purpose collimator": {"counts_per_view": 250_000, "collimator_fwhm_mm": 9.0,
                                                 "collimator_slope": 0.06},
    "more scatter (wide window)": {"scatter_fraction": 0.4},
}


def drift_table(model: CNNModel, n_cases: int = 200, random_state: int = 12345,
                protocols: dict[str, dict[str, Any]] | None = None, target_sensitivity: float = 0.95,
                progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Score ``model`` on ``n_cases`` simulated patients under each protocol (the first is the reference).

    Columns: ``protocol, n, positives, auc, auc_ci_low, auc_ci_high, calibration_in_the_large,
    calibration_slope, sensitivity, sensitivity_ci_low, sensitivity_ci_high, specificity, specificity_ci_low,
    specificity_ci_high, urgent_fraction, auc_difference_vs_reference, delong_p_vs_reference, breaks_promise,
    specificity_drop``.

    ``breaks_promise`` is True where the sensitivity at the fixed threshold is below ``target_sensitivity``;
    ``specificity_drop`` where the reference protocol's specificity lies above this protocol's 95 % CI (the
    promise is kept, but more of the worklist is flagged URGENT).

    Examples
    --------
    >>> from scintiml.cnn import train_cnn
    >>> cases = simulate_perfusion_scans(20, prevalence=0.5, random_state=0)
    >>> X = np.stack([c.stack() for c in cases]); y = np.array([c.label for c in cases])
    >>> model = train_cnn(X, y, ["ANT", "POST", "RAO", "LAO", "RPO", "LPO"], width=4, epochs=1, max_steps=1)
    >>> table = drift_table(model, n_cases=10, protocols={"ref": {}, "half": {"counts_per_view": 250_000}})
    >>> list(table["protocol"]), float(table.loc[0, "delong_p_vs_reference"])
    (['ref', 'half'], 1.0)
    """
    protocols = protocols or DRIFT_PROTOCOLS
    rows, reference, reference_spec = [], None, None
    for k, (name, kwargs) in enumerate(protocols.items()):
        cases = simulate_perfusion_scans(n_cases, prevalence=0.4, random_state=random_state,
                                         views=tuple(model.views), **kwargs)
        y = np.array([c.label for c in cases])
        p = model.predict_proba(np.stack([c.stack(model.views) for c in cases]))
        if reference is None:
            reference = p
        called = p >= model.threshold
        tp, pos = int((called & (y == 1)).sum()), int(y.sum())
        tn, neg = int((~called & (y == 0)).sum()), int((y == 0).sum())
        auc = auc_ci(y, p)
        intercept, slope = calibration_intercept_slope(y, p)
        paired = delong_test(y, p, reference) if k else None
        sens, spec = tp / pos if pos else float("nan"), tn / neg if neg else float("nan")
        rows.append({
            "protocol": name, "n": n_cases, "positives": pos, "auc": auc.auc, "auc_ci_low": auc.ci[0],
            "auc_ci_high": auc.ci[1], "calibration_in_the_large": intercept, "calibration_slope": slope,
            "sensitivity": sens, "sensitivity_ci_low": wilson_interval(tp, pos)[0],
            "sensitivity_ci_high": wilson_interval(tp, pos)[1], "specificity": spec,
            "specificity_ci_low": wilson_interval(tn, neg)[0], "specificity_ci_high": wilson_interval(tn, neg)[1],
            "urgent_fraction": float(called.mean()),
            "auc_difference_vs_reference": paired.difference if paired else 0.0,
            "delong_p_vs_reference": paired.p_value if paired else 1.0,
            "breaks_promise": bool(sens < target_sensitivity),
            "specificity_drop": bool(reference_spec is not None and reference_spec > wilson_interval(tn, neg)[1]),
        })
        if reference_spec is None:
            reference_spec = spec
        if progress is not None:
            progress(k + 1, len(protocols))
    table = pd.DataFrame(rows)
    numeric = [c for c in table.columns if c not in ("protocol", "n", "positives", "breaks_promise",
                                                     "specificity_drop")]
    table[numeric] = table[numeric].astype(float)
    return table
