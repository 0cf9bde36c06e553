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


#: Phrases that name a view, longest first (so "RIGHT ANTERIOR OBLIQUE" is not read as "ANTERIOR").
_PHRASES = (
    ("RIGHT ANTERIOR OBLIQUE", "RAO"), ("LEFT ANTERIOR OBLIQUE", "LAO"), ("RIGHT POSTERIOR OBLIQUE", "RPO"),
    ("LEFT POSTERIOR OBLIQUE", "LPO"), ("RIGHT LATERAL", "RLAT"), ("LEFT LATERAL", "LLAT"),
    ("ANTERIOR", "ANT"), ("POSTERIOR", "POST"),
)
_TOKENS = {"ANT": "ANT", "AP": "ANT", "POST": "POST", "PA": "POST", "RAO": "RAO", "LAO": "LAO", "RPO": "RPO",
           "LPO": "LPO", "RLAT": "RLAT", "LLAT": "LLAT", "RL": "RLAT", "LL": "LLAT"}


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


def views_in_text(text: str) -> list[str]:
    """Every view named in a description, in order (``"ANT/POST"`` -> ``["ANT", "POST"]``).

    Examples
    --------
    >>> views_in_text("Lung perfusion right anterior oblique")
    ['RAO']
    >>> views_in_text("PERF ANT POST RAO LAO RPO LPO")
    ['ANT', 'POST', 'RAO', 'LAO', 'RPO', 'LPO']
    """
    upper = " " + re.sub(r"[^A-Z]+", " ", str(text).upper()) + " "
    for phrase, view in _PHRASES:
        upper = upper.replace(f" {phrase} ", f" {view} ")
    return [_TOKENS[w] for w in upper.split() if w in _TOKENS]


def view_from_text(text: str) -> str | None:
    """The one view named in a description such as ``'LUNG PERF RAO'`` (None if none or several).

    Examples
    --------
    >>> view_from_text("LUNG PERF RAO"), view_from_text("perfusion"), view_from_text("ANT POST")
    ('RAO', None, None)
    """
    found = views_in_text(text)
    return found[0] if len(set(found)) == 1 else None


# ----------------------------------------------------------------------------- writing
def write_nm_dicom(study: PlanarStudy, path: str | Path, patient_name: str = "", patient_birth_date: str = "",
                   study_date: str | None = None) -> Path:
    """Write every view of a planar study into one multi-frame NM Image file (one detector item per view).

    This is the "one multi-frame file per study" layout; :func:`scintiml.imaging.nm_iod.write_nm_study`
    writes the per-view and dual-head layouts a camera produces.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> st = PlanarStudy(views={"ANT": np.ones((8, 8))}, pixel_spacing_mm=(3.0, 3.0), patient_id="P1")
    >>> write_nm_dicom(st, pathlib.Path(tempfile.mkdtemp()) / "a.dcm").name
    'a.dcm'
    """
    from ..io import atomic_file
    from .nm_iod import nm_datasets

    (ds,) = nm_datasets(study, "multiframe", patient_name=patient_name, patient_birth_date=patient_birth_date,
                        study_date=study_date)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, overwrite=True) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return path


# ----------------------------------------------------------------------------- reading
def read_nm_dicom(path: str | Path) -> PlanarStudy:
    """Read one NM planar DICOM file (single- or multi-frame) into a :class:`PlanarStudy`.

    To read a study stored as several files, use :func:`scintiml.imaging.ingest.read_studies`.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> st = PlanarStudy(views={"ANT": np.ones((8, 8))}, pixel_spacing_mm=(3.0, 3.0), patient_id="P1")
    >>> list(read_nm_dicom(write_nm_dicom(st, pathlib.Path(tempfile.mkdtemp()) / "a.dcm")).views)
    ['ANT']
    """
    from .ingest import read_study

    return read_study([path])


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


def scan_folder(folder: str | Path, views=None, target_spacing_mm: float | None = None,
                target_shape: tuple[int, int] | None = None) -> tuple[list[PlanarStudy], list[dict[str, str]]]:
    """Read every DICOM file below ``folder``, grouped into studies by Study Instance UID.

    Unreadable or non-NM files, and studies that cannot be assembled, are skipped and reported
    (see :func:`scintiml.imaging.ingest.read_studies`).

    Examples
    --------
    >>> import tempfile
    >>> scan_folder(tempfile.mkdtemp())
    ([], [])
    """
    from .ingest import read_studies

    return read_studies(folder, views, target_spacing_mm, target_shape)
