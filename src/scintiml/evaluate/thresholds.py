"""Operating points: which probability threshold turns a score into a decision.

Convention everywhere in scintiml: a patient is called *positive* when
``score >= threshold``.
"""

from __future__ import annotations

import numpy as np

from .roc import check_binary_scores


def _candidates(s: np.ndarray) -> np.ndarray:
    """Every distinct score, plus one above the highest (call nobody positive)."""
    u = np.unique(s)
    return np.concatenate([u, [np.nextafter(u[-1], np.inf)]])


def _rates(y: np.ndarray, s: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.sort(s[y == 1])
    neg = np.sort(s[y == 0])
    sens = 1.0 - np.searchsorted(pos, thresholds, side="left") / len(pos)
    spec = np.searchsorted(neg, thresholds, side="left") / len(neg)
    return sens, spec


def youden_threshold(y_true, y_score) -> float:
    """Threshold maximising Youden's J = sensitivity + specificity − 1 (Youden 1950).

    Among ties, the highest such threshold (the most specific) is returned.
    """
    y, s = check_binary_scores(y_true, y_score)
    t = _candidates(s)
    pos, neg = np.sort(s[y == 1]), np.sort(s[y == 0])
    # J in integer arithmetic, (TP * n_neg + TN * n_pos), so that tied J values compare equal (in floating point
    # 5/11 + 8/11 and 2/11 + 11/11 differ by one ulp and the tie rule below picked the lower threshold)
    tp = len(pos) - np.searchsorted(pos, t, side="left")
    tn = np.searchsorted(neg, t, side="left")
    j = tp * len(neg) + tn * len(pos)
    best = np.flatnonzero(j == j.max())
    return float(t[best[-1]])


def threshold_for_sensitivity(y_true, y_score, sensitivity: float) -> float:
    """Highest threshold whose sensitivity is at least ``sensitivity`` (a triage operating point)."""
    if not 0 < sensitivity <= 1:
        raise ValueError(f"sensitivity must be in (0, 1], got {sensitivity}")
    y, s = check_binary_scores(y_true, y_score)
    t = _candidates(s)
    sens, _ = _rates(y, s, t)
    ok = np.flatnonzero(sens >= sensitivity - 1e-12)
    return float(t[ok[-1]])


def threshold_for_specificity(y_true, y_score, specificity: float) -> float:
    """Lowest threshold whose specificity is at least ``specificity``."""
    if not 0 < specificity <= 1:
        raise ValueError(f"specificity must be in (0, 1], got {specificity}")
    y, s = check_binary_scores(y_true, y_score)
    t = _candidates(s)
    _, spec = _rates(y, s, t)
    ok = np.flatnonzero(spec >= specificity - 1e-12)
    if not len(ok):  # only where a non-event scores +inf: no threshold calls it negative (an IndexError before)
        raise ValueError(f"no threshold reaches specificity {specificity:g}: {int(np.sum(s[y == 0] == np.inf))} "
                         "patient(s) without the event score +inf, and a score >= every threshold is positive")
    return float(t[ok[0]])


def choose_threshold(y_true, y_score, rule: str | float = "youden") -> float:
    """A threshold from a rule: ``"youden"``, ``"sensitivity>=0.95"``, ``"specificity>=0.9"`` or a number.

    A target may be written as a percentage: ``"sensitivity>=95%"`` (or ``"sensitivity>=95"``, any value above 1)
    is 0.95, and ``"sensitivity>=1%"`` is 0.01.

    Apply it to scores of *other* patients (the selection set chooses, the
    testing set is judged): choosing on the testing set flatters every metric.
    """
    if isinstance(rule, (int, float, np.floating)):
        return float(rule)
    rule = rule.replace(" ", "")
    if rule == "youden":
        return youden_threshold(y_true, y_score)
    for name, fn in (("sensitivity>=", threshold_for_sensitivity), ("specificity>=", threshold_for_specificity)):
        if rule.startswith(name):
            text = rule[len(name):]
            try:
                value = float(text.rstrip("%"))
            except ValueError:
                raise ValueError(f"threshold rule {rule!r}: {text!r} is not a number; write e.g. '{name}0.95' or "
                                 f"'{name}95%'") from None
            # a percent sign always means percent ("sensitivity>=1%" is 0.01, not 1.0); without one, a value above 1
            # is read as a percentage ("sensitivity>=95")
            return fn(y_true, y_score, value / 100 if text.endswith("%") or value > 1 else value)
    raise ValueError(
        f"threshold rule {rule!r} not understood; use 'youden', 'sensitivity>=0.95', 'specificity>=0.9' or a number"
    )
