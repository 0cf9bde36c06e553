"""Does it hold at another hospital? External validation, recalibration, site cross-validation, drift guard.

* :mod:`.metrics` — AUC, calibration-in-the-large and slope, Brier, binary tests, decision curve, with CIs;
* :mod:`.drift` — per-input shift against the training summary; site-membership AUC;
* :mod:`.missing` — inputs missing at a new site: imputed, flagged, refused above a stated share;
* :mod:`.validate` — a model bundle on another site's patients, with a verdict;
* :mod:`.recalibrate` — a new bundle version with intercept or logistic recalibration;
* :mod:`.sites` and :mod:`.meta` — internal-external cross-validation and its random-effects summary.
"""

from .drift import SMD_FLAG, batch_drift, input_shift, membership_auc
from .meta import pool_auc, random_effects
from .recalibrate import RECALIBRATION_METHODS, recalibrate_bundle
from .report import write_validation, write_validation_report
from .sites import default_site_model, internal_external_cv, read_sites, site_stage
from .validate import MAX_AUC_DROP, ValidationResult, validate_bundle, verdict
from .metrics import CalibrationFit, brier_ci, calibration_fit, external_performance
from .missing import MAX_MISSING_SHARE, MissingInputError, prepare_inputs

__all__ = ["input_shift", "batch_drift", "membership_auc", "SMD_FLAG", "random_effects", "pool_auc",
           "CalibrationFit", "calibration_fit", "brier_ci", "external_performance", "prepare_inputs",
           "MissingInputError", "MAX_MISSING_SHARE", "internal_external_cv", "default_site_model",
           "validate_bundle", "ValidationResult", "verdict", "MAX_AUC_DROP", "recalibrate_bundle",
           "RECALIBRATION_METHODS", "write_validation", "write_validation_report", "read_sites",
           "site_stage"]
