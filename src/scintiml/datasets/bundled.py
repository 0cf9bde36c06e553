"""Two real, public, de-identified cohorts shipped inside the package.

Both come from the UCI Machine Learning Repository (CC BY 4.0); their
provenance, checksums and reference figures are in ``data/PROVENANCE.md``.
Cite the original authors when reporting results on them.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd

from ..cohort import Cohort, load_cohort

SPECTF_CITATION = (
    "Kurgan LA, Cios KJ, Tadeusiewicz R, Ogiela M, Goodenday LS. Knowledge discovery approach to automated "
    "cardiac SPECT diagnosis. Artif Intell Med 2001;23(2):149-169. UCI Machine Learning Repository, "
    "SPECTF Heart (CC BY 4.0)."
)
HEART_FAILURE_CITATION = (
    "Ahmad T, Munir A, Bhatti SH, Aftab M, Raza MA. Survival analysis of heart failure patients. PLoS ONE "
    "2017;12(7):e0181001. Chicco D, Jurman G. Machine learning can predict survival of patients with heart "
    "failure from serum creatinine and ejection fraction alone. BMC Med Inform Decis Mak 2020;20:16. "
    "UCI Machine Learning Repository (CC BY 4.0)."
)
#: Rows 1-80 of spectf.csv are UCI's training set, rows 81-267 its test set.
SPECTF_UCI_TRAINING_ROWS = 80


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(files(__package__).joinpath("data", name))


def load_spectf() -> Cohort:
    """UCI SPECTF Heart: cardiac SPECT myocardial perfusion, 267 patients.

    44 inputs ``F1R ... F22S`` are 0-100 count summaries of 22 left-ventricular
    regions of interest at rest (R) and stress (S); the outcome
    ``OVERALL_DIAGNOSIS`` is 1 for an abnormal study (212 patients).
    All inputs are imaging-derived (group ``imaging``).

    The published UCI split is kept in ``cohort.uci_split``
    (training: the first 80 rows, 40 normal + 40 abnormal; testing: the other
    187). The CLIP3 rule learner agreed with the cardiologists on 77.0 % of
    that test set (Kurgan et al. 2001).
    """
    frame = _read("spectf.csv")
    cohort = load_cohort(
        frame, target="OVERALL_DIAGNOSIS", positive=1, groups={"imaging": "F*"}, name="SPECTF (cardiac SPECT)"
    )
    n = cohort.n_patients
    cohort.predefined_split = {
        "training": np.arange(SPECTF_UCI_TRAINING_ROWS),
        "testing": np.arange(SPECTF_UCI_TRAINING_ROWS, n),
    }
    cohort.citation = SPECTF_CITATION
    return cohort


def load_heart_failure(include_time: bool = False) -> Cohort:
    """Heart-failure clinical records: 299 patients, outcome ``DEATH_EVENT`` (96 deaths).

    Parameters
    ----------
    include_time : bool, default False
        ``time`` is the follow-up period in days. It is known only after the
        outcome (patients who die early have short follow-up), so it leaks the
        outcome and is dropped by default; keep it only for survival analysis.

    Notes
    -----
    Chicco & Jurman (2020) found that serum creatinine and ejection fraction
    alone carry most of the signal: the finding an input-selection study on
    this cohort should reproduce. All inputs are clinical (group ``clinical``).
    """
    frame = _read("heart_failure.csv")
    exclude = [] if include_time else ["time"]
    cohort = load_cohort(
        frame, target="DEATH_EVENT", positive=1, exclude=exclude, name="Heart failure (clinical records)"
    )
    cohort.groups = {"clinical": cohort.inputs}
    if not include_time:
        cohort.notes[cohort.notes.index("excluded on request: time")] = (
            "excluded 'time' (follow-up days): known only after the outcome, it would leak it"
        )
    cohort.citation = HEART_FAILURE_CITATION
    return cohort
