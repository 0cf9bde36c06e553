"""PACS-safe outputs for a planar study: a Secondary Capture of a summary image and a Structured Report.

Both are built with highdicom from the *source study*: the patient and study attributes are carried over
(PatientName, PatientID, PatientBirthDate, PatientSex, AccessionNumber, StudyDate/Time, StudyID,
ReferringPhysicianName), the Study Instance UID is the source's, each study gets its own new Series Instance
UID, and both reference the source images, so a PACS files them beside the scan and a RIS can route them.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Sequence

import numpy as np

from .nm_iod import VIEW_ORIENTATION
from .planar import ImagingError, PlanarStudy

#: The words every triage output carries.
TRIAGE_DISCLAIMER = "For triage — not a diagnosis"
#: Private codes (PS3.16 allows a "99" coding scheme) for what no standard code names.
_SCHEME = "99SCINTIML"


def _conformant(md: dict) -> dict:
    """The patient/study header values highdicom can take; a non-conformant one (PatientSex 'U' or 'female',
    PatientBirthDate '00000000' or '1961-07-04', StudyTime '25:61') is left empty instead of stopping triage
    (the source study keeps it; the value is never quoted in a message: it may be PHI)."""
    from pydicom.valuerep import DA, TM

    out = dict(md)
    if str(out.get("PatientSex", "")).upper() not in ("", "M", "F", "O"):
        out["PatientSex"] = ""
    elif out.get("PatientSex"):
        out["PatientSex"] = str(out["PatientSex"]).upper()
    for key, kind in (("PatientBirthDate", DA), ("StudyDate", DA), ("StudyTime", TM)):
        if out.get(key):
            try:
                kind(str(out[key]))
            except (ValueError, TypeError, OverflowError):
                out[key] = ""
    return out


def _patient_study(study: PlanarStudy) -> dict:
    md = _conformant(study.metadata)
    return dict(
        patient_id=study.patient_id or None, patient_name=md.get("PatientName") or None,
        patient_birth_date=md.get("PatientBirthDate") or None, patient_sex=md.get("PatientSex") or None,
        accession_number=md.get("AccessionNumber") or None, study_id=md.get("StudyID") or None,
        study_date=md.get("StudyDate") or None, study_time=md.get("StudyTime") or None,
        referring_physician_name=md.get("ReferringPhysicianName") or None,
    )


@contextlib.contextmanager
def _quiet_person_names():
    """highdicom warns of a one-part PatientName ('DOE', valid DICOM) with the name itself in the message, which
    the CLI would print: a patient's name on a terminal or in a log. The name is copied as it is, unwarned."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore",
                                message=r"(?s)The string .* is unlikely to represent the intended person name",
                                category=UserWarning)
        yield


def _sources(study: PlanarStudy) -> list[dict]:
    sources = study.metadata.get("source_instances") or []
    name = study.source or study.patient_id or "study"
    if study.source and not study.study_instance_uid and sources:  # read from DICOM files that lack the tag
        raise ImagingError(f"{name}: the files have no Study Instance UID (0020,000D), so a DICOM result cannot "
                           "be filed with this study; fix the tag at the modality or PACS")
    if not study.study_instance_uid or not sources:
        raise ImagingError(
            f"{study.source or study.patient_id or 'study'}: no source DICOM instances to reference; read the study "
            "with scintiml.imaging.ingest.read_studies so its Study Instance UID and SOP instances are known")
    return sources


