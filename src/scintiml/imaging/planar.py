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
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

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
    """Views of one planar study and the metadata a model needs.

    Parameters
    ----------
    views : mapping of str to 2-D array
        View name (``"ANT"``, ``"POST"``, ...) to its image of counts. Each image is converted with
        :func:`numpy.asarray` (an array is kept as it is, not copied) and must be a non-empty 2-D array of numbers;
        the study keeps its own dict, so the caller's mapping is never changed. A study may hold no view yet (the
        DICOM writers refuse to write one).
    pixel_spacing_mm : (float, float) or float
        Row and column spacing in mm, both positive and finite, or both NaN where the spacing is unknown (the
        default). A single number means square pixels: ``3.2`` is read as ``(3.2, 3.2)``. Stored as a tuple of
        two floats.
    patient_id, study_instance_uid, series_instance_uid, source : str
    metadata : dict

    Raises
    ------
    ImagingError
        Where the views or the pixel spacing are not of that form.

    Examples
    --------
    >>> st = PlanarStudy(views={"ANT": [[1, 2], [3, 4]]}, pixel_spacing_mm=3.2)
    >>> st.pixel_spacing_mm, st.counts_per_view
    ((3.2, 3.2), {'ANT': 10.0})
    >>> PlanarStudy(views={"ANT": np.ones(8)})
    Traceback (most recent call last):
    ...
    scintiml.imaging.planar.ImagingError: study: view 'ANT' is a 1-D array of shape (8,); a view is one 2-D image...
    """

    views: dict[str, np.ndarray]
    pixel_spacing_mm: tuple[float, float] = (np.nan, np.nan)
    patient_id: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        name = self.source or "study"
        if not isinstance(self.views, Mapping):
            raise ImagingError(f"{name}: views must be a mapping of view name to 2-D image (e.g. "
                               f"{{'ANT': array}}), got {type(self.views).__name__}")
        views = {}
        for view, image in self.views.items():
            if not isinstance(view, str):
                raise ImagingError(f"{name}: view name {view!r} is not a string; name views 'ANT', 'POST', ...")
            try:
                arr = np.asarray(image)
            except (TypeError, ValueError) as exc:  # ragged nested lists, objects numpy cannot hold
                raise ImagingError(f"{name}: view {view!r} is not an array of counts ({exc}); give a 2-D numeric "
                                   "array") from None
            if arr.dtype.kind not in "biuf":
                raise ImagingError(f"{name}: view {view!r} holds {arr.dtype} values, not numbers; give its counts "
                                   "as a 2-D numeric array")
            if arr.ndim != 2:
                raise ImagingError(f"{name}: view {view!r} is a {arr.ndim}-D array of shape {arr.shape}; a view is "
                                   "one 2-D image of counts (rows x columns)")
            if arr.size == 0:
                raise ImagingError(f"{name}: view {view!r} has no pixels (shape {arr.shape}); give its image of counts")
            views[view] = arr
        self.views = views
        self.pixel_spacing_mm = _spacing(self.pixel_spacing_mm, name)

    @property
    def counts_per_view(self) -> dict[str, float]:
        return {v: float(a.sum()) for v, a in self.views.items()}

    def stack(self, views) -> np.ndarray:
        missing = [v for v in views if v not in self.views]
        if missing:
            raise ImagingError(f"{self.source or 'study'}: view(s) {missing} missing; it has {list(self.views)}")
        return np.stack([self.views[v] for v in views])


def _spacing(value, name: str) -> tuple[float, float]:
    """``pixel_spacing_mm`` as two floats: a scalar is square pixels; both NaN is "unknown"."""
    bad = (f"{name}: pixel_spacing_mm {value!r} is not a pixel spacing; give two positive numbers in mm "
           "(row, column), one number for square pixels, or leave it out where it is unknown")
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):  # float() would take "3" and None (NaN)
        raise ImagingError(bad)
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ImagingError(bad) from None
    if arr.ndim == 0:
        arr = np.array([arr, arr])
    if arr.shape != (2,):
        raise ImagingError(bad)
    if np.all(np.isnan(arr)):
        return (float(arr[0]), float(arr[1]))  # unknown: readers resample only where they know it
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ImagingError(bad)
    return (float(arr[0]), float(arr[1]))


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


