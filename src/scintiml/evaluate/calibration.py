"""Calibration, cumulative gain / lift, and decision curves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from .binary_tests import wilson_interval


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared difference between probability and outcome (Brier 1950)."""
    return float(np.mean((np.asarray(p, float) - np.asarray(y, float)) ** 2))


#: Predictions are clipped to [EPS, 1 - EPS] before the logit, so a model's 0 or 1 stays finite. One constant for
#: the study's calibration and the external validation's: with a probability of exactly 0 or 1 the slope depends on
#: the clip (a float32 sigmoid gives exactly 1.0 from a logit of about 17), and two clips gave two slopes (0.52 and
#: 0.72) for the same predictions.
EPS = 1e-8


def newton_logistic(y: np.ndarray, design: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regression with an offset by damped Newton-Raphson; returns (beta, covariance =
    inverse information).

    A 1–2 parameter model: small enough that writing it avoids a statsmodels dependency in the core.
    """
    def loglik(b: np.ndarray) -> float:
        eta = design @ b + offset
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))  # stable where expit saturates

    beta = np.zeros(design.shape[1])
    current = loglik(beta)
    for _ in range(100):
        mu = expit(design @ beta + offset)
        hess = design.T @ (design * (mu * (1 - mu))[:, None])
        step = np.linalg.lstsq(hess, design.T @ (y - mu), rcond=None)[0]
        # a full Newton step can overshoot where the offsets saturate the logistic (most p near 1 at a site
        # with 36 % events sent the intercept to +1.7e7, and once to 3e6): halve it until the likelihood does not
        # fall
        for _ in range(60):
            candidate = loglik(beta + step)
            if candidate >= current - 1e-12:
                break
            step = step / 2
        beta, current = beta + step, max(current, candidate)
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = expit(design @ beta + offset)
    info = design.T @ (design * (mu * (1 - mu))[:, None])
    return beta, np.linalg.pinv(info)


def separated(y: np.ndarray, lp: np.ndarray) -> bool:
    """Whether every event's score is at or above every non-event's (or at or below; constant scores included):
    then the calibration slope has no maximum-likelihood estimate (it runs off to infinity as Newton iterates, or
    is not identified at all), so a value for it would be no estimate."""
    y = np.asarray(y, float)
    return bool(0 < y.sum() < len(y) and (lp[y == 1].min() >= lp[y == 0].max() or
                                          lp[y == 1].max() <= lp[y == 0].min()))


def calibration_intercept_slope(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Calibration-in-the-large and calibration slope (Cox 1958; Steyerberg 2019).

    * slope: ``b`` in ``logit P(y=1) = a + b · logit(p)`` (1 = ideal; < 1 = overfit, extremes too extreme);
    * intercept: ``a`` in ``logit P(y=1) = a + logit(p)`` (slope fixed at 1; 0 = ideal;
      > 0 = probabilities too low on average).

    The slope is NaN where it has no estimate (:func:`separated`: the probabilities separate the outcomes, or are
    all equal). :func:`scintiml.external.calibration_fit` gives the same two figures with their intervals.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> lp = rng.normal(0, 2, 20000)
    >>> y = rng.binomial(1, 1 / (1 + np.exp(-0.5 * lp)))
    >>> [round(v, 2) for v in calibration_intercept_slope(y, 1 / (1 + np.exp(-lp)))]
    [0.01, 0.5]
    >>> calibration_intercept_slope([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])[1]
    nan
    """
    y = np.asarray(y, float)
    lp = logit(np.clip(np.asarray(p, float), EPS, 1 - EPS))
    intercept = newton_logistic(y, np.ones((len(y), 1)), lp)[0][0]
    if separated(y, lp):
        return float(intercept), float("nan")
    slope = newton_logistic(y, np.column_stack([np.ones(len(y)), lp]), np.zeros(len(y)))[0][1]
    return float(intercept), float(slope)


@dataclass
class ReliabilityBin:
    lower: float
    upper: float
    n: int
    mean_predicted: float
    observed: float
    observed_ci: tuple[float, float]

    def to_dict(self) -> dict:
        return {"lower": self.lower, "upper": self.upper, "n": self.n, "mean_predicted": self.mean_predicted,
                "observed": self.observed, "observed_ci95": list(self.observed_ci)}


def reliability_table(y: np.ndarray, p: np.ndarray, n_bins: int = 5) -> list[ReliabilityBin]:
    """Observed event rate against mean predicted probability in quantile bins (Wilson CIs)."""
    y = np.asarray(y, int)
    p = np.asarray(p, float)
    n_bins = max(1, min(n_bins, len(np.unique(p))))
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2) if len(edges) > 1 else np.zeros(len(p), int)
    out = []
    for b in range(max(1, len(edges) - 1)):
        members = which == b
        n = int(members.sum())
        if n == 0:
            continue
        k = int(y[members].sum())
        out.append(ReliabilityBin(float(p[members].min()), float(p[members].max()), n, float(p[members].mean()),
                                  k / n, wilson_interval(k, n)))
    return out


def cumulative_gain(y: np.ndarray, score: np.ndarray) -> dict[str, list[float]]:
    """Cumulative gain and lift: patients sorted by decreasing score.

    ``gain(f)`` = fraction of all events found in the top fraction ``f`` of patients;
    ``lift(f) = gain(f) / f`` (1 = no better than random order).
    """
    y = np.asarray(y, int)
    order = np.argsort(-np.asarray(score, float), kind="stable")
    found = np.cumsum(y[order]) / y.sum()
    fraction = np.arange(1, len(y) + 1) / len(y)
    return {
        "fraction": [0.0] + fraction.tolist(),
        "gain": [0.0] + found.tolist(),
        "lift": [float("nan")] + (found / fraction).tolist(),
    }


def decision_curve(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray | None = None) -> dict[str, list[float]]:
    """Net benefit over threshold probabilities (Vickers & Elkin 2006).

    ``NB(pt) = TP/n − FP/n · pt/(1 − pt)``, with the *treat all*
    (``prevalence − (1 − prevalence) · pt/(1 − pt)``) and *treat none* (0) references.
    """
    y = np.asarray(y, int)
    p = np.asarray(p, float)
    if thresholds is None:
        thresholds = np.round(np.arange(0.01, 0.991, 0.01), 2)
    n = len(y)
    prevalence = y.mean()
    odds = thresholds / (1 - thresholds)
    called = p[None, :] >= thresholds[:, None]
    tp = (called & (y[None, :] == 1)).sum(axis=1)
    fp = (called & (y[None, :] == 0)).sum(axis=1)
    model = tp / n - fp / n * odds
    treat_all = prevalence - (1 - prevalence) * odds
    return {"threshold": thresholds.tolist(), "model": model.tolist(), "treat_all": treat_all.tolist(),
            "treat_none": [0.0] * len(thresholds)}