def _evidence(study: PlanarStudy) -> list:
    """Minimal datasets naming each source instance (what highdicom needs to record the evidence)."""
    from pydicom.dataset import Dataset

    out = []
    md = _conformant(study.metadata)
    for src in _sources(study):
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID = src["sop_class_uid"], src["sop_instance_uid"]
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study.study_instance_uid, src["series_instance_uid"]
        ds.PatientID = study.patient_id
        ds.PatientName = md.get("PatientName", "")
        ds.PatientBirthDate = md.get("PatientBirthDate", "")
        ds.PatientSex = md.get("PatientSex", "")
        ds.StudyDate = md.get("StudyDate", "")
        ds.StudyTime = md.get("StudyTime", "")
        ds.StudyID = md.get("StudyID", "")
        ds.AccessionNumber = md.get("AccessionNumber", "")
        ds.ReferringPhysicianName = md.get("ReferringPhysicianName", "")
        out.append(ds)
    return out


def secondary_capture(rgb: np.ndarray, study: PlanarStudy, views_shown: Sequence[str] | None = None, *,
                      series_instance_uid: str | None = None, series_number: int = 9001, instance_number: int = 1,
                      description: str = "scintiml PE triage summary (for triage, not a diagnosis)"):
    """A Secondary Capture Image (highdicom) of a summary image, filed in the source study.

    Parameters
    ----------
    rgb : (rows, columns, 3) uint8 array
        The summary image; the patient ID burned into it makes ``BurnedInAnnotation`` ``YES``.
    study : PlanarStudy
        Read with :func:`scintiml.imaging.ingest.read_studies` (its metadata carries the patient and study
        attributes and the source SOP instances, which ``SourceImageSequence`` references).
    views_shown : sequence of str, optional
        The views drawn in the image. ``PatientOrientation`` is the views' shared orientation (ANT, RAO, LAO
        share none: ANT is ``L\\F``); where panels of different orientation are side by side, no single value is
        true, so it is left empty and each panel's orientation is listed in ``DerivationDescription``.
    series_instance_uid : str, optional
        New per study by default.

    Returns
    -------
    highdicom.sc.SCImage

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from scintiml.imaging.nm_iod import write_nm_study
    >>> from scintiml.imaging.ingest import read_study
    >>> folder = tempfile.mkdtemp()
    >>> st = PlanarStudy(views={"ANT": np.ones((8, 8))}, pixel_spacing_mm=(3.0, 3.0), patient_id="P1")
    >>> src = read_study(write_nm_study(st, folder))
    >>> sc = secondary_capture(np.zeros((16, 16, 3), np.uint8), src, views_shown=["ANT"])
    >>> sc.StudyInstanceUID == src.study_instance_uid, sc.BurnedInAnnotation, list(sc.PatientOrientation)
    (True, 'YES', ['L', 'F'])
    """
    import highdicom as hd
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImagingError(f"the summary image must be (rows, columns, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    sources = _sources(study)
    views_shown = list(views_shown or study.views)
    orientations = {VIEW_ORIENTATION.get(v) for v in views_shown}
    shared = orientations.pop() if len(orientations) == 1 and None not in orientations else None
    with _quiet_person_names():
        sc = hd.sc.SCImage(
            pixel_array=rgb, photometric_interpretation="RGB", bits_allocated=8,
            coordinate_system="PATIENT",
            study_instance_uid=study.study_instance_uid, series_instance_uid=series_instance_uid or generate_uid(),
            series_number=series_number, sop_instance_uid=generate_uid(), instance_number=instance_number,
            manufacturer="scintiml", patient_orientation=shared or ("L", "F"), **_patient_study(study),
        )
    # UTF-8, as the SR: without it a patient name or ID outside ASCII is written as '?' (measured: 'Ünïcödé 患者'
    # came back as 'Ünïcödé ??')
    sc.SpecificCharacterSet = "ISO_IR 192"
    if shared is None:
        sc.PatientOrientation = ""  # panels of different orientation: no single value is true (type 2, empty)
    sc.SeriesDescription = description[:64]
    sc.BodyPartExamined = "CHEST"  # unpaired, so Laterality (2C) is absent
    sc.BurnedInAnnotation = "YES"  # the patient ID and P(PE) are drawn into the pixels
    sc.ImageType = ["DERIVED", "SECONDARY"]
    panels = [v + " (" + "\\".join(VIEW_ORIENTATION.get(v, ("?", "?"))) + ")" for v in views_shown]
    sc.DerivationDescription = ("Summary of planar views " + ", ".join(panels))[:1024]
    refs = []
    for src in sources:
        item = Dataset()
        item.ReferencedSOPClassUID = src["sop_class_uid"]
        item.ReferencedSOPInstanceUID = src["sop_instance_uid"]
        refs.append(item)
    sc.SourceImageSequence = refs
    return sc


def structured_report(study: PlanarStudy, probability: float, threshold: float, model_name: str,
                      model_version: str, *, series_instance_uid: str | None = None, series_number: int = 9002,
                      instance_number: int = 1):
    """A Comprehensive SR (highdicom) with the triage result for one study.

    The report's content: P(PE), the decision threshold, the triage category (URGENT when P(PE) is at or
    above the threshold), the algorithm's name and version (DCM 111001/111003) and the comment
    "For triage — not a diagnosis". It references the source images as evidence.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from scintiml.imaging.nm_iod import write_nm_study
    >>> from scintiml.imaging.ingest import read_study
    >>> st = PlanarStudy(views={"ANT": np.ones((8, 8))}, pixel_spacing_mm=(3.0, 3.0), patient_id="P1")
    >>> src = read_study(write_nm_study(st, tempfile.mkdtemp()))
    >>> sr = structured_report(src, 0.81, 0.5, "planar-pe-cnn", "1.0")
    >>> sr.StudyInstanceUID == src.study_instance_uid, sr.ContentSequence[0].TextValue
    (True, 'planar-pe-cnn')
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    if not 0.0 <= float(probability) <= 1.0 or not 0.0 <= float(threshold) <= 1.0:
        raise ImagingError(f"probability and threshold must lie in [0, 1], got {probability} and {threshold}")
    evidence = _evidence(study)
    unit = codes.UCUM.NoUnits
    items = [
        hd.sr.TextContentItem(name=hd.sr.CodedConcept("111001", "DCM", "Algorithm Name"), value=model_name,
                              relationship_type="CONTAINS"),
        hd.sr.TextContentItem(name=hd.sr.CodedConcept("111003", "DCM", "Algorithm Version"),
                              value=str(model_version), relationship_type="CONTAINS"),
        hd.sr.NumContentItem(name=hd.sr.CodedConcept("PPE", _SCHEME, "Probability of pulmonary embolism"),
                             value=float(probability), unit=unit, relationship_type="CONTAINS"),
        hd.sr.NumContentItem(name=hd.sr.CodedConcept("THR", _SCHEME, "Triage decision threshold"),
                             value=float(threshold), unit=unit, relationship_type="CONTAINS"),
        hd.sr.TextContentItem(name=hd.sr.CodedConcept("TRIAGE", _SCHEME, "Triage category"),
                              value="URGENT" if probability >= threshold else "routine", relationship_type="CONTAINS"),
        hd.sr.TextContentItem(name=codes.DCM.Comment, value=TRIAGE_DISCLAIMER, relationship_type="CONTAINS"),
    ]
    root = hd.sr.ContainerContentItem(name=hd.sr.CodedConcept("PETRIAGE", _SCHEME, "Planar lung perfusion triage"),
                                      template_id=None)
    root.ContentSequence = items
    with _quiet_person_names():
        sr = hd.sr.ComprehensiveSR(
            evidence=evidence, content=root, series_instance_uid=series_instance_uid or generate_uid(),
            series_number=series_number, sop_instance_uid=generate_uid(), instance_number=instance_number,
            manufacturer="scintiml", is_complete=True, is_final=False, is_verified=False,
        )
    sr.SeriesDescription = "scintiml PE triage (for triage, not a diagnosis)"
    sr.SpecificCharacterSet = "ISO_IR 192"  # the disclaimer's dash is not ASCII
    return sr
