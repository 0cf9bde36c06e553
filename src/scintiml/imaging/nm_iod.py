"""Planar NM Image objects written the way the standard (PS3.3 A.5, C.8.4) describes a static acquisition.

What a static planar lung perfusion study looks like when a camera stores it:

* ``ImageType`` is ``ORIGINAL\\PRIMARY\\STATIC\\EMISSION`` (value 3 = acquisition type, value 4 = image
  source, C.8.4.9.1.1 of PS3.3).
* One frame per detector and energy window: for ``STATIC`` the Frame Increment Pointer is Energy Window
  Vector + Detector Vector. A single-head view is one single-frame file with one detector; a dual-head camera
  takes two opposed views at once (ANT with POST, RAO with LPO, LAO with RPO), one frame per head.
* The Detector Information Sequence holds one item per detector with the view in its View Code Sequence
  (SNOMED CT codes of CID 26 "Nuclear Medicine Projection", from ``pydicom.sr.codedict.codes``) and the
  collimator; the Energy Window Information Sequence holds the 99mTc photopeak window.
* ``CountsAccumulated`` and ``ActualFrameDuration`` (ms) describe the acquisition; ``PatientOrientation``
  gives the patient direction of the rows and columns for the view (an anterior view: ``L\\F``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Sequence

import numpy as np

from ..io import atomic_file, safe_file_stem
from .planar import ImagingError, PlanarStudy

#: The views of a planar lung study, in reading order.
STANDARD_VIEWS = ("ANT", "POST", "RAO", "LAO", "RPO", "LPO", "RLAT", "LLAT")

#: Patient direction of the image rows (left to right) and columns (top to bottom) for each view, as
#: ``PatientOrientation`` writes it (PS3.3 C.7.6.1.1.1). Worked out from the camera's facing direction f and
#: the head direction H: an image row runs along f × H (anterior camera faces P, so a row runs to the patient's
#: left). Obliques at 45° name both directions.
VIEW_ORIENTATION = {
    "ANT": ("L", "F"), "POST": ("R", "F"), "RAO": ("LA", "F"), "LAO": ("LP", "F"),
    "RPO": ("RA", "F"), "LPO": ("RP", "F"), "RLAT": ("A", "F"), "LLAT": ("P", "F"),
}

#: Opposed pairs a dual-head camera acquires together (head 1, head 2).
DUAL_HEAD_PAIRS = (("ANT", "POST"), ("RAO", "LPO"), ("LAO", "RPO"), ("RLAT", "LLAT"))


def view_code(view: str):
    """The SNOMED CT code (CID 26, Nuclear Medicine Projection) of a view such as ``"RAO"``.

    Examples
    --------
    >>> view_code("RAO").value, view_code("RAO").scheme_designator
    ('399108003', 'SCT')
    """
    from pydicom.sr.codedict import codes

    names = {
        "ANT": "AnteriorProjection", "POST": "PosteriorProjection",
        "RAO": "RightAnteriorObliqueEmissiveProjection", "LAO": "LeftAnteriorObliqueEmissiveProjection",
        "RPO": "RightPosteriorObliqueEmissiveProjection", "LPO": "LeftPosteriorObliqueEmissiveProjection",
        "RLAT": "RightLateralEmissiveProjection", "LLAT": "LeftLateralEmissiveProjection",
    }
    if view not in names:
        raise ImagingError(f"no standard view code for {view!r}; views are {', '.join(names)}")
    return getattr(codes.SCT, names[view])


def view_from_code(value: str, scheme: str = "SCT") -> str | None:
    """The view named by a CID 26 code value (SNOMED CT), or ``None``.

    Examples
    --------
    >>> view_from_code("399001007")
    'POST'
    """
    if scheme not in ("SCT", "SRT"):
        return None
    for view in STANDARD_VIEWS:
        if view_code(view).value == str(value):
            return view
    return None


def _stored_counts(view: str, image) -> np.ndarray:
    """One view as the 16-bit counts the file stores: rounded to the nearest integer, checked by the view's name.

    Rounded, not truncated: ``astype`` cut a view of 0.9 everywhere (``resample`` gives fractions) to all 0 while
    ``CountsAccumulated`` still said how many counts there were."""
    arr = np.asarray(image)
    if arr.dtype.kind not in "biuf":
        raise ImagingError(f"view {view} holds {arr.dtype} values, not counts; give it as a 2-D numeric array")
    if arr.ndim != 2 or arr.size == 0:
        raise ImagingError(f"view {view} is an array of shape {arr.shape}, not a 2-D image of counts; an NM view is "
                           "one non-empty rows x columns image")
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise ImagingError(f"view {view} has {bad} NaN or infinite pixel(s); counts must be finite numbers — replace "
                           "them (e.g. with 0) before writing NM files")
    counts = np.rint(arr.astype(float))
    if counts.min() < 0 or counts.max() > 65535:
        raise ImagingError(f"view {view} has counts from {arr.min():g} to {arr.max():g}; NM pixels are 16-bit counts "
                           "in 0..65535 — scale or clip the view before writing it")
    return counts.astype(np.uint16)


def _check_spacing(study: PlanarStudy) -> None:
    """Refuse a pixel spacing that :func:`scintiml.imaging.ingest.read_study` would refuse in the file written."""
    from .ingest import SPACING_RANGE_MM  # ingest imports this module: imported here, not at the top

    low, high = SPACING_RANGE_MM
    spacing = tuple(np.asarray(study.pixel_spacing_mm, dtype=float).ravel())
    if len(spacing) != 2 or not np.all(np.isfinite(spacing)):
        raise ImagingError(f"the study's pixel spacing is {study.pixel_spacing_mm!r}, not known; set "
                           "pixel_spacing_mm to the camera's pixel size in mm before writing NM files (readers "
                           "need it to put the views on one grid)")
    if not all(low <= s <= high for s in spacing):
        raise ImagingError(f"pixel spacing {spacing[0]:g} x {spacing[1]:g} mm cannot be written: PixelSpacing must "
                           f"lie in {low:g}-{high:g} mm for the file to be read back; give the pixel size in mm")


def _dataset(study: PlanarStudy, frames: np.ndarray, views: Sequence[str], *, study_uid: str, series_uid: str,
             series_number: int, instance_number: int, patient_name: str, patient_birth_date: str,
             study_date: str | None):
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, NuclearMedicineImageStorage, generate_uid

    md = study.metadata
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = NuclearMedicineImageStorage
    entropy = md.get("uid_entropy")  # reproducible UIDs for simulated data (same seed, same files)
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[entropy, "sop", str(instance_number)]) \
        if entropy else generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    now = datetime.now()
    ds.SOPClassUID = NuclearMedicineImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "NM"
    ds.PatientID = study.patient_id
    ds.PatientName = patient_name or md.get("PatientName", "")
    ds.PatientBirthDate = patient_birth_date or md.get("PatientBirthDate", "")
    ds.PatientSex = md.get("PatientSex", "")
    if md.get("PatientAge"):
        ds.PatientAge = md["PatientAge"]
    ds.StudyDate = study_date or md.get("StudyDate") or now.strftime("%Y%m%d")
    ds.StudyTime = md.get("StudyTime") or now.strftime("%H%M%S")
    ds.ContentDate, ds.ContentTime = ds.StudyDate, ds.StudyTime
    ds.AccessionNumber = md.get("AccessionNumber", "")
    ds.ReferringPhysicianName = md.get("ReferringPhysicianName", "")
    ds.StudyID = md.get("StudyID", "1")
    ds.StudyDescription = md.get("StudyDescription", "NM LUNG PERFUSION")
    # the chest is an unpaired body part, so Laterality (2C) is absent, not empty
    ds.BodyPartExamined = "CHEST"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.SeriesDescription = md.get("SeriesDescription", "LUNG PERF " + " ".join(views))
    ds.Manufacturer = md.get("Manufacturer", "scintiml simulator")
    ds.ManufacturerModelName = md.get("ManufacturerModelName", "planar perfusion simulator")
    # one value for every frame of the file: given where all its views share it (a single view), else empty
    # (type 2) — an ANT/POST pair has no single row direction, and a wrong one mirrors half the frames
    shared = {VIEW_ORIENTATION[v] for v in views}
    ds.PatientOrientation = list(shared.pop()) if len(shared) == 1 else ""
    # NM Image module
    ds.ImageType = ["ORIGINAL", "PRIMARY", "STATIC", "EMISSION"]
    # the counts the file holds (frames are the stored integers): the header must not contradict the pixels
    ds.CountsAccumulated = int(frames.sum(dtype=np.int64))
    duration_ms = float(md.get("frame_duration_ms", 0) or 0)
    if not duration_ms and md.get("count_rate_cps"):
        duration_ms = 1000.0 * float(frames[0].sum(dtype=np.int64)) / float(md["count_rate_cps"])
    ds.ActualFrameDuration = int(round(duration_ms))
    ds.AcquisitionTerminationCondition = md.get("termination", "CNTS")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.NumberOfFrames = len(frames)
    ds.PixelSpacing = [float(study.pixel_spacing_mm[0]), float(study.pixel_spacing_mm[1])]
    # NM Multi-frame module: a static acquisition steps over energy windows and detectors
    ds.FrameIncrementPointer = [pydicom.tag.Tag("EnergyWindowVector"), pydicom.tag.Tag("DetectorVector")]
    ds.EnergyWindowVector = [1] * len(views)
    ds.NumberOfEnergyWindows = 1
    ds.DetectorVector = list(range(1, len(views) + 1))
    ds.NumberOfDetectors = len(views)
    detectors = []
    for view in views:
        det = Dataset()
        code = view_code(view)
        vc = Dataset()
        vc.CodeValue, vc.CodingSchemeDesignator, vc.CodeMeaning = code.value, code.scheme_designator, code.meaning
        det.ViewCodeSequence = [vc]
        det.CollimatorGridName = md.get("collimator", "LEHR")
        det.CollimatorType = "PARA"
        # type 2 in the NM Detector module; a planar view has no patient position or orientation to give
        det.ImagePositionPatient = None
        det.ImageOrientationPatient = None
        detectors.append(det)
    ds.DetectorInformationSequence = detectors
    win = Dataset()
    rng = Dataset()
    lo, hi = md.get("energy_window_kev", (126.0, 154.0))
    rng.EnergyWindowLowerLimit, rng.EnergyWindowUpperLimit = float(lo), float(hi)
    win.EnergyWindowRangeSequence = [rng]
    win.EnergyWindowName = md.get("energy_window_name", "TC99M")
    ds.EnergyWindowInformationSequence = [win]
    rad = Dataset()
    rad.Radiopharmaceutical = md.get("radiopharmaceutical", "99mTc-MAA")
    if "injected_activity_mbq" in md:
        rad.RadionuclideTotalDose = float(md["injected_activity_mbq"])
    if "injection_time" in md:
        rad.RadiopharmaceuticalStartTime = md["injection_time"]
    from pydicom.sr.codedict import codes

    for keyword, code in (("RadionuclideCodeSequence", codes.SCT._99mTechnetium),  # CID 18
                          ("RadiopharmaceuticalCodeSequence", codes.SCT.TechnetiumTc99mAggregatedAlbumin)):  # CID 25
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code.value, code.scheme_designator, code.meaning
        setattr(rad, keyword, [item])
    ds.RadiopharmaceuticalInformationSequence = [rad]
    # NM/PET Patient Orientation module (type 2 sequences: present; the patient lies supine, feet first)
    ds.PatientOrientationCodeSequence = []
    ds.PatientGantryRelationshipCodeSequence = []
    ds.AcquisitionDate = ds.StudyDate
    if "acquisition_time" in md:
        ds.AcquisitionTime = md["acquisition_time"]
    ds.PixelData = frames.astype("<u2").tobytes()
    return ds


def nm_datasets(study: PlanarStudy, layout: str = "per_view", *, patient_name: str = "",
                patient_birth_date: str = "", study_date: str | None = None) -> list:
    """The NM Image datasets (pydicom) of a planar study, one per acquisition.

    Parameters
    ----------
    study : PlanarStudy
        Views of counts; ``study.metadata`` may carry ``PatientSex``, ``PatientAge``, ``AccessionNumber``,
        ``uid_entropy`` (UIDs derived from it, for reproducible simulated files), ``collimator``,
        ``radiopharmaceutical``, ``injected_activity_mbq``, ``count_rate_cps`` (for ``ActualFrameDuration``).
    layout : {"per_view", "dual_head", "multiframe"}
        ``per_view``: one single-frame file per view (one detector). ``dual_head``: opposed views acquired
        together, one frame per head. ``multiframe``: every view in one file, one detector item per view (the
        layout some workstations export; read back by :func:`scintiml.imaging.ingest.read_studies`).

    Returns
    -------
    list of pydicom.Dataset
        Pixels are the views' counts rounded to the nearest integer (16-bit, 0..65535); ``CountsAccumulated`` is
        the sum of the stored pixels. Where ``study.study_instance_uid`` is empty, every dataset gets one newly
        generated StudyInstanceUID; ``study`` itself is not changed.

    Raises
    ------
    ImagingError
        An unknown layout or view name, no views, a pixel spacing that is unknown or outside what a reader takes,
        a view that is not a 2-D image of finite counts in 0..65535, or views of different sizes in one file.

    Examples
    --------
    >>> import numpy as np
    >>> from scintiml.imaging import PlanarStudy
    >>> st = PlanarStudy(views={"ANT": np.ones((8, 8)), "POST": np.ones((8, 8))}, pixel_spacing_mm=(3.0, 3.0),
    ...                  patient_id="P1")
    >>> [list(ds.ImageType) for ds in nm_datasets(st)][0]
    ['ORIGINAL', 'PRIMARY', 'STATIC', 'EMISSION']
    >>> [ds.PatientOrientation for ds in nm_datasets(st)]
    [['L', 'F'], ['R', 'F']]
    >>> ds = nm_datasets(PlanarStudy(views={"ANT": np.full((8, 8), 0.9)}, pixel_spacing_mm=3.0))[0]
    >>> int(ds.pixel_array.min()), int(ds.CountsAccumulated)
    (1, 64)
    """
    from pydicom.uid import generate_uid

    if layout not in ("per_view", "dual_head", "multiframe"):
        raise ImagingError(f"unknown layout {layout!r}; choose per_view, dual_head or multiframe")
    if not study.views:
        raise ImagingError(f"{study.source or 'the study'} has no views; add at least one view before writing NM "
                           "files")
    unknown = [v for v in study.views if v not in VIEW_ORIENTATION]
    if unknown:
        raise ImagingError(f"view(s) {unknown} have no standard code; name views {', '.join(STANDARD_VIEWS)}")
    _check_spacing(study)
    # checked (and rounded) before anything is built, each by its view's name; the views may have been replaced
    # since the study was made, so PlanarStudy's own checks are not relied on
    stored = {v: _stored_counts(v, image) for v, image in study.views.items()}
    entropy = study.metadata.get("uid_entropy")
    # generated here, not written into the caller's study: every dataset of this call shares it
    study_uid = study.study_instance_uid or (generate_uid(entropy_srcs=[entropy, "study"]) if entropy
                                             else generate_uid())
    views = list(study.views)
    if layout == "per_view":
        groups = [[v] for v in views]
    elif layout == "multiframe":
        groups = [views]
    else:
        groups, left = [], list(views)
        for a, b in DUAL_HEAD_PAIRS:
            pair = [v for v in (a, b) if v in left]
            if pair:
                groups.append(pair)
                left = [v for v in left if v not in pair]
        groups += [[v] for v in left]
    series_uid = study.series_instance_uid or (generate_uid(entropy_srcs=[entropy, "series"]) if entropy
                                               else generate_uid())
    for group in groups:
        shapes = {v: stored[v].shape for v in group}
        if len(set(shapes.values())) > 1:
            sizes = ", ".join(f"{v} {r}x{c}" for v, (r, c) in shapes.items())
            raise ImagingError(f"views {sizes} differ in size and cannot be frames of one {layout} file; resample "
                               "them to one matrix (scintiml.imaging.resample) or write layout='per_view'")
    out = []
    for number, group in enumerate(groups, start=1):
        frames = np.stack([stored[v] for v in group])
        out.append(_dataset(study, frames, group, study_uid=study_uid, series_uid=series_uid, series_number=1,
                            instance_number=number, patient_name=patient_name, patient_birth_date=patient_birth_date,
                            study_date=study_date))
    return out


def write_nm_study(study: PlanarStudy, folder: str | Path, layout: str = "per_view", **names) -> list[Path]:
    """Write a planar study as NM Image files in ``folder`` (atomically, one file at a time).

    File names are ``<PatientID>_<views>.dcm``. See :func:`nm_datasets` for ``layout``, how counts are stored and
    what is refused (before any file is written); ``study`` is not changed.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from scintiml.imaging import PlanarStudy
    >>> st = PlanarStudy(views={"ANT": np.ones((8, 8)), "POST": np.ones((8, 8))}, pixel_spacing_mm=(3.0, 3.0),
    ...                  patient_id="P1")
    >>> [p.name for p in write_nm_study(st, tempfile.mkdtemp(), layout="dual_head")]
    ['P1_ANT-POST.dcm']
    >>> st.patient_id = ".." + "9" * 300
    >>> [len(p.name) for p in write_nm_study(st, tempfile.mkdtemp(), layout="dual_head")]
    [142]
    """
    datasets = nm_datasets(study, layout, **names)  # first: a refused study leaves no folder behind
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    # a PatientID of 300 characters, or "..", made a name too long for the file system, or a hidden file; where
    # the id had to change, a digest of it keeps two ids apart ("Müller" and "Möller" both fold to "M_ller")
    safe = safe_file_stem(study.patient_id, fallback="study")
    if safe != study.patient_id:
        safe += "-" + hashlib.sha256(study.patient_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    for ds in datasets:
        views = [view_from_code(item.ViewCodeSequence[0].CodeValue) for item in ds.DetectorInformationSequence]
        path = folder / f"{safe}_{'-'.join(views)}.dcm"
        with atomic_file(path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
        paths.append(path)
    return paths
