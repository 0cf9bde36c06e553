"""Calibration, cumulative gain / lift, and decision curves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, logit

from .binary_tests import wilson_interval
from .roc import check_binary_scores


def _check_outcome_scores(y: ArrayLike, p: ArrayLike, name: str = "p", both_classes: str | None = None,
                          probabilities: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate a 0/1 outcome and finite scores of the same length, as
    :func:`~scintiml.evaluate.roc.check_binary_scores` does, where one outcome class may be allowed.

    Parameters
    ----------
    y : array-like of 0/1
        Outcomes (1 = event).
    p : array-like of float
        One score (or probability) per patient.
    name : str
        What ``p`` is called in the messages.
    both_classes : str or None
        What needs both events and non-events (``"a calibration slope"``), named in the error where ``y`` holds
        one class only; None where one class is fine.
    probabilities : bool
        Refuse values of ``p`` outside [0, 1].

    Returns
    -------
    (y, p) : tuple of ndarray
        ``y`` as int 0/1, ``p`` as float.

    Raises
    ------
    ValueError
        Shapes or lengths that differ, an empty outcome, labels other than 0/1, NaN or infinite scores, one class
        where ``both_classes`` is given, or (with ``probabilities``) a score outside [0, 1].

    Examples
    --------
    >>> _check_outcome_scores([1, 1], [0.2, 0.9])
    (array([1, 1]), array([0.2, 0.9]))
    >>> _check_outcome_scores([1, 2], [0.2, 0.9])
    Traceback (most recent call last):
    ...
    ValueError: y_true must be 0/1 (1 = event), got values [1, 2]
    """
    try:
        s = np.asarray(p, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold one number per patient, but it could not be read as numbers ({exc})"
                         ) from None
    y_arr = np.asarray(y)
    if y_arr.ndim == 1 and s.ndim == 1 and len(y_arr) == 0 and len(s) == 0:
        raise ValueError(f"y and {name} are empty; pass one outcome (0/1) and one {name} per patient")
    single = y_arr.ndim == 1 and len(y_arr) > 0 and len(np.unique(y_arr)) == 1 and np.unique(y_arr)[0] in (0, 1)
    probe = y_arr
    if single:
        # check_binary_scores refuses one class (an ROC needs both) after every other check; with one label flipped
        # the outcome passes or fails those other checks exactly as y does, and one class is judged here instead
        probe = np.asarray(y_arr, dtype=int).copy()
        probe[0] = 1 - probe[0]
    _, s = check_binary_scores(probe, s, name)
    y_arr = y_arr.astype(int)
    if np.isinf(s).any():
        raise ValueError(f"{name} holds {int(np.isinf(s).sum())} infinite value(s); every patient needs a finite "
                         f"{name}")
    if single and both_classes is not None:
        raise ValueError(f"y holds only one class ({'events' if y_arr[0] == 1 else 'non-events'}); {both_classes} "
                         "needs both events and non-events")
    if probabilities and ((s < 0) | (s > 1)).any():
        raise ValueError(f"{name} holds {int(((s < 0) | (s > 1)).sum())} value(s) outside [0, 1] (from {s.min():.3g} "
                         f"to {s.max():.3g}); pass probabilities, not raw scores")
    return y_arr, s


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared difference between probability and outcome (Brier 1950).

    Defined for one outcome class too (the mean of ``p**2`` where no patient has the event). ``p`` is not checked
    to lie in [0, 1] (:func:`scintiml.evaluate.evaluate_binary` reports it for raw scores too), but only
    probabilities give a Brier score.

    Raises
    ------
    ValueError
        Labels other than 0/1, lengths that differ, NaN or infinite ``p``, or empty input.

    Examples
    --------
    >>> brier_score([0, 1, 1], [0.2, 0.6, 0.9])
    0.07
    """
    y, p = _check_outcome_scores(y, p)
    return float(np.mean((p - y) ** 2))


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

    Raises
    ------
    ValueError
        Labels other than 0/1, one outcome class only (neither figure has an estimate: the intercept runs off to
        infinity), lengths that differ, empty input, or ``p`` NaN, infinite or outside [0, 1].

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
    y, p = _check_outcome_scores(y, p, both_classes="a calibration intercept and slope", probabilities=True)
    y = y.astype(float)
    lp = logit(np.clip(p, EPS, 1 - EPS))
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
    """Observed event rate against mean predicted probability in quantile bins (Wilson CIs).

    One outcome class is allowed (every bin then observes a rate of 0, or of 1, with its interval).

    Raises
    ------
    ValueError
        Labels other than 0/1, lengths that differ, empty input, ``p`` NaN, infinite or outside [0, 1], or
        ``n_bins`` not a whole number of at least 1.

    Examples
    --------
    >>> [(b.n, b.observed) for b in reliability_table([0, 0, 1, 0, 1, 1], [0.1, 0.2, 0.3, 0.6, 0.7, 0.9], n_bins=2)]
    [(3, 0.3333333333333333), (3, 0.6666666666666666)]
    """
    if isinstance(n_bins, (bool, np.bool_)) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a whole number of at least 1, got {n_bins!r}")
    y, p = _check_outcome_scores(y, p, probabilities=True)
    n_bins = max(1, min(n_bins, len(np.unique(p))))
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    which = (np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2) if len(edges) > 1
             else np.zeros(len(p), int))
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
    Needs at least one event (the share of no events found is undefined); all events is allowed (gain = f).

    Raises
    ------
    ValueError
        Labels other than 0/1, no event, lengths that differ, empty input, or NaN or infinite scores.

    Examples
    --------
    >>> cumulative_gain([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3])["gain"]
    [0.0, 0.5, 0.5, 1.0, 1.0]
    """
    y, score = _check_outcome_scores(y, score, "score")
    if y.sum() == 0:
        raise ValueError("y holds no event; a cumulative gain (the share of events found) needs at least one event")
    order = np.argsort(-score, kind="stable")
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
    Defined for one outcome class too (no event: every call is a false positive). ``thresholds`` (default 0.01 to
    0.99 by 0.01) must lie strictly between 0 and 1.

    Raises
    ------
    ValueError
        Labels other than 0/1, lengths that differ, empty input, NaN or infinite ``p``, or a threshold outside
        (0, 1).

    Examples
    --------
    >>> decision_curve([0, 1, 1, 0], [0.2, 0.7, 0.9, 0.6], thresholds=[0.5])["model"]
    [0.25]
    """
    y, p = _check_outcome_scores(y, p)
    if thresholds is None:
        thresholds = np.round(np.arange(0.01, 0.991, 0.01), 2)
    try:
        thresholds = np.asarray(thresholds, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"thresholds must be numbers between 0 and 1, got {thresholds!r}") from None
    if thresholds.ndim != 1 or thresholds.size == 0 or not np.all((thresholds > 0) & (thresholds < 1)):
        raise ValueError(f"thresholds must be a list of probabilities strictly between 0 and 1, got {thresholds}")
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
