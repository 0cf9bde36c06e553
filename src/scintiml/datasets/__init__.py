"""Bundled real cohorts and teaching cohorts with a known truth."""

from .bundled import load_heart_failure, load_spectf
from .teaching import make_extravasation_cohort, make_mibg_cohort

__all__ = ["load_spectf", "load_heart_failure", "make_mibg_cohort", "make_extravasation_cohort"]
