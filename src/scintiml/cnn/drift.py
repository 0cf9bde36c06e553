"""Protocol-drift check: the same model on studies acquired (simulated) under other protocols."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..datasets.perfusion import simulate_perfusion_scans
from ..evaluate import auc_ci, wilson_interval
from .train import CNNModel

#: Named acquisition changes, as keyword arguments of :func:`simulate_perfusion_scans`.
DRIFT_PROTOCOLS = {
    "reference protocol": {},
    "half counts": {"counts_per_view": 250_000},
    "general-purpose collimator": {"collimator_fwhm_mm": 9.0, "collimator_slope": 0.06},
    "half counts + general-purpose collimator": {"counts_per_view": 250_000, "collimator_fwhm_mm": 9.0,
                                                 "collimator_slope": 0.06},
    "more scatter (wide window)": {"scatter_fraction": 0.4},
}


def drift_check(model: CNNModel, n_cases: int = 200, random_state: int = 12345,
                protocols: dict[str, dict] | None = None) -> pd.DataFrame:
    """AUC (DeLong 95 % CI) and sensitivity/specificity at the model's fixed threshold, per protocol.

    Every protocol simulates the same patients (same seed: same anatomy and defects), so the rows
    differ only by the acquisition.
    """
    rows = []
    for name, kwargs in (protocols or DRIFT_PROTOCOLS).items():
        cases = simulate_perfusion_scans(n_cases, prevalence=0.4, random_state=random_state,
                                         views=tuple(model.views), **kwargs)
        X = np.stack([c.stack(model.views) for c in cases])
        y = np.array([c.label for c in cases])
        p = model.predict_proba(X)
        called = p >= model.threshold
        tp, pos = int((called & (y == 1)).sum()), int(y.sum())
        tn, neg = int((~called & (y == 0)).sum()), int((y == 0).sum())
        res = auc_ci(y, p)
        rows.append({
            "protocol": name, "n": n_cases, "auc": res.auc, "auc_ci_low": res.ci[0], "auc_ci_high": res.ci[1],
            "sensitivity": tp / pos, "sensitivity_ci95": wilson_interval(tp, pos),
            "specificity": tn / neg, "specificity_ci95": wilson_interval(tn, neg),
        })
    return pd.DataFrame(rows)
