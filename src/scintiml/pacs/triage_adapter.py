"""The one place where the PACS service meets the CNN and the NM reader.

Everything the service needs from :mod:`scintiml.cnn` and :mod:`scintiml.imaging` goes through here (loading
the model, reading a study's files, scoring, the summary display, the Secondary Capture), so a change on their
side is a change in this file only. The Structured Report is built here with highdicom.

Result UIDs are deterministic: derived from the source Study Instance UID and the model version (a hash of the
bundle's weights and configuration), so a study sent twice gives the same SC and SR UIDs and the PACS keeps
one copy of each instead of duplicates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import StudyDataError

__all__ = ["TriageResult", "load_model", "model_version", "read_study", "result_uids", "triage_study"]

#: Patient- and study-level attributes copied from the scan into the results, so the PACS files them in the
#: same patient and study and the viewer shows the usual header.
_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "StudyID",
           "AccessionNumber", "ReferringPhysicianName", "StudyDescription")
_NM = "1.2.840.10008.5.1.4.1.1.20"


@dataclass
class TriageResult:
    """One triaged study: the score, the priority and the two DICOM results to store back."""

    study_instance_uid: str
    patient_id: str
    probability: float
    priority: str  # "URGENT" or "routine"
    threshold: float
    model_version: str
    secondary_capture: Any  # pydicom Dataset
    structured_report: Any  # pydicom Dataset
    notes: list[str] = field(default_factory=list)  # e.g. instances skipped as unreadable

    def row(self) -> dict[str, Any]:
        """The worklist row (no pixel data)."""
        return {"study_instance_uid": self.study_instance_uid, "patient_id": self.patient_id,
                "probability": round(float(self.probability), 4), "priority": self.priority,
                "threshold": round(float(self.threshold), 4), "model_version": self.model_version,
                "sc_sop_instance_uid": str(self.secondary_capture.SOPInstanceUID),
                "sr_sop_instance_uid": str(self.structured_report.SOPInstanceUID),
                "notes": "; ".join(self.notes)}


def load_model(path: str | Path):
    """The CNN bundle (:class:`scintiml.cnn.CNNModel`) and its version string."""
    from ..cnn import CNNModel

    return CNNModel.load(path), model_version(path)


def model_version(path: str | Path) -> str:
    """A short fingerprint of a CNN bundle: SHA-256 of its configuration and weights (16 hex digits).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("config.json", "weights.safetensors"):
    ...     _ = (d / name).write_bytes(b"x")
    >>> len(model_version(d))
    16
    """
    digest = hashlib.sha256()
    for name in ("config.json", "weights.safetensors"):
        digest.update(name.encode())
        digest.update((Path(path) / name).read_bytes())
    return digest.hexdigest()[:16]


def result_uids(study_uid: str, version: str) -> dict[str, str]:
    """Series and instance UIDs of the SC and SR for one study and one model version (deterministic).

    Examples
    --------
    >>> a = result_uids("1.2.3", "abc")
    >>> a == result_uids("1.2.3", "abc"), a["sc_sop"] == result_uids("1.2.3", "abd")["sc_sop"]
    (True, False)
    """
    import uuid

    def uid(kind: str) -> str:
        # A UUID-derived UID (PS3.5 B.2, root 2.25) from a name-based UUID (version 5): same inputs, same UID.
        # (pydicom's generate_uid ignores its entropy sources when prefix is None, so it cannot be used here.)
        name = "\x1f".join(["scintiml-pacs", str(study_uid), str(version), kind])
        return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, name).int}"

    return {k: uid(k) for k in ("sc_series", "sc_sop", "sr_series", "sr_sop")}


def read_study(files: Sequence[str | Path], views: Sequence[str]):
    """Gather one study's NM instances into a :class:`scintiml.imaging.planar.PlanarStudy`.

    Views may come in one multi-frame instance or one instance per view. Instances of other classes (for
    example our own earlier results) are ignored; unreadable NM instances are noted and skipped; if the model's
    views are then incomplete, :class:`StudyDataError` says which are missing.

    Returns
    -------
    study : PlanarStudy
    header : pydicom Dataset
        The first NM instance's header (no pixels), the source of the results' patient and study attributes.
    notes : list of str
    """
    import pydicom

    from ..imaging.planar import ImagingError, read_nm_dicom

    merged = None
    header = None
    notes: list[str] = []
    for path in sorted(map(Path, files)):
        try:
            head = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # a corrupt file: any parser error
            notes.append(f"{path.name}: unreadable ({type(exc).__name__})")
            continue
        if str(getattr(head, "SOPClassUID", "")) != _NM and getattr(head, "Modality", "") != "NM":
            continue
        try:
            study = read_nm_dicom(path)
        except ImagingError as exc:
            notes.append(f"{path.name}: {' '.join(str(exc).split(': ', 1)[-1].split())}")
            continue
        if merged is None:
            merged, header = study, head
        else:
            for name, pixels in study.views.items():
                merged.views.setdefault(name, pixels)
    if merged is None:
        why = f" ({'; '.join(notes)})" if notes else ""
        raise StudyDataError(f"no readable NM instance in the study{why}")
    missing = [v for v in views if v not in merged.views]
    if missing:
        raise StudyDataError(f"view(s) {', '.join(missing)} missing (the study has {', '.join(merged.views)})"
                             + (f"; {'; '.join(notes)}" if notes else ""))
    shapes = {merged.views[v].shape for v in views}
    if shapes != {(128, 128)}:
        raise StudyDataError(f"views must be 128 x 128 pixels for this model; the study has {sorted(shapes)}")
    return merged, header, notes


def triage_study(model, version: str, files: Sequence[str | Path]) -> TriageResult:
    """Score one study and build its Secondary Capture and Structured Report (deterministic UIDs)."""
    from ..cnn import grad_cam, secondary_capture, summary_image

    study, header, notes = read_study(files, model.views)
    counts = study.stack(model.views)[None]
    probability = float(model.predict_proba(counts)[0])
    threshold = model.threshold
    priority = "URGENT" if probability >= threshold else "routine"
    uids = result_uids(study.study_instance_uid, version)
    rgb = summary_image(study, model.views, probability, threshold, grad_cam(model, counts)[0])
    sc = secondary_capture(rgb, study, series_instance_uid=uids["sc_series"], instance_number=1)
    _set_sop_uid(sc, uids["sc_sop"])
    _copy_header(header, sc)
    sr = _structured_report(header, probability, threshold, priority, version, uids)
    _copy_header(header, sr)
    return TriageResult(study.study_instance_uid, study.patient_id, probability, priority, threshold, version,
                        sc, sr, notes)


def _set_sop_uid(ds, uid: str) -> None:
    ds.SOPInstanceUID = uid
    if getattr(ds, "file_meta", None) is not None:
        ds.file_meta.MediaStorageSOPInstanceUID = uid


def _copy_header(source, target) -> None:
    for keyword in _COPIED:
        if keyword in source and str(source[keyword].value):
            setattr(target, keyword, source[keyword].value)


def _structured_report(header, probability: float, threshold: float, priority: str, version: str,
                       uids: dict[str, str]):
    """A Comprehensive SR: the triage finding as text, the probability and threshold as numbers, the
    algorithm's name and version, with the scan as evidence."""
    import highdicom as hd
    from pydicom.sr.coding import Code

    from ..cnn.triage import DISCLAIMER

    # A private coding scheme ("99" prefix, PS3.16) for the two concepts DICOM has no code for, as planar.py does.
    unit = Code("1", "UCUM", "no units")
    items = [
        hd.sr.TextContentItem(Code("121071", "DCM", "Finding"),
                              f"Triage priority {priority}: model probability of pulmonary embolism "
                              f"{probability:.2f} (threshold {threshold:.2f}). {DISCLAIMER}.",
                              relationship_type="CONTAINS"),
        hd.sr.NumContentItem(Code("PEPROB", "99SCINTIML", "Probability of pulmonary embolism (model)"),
                             round(probability, 4), unit, relationship_type="CONTAINS"),
        hd.sr.NumContentItem(Code("PETHR", "99SCINTIML", "Triage threshold (model)"), round(threshold, 4), unit,
                             relationship_type="CONTAINS"),
        hd.sr.TextContentItem(Code("111001", "DCM", "Algorithm Name"), "scintiml planar lung-perfusion CNN",
                              relationship_type="CONTAINS"),
        hd.sr.TextContentItem(Code("111003", "DCM", "Algorithm Version"), version, relationship_type="CONTAINS"),
    ]
    root = hd.sr.ContainerContentItem(Code("18748-4", "LN", "Diagnostic imaging report"))
    root.ContentSequence = items
    return hd.sr.ComprehensiveSR(
        evidence=[header], content=root, series_instance_uid=uids["sr_series"], series_number=9002,
        sop_instance_uid=uids["sr_sop"], instance_number=1, manufacturer="scintiml",
        series_description="scintiml PE triage report (not a diagnosis)", is_complete=True,
    )
