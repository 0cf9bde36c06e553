"""Bundled real cohorts and teaching cohorts with a known truth."""

from .bundled import heart_disease_frame, heart_disease_sites, load_heart_disease, load_heart_failure, load_spectf
from .perfusion import PerfusionCase, simulate_perfusion_scans
from .teaching import make_extravasation_cohort, make_mibg_cohort

__all__ = ["load_spectf", "load_heart_failure", "load_heart_disease", "heart_disease_frame", "heart_disease_sites", "make_mibg_cohort", "make_extravasation_cohort",
           "simulate_perfusion_scans", "PerfusionCase"]