#: Pillow image modes whose pixel values can be counts: 8-bit, 16-bit and 32-bit integer grey, 32-bit float grey.
PNG_COUNT_MODES = ("L", "I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_NOT_COUNT_MODES = {
    "P": "palette indices", "PA": "palette indices with alpha", "RGB": "colour", "RGBA": "colour with alpha",
    "RGBX": "colour", "CMYK": "colour", "YCbCr": "colour", "LAB": "colour", "HSV": "colour",
    "LA": "grey with an alpha channel", "La": "grey with an alpha channel", "1": "black and white, 1 bit a pixel",
}
#: The smallest image read as a view (rows and columns). Gamma cameras acquire planar views at 64 x 64 or more
#: (32 x 32 at the least); a smaller image is an icon or a placeholder (a 1 x 1 PNG read as a view). The bound is
#: kept low so down-sampled views still read: the protocol guard flags any matrix the model was not trained on.
MIN_PNG_MATRIX = 8


def read_png_study(image_paths: list[str | Path], sidecar: str | Path | None = None) -> PlanarStudy:
    """PNG/TIFF views plus an optional sidecar JSON (``{"views": {"ANT": "a.png"}, "metadata": {...}}``).

    The view of each image comes from the sidecar, else from its file name (``..._ANT.png``). Each image must be
    greyscale counts (Pillow modes :data:`PNG_COUNT_MODES`; a palette, colour or alpha image is refused, its values
    being no counts) of at least :data:`MIN_PNG_MATRIX` pixels a side.
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
            with Image.open(p) as img:
                mode = img.mode
                arr = np.asarray(img, dtype=float) if mode in PNG_COUNT_MODES else None
        except Exception as exc:
            raise ImagingError(f"{p}: not a readable image ({exc})") from exc
        if arr is None:
            # a palette image's values are indices into its colour table, a colour one's are a rendering (its
            # channels averaged are no counts either): read as counts, either is a silently different image
            why = _NOT_COUNT_MODES.get(mode, "not a greyscale image")
            raise ImagingError(f"{p}: image mode {mode} ({why}): its pixel values are not counts; export the view "
                               "as a single-channel greyscale PNG or TIFF (mode L, I;16 or I, 16-bit for counts "
                               "above 255) holding the counts, not a coloured picture of it")
        view = by_file.get(p.name) or view_from_text(p.stem)
        if view is None:
            raise ImagingError(f"{p}: cannot tell the view; name it in the sidecar or in the file name (e.g. _ANT)")
        if min(arr.shape) < MIN_PNG_MATRIX:
            raise ImagingError(f"{p}: a {arr.shape[0]} x {arr.shape[1]} image is smaller than a planar view can be "
                               f"(at least {MIN_PNG_MATRIX} x {MIN_PNG_MATRIX}); export the view at its acquired "
                               "matrix, not an icon or thumbnail of it")
        views[view] = arr
    md = info.get("metadata", {})
    # passed as given: PlanarStudy reads a single number as square pixels and refuses, naming the sidecar, what
    # is no spacing (tuple() of a number raised a bare TypeError)
    spacing = md.get("pixel_spacing_mm", (np.nan, np.nan))
    return PlanarStudy(views=views, pixel_spacing_mm=spacing, patient_id=str(info.get("patient_id", "")),
                       study_instance_uid=str(info.get("study_instance_uid", "")), metadata=md,
                       source=str(sidecar or image_paths[0]))


def scan_folder(folder: str | Path, views=None, target_spacing_mm: float | None = None,
                target_shape: tuple[int, int] | None = None, progress: Callable[[int, int], None] | None = None
                ) -> tuple[list[PlanarStudy], list[dict[str, str]]]:
    """Read every DICOM file below ``folder``, grouped into studies by Study Instance UID.

    Unreadable or non-NM files, and studies that cannot be assembled, are skipped and reported
    (see :func:`scintiml.imaging.ingest.read_studies`, which also describes ``progress``).

    Examples
    --------
    >>> import tempfile
    >>> scan_folder(tempfile.mkdtemp())
    ([], [])
    """
    from .ingest import read_studies

    return read_studies(folder, views, target_spacing_mm, target_shape, progress=progress)
