"""Three real, public, de-identified cohorts shipped inside the package.

Both come from the UCI Machine Learning Repository (CC BY 4.0); their
provenance, checksums and reference figures are in ``data/PROVENANCE.md``.
Cite the original authors when reporting results on them.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Sequence

import numpy as np
import pandas as pd

from ..cohort import Cohort, load_cohort
from ..errors import GroupsError

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
        frame, target="OVERALL_DIAGNOSIS", groups={"imaging": "F*"}, name="SPECTF (cardiac SPECT)"
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
        frame, target="DEATH_EVENT", exclude=exclude, name="Heart failure (clinical records)"
    )
    cohort.groups = {"clinical": cohort.inputs}
    if not include_time:
        cohort.notes[cohort.notes.index("excluded on request: time")] = (
            "excluded 'time' (follow-up days): known only after the outcome, it would leak it"
        )
    cohort.citation = HEART_FAILURE_CITATION
    return cohort


HEART_DISEASE_CITATION = (
    "Detrano R, Janosi A, Steinbrunn W, Pfisterer M, Schmid JJ, Sandhu S, Guppy KH, Lee S, Froelicher V. "
    "International application of a new probability algorithm for the diagnosis of coronary artery disease. "
    "Am J Cardiol 1989;64(5):304-310. UCI Machine Learning Repository, Heart Disease (CC BY 4.0)."
)
#: The four hospitals of the UCI Heart Disease cohort, in file order.
HEART_DISEASE_SITES = ("cleveland", "hungarian", "switzerland", "va")
#: Inputs whose value 0 is not a measurement but the source's undocumented missing code
#: (a serum cholesterol or a resting blood pressure of 0 is impossible in a living patient).
HEART_DISEASE_ZERO_MEANS_MISSING = ("chol", "trestbps")


def heart_disease_frame(site: str | Sequence[str] | None = None) -> pd.DataFrame:
    """The UCI Heart Disease table with its missing codes turned into missing values.

    One row per patient, columns ``site``, the 13 inputs, ``num`` (0-4) and
    ``disease`` (1 when ``num`` > 0). ``chol`` = 0 and ``trestbps`` = 0 become
    missing (NaN); nothing else is changed. Use it to write a site's patients
    to a file (e.g. for ``scintiml validate``); :func:`load_heart_disease`
    gives the validated cohort.

    Parameters
    ----------
    site : str or sequence of str, optional
        Keep only these sites (``cleveland``, ``hungarian``, ``switzerland``, ``va``).

    Examples
    --------
    >>> frame = heart_disease_frame("switzerland")
    >>> len(frame), int(frame["chol"].isna().sum())
    (123, 123)
    """
    return _heart_disease(site)[0]


def _heart_disease(site) -> tuple[pd.DataFrame, dict[str, int]]:
    """The table with missing codes replaced, and how many zeros each such input had."""
    frame = _read("heart_disease.csv")
    if site is not None:
        wanted = [site] if isinstance(site, str) else list(site)
        unknown = [s for s in wanted if s not in HEART_DISEASE_SITES]
        if unknown:
            raise GroupsError(f"unknown site(s) {unknown}; the heart-disease sites are {list(HEART_DISEASE_SITES)}")
        frame = frame[frame["site"].isin(wanted)].reset_index(drop=True)
    zeros = {}
    for column in HEART_DISEASE_ZERO_MEANS_MISSING:
        zeros[column] = int((frame[column] == 0).sum())
        frame[column] = frame[column].mask(frame[column] == 0)
    return frame, zeros


def load_heart_disease(site: str | Sequence[str] | None = None) -> Cohort:
    """UCI Heart Disease: 920 patients from four hospitals, outcome ``disease`` (angiographic CAD).

    Inputs (13): age, sex, cp (chest-pain type 1-4), trestbps, chol, fbs,
    restecg, thalach, exang, oldpeak, slope, ``ca`` (vessels coloured by
    fluoroscopy, 0-3) and ``thal`` (thallium-201 stress myocardial perfusion
    scintigraphy: 3 normal, 6 fixed defect, 7 reversible defect). The codes of
    cp, restecg, slope and thal are kept as numbers, as in the source.

    Parameters
    ----------
    site : str or sequence of str, optional
        ``cleveland`` (303 patients, 139 with disease), ``hungarian`` (294, 106),
        ``switzerland`` (123, 115), ``va`` (Long Beach, 200, 149); all four by default.

    Returns
    -------
    Cohort
        Groups ``imaging`` = [thal], ``fluoroscopy`` = [ca], ``clinical`` = the
        other inputs. Patient ids are ``<site>-<row within site>`` (e.g.
        ``va-007``), so the site of every patient is in ``cohort.ids``; the
        per-patient sites are also returned by :func:`heart_disease_sites`.

    Notes
    -----
    Quirks of the source, handled and stated in ``cohort.notes``:

    * ``disease`` = 1 when ``num`` > 0 (> 50 % narrowing in a major vessel);
      ``num`` is never an input (it *is* the outcome, graded).
    * ``chol`` = 0 (all 123 Swiss and 49 VA patients) and ``trestbps`` = 0
      (one VA patient) are missing codes, turned into missing values.
    * ``ca``, ``thal`` and ``slope`` are mostly missing outside Cleveland; a
      model meant to travel between these sites should not need them.
    * Hungarian ``num`` is only 0/1, and Switzerland has only 8 patients
      without disease: its AUC and calibration carry wide intervals.

    Examples
    --------
    >>> cohort = load_heart_disease("cleveland")
    >>> cohort.n_patients, cohort.n_events, cohort.groups["imaging"]
    (303, 139, ['thal'])
    """
    frame, zeros = _heart_disease(site)
    ids = [f"{s}-{i:03d}" for s, i in zip(frame["site"], frame.groupby("site").cumcount() + 1)]
    frame.insert(0, "patient", ids)
    name = "UCI Heart Disease" + (f" ({site})" if isinstance(site, str) else
                                 f" ({', '.join(site)})" if site is not None else " (four sites)")
    # Switzerland alone has only 8 patients without disease: accepted (the loader documents it) rather
    # than refused by the study's usual minimum of 10, and said so in the notes.
    cohort = load_cohort(frame, target="disease", id_column="patient", exclude=["site", "num"],
                         name=name, min_events=5)
    cohort.notes[cohort.notes.index("excluded on request: site, num")] = (
        "excluded 'num' (the graded outcome, disease = num > 0) and 'site' (the hospital; use it for "
        "external validation, not as an input)"
    )
    # recorded as the study's missing-value codes: a model trained here reads a new patient's 0 as missing too
    cohort.missing_codes = {c: [0.0] for c in HEART_DISEASE_ZERO_MEANS_MISSING}
    cohort.notes.append(
        "value 0 read as missing (an undocumented missing code of the source): "
        + ", ".join(f"{c} ({n})" for c, n in zeros.items())
    )
    n_events, n_non = cohort.n_events, cohort.n_patients - cohort.n_events
    if min(n_events, n_non) < 10:
        cohort.notes.append(
            f"only {min(n_events, n_non)} patients {'with' if n_events < n_non else 'without'} disease: every "
            "figure on this cohort alone carries a wide interval"
        )
    cohort.groups = {
        "clinical": [c for c in cohort.inputs if c not in ("thal", "ca")],
        "imaging": [c for c in ("thal",) if c in cohort.inputs],
        "fluoroscopy": [c for c in ("ca",) if c in cohort.inputs],
    }
    cohort.groups = {g: cols for g, cols in cohort.groups.items() if cols}
    cohort.citation = HEART_DISEASE_CITATION
    return cohort


def heart_disease_sites(cohort: Cohort) -> np.ndarray:
    """The hospital of each patient of a :func:`load_heart_disease` cohort (from its ids).

    Examples
    --------
    >>> sorted(set(heart_disease_sites(load_heart_disease(["va", "hungarian"])).tolist()))
    ['hungarian', 'va']
    """
    return np.array([str(i).rsplit("-", 1)[0] for i in cohort.ids])
