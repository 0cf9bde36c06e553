"""The one place where the PACS service meets the CNN and the NM reader.

Everything the service needs from :mod:`scintiml.cnn` and :mod:`scintiml.imaging` goes through here (loading
the model, reading a study's files, scoring, the summary display, the Secondary Capture), so a change on their
side is a change in this file only. The Secondary Capture and the Structured Report are built by
:mod:`scintiml.imaging.dicom_outputs` (highdicom), which files them in the source study.

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

from ..errors import BundleError
from .errors import StudyDataError, StudyRefusedError

__all__ = ["TriageResult", "load_model", "model_version", "read_study", "result_uids", "triage_study"]

#: The algorithm name written into the SR (DCM 111001); the version is the bundle's fingerprint.
MODEL_NAME = "scintiml planar lung-perfusion CNN"


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
    """A short fingerprint of a CNN bundle (16 hex digits of a SHA-256).

    It hashes ``bundle.json`` where the bundle has one (that file holds the SHA-256 of every other file), else
    the configuration and the weights; the same bundle always gives the same version.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("config.json", "weights.safetensors"):
    ...     _ = (d / name).write_bytes(b"x")
    >>> len(model_version(d)), model_version(d) == model_version(d)
    (16, True)
    """
    path = Path(path)
    names = ["bundle.json"] if (path / "bundle.json").is_file() else ["config.json", "weights.safetensors"]
    digest = hashlib.sha256()
    for name in names:
        if not (path / name).is_file():
            raise BundleError(f"{str(path)!r} is not a CNN bundle ({name} missing); train one with "
                                 "scintiml cnn train")
        digest.update(name.encode())
        digest.update((path / name).read_bytes())
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

    Views may come in one multi-frame instance or one instance per view
    (:func:`scintiml.imaging.read_studies`). Instances of other modalities (for example our own earlier
    results) are ignored; unreadable NM instances are noted and skipped; if the model's views are then
    incomplete, :class:`StudyDataError` says which are missing.

    Returns
    -------
    study : PlanarStudy
    notes : list of str
    """
    from ..imaging import read_studies

    studies, skipped = read_studies([Path(f) for f in files], views=views)
    notes = [f"{Path(s['file']).name}: {_short(s['reason'].removeprefix(s['file'] + ': '))}" for s in skipped
             if "not NM" not in s["reason"] and not any(s["file"] == st.study_instance_uid for st in studies)]
    if len(studies) != 1:
        why = "; ".join(notes) if notes else "no NM instance"
        raise StudyDataError(f"the study cannot be triaged: {why}" if not studies else
                             f"the files hold {len(studies)} studies, expected one")
    return studies[0], notes


def triage_study(model, version: str, files: Sequence[str | Path]) -> TriageResult:
    """Score one study and build its Secondary Capture and Structured Report (deterministic UIDs)."""
    from ..cnn.triage import worklist  # the module in both the old and the new layout of scintiml.cnn
    from ..imaging import ImagingError, secondary_capture, structured_report

    study, notes = read_study(files, model.views)
    try:
        table = worklist(model, [study])[0]
    except ImagingError as exc:  # e.g. a matrix the model does not take
        raise StudyDataError(_short(str(exc))) from None
    row = table.iloc[0]
    probability = float(row["probability"])
    check = str(row.get("protocol_check", "ok"))
    if probability != probability:  # NaN: the model's protocol guard refused to score this study
        if check.startswith("no PatientID"):  # not a protocol matter: the result could be filed to no patient
            raise StudyRefusedError(f"not triaged: {check}")
        raise StudyRefusedError(f"not triaged: outside the model's training protocol ({check})")
    threshold = float(model.threshold)
    priority = "URGENT" if probability >= threshold else "routine"
    uids = result_uids(study.study_instance_uid, version)
    counts = study.stack(model.views)[None]
    rgb = _summary(model, study, probability, counts)
    from ..cnn.glyphs import undrawable_note

    note = undrawable_note("the patient ID", study.patient_id)  # drawn as '?' on the summary: say so
    notes = notes + ([note] if note else [])
    sc = secondary_capture(rgb, study, views_shown=model.views, series_instance_uid=uids["sc_series"])
    _set_sop_uid(sc, uids["sc_sop"])
    sr = structured_report(study, probability, threshold, MODEL_NAME, version, series_instance_uid=uids["sr_series"])
    _set_sop_uid(sr, uids["sr_sop"])
    return TriageResult(study.study_instance_uid, study.patient_id, probability, priority, threshold, version,
                        sc, sr, notes)


def _summary(model, study, probability: float, counts: np.ndarray) -> np.ndarray:
    """The one-page summary display with the saliency map where the CNN package offers it; else a plain
    montage of the views (the numbers are in the SR either way)."""
    from .. import cnn

    maps = cnn.grad_cam(model, counts)
    draw = getattr(cnn, "summary_image", None)
    if draw is not None:
        return draw(study, model.views, probability, model.threshold, maps[0])
    tiles = []
    for view in model.views:
        img = np.asarray(study.views[view], dtype=float)
        top = float(np.quantile(img, 0.995)) or 1.0
        tiles.append((255 - np.clip(img / top, 0, 1) * 255).astype(np.uint8))  # inverted grey, as NM displays
    cols = min(3, len(tiles))
    rows = -(-len(tiles) // cols)
    tiles += [np.full_like(tiles[0], 255)] * (rows * cols - len(tiles))
    grey = np.concatenate([np.concatenate(tiles[r * cols:(r + 1) * cols], axis=1) for r in range(rows)], axis=0)
    return np.repeat(grey[..., None], 3, axis=2)


def _set_sop_uid(ds, uid: str) -> None:
    ds.SOPInstanceUID = uid
    if getattr(ds, "file_meta", None) is not None:
        ds.file_meta.MediaStorageSOPInstanceUID = uid


def _short(text: str) -> str:
    return " ".join(str(text).split())[:300]
