"""Temperature scaling and the worklist threshold whose sensitivity promise holds at its lower confidence bound."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit

from ..errors import ScintimlError
from ..evaluate import wilson_interval
from ..explore.describe import check_outcome


def _check_scored(values: np.ndarray, labels: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (logits or scores) as floats and ``labels`` as int 0/1, one per study, or a clear error.

    Without this, a NaN logit made every log loss NaN and the bounded search returned an arbitrary temperature
    (0.49) without a word, and labels coded 1/2 were fitted as if 1 were the event.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        raise ScintimlError(f"{what} must hold one number per study (1-D, not empty), got shape {values.shape}")
    if len(labels) != len(values):
        raise ScintimlError(f"{what} and labels differ in length ({len(values)} and {len(labels)}); pass one label "
                            "per study")
    missing = np.flatnonzero(np.isnan(values))
    if len(missing):
        raise ScintimlError(f"{what} holds {len(missing)} NaN value(s) (first at study {missing[0]}); every study "
                            "needs a score — check the network's outputs (a diverged training gives NaN)")
    return values, check_outcome(labels)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature ``T`` minimising the log loss of ``sigmoid(logit / T)`` (Guo et al., ICML 2017).

    One number, fitted on the selection studies: it rescales over- or under-confident logits without
    changing their order (the AUC is unchanged).

    Raises
    ------
    ScintimlError
        ``logits`` empty, NaN, or of another length than ``labels``.
    TargetClassesError
        ``labels`` not coded 0/1 (1 = event).

    Examples
    --------
    Logits three times too large are brought back to ``T ≈ 3``:

    >>> rng = np.random.default_rng(0)
    >>> true_logit = rng.normal(0, 2, 4000)
    >>> y = (rng.random(4000) < 1 / (1 + np.exp(-true_logit))).astype(int)
    >>> round(fit_temperature(3 * true_logit, y), 1)
    3.0

    Scores that separate the outcomes leave no temperature to fit; the bound is returned, with a warning:

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     t = fit_temperature(np.r_[-np.ones(20), np.ones(20)], np.r_[np.zeros(20), np.ones(20)])
    >>> round(t, 3), "separate the selection studies" in str(caught[0].message)
    (0.05, True)
    """
    z, y = _check_scored(logits, np.asarray(labels), "logits")
    y = y.astype(float)

    def loss(log_t: float) -> float:
        p = np.clip(expit(z / np.exp(log_t)), 1e-12, 1 - 1e-12)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    result = minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded", options={"xatol": 1e-4})
    if abs(abs(result.x) - 3.0) < 1e-2:
        # the log loss falls all the way to the bound: with separated selection scores the best temperature is 0
        # (every probability 0 or 1), and the bound's T is no estimate of the calibration new studies will need
        warnings.warn(f"the temperature reached its search bound ({np.exp(result.x):.3g}): "
                      + ("the network's scores separate the selection studies perfectly, so their calibration "
                         "cannot be fitted and the probabilities are extreme" if result.x < 0 else
                         "the network's scores carry almost no information on the selection studies")
                      + " — train on more selection studies", UserWarning, stacklevel=2)
    return float(np.exp(result.x))


def threshold_for_sensitivity_bound(labels: np.ndarray, scores: np.ndarray, target: float = 0.95,
                                    level: float = 0.95) -> tuple[float, dict[str, Any]]:
    """The highest threshold whose sensitivity's **one-sided lower** Wilson bound (``level``) is still ≥ ``target``.

    Reaching 95 % sensitivity on the selection studies promises little: on new studies about half the time it
    falls below. Requiring the lower confidence bound to reach the target leaves room for that chance. The
    promise is one-sided ("at least 95 %"), so the bound is the one-sided ``level`` lower confidence bound —
    the lower end of the two-sided ``2·level − 1`` Wilson interval (``level = 0.95``: the lower end of the 90 %
    interval). The lower end of the two-sided 95 % interval, used up to scintiml 0.2, is a 97.5 % bound: one
    fewer selection positive may be missed at ~160 positives, and on new studies it gave sensitivity 0.980-1.000
    where 0.95 was promised, at a specificity cost (docs/cnn.md: 0.990 / 0.995 / 1.000 on unseen seed 7777,
    0.985 / 0.985 / 0.980 on unseen seed 8888, three training seeds each).

    With ``n`` positives even catching all of them gives a lower bound of ``n / (n + z²)``, so at least
    ``z² · target / (1 − target)`` positives (52 at a one-sided 95 % bound and target 0.95) are needed; with
    fewer, the threshold catches every selection positive and ``info["promise_shown"]`` is False.

    The threshold sits halfway between the last positive it must catch and the next lower score, so a new
    study scoring exactly like a selection positive is caught.

    Returns
    -------
    threshold : float
    info : dict
        ``positives``, ``caught``, ``sensitivity``, ``sensitivity_ci95`` (two-sided), ``sensitivity_lower_bound``
        (one-sided ``level``), ``specificity``, ``specificity_ci95`` (on these studies), ``promise_shown``.

    Raises
    ------
    ScintimlError
        ``scores`` empty, NaN, or of another length than ``labels``; ``labels`` without a positive; ``level``
        outside (0.5, 1).
    TargetClassesError
        ``labels`` not coded 0/1 (1 = event).

    Examples
    --------
    >>> y = np.r_[np.zeros(200), np.ones(200)]
    >>> s = np.r_[np.linspace(0, 0.6, 200), np.linspace(0.3, 1, 200)]
    >>> t, info = threshold_for_sensitivity_bound(y, s)
    >>> info["promise_shown"], info["caught"], round(info["sensitivity_lower_bound"], 3)
    (True, 196, 0.956)

    The older, stricter rule (the two-sided 95 % interval's lower end is a one-sided 97.5 % bound) catches one more:

    >>> threshold_for_sensitivity_bound(y, s, level=0.975)[1]["caught"]
    197
    """
    s, y = _check_scored(scores, np.asarray(labels), "scores")
    pos = np.sort(s[y == 1])[::-1]
    n_pos, n_neg = len(pos), int((y == 0).sum())
    if n_pos == 0:
        raise ScintimlError("no positive study to set a sensitivity threshold on; the selection studies need "
                            "studies with the event (label 1)")
    caught = n_pos
    if not 0.5 < level < 1:
        raise ScintimlError(f"level is the one-sided confidence of the lower bound, between 0.5 and 1; got {level}")
    two_sided = 2 * level - 1  # a one-sided lower bound at `level` is the lower end of this two-sided interval
    for k in range(1, n_pos + 1):  # catch the k highest-scoring positives
        if wilson_interval(k, n_pos, two_sided)[0] >= target:
            caught = k
            break
    last = pos[caught - 1]
    below = s[s < last]
    threshold = float((last + below.max()) / 2) if len(below) else float(last)
    called = s >= threshold
    tp = int((called & (y == 1)).sum())
    tn = int((~called & (y == 0)).sum())
    info = {
        "rule": f"one-sided {100 * level:g} % lower Wilson bound of sensitivity >= {target}", "confidence": level,
        "positives": n_pos, "caught": tp, "sensitivity": tp / n_pos,
        "sensitivity_ci95": [float(v) for v in wilson_interval(tp, n_pos)],
        "specificity": tn / n_neg if n_neg else float("nan"),
        "specificity_ci95": [float(v) for v in wilson_interval(tn, n_neg)],
        "sensitivity_lower_bound": float(wilson_interval(tp, n_pos, two_sided)[0]),
        "promise_shown": bool(wilson_interval(tp, n_pos, two_sided)[0] >= target),
    }
    return threshold, info
