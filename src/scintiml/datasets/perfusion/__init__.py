"""Simulated 99mTc-MAA planar lung perfusion studies with a known truth and a coherent clinical context.

A teaching simulator, not a Monte-Carlo code. Per patient:

* **anatomy** — a 3-D lung phantom with lobes and bronchopulmonary segments (10 right, 8 left) fed by a
  segmental arterial tree, varied in size, lung shape, dome heights, tilt and heart size (:mod:`.phantom`);
* **perfusion** — a gravitational gradient (supine injection: more posteriorly and toward the bases) and mild
  heterogeneity; emboli remove the occluded artery's downstream territory, so defects are pleural-based wedges
  (subsegmental, segmental, lobar or multiple); non-PE patients are normal or carry a mimic (COPD, pleural
  effusion, cardiomegaly, pneumonia, tumour, stripe sign) at ``mimic_share`` (:mod:`.lesions`);
* **imaging** — ANT, POST, RAO, LAO, RPO, LPO (laterals optional), with attenuation, depth-dependent collimator
  blur, scatter and Poisson counts at ``counts_per_view`` (:mod:`.projection`);
* **truth** — per view, a mask of each defect where it removes at least 20 % of the counts the pixel would have
  had (what a reader could see), and their union;
* **clinical context** — Wells items, D-dimer, age, sex, heart rate, SpO2 drawn given the truth
  (:mod:`.clinical`).

Parameters and their sources are listed in ``docs/perfusion.md``.
"""

from .clinical import CLINICAL_COLUMNS
from .cohort import simulated_study_table, write_simulated_cohort
from .lesions import MIMICS, PE_PATTERNS
from .simulate import (ALL_VIEWS, PIXEL_MM, VIEW_ANGLES, VIEWS, VISIBLE_CONTRAST, PerfusionCase,
                       simulate_perfusion_scans)

__all__ = ["VIEWS", "ALL_VIEWS", "VIEW_ANGLES", "PIXEL_MM", "VISIBLE_CONTRAST", "PerfusionCase",
           "simulate_perfusion_scans", "write_simulated_cohort", "simulated_study_table", "MIMICS", "PE_PATTERNS",
           "CLINICAL_COLUMNS"]
