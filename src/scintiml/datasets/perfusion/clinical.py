"""Clinical context per simulated patient, drawn given the truth (PE or not, how much lung is lost, the mimic).

Published figures the model is built to reproduce (checked in ``docs/perfusion.md``):

* Wells score items and points (Wells et al., Thromb Haemost 2000;83:416): clinical signs of DVT 3,
  PE the most likely diagnosis (alternative less likely) 3, heart rate > 100 /min 1.5, immobilisation ≥ 3 days
  or surgery in the previous 4 weeks 1.5, previous DVT/PE 1.5, haemoptysis 1, malignancy 1. PE prevalence by
  category in the validation (Wells et al., Ann Intern Med 2001;135:98): low (< 2) 1.3 %, moderate (2-6)
  16.2 %, high (> 6) 40.6 % at an overall 9.5 %.
* ELISA D-dimer at 500 ng/mL: sensitivity 0.94, specificity 0.45 (Brown et al., Ann Emerg Med
  2002;40:133, meta-analysis of 9 studies); specificity falls with age (Righini et al., JAMA 2014;311:1117,
  age-adjusted cut-off).

Item probabilities per class are the model's own assumptions (no single paper gives all seven by PE status in
one population), tuned toward the category prevalences above at the Wells 2001 prevalence: the model gives
1.0 %, 11.7 % and 48 % (20,000 draws) — the same order and size, not an exact match (a class-conditional model
with independent items cannot match all three). Age, sex, heart rate and SpO2 effects are stated assumptions
(older patients, faster heart and lower SpO2 with more lung lost).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

WELLS_POINTS = {
    "wells_dvt_signs": 3.0, "wells_pe_most_likely": 3.0, "wells_heart_rate_over_100": 1.5,
    "wells_immobilisation_surgery": 1.5, "wells_prior_vte": 1.5, "wells_haemoptysis": 1.0,
    "wells_malignancy": 1.0,
}
#: P(item | PE), P(item | no PE) — assumptions tuned to Wells 2001's category prevalences (module docstring).
ITEM_PROBABILITY = {
    "wells_dvt_signs": (0.32, 0.14), "wells_pe_most_likely": (0.90, 0.45),
    "wells_immobilisation_surgery": (0.28, 0.12), "wells_prior_vte": (0.20, 0.09),
    "wells_haemoptysis": (0.08, 0.04), "wells_malignancy": (0.16, 0.09),
}
D_DIMER_CUTOFF = 500.0
D_DIMER_SENSITIVITY, D_DIMER_SPECIFICITY = 0.94, 0.45  # Brown et al. 2002
_SIGMA_PE, _SIGMA_NO = 0.8, 0.9  # spread of log D-dimer (assumption)


def clinical_context(label: int, lung_lost: float, mimic: str | None, rng: np.random.RandomState) -> dict:
    """One patient's clinical inputs, coherent with the truth.

    Parameters
    ----------
    label : int
        1 for pulmonary embolism.
    lung_lost : float
        Share of perfusion lost (0-1): larger emboli raise heart rate and D-dimer and lower SpO2.
    mimic : str or None
        A non-PE cause (COPD and pneumonia make another diagnosis more likely and lower SpO2; a tumour is a
        malignancy; pneumonia and malignancy raise D-dimer).

    Examples
    --------
    >>> import numpy as np
    >>> row = clinical_context(1, 0.2, None, np.random.RandomState(0))
    >>> sorted(row)[:4]
    ['age', 'd_dimer_ng_ml', 'female', 'heart_rate']
    """
    pe = int(label) == 1
    age = float(np.clip(rng.normal(62, 16) if pe else rng.normal(55, 18), 18, 95))
    row: dict = {"age": round(age), "female": int(rng.rand() < 0.58)}
    for item, (p1, p0) in ITEM_PROBABILITY.items():
        p = p1 if pe else p0
        if item == "wells_pe_most_likely" and mimic in ("copd", "pneumonia", "effusion", "cardiomegaly"):
            p = 0.12  # an alternative explains the illness
        if item == "wells_malignancy" and mimic == "tumour":
            p = 0.95
        row[item] = int(rng.rand() < p)
    heart_rate = rng.normal(96 + 40 * lung_lost, 14) if pe else rng.normal(88 + (6 if mimic == "pneumonia" else 0), 14)
    row["heart_rate"] = int(round(np.clip(heart_rate, 45, 170)))
    row["wells_heart_rate_over_100"] = int(row["heart_rate"] > 100)
    row["wells_score"] = float(sum(WELLS_POINTS[k] * row[k] for k in WELLS_POINTS))
    # log-normal D-dimer placed so that the 500 ng/mL cut-off has the published sensitivity and specificity
    if pe:
        median = D_DIMER_CUTOFF * np.exp(-_SIGMA_PE * ndtri(1 - D_DIMER_SENSITIVITY)) * np.exp(1.5 * (lung_lost - 0.15))
        d = median * np.exp(_SIGMA_PE * rng.normal())
    else:
        median = D_DIMER_CUTOFF * np.exp(-_SIGMA_NO * ndtri(D_DIMER_SPECIFICITY)) * np.exp(0.012 * (age - 55))
        if mimic in ("pneumonia", "tumour") or row["wells_malignancy"]:
            median *= 1.6
        d = median * np.exp(_SIGMA_NO * rng.normal())
    row["d_dimer_ng_ml"] = int(round(np.clip(d, 100, 20000)))
    spo2 = rng.normal(95.5 - 12 * lung_lost, 2.2) if pe else rng.normal(96.5 - (3 if mimic in ("copd", "pneumonia")
                                                                             else 0), 1.8)
    row["spo2"] = int(round(np.clip(spo2, 75, 100)))
    return row


CLINICAL_COLUMNS = ("age", "female", *WELLS_POINTS, "wells_score", "heart_rate", "d_dimer_ng_ml", "spo2")
