"""Planar nuclear-medicine studies: DICOM NM in and out, PNG/TIFF + sidecar JSON, folder scans.

A :class:`PlanarStudy` keeps the views (arrays of counts) beside the metadata
that a model's validity depends on — radiopharmaceutical, activity, collimator,
energy windows, camera — from the file to the summary display (the MONAI
habit of carrying metadata with the pixels).

DICOM attributes are named by their keywords (pydicom), never by tag numbers.
Views come from the Detector Information Sequence's View Code Sequence
(ANT, POST, RAO, ...), else from the frame's or series' description.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ScintimlError


class ImagingError(ScintimlError):
    """A file that is not a usable planar NM study."""


#: View codes written into the View Code Sequence. A private coding scheme ("99" prefix, as DICOM
#: PS3.16 allows) with the view's usual abbreviation as value: we do not ship SNOMED CT's codes for
#: these projections, and a wrong standard code is worse than an honest private one. On reading, any
#: scheme is accepted: the view is taken from the code value or the code meaning's words.
VIEW_CODES = {
    "ANT": ("ANT", "99SCINTIML", "anterior"),
    "POST": ("POST", "99SCINTIML", "posterior"),
    "RAO": ("RAO", "99SCINTIML", "right anterior oblique"),
    "LAO": ("LAO", "99SCINTIML", "left anterior oblique"),
    "RPO": ("RPO", "99SCINTIML", "right posterior oblique"),
    "LPO": ("LPO", "99SCINTIML", "left posterior oblique"),
}
_MEANINGS = {
    "RIGHT ANTERIOR OBLIQUE": "RAO", "LEFT ANTERIOR OBLIQUE": "LAO", "RIGHT POSTERIOR OBLIQUE": "RPO",
    "LEFT POSTERIOR OBLIQUE": "LPO",
}
_WORDS = {
    "ANT": ("ANT", "ANTERIOR"), "POST": ("POST", "POSTERIOR"), "RAO": ("RAO",), "LAO": ("LAO",),
    "RPO": ("RPO",), "LPO": ("LPO",),
}


@dataclass
class PlanarStudy:
    """Views of one planar study and the metadata a model needs."""

    views: dict[str, np.ndarray]
    pixel_spacing_mm: tuple[float, float] = (np.nan, np.nan)
    patient_id: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def counts_per_view(self) -> dict[str, float]:
        return {v: float(a.sum()) for v, a in self.views.items()}

    def stack(self, views) -> np.ndarray:
        missing = [v for v in views if v not in self.views]
        if missing:
            raise ImagingError(f"{self.source or 'study'}: view(s) {missing} missing; it has {list(self.views)}")
        return np.stack([self.views[v] for v in views])


def view_from_text(text: str) -> str | None:
    """The view named in a description such as 'LUNG PERF RAO' (None if none)."""
    upper = str(text).upper()
    for phrase, view in _MEANINGS.items():
        if phrase in upper:
            return view
    words = re.split(r"[^A-Z]+", upper)
    for view, names in _WORDS.items():
        if any(n in words for n in names):
            return view
    return None


# ----------------------------------------------------------------------------- writing
def write_nm_dicom(study: PlanarStudy, path: str | Path, patient_name: str = "", patient_birth_date: str = "",
                   study_date: str | None = None) -> Path:
    """Write a planar study as one multi-frame NM Image (one frame per view)."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, NuclearMedicineImageStorage, generate_uid

    views = list(study.views)
    frames = np.stack([np.asarray(study.views[v]) for v in views])
    if frames.max() > 65535 or frames.min() < 0:
        raise ImagingError("counts must lie in 0..65535 to be stored as 16-bit NM pixels")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = NuclearMedicineImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    md = study.metadata
    now = datetime.now()
    ds.SOPClassUID = NuclearMedicineImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study.study_instance_uid or generate_uid()
    ds.SeriesInstanceUID = study.series_instance_uid or generate_uid()
    ds.Modality = "NM"
    ds.PatientID = study.patient_id
    ds.PatientName = patient_name
    ds.PatientBirthDate = patient_birth_date
    ds.PatientSex = md.get("PatientSex", "")
    ds.StudyDate = study_date or now.strftime("%Y%m%d")
    ds.StudyTime = now.strftime("%H%M%S")
    ds.AccessionNumber = md.get("AccessionNumber", "")
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SeriesDescription = md.get("SeriesDescription", "LUNG PERFUSION " + " ".join(views))
    ds.Manufacturer = md.get("Manufacturer", "scintiml simulator")
    ds.ManufacturerModelName = md.get("ManufacturerModelName", "")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "STATIC", "NONE"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.NumberOfFrames = len(views)
    ds.PixelSpacing = [float(study.pixel_spacing_mm[0]), float(study.pixel_spacing_mm[1])]
    ds.FrameIncrementPointer = [pydicom.tag.Tag("DetectorVector")]
    ds.DetectorVector = list(range(1, len(views) + 1))
    ds.NumberOfDetectors = len(views)
    detectors = []
    for view in views:
        det = Dataset()
        code, scheme, meaning = VIEW_CODES.get(view, ("", "", view))
        vc = Dataset()
        vc.CodeValue, vc.CodingSchemeDesignator, vc.CodeMeaning = code, scheme, meaning
        det.ViewCodeSequence = [vc]
        if "collimator" in md:
            det.CollimatorGridName = md["collimator"]
        detectors.append(det)
    ds.DetectorInformationSequence = detectors
    ds.EnergyWindowVector = [1] * len(views)
    ds.NumberOfEnergyWindows = 1
    win = Dataset()
    rng = Dataset()
    lo, hi = md.get("energy_window_kev", (126.0, 154.0))
    rng.EnergyWindowLowerLimit, rng.EnergyWindowUpperLimit = float(lo), float(hi)
    win.EnergyWindowRangeSequence = [rng]
    win.EnergyWindowName = md.get("energy_window_name", "Tc99m")
    ds.EnergyWindowInformationSequence = [win]
    if "radiopharmaceutical" in md or "injected_activity_mbq" in md:
        rad = Dataset()
        rad.Radiopharmaceutical = md.get("radiopharmaceutical", "")
        if "injected_activity_mbq" in md:
            rad.RadionuclideTotalDose = float(md["injected_activity_mbq"])
        if "injection_time" in md:
            rad.RadiopharmaceuticalStartTime = md["injection_time"]
        ds.RadiopharmaceuticalInformationSequence = [rad]
    if "acquisition_time" in md:
        ds.AcquisitionTime = md["acquisition_time"]
    ds.PixelData = frames.astype(np.uint16).tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


