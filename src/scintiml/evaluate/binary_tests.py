"""Binary classification tests at a threshold, each with a 95 % confidence interval.

With the confusion matrix ``TP, FN, FP, TN`` (positive = ``score >= threshold``):

* sensitivity = TP/(TP+FN); specificity = TN/(TN+FP); PPV = TP/(TP+FP);
  NPV = TN/(TN+FN); accuracy = (TP+TN)/n; error rate = 1 − accuracy;
  prevalence = (TP+FN)/n — proportions, with **Wilson** score intervals
  (Wilson 1927; Newcombe 1998, method 3).
* LR+ = sens/(1−spec), LR− = (1−sens)/spec, with the **log method**
  (Simel, Samsa & Matchar 1991): ``SE(ln LR+) = sqrt(1/TP − 1/(TP+FN) + 1/FP − 1/(FP+TN))``,
  ``SE(ln LR−) = sqrt(1/FN − 1/(TP+FN) + 1/TN − 1/(FP+TN))``; when a cell is
  zero, 0.5 is added to every cell for the interval (Haldane correction), and the interval is extended to hold
  the ratio itself (0 when no event is missed, infinite when no non-event is called positive).
* balanced accuracy = (sens+spec)/2; Youden's J = sens+spec−1; F1 = 2TP/(2TP+FP+FN);
  MCC = (TP·TN − FP·FN)/sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) (Matthews 1975) — intervals by propagating the
  Jeffreys distributions of sensitivity and specificity, Beta(TP+½, FN+½) and Beta(TN+½, FP+½) (Brown, Cai &
  DasGupta 2001, Stat Sci 16:101), through the statistic at the testing part's own numbers of events and
  non-events (a stratified parametric bootstrap, threshold fixed). A percentile bootstrap of patients cannot
  move a proportion at 0 or 1 — every resample of 5 events all called positive is again 5 of 5 — and had given
  "balanced accuracy 1.000 (1.000–1.000)" on a perfectly classified testing part. As Brown et al. do for the
  Jeffreys interval at 0 of n and n of n, an interval is extended to hold the statistic's own value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.utils import check_random_state

from .roc import check_binary_scores


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (NaNs when ``n == 0``).

    Examples
    --------
    Eight of ten (Newcombe 1998, Stat Med 17:857, method 3 gives 0.4902 to 0.9433):

    >>> [round(float(x), 4) for x in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    if n == 0:
        return (float("nan"), float("nan"))
    z = stats.norm.ppf(0.5 + level / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def likelihood_ratio_interval(
    a: float, b: float, c: float, d: float, positive: bool = True, level: float = 0.95
) -> tuple[float, tuple[float, float]]:
    """LR+ (or LR−) and its log-method interval from TP=a, FP=b, FN=c, TN=d."""
    z = stats.norm.ppf(0.5 + level / 2)

    def lr(a, b, c, d):
        sens, spec = a / (a + c), d / (b + d)
        if positive:  # TP = FP = 0 (nobody called positive): 0/0, undefined, not infinite
            return sens / (1 - spec) if spec < 1 else (np.inf if sens > 0 else np.nan)
        return (1 - sens) / spec if spec > 0 else (np.inf if sens < 1 else np.nan)  # FN = TN = 0: 0/0

    value = lr(a, b, c, d)
    if np.isnan(value):  # 0/0: no ratio, so no interval either
        return float("nan"), (float("nan"), float("nan"))
    raw = value
    if min(a, b, c, d) == 0:
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
    point = lr(a, b, c, d)
    if positive:
        se = np.sqrt(1 / a - 1 / (a + c) + 1 / b - 1 / (b + d))
    else:
        se = np.sqrt(1 / c - 1 / (a + c) + 1 / d - 1 / (b + d))
    # the corrected counts give the interval; it must still hold the ratio of the counts as they are (a negative
    # LR of 0 had the interval 0.007-1.399, an infinite positive one 2.6-635)
    return float(raw), (float(min(point * np.exp(-z * se), raw)), float(max(point * np.exp(z * se), raw)))


def _derived(tp, fn, fp, tn):
    """Sensitivity-based statistics, vectorised over arrays of counts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sens = tp / (tp + fn)
        spec = tn / (tn + fp)
        f1 = 2 * tp / (2 * tp + fp + fn)
        denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = np.where(denom > 0, (tp * tn - fp * fn) / np.where(denom > 0, denom, 1), 0.0)
    return {"balanced_accuracy": (sens + spec) / 2, "youden_j": sens + spec - 1, "f1": f1, "mcc": mcc}


