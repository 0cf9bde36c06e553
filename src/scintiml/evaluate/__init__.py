"""Testing analysis: ROC with confidence intervals, binary classification tests, calibration,
gain/lift and decision curves — what the testing instances can and cannot support."""

from .binary_tests import (
    ConfusionMatrix,
    binary_classification_tests,
    likelihood_ratio_interval,
    wilson_interval,
)
from .calibration import (
    brier_score,
    calibration_intercept_slope,
    cumulative_gain,
    decision_curve,
    reliability_table,
)
from .evaluation import BinaryEvaluation, evaluate_binary
from .roc import auc_ci, bootstrap_aucs, delong_se, delong_test, hanley_mcneil_se, roc_auc, roc_curve
from .thresholds import (
    choose_threshold,
    threshold_for_sensitivity,
    threshold_for_specificity,
    youden_threshold,
)

__all__ = [
    "evaluate_binary", "BinaryEvaluation", "roc_auc", "auc_ci", "delong_se", "delong_test", "bootstrap_aucs",
    "hanley_mcneil_se", "roc_curve", "youden_threshold", "threshold_for_sensitivity", "threshold_for_specificity",
    "choose_threshold", "binary_classification_tests", "wilson_interval", "likelihood_ratio_interval",
    "ConfusionMatrix", "brier_score", "calibration_intercept_slope", "reliability_table", "cumulative_gain",
    "decision_curve",
]
