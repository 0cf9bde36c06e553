"""Teaching cohorts with a known truth, shaped like the two published ANN studies.

They exist so that the toolkit can be tested against something it should
recover: which inputs carry the signal, at which thresholds, which inputs
duplicate each other. Every truth is in the returned ``cohort.truth``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.utils import check_random_state

from ..cohort import Cohort, load_cohort

MIBG_TRUE_INPUTS = ("delta_lvef", "planar_washout")
MIBG_THRESHOLDS = {"delta_lvef": -10.0, "planar_washout": 30.0}

_MIBG_CLINICAL = [
    "age", "sex_male", "bmi", "nyha_class", "diabetes", "hypertension", "smoker", "egfr", "log_bnp",
    "troponin", "baseline_lvef", "heart_rate", "systolic_bp", "diastolic_bp", "hemoglobin", "sodium",
    "anthracycline_dose", "trastuzumab", "radiotherapy_left", "beta_blocker", "ace_inhibitor",
    "statin", "qrs_duration", "atrial_fibrillation",
]


def make_mibg_cohort(n_patients: int = 400, random_state: int | None = 0) -> Cohort:
    """A simulated 123I-mIBG cardiac-toxicity cohort: 84 inputs, 2 of which matter.

    The truth
    ---------
    * The event depends on exactly two inputs, ``delta_lvef`` (change in LVEF,
      %, echocardiography; group ``clinical``) and ``planar_washout``
      (planar mIBG washout rate, %; group ``imaging``), as an AND rule::

          p(event) = 0.03 + 0.94 * expit((-10 - delta_lvef) / 0.75) * expit((planar_washout - 30) / 1.0)

      i.e. the clinical rule ``delta_lvef <= -10 and planar_washout >= 30``.
      ``delta_lvef ~ N(-9, 6)``, ``planar_washout ~ N(29, 8)``, independent.
    * The other 82 inputs (24 clinical, 58 imaging: heart-to-mediastinum
      ratios, SPECT scores, radiomic texture values) are independent of the
      event. Some of them are correlated among themselves (early/late H/M
      ratios, texture families), as real inputs are.
    * ``cohort.truth["probability"]`` holds each patient's true event
      probability, from which the best achievable AUC (the ceiling) follows.

    Parameters
    ----------
    n_patients : int, default 400
    random_state : int or None

    Returns
    -------
    Cohort
        Groups ``imaging`` and ``clinical``; ``truth`` with ``inputs``,
        ``thresholds``, ``rule`` and ``probability``.

    Examples
    --------
    >>> cohort = make_mibg_cohort(300, random_state=1)
    >>> cohort.n_patients, cohort.n_inputs, cohort.truth["inputs"]
    (300, 84, ['delta_lvef', 'planar_washout'])
    """
    rng = check_random_state(random_state)
    n = int(n_patients)
    data: dict[str, np.ndarray] = {}
    data["delta_lvef"] = np.round(rng.normal(-9.0, 6.0, n), 1)
    data["planar_washout"] = np.round(rng.normal(29.0, 8.0, n), 1)

    # Clinical values: realistic ranges, no link to the event.
    data["age"] = np.round(rng.normal(58, 12, n))
    data["sex_male"] = rng.binomial(1, 0.45, n).astype(float)
    data["bmi"] = np.round(rng.normal(27, 4.5, n), 1)
    data["nyha_class"] = rng.choice([1.0, 2.0, 3.0, 4.0], n, p=[0.4, 0.35, 0.2, 0.05])
    for name, rate in [("diabetes", 0.2), ("hypertension", 0.45), ("smoker", 0.25), ("trastuzumab", 0.3),
                       ("radiotherapy_left", 0.2), ("beta_blocker", 0.4), ("ace_inhibitor", 0.35),
                       ("statin", 0.3), ("atrial_fibrillation", 0.1)]:
        data[name] = rng.binomial(1, rate, n).astype(float)
    data["egfr"] = np.round(rng.normal(80, 18, n))
    data["log_bnp"] = np.round(rng.normal(4.5, 1.0, n), 2)
    data["troponin"] = np.round(rng.lognormal(1.5, 0.6, n), 1)
    data["baseline_lvef"] = np.round(rng.normal(60, 6, n), 1)
    data["heart_rate"] = np.round(rng.normal(74, 11, n))
    data["systolic_bp"] = np.round(rng.normal(130, 16, n))
    data["diastolic_bp"] = np.round(0.5 * data["systolic_bp"] + rng.normal(15, 7, n))
    data["hemoglobin"] = np.round(rng.normal(13, 1.5, n), 1)
    data["sodium"] = np.round(rng.normal(139, 3, n))
    data["anthracycline_dose"] = np.round(rng.gamma(4, 60, n))
    data["qrs_duration"] = np.round(rng.normal(98, 14, n))

    # Imaging values other than washout: H/M ratios, SPECT scores, texture families.
    early = rng.normal(2.4, 0.35, n)
    data["early_hm_ratio"] = np.round(early, 2)
    data["late_hm_ratio"] = np.round(early - rng.normal(0.25, 0.12, n), 2)
    for k in range(1, 7):
        data[f"spect_segment_score_{k}"] = rng.poisson(1.2, n).astype(float)
    data["spect_summed_score"] = sum(data[f"spect_segment_score_{k}"] for k in range(1, 7))
    n_texture = 58 - 2 - 7
    families = rng.normal(size=(n, 7))
    for k in range(n_texture):
        family = families[:, k % 7]
        data[f"rad_texture_{k + 1:02d}"] = np.round(0.6 * family + 0.8 * rng.normal(size=n), 3)

    probability = 0.03 + 0.94 * expit((-10.0 - data["delta_lvef"]) / 0.75) * expit((data["planar_washout"] - 30.0) / 1.0)
    event = rng.binomial(1, probability)

    frame = pd.DataFrame(data)
    frame.insert(0, "patient_id", [f"MIBG-{i + 1:04d}" for i in range(n)])
    frame["cardiotoxicity"] = event
    imaging = ["planar_washout", "early_hm_ratio", "late_hm_ratio"] + [
        c for c in frame.columns if c.startswith(("spect_", "rad_"))
    ]
    clinical = ["delta_lvef"] + _MIBG_CLINICAL
    cohort = load_cohort(
        frame, target="cardiotoxicity", positive=1, id_column="patient_id",
        groups={"imaging": imaging, "clinical": clinical}, name="Teaching mIBG cohort (simulated)",
    )
    cohort.citation = "Simulated by scintiml.datasets.make_mibg_cohort (known truth; not patient data)."
    cohort.truth = {
        "inputs": list(MIBG_TRUE_INPUTS),
        "thresholds": dict(MIBG_THRESHOLDS),
        "rule": "delta_lvef <= -10 and planar_washout >= 30",
        "probability": probability,
    }
    return cohort


#: Redundant families of the extravasation cohort: near-copies of one latent signal (|r| ≈ 0.98).
EXTRAVASATION_FAMILIES = {
    "slope_early": ["slope_early", "slope_early_smoothed", "slope_0_30s", "upslope_rate"],
    "peak_ratio": ["peak_ratio", "peak_ratio_bkg_corrected", "max_ratio_1min", "peak_ratio_smoothed"],
    "plateau_ratio": ["plateau_ratio", "ratio_at_5min", "ratio_at_10min", "late_ratio_mean"],
    "auc_injection": ["auc_injection", "auc_injection_0_5min", "counts_sum_injection", "auc_injection_bkg_corrected"],
    "time_to_peak": ["time_to_peak", "time_to_half_peak", "rise_time", "time_to_peak_smoothed"],
}
#: The families and single metrics that drive the event, with their log-odds weights.
EXTRAVASATION_DRIVERS = {"peak_ratio": 1.6, "plateau_ratio": 1.4, "washout_slope": -1.1, "arm_asymmetry": 0.9}


def make_extravasation_cohort(n_patients: int = 863, random_state: int | None = 0) -> Cohort:
    """A simulated radiotracer-extravasation cohort: 45 topical-sensor metrics, redundant families.

    The truth
    ---------
    * Five **redundant families** (:data:`EXTRAVASATION_FAMILIES`), four
      members each: every member is an affine copy of the family's latent
      signal plus small noise (pairwise |r| ≈ 0.98). No other pair of inputs
      is correlated beyond sampling noise (|r| < 0.2).
    * 25 single metrics, independent standard-normal-based signals.
    * The event (extravasation) follows a logistic model in four signals
      (:data:`EXTRAVASATION_DRIVERS`): the latent of the ``peak_ratio`` family
      (+1.6), the latent of ``plateau_ratio`` (+1.4) and the single metrics
      ``washout_slope`` (−1.1) and ``arm_asymmetry`` (+0.9), intercept −2.2
      (about 23 % events). Any member of a driving family carries its signal;
      four inputs suffice (as in the published 45 → 4 model).

    Parameters
    ----------
    n_patients : int, default 863
    random_state : int or None

    Returns
    -------
    Cohort
        ``truth`` holds ``families``, ``drivers``, ``probability``.
    
    Examples
    --------
    >>> cohort = make_extravasation_cohort(random_state=0)
    >>> cohort.n_patients, cohort.n_inputs, len(cohort.truth["families"])
    (863, 45, 5)
    """
    rng = check_random_state(random_state)
    n = int(n_patients)
    data: dict[str, np.ndarray] = {}
    latents: dict[str, np.ndarray] = {}
    for family, members in EXTRAVASATION_FAMILIES.items():
        latent = rng.normal(size=n)
        latents[family] = latent
        for j, member in enumerate(members):
            scale, offset = 1.0 + 0.5 * j, 10.0 * j
            data[member] = np.round(offset + scale * (latent + 0.15 * rng.normal(size=n)), 4)
    singles = ["washout_slope", "arm_asymmetry"] + [f"sensor_metric_{k:02d}" for k in range(1, 24)]
    for name in singles:
        latents[name] = rng.normal(size=n)
        data[name] = np.round(latents[name], 4)
    logit = -2.2 + sum(w * latents[name] for name, w in EXTRAVASATION_DRIVERS.items())
    probability = expit(logit)
    event = rng.binomial(1, probability)
    frame = pd.DataFrame(data)
    frame["extravasation"] = event
    cohort = load_cohort(frame, target="extravasation", positive=1, name="Teaching extravasation cohort (simulated)")
    cohort.groups = {"sensor": cohort.inputs}
    cohort.citation = "Simulated by scintiml.datasets.make_extravasation_cohort (known truth; not patient data)."
    cohort.truth = {
        "families": {k: list(v) for k, v in EXTRAVASATION_FAMILIES.items()},
        "drivers": dict(EXTRAVASATION_DRIVERS),
        "probability": probability,
    }
    return cohort