# ----------------------------------------------------------------------------- reading
def read_nm_dicom(path: str | Path) -> PlanarStudy:
    """Read an NM planar DICOM file (single- or multi-frame) into a :class:`PlanarStudy`."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError) as exc:
        raise ImagingError(f"{path}: not a readable DICOM file ({exc})") from exc
    modality = getattr(ds, "Modality", None)
    if modality != "NM":
        raise ImagingError(f"{path}: modality is {modality!r}, not NM; only planar nuclear-medicine images are read")
    if "PixelData" not in ds:
        raise ImagingError(f"{path}: no pixel data (Pixel Data attribute missing)")
    try:
        pixels = ds.pixel_array.astype(float)
    except Exception as exc:  # corrupt or truncated pixel data
        raise ImagingError(f"{path}: pixel data cannot be decoded ({exc})") from exc
    if pixels.ndim == 2:
        pixels = pixels[None]
    n = pixels.shape[0]
    names: list[str | None] = [None] * n
    detectors = list(getattr(ds, "DetectorInformationSequence", []))
    vector = list(getattr(ds, "DetectorVector", range(1, n + 1)))
    for i in range(n):
        d = int(vector[i]) - 1 if i < len(vector) else i
        if 0 <= d < len(detectors):
            det = detectors[d]
            for item in getattr(det, "ViewCodeSequence", []):
                names[i] = view_from_text(getattr(item, "CodeValue", "")) or view_from_text(
                    getattr(item, "CodeMeaning", ""))
    if n == 1 and names[0] is None:
        names[0] = view_from_text(getattr(ds, "SeriesDescription", "")) or view_from_text(
            getattr(ds, "ImageComments", ""))
    views = {}
    for i, name in enumerate(names):
        views[name or f"FRAME{i + 1}"] = pixels[i]
    md: dict[str, Any] = {}
    rad = list(getattr(ds, "RadiopharmaceuticalInformationSequence", []))
    if rad:
        md["radiopharmaceutical"] = str(getattr(rad[0], "Radiopharmaceutical", ""))
        if "RadionuclideTotalDose" in rad[0]:
            md["injected_activity_mbq"] = float(rad[0].RadionuclideTotalDose)
        if "RadiopharmaceuticalStartTime" in rad[0]:
            md["injection_time"] = str(rad[0].RadiopharmaceuticalStartTime)
    if detectors and "CollimatorGridName" in detectors[0]:
        md["collimator"] = str(detectors[0].CollimatorGridName)
    windows = []
    for w in getattr(ds, "EnergyWindowInformationSequence", []):
        for r in getattr(w, "EnergyWindowRangeSequence", []):
            windows.append((float(r.EnergyWindowLowerLimit), float(r.EnergyWindowUpperLimit)))
    if windows:
        md["energy_windows_kev"] = windows
    for keyword, key in (("AcquisitionTime", "acquisition_time"), ("Manufacturer", "Manufacturer"),
                         ("ManufacturerModelName", "ManufacturerModelName"), ("SeriesDescription", "SeriesDescription"),
                         ("PatientSex", "PatientSex"), ("StudyDate", "StudyDate")):
        if keyword in ds and str(ds[keyword].value):
            md[key] = str(ds[keyword].value)
    md["matrix"] = [int(ds.Rows), int(ds.Columns)]
    spacing = tuple(float(v) for v in getattr(ds, "PixelSpacing", [np.nan, np.nan]))
    return PlanarStudy(
        views=views, pixel_spacing_mm=spacing, patient_id=str(getattr(ds, "PatientID", "")),
        study_instance_uid=str(getattr(ds, "StudyInstanceUID", "")),
        series_instance_uid=str(getattr(ds, "SeriesInstanceUID", "")), metadata=md, source=str(path),
    )


def read_png_study(image_paths: list[str | Path], sidecar: str | Path | None = None) -> PlanarStudy:
    """PNG/TIFF views plus an optional sidecar JSON (``{"views": {"ANT": "a.png"}, "metadata": {...}}``).

    The view of each image comes from the sidecar, else from its file name (``..._ANT.png``).
    """
    from PIL import Image

    info: dict[str, Any] = {}
    if sidecar is not None:
        try:
            info = json.loads(Path(sidecar).read_text())
        except (OSError, ValueError) as exc:
            raise ImagingError(f"{sidecar}: cannot read the sidecar JSON ({exc})") from exc
    by_file = {Path(v).name: k for k, v in info.get("views", {}).items()}
    views = {}
    for p in map(Path, image_paths):
        try:
            arr = np.asarray(Image.open(p), dtype=float)
        except Exception as exc:
            raise ImagingError(f"{p}: not a readable image ({exc})") from exc
        if arr.ndim == 3:
            arr = arr[..., :3].mean(axis=2)
        view = by_file.get(p.name) or view_from_text(p.stem)
        if view is None:
            raise ImagingError(f"{p}: cannot tell the view; name it in the sidecar or in the file name (e.g. _ANT)")
        views[view] = arr
    md = info.get("metadata", {})
    spacing = tuple(md.get("pixel_spacing_mm", (np.nan, np.nan)))
    return PlanarStudy(views=views, pixel_spacing_mm=spacing, patient_id=str(info.get("patient_id", "")),
                       study_instance_uid=str(info.get("study_instance_uid", "")), metadata=md,
                       source=str(sidecar or image_paths[0]))


def scan_folder(folder: str | Path) -> tuple[list[PlanarStudy], list[dict[str, str]]]:
    """Read every DICOM file below ``folder``; unreadable or non-NM files are skipped and reported."""
    studies, skipped = [], []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        try:
            studies.append(read_nm_dicom(path))
        except ImagingError as exc:
            skipped.append({"file": str(path), "reason": str(exc)})
    return studies, skipped