@dataclass
class Statistic:
    value: float
    ci: tuple[float, float]

    def to_dict(self) -> dict:
        return {"value": _num(self.value), "ci95": [_num(self.ci[0]), _num(self.ci[1])]}


def _num(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


@dataclass
class ConfusionMatrix:
    tp: int
    fn: int
    fp: int
    tn: int

    @classmethod
    def at(cls, y: np.ndarray, score: np.ndarray, threshold: float) -> "ConfusionMatrix":
        called = score >= threshold
        y = y.astype(bool)
        return cls(int((called & y).sum()), int((~called & y).sum()), int((called & ~y).sum()),
                   int((~called & ~y).sum()))

    def to_dict(self) -> dict:
        return {"tp": self.tp, "fn": self.fn, "fp": self.fp, "tn": self.tn}


def binary_classification_tests(
    y: np.ndarray, score: np.ndarray, threshold: float, level: float = 0.95,
    n_bootstrap: int = 1000, random_state=None,
) -> tuple[ConfusionMatrix, dict[str, Statistic]]:
    """Confusion matrix and every binary classification test with its interval."""
    y, score = check_binary_scores(y, score, "score")  # NaN scores and non-0/1 labels refused, not miscounted
    cm = ConfusionMatrix.at(y, score, threshold)
    tp, fn, fp, tn = cm.tp, cm.fn, cm.fp, cm.tn
    n = tp + fn + fp + tn
    out: dict[str, Statistic] = {}

    def prop(name, k, m):
        out[name] = Statistic(k / m if m else float("nan"), wilson_interval(k, m, level))

    prop("sensitivity", tp, tp + fn)
    prop("specificity", tn, tn + fp)
    prop("ppv", tp, tp + fp)
    prop("npv", tn, tn + fn)
    prop("accuracy", tp + tn, n)
    prop("error_rate", fp + fn, n)
    prop("prevalence", tp + fn, n)
    out["precision"] = out["ppv"]
    lr_pos = likelihood_ratio_interval(tp, fp, fn, tn, positive=True, level=level)
    lr_neg = likelihood_ratio_interval(tp, fp, fn, tn, positive=False, level=level)
    out["lr_positive"] = Statistic(lr_pos[0], lr_pos[1])
    out["lr_negative"] = Statistic(lr_neg[0], lr_neg[1])

    point = _derived(np.float64(tp), np.float64(fn), np.float64(fp), np.float64(tn))
    # Stratified at the fixed threshold: the events and non-events keep their numbers; sensitivity and
    # specificity are drawn from their Jeffreys distributions (see the module's docstring for why not a
    # percentile bootstrap of patients)
    rng = check_random_state(random_state)
    m, k = tp + fn, fp + tn
    sens_b = rng.beta(tp + 0.5, fn + 0.5, size=n_bootstrap)
    spec_b = rng.beta(tn + 0.5, fp + 0.5, size=n_bootstrap)
    boot = _derived(m * sens_b, m * (1 - sens_b), k * (1 - spec_b), k * spec_b)
    alpha = (1 - level) / 2
    for name, value in point.items():
        finite = boot[name][np.isfinite(boot[name])]
        ci = tuple(np.quantile(finite, [alpha, 1 - alpha])) if finite.size else (np.nan, np.nan)
        if np.isfinite(value) and finite.size:  # at 0 of n or n of n the draws lie on one side of the value
            ci = (min(ci[0], value), max(ci[1], value))
        out[name] = Statistic(float(value), (float(ci[0]), float(ci[1])))
    return cm, out
