"""Random-effects summary of per-site results (internal-external cross-validation).

DerSimonian & Laird (1986) between-site variance, pooled on the logit-AUC scale as Debray et al. (2015,
BMJ 351:h3914 — the "framework for developing, implementing and evaluating clinical prediction models in an
individual participant data meta-analysis") recommend, with Higgins' I² and the 95 % prediction interval of
Riley, Higgins & Deeks (2011, BMJ 342:d549): ``mu ± t_{k-2} sqrt(tau² + SE(mu)²)`` — the range in which a new
site's value is expected, which is what a department deciding on transport needs.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import stats
from scipy.special import expit, logit

from ..io import jsonable

__all__ = ["random_effects", "pool_auc"]


def random_effects(estimates: Sequence[float], standard_errors: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """DerSimonian-Laird random-effects pooling of estimates with known standard errors.

    Parameters
    ----------
    estimates, standard_errors : sequences of float
        One value per site (on the scale to pool: logit AUC, calibration slope ...).
    level : float

    Returns
    -------
    dict
        ``mean``, ``se``, ``ci95`` (normal), ``tau2``, ``q``, ``i2`` (share of the variation due to
        between-site heterogeneity, 0-1), ``prediction_interval95`` (t with k - 2 degrees of freedom; None for
        fewer than 3 sites), ``k``.

    Examples
    --------
    Two identical studies have no heterogeneity:

    >>> r = random_effects([0.5, 0.5], [0.1, 0.1])
    >>> r["tau2"], r["i2"], round(r["se"], 4)
    (0.0, 0.0, 0.0707)
    >>> random_effects([0.5, 0.6], [0.0, 0.1])
    Traceback (most recent call last):
    ...
    ValueError: random_effects needs finite estimates and standard errors above 0; leave out a site whose figure has no standard error (one with perfect separation, say) and say so
    """
    if not (isinstance(level, (int, float, np.number)) and 0 < float(level) < 1):  # 95 gave intervals of None
        raise ValueError(f"level must be a share strictly between 0 and 1 (0.95 for 95 %), got {level!r}")
    y = np.asarray(estimates, float)
    se = np.asarray(standard_errors, float)
    # a NaN estimate or a standard error of 0 (DeLong's for a separated site) silently gave a pooled mean of NaN
    if y.ndim != 1 or len(y) == 0 or se.shape != y.shape:
        raise ValueError(f"random_effects needs one estimate and one standard error per site, got {y.shape} and "
                         f"{se.shape}")
    if not (np.isfinite(y).all() and np.isfinite(se).all() and (se > 0).all()):
        raise ValueError("random_effects needs finite estimates and standard errors above 0; leave out a site "
                         "whose figure has no standard error (one with perfect separation, say) and say so")
    v = se ** 2
    k = len(y)
    w = 1 / v
    fixed = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - fixed) ** 2))
    c = float(np.sum(w) - np.sum(w ** 2) / np.sum(w))
    tau2 = max(0.0, (q - (k - 1)) / c) if k > 1 and c > 0 else 0.0
    w_star = 1 / (v + tau2)
    mu = float(np.sum(w_star * y) / np.sum(w_star))
    se = float(np.sqrt(1 / np.sum(w_star)))
    z = stats.norm.ppf(0.5 + level / 2)
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    pi = None
    if k >= 3:
        half = stats.t.ppf(0.5 + level / 2, df=k - 2) * np.sqrt(tau2 + se ** 2)
        pi = [mu - half, mu + half]
    return jsonable({"mean": mu, "se": se, "ci95": [mu - z * se, mu + z * se], "tau2": tau2, "q": q, "i2": i2,
                     "prediction_interval95": pi, "k": k, "method": "DerSimonian-Laird"})


def pool_auc(aucs: Sequence[float], standard_errors: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Random-effects summary AUC: pooled on the logit scale (delta-method SEs), reported back as AUCs.

    ``SE(logit AUC) = SE(AUC) / (AUC (1 - AUC))``.

    Examples
    --------
    >>> r = pool_auc([0.80, 0.80, 0.80], [0.03, 0.03, 0.03])
    >>> round(r["auc"], 3), r["i2"]
    (0.8, 0.0)
    """
    auc = np.asarray(aucs, float)
    if ((auc <= 0) | (auc >= 1)).any():  # its logit-scale SE is infinite: the site would be weighted 0, unsaid
        raise ValueError("an AUC of exactly 0 or 1 has no standard error on the logit scale and cannot be pooled; "
                         "leave that site out and say so")
    se = np.asarray(standard_errors, float) / (auc * (1 - auc))
    pooled = random_effects(logit(auc), se, level)
    back = lambda pair: None if pair is None else [float(expit(pair[0])), float(expit(pair[1]))]  # noqa: E731
    return jsonable({**pooled, "auc": float(expit(pooled["mean"])), "auc_ci95": back(pooled["ci95"]),
                     "auc_prediction_interval95": back(pooled["prediction_interval95"]), "scale": "logit AUC"})
