"""One entry point for the testing analysis: :func:`evaluate_binary`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..io import jsonable
from .binary_tests import ConfusionMatrix, Statistic, binary_classification_tests
from .calibration import (
    ReliabilityBin,
    brier_score,
    calibration_intercept_slope,
    cumulative_gain,
    decision_curve,
    reliability_table,
)
from .roc import AUCResult, ROCCurve, auc_ci, check_binary_scores, roc_curve
from .thresholds import choose_threshold

#: Warn when a testing set has fewer events (or non-events) than this.
MIN_TESTING_EVENTS = 10
#: Warn when a 95 % interval is wider than this.
MAX_CI_WIDTH = 0.3


@dataclass(repr=False)
class BinaryEvaluation:
    """Everything the testing instances say about a model, and what they cannot support."""

    n: int
    n_events: int
    threshold: float
    threshold_rule: str
    auc: AUCResult
    roc: ROCCurve
    confusion: ConfusionMatrix
    tests: dict[str, Statistic]
    brier: float
    calibration_intercept: float
    calibration_slope: float
    reliability: list[ReliabilityBin]
    gain: dict[str, list[float]]
    decision: dict[str, list[float]]
    warnings: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        # the dataclass repr printed the whole ROC, gain and decision curves (28,000 characters)
        sens, spec = self.tests["sensitivity"].value, self.tests["specificity"].value
        return (f"BinaryEvaluation(n={self.n}, events={self.n_events}, AUC {self.auc.auc:.3f} "
                f"({self.auc.ci[0]:.3f}-{self.auc.ci[1]:.3f}), threshold {self.threshold:.3g}: sensitivity "
                f"{sens:.2f}, specificity {spec:.2f}; .to_dict() holds everything)")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (NaN and inf become None)."""
        return jsonable({
            "n": self.n, "n_events": self.n_events, "threshold": self.threshold,
            "threshold_rule": self.threshold_rule,
            "auc": self.auc.auc, "auc_ci95": list(self.auc.ci), "auc_se": self.auc.se, "auc_ci_method": self.auc.method,
            "confusion_matrix": self.confusion.to_dict(),
            **{name: stat.value for name, stat in self.tests.items()},
            **{f"{name}_ci95": list(stat.ci) for name, stat in self.tests.items()},
            "brier": self.brier, "calibration_intercept": self.calibration_intercept,
            "calibration_slope": self.calibration_slope,
            "reliability": [b.to_dict() for b in self.reliability],
            "roc": self.roc.to_dict(), "gain": self.gain, "decision_curve": self.decision,
            "warnings": self.warnings,
        })


def evaluate_binary(
    y_true,
    y_score,
    threshold: float | str = 0.5,
    *,
    ci_method: str = "delong",
    level: float = 0.95,
    n_bootstrap: int = 1000,
    random_state=0,
) -> BinaryEvaluation:
    """Testing analysis of probabilities ``y_score`` against outcomes ``y_true`` (1 = event).

    Parameters
    ----------
    y_true : array of 0/1
    y_score : array of float
        Predicted probability of the event (any score works for the ROC; the
        calibration figures assume probabilities).
    threshold : float or str, default 0.5
        Operating point: a number (e.g. chosen on the *selection* set — the
        honest default of the study) or a rule applied to these very data
        (``"youden"``, ``"sensitivity>=0.95"``), which flatters the results and is said so in ``warnings``.
    ci_method : {"delong", "bootstrap"}
    level : float
    n_bootstrap : int
        Resamples for the ROC band, the bootstrap AUC interval and F1/MCC intervals.
    random_state : int or None

    Returns
    -------
    BinaryEvaluation

    Examples
    --------
    Hanley & McNeil's (1982) 109 patients rated on a five-point scale (their Table 1): AUC 0.893.

    >>> import numpy as np
    >>> y = np.r_[np.zeros(58), np.ones(51)]
    >>> rating = np.r_[np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2]), np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])]
    >>> result = evaluate_binary(y, rating / 5, threshold=0.7)
    >>> round(result.auc.auc, 3)
    0.893
    >>> [round(float(x), 3) for x in result.auc.ci]  # DeLong interval
    [0.833, 0.953]
    >>> round(float(result.tests["sensitivity"].value), 3), round(float(result.tests["specificity"].value), 3)
    (0.863, 0.776)
    """
    y, s = check_binary_scores(y_true, y_score)
    warnings: list[str] = []
    rule = "fixed"
    if isinstance(threshold, str):
        rule = threshold
        threshold = choose_threshold(y, s, threshold)
        warnings.append(
            f"the threshold ({rule}) was chosen on these same patients: sensitivity and specificity are optimistic"
        )
    threshold = float(threshold)
    auc = auc_ci(y, s, method=ci_method, level=level, n_bootstrap=n_bootstrap, random_state=random_state)
    curve = roc_curve(y, s, band=True, level=level, n_bootstrap=n_bootstrap, random_state=random_state)
    cm, tests = binary_classification_tests(y, s, threshold, level, n_bootstrap, random_state)
    intercept, slope = calibration_intercept_slope(y, s) if np.all((s >= 0) & (s <= 1)) else (np.nan, np.nan)
    n_events, n = int(y.sum()), len(y)

    if min(n_events, n - n_events) < MIN_TESTING_EVENTS:
        warnings.append(
            f"the testing set has only {n_events} events and {n - n_events} non-events: every figure here is "
            "fragile; report the confidence intervals, not the point values"
        )
    wide = [name for name in ("sensitivity", "specificity") if np.diff(tests[name].ci)[0] > MAX_CI_WIDTH]
    if auc.ci[1] - auc.ci[0] > MAX_CI_WIDTH:
        wide.insert(0, "AUC")
    if wide:
        warnings.append(
            f"95 % confidence interval wider than {MAX_CI_WIDTH} for {', '.join(wide)}: the testing set is too "
            "small to pin these down"
        )
    if auc.auc >= 0.99 and tests["accuracy"].value < 0.9:
        warnings.append(
            f"AUC {auc.auc:.2f} but accuracy {tests['accuracy'].value:.2f} at threshold {threshold:.3g}: the "
            "ranking is near perfect yet the threshold misclassifies patients — recheck the threshold and the "
            "size of the testing set"
        )
    return BinaryEvaluation(
        n=n, n_events=n_events, threshold=threshold, threshold_rule=rule, auc=auc, roc=curve, confusion=cm,
        tests=tests, brier=brier_score(y, s), calibration_intercept=intercept, calibration_slope=slope,
        reliability=reliability_table(y, s) if np.all((s >= 0) & (s <= 1)) else [],
        gain=cumulative_gain(y, s), decision=decision_curve(y, s), warnings=warnings,
    )
