"""2-D radiomic features of planar views, through pyradiomics.

One row per study × view × region of interest, columns ``patient_id, view,
roi`` then one per feature (``original_firstorder_Mean``, ...): a table that
``scintiml study`` reads directly (``--id patient_id`` after pivoting, see
:func:`wide_table`). pyradiomics (PyPI ``pyradiomics-bhklab``) is an optional
dependency (``pip install 'scintiml[imaging]'``).
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from .ingest import one_line
from .planar import ImagingError, PlanarStudy

DEFAULT_SETTINGS: dict[str, Any] = {
    "force2D": True, "force2Ddimension": 0, "binCount": 32, "label": 1, "minimumROIDimensions": 2,
    "correctMask": True,
}
DEFAULT_CLASSES = ("firstorder", "shape2D", "glcm", "glrlm", "glszm")
#: A mask with fewer pixels gets no features (pyradiomics cannot compute texture on it).
MIN_MASK_PIXELS = 10


def thin_roi(mask: np.ndarray) -> str:
    """Why a 2-D ROI is too thin for pyradiomics ("" when it is not): its bounding box must span at least 2 pixels
    in each direction (``minimumROIDimensions: 2``); a line one pixel thick fails inside pyradiomics otherwise.

    Examples
    --------
    >>> thin_roi(np.pad(np.ones((1, 10), bool), 2)).split(":")[0]
    'the ROI spans 1 x 10 pixels (one pixel thick)'
    >>> thin_roi(np.eye(10, dtype=bool)), thin_roi(np.zeros((4, 4), bool))
    ('', '')
    """
    rows, cols = np.nonzero(np.asarray(mask, dtype=bool))
    if not rows.size:
        return ""  # empty: the pixel count says so
    height, width = int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1
    if min(height, width) >= 2:
        return ""
    return (f"the ROI spans {height} x {width} pixels (one pixel thick): 2-D texture features need an area at least "
            "2 pixels in each direction; redraw it")


def _settings_problem(exc: BaseException) -> str:
    """What is wrong with a settings file pyradiomics refused, in words a user can act on (no class name).

    Examples
    --------
    >>> _settings_problem(UnicodeDecodeError("utf-8", b"\\xff", 0, 1, "invalid start byte"))
    'it is not a text (YAML) file'
    >>> _settings_problem(ValueError("Feature Class x is not\\nrecognized"))
    'pyradiomics refused it (Feature Class x is not recognized)'
    """
    if isinstance(exc, UnicodeDecodeError):
        return "it is not a text (YAML) file"
    if isinstance(exc, OSError):
        return f"it cannot be read ({os.strerror(exc.errno) if exc.errno is not None else one_line(exc)})"
    module = type(exc).__module__ or ""
    if "yaml" in module and getattr(exc, "problem", None):  # a YAML syntax error, with where it is
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"it is not valid YAML ({one_line(exc.problem)}{where})"
    if module.startswith("pykwalify"):  # pyradiomics' schema check of the YAML
        said = str(getattr(exc, "msg", None) or exc)
        if "No source file/data was loaded" in said:
            return "it holds no settings (an empty file)"
        findings = [line.strip(" -").rstrip(".") for line in said.splitlines()[1:] if line.strip(" -")]
        return f"it does not follow pyradiomics' settings schema ({'; '.join(findings) or one_line(said)})"
    return f"pyradiomics refused it ({one_line(exc) or 'no reason given'})"


def _unreadable_mask(path: Path, exc: BaseException) -> str:
    """Why a mask file cannot be loaded and what to do, in words (no class name)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return (f"not a readable mask file: it cannot be read ({os.strerror(exc.errno)}); give read access to it, "
                "or check the disk it lies on, and run again")
    try:
        empty = path.stat().st_size == 0
    except OSError:
        empty = False
    if empty:
        what = "the file is empty"
    elif isinstance(exc, TypeError):  # np.load gave one array: a .npy file under a .npz name
        what = "one .npy array, not a .npz archive of VIEW__ROI arrays"
    elif isinstance(exc, ValueError) and "Object arrays" in str(exc):
        what = "it holds arrays of Python objects, not masks"
    else:  # text, a pickle, a zip cut short (BadZipFile) ...
        what = "not a .npz archive (or a damaged one)"
    return f"not a readable mask file: {what}; write it again with numpy.savez, one boolean array per VIEW__ROI"


def _extractor(settings: dict[str, Any] | str | Path | None, classes: Iterable[str]):
    try:
        from radiomics import featureextractor
    except ImportError as exc:
        raise ImagingError(
            "radiomic features need pyradiomics: pip install 'scintiml[imaging]' (PyPI pyradiomics-bhklab)"
        ) from exc
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    # pykwalify (pyradiomics' YAML schema check) logs each finding before it raises; the error below says it once
    logging.getLogger("pykwalify").setLevel(logging.CRITICAL)
    if isinstance(settings, (str, os.PathLike)):
        try:
            extractor = featureextractor.RadiomicsFeatureExtractor(str(settings))
        except Exception as exc:  # pyradiomics validates the YAML with its own exception types
            raise ImagingError(f"pyradiomics cannot use the settings file {str(settings)!r}: "
                               f"{_settings_problem(exc)}; fix it or leave out --settings") from exc
    else:
        extractor = featureextractor.RadiomicsFeatureExtractor(**{**DEFAULT_SETTINGS, **(settings or {})})
        extractor.disableAllFeatures()
        for c in classes:
            extractor.enableFeatureClassByName(c)
    return extractor


def radiomic_features(
    studies: Iterable[tuple[PlanarStudy, dict[tuple[str, str], np.ndarray]]],
    settings: dict[str, Any] | str | Path | None = None,
    classes: Iterable[str] = DEFAULT_CLASSES,
    on_failure: Callable[[PlanarStudy, str, str, str], None] | None = None,
) -> pd.DataFrame:
    """Features for every (study, {(view, roi): mask}) pair given.

    Masks are boolean arrays of the view's shape. A mask with fewer than 10
    pixels, or one pixel thick (:func:`thin_roi`), is skipped (pyradiomics
    cannot compute texture on it).

    Parameters
    ----------
    on_failure : callable, optional
        Called as ``on_failure(study, view, roi, reason)`` for an ROI pyradiomics cannot compute, and the
        other ROIs go on; without it such an ROI raises :class:`ImagingError`.
    """
    import SimpleITK as sitk

    extractor = _extractor(settings, classes)
    rows = []
    for study, masks in studies:
        spacing = study.pixel_spacing_mm
        for (view, roi), mask in masks.items():
            if view not in study.views:
                raise ImagingError(f"{study.source or study.patient_id}: no view {view!r} for ROI {roi!r}")
            image = np.asarray(study.views[view], dtype=float)
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != image.shape:
                raise ImagingError(f"{study.patient_id} {view}/{roi}: mask shape {mask.shape} != image {image.shape}")
            if mask.sum() < MIN_MASK_PIXELS or thin_roi(mask):
                continue
            img = sitk.GetImageFromArray(image[None])
            msk = sitk.GetImageFromArray(mask[None].astype(np.uint8))
            if np.all(np.isfinite(spacing)):
                img.SetSpacing((float(spacing[1]), float(spacing[0]), 1.0))
                msk.SetSpacing((float(spacing[1]), float(spacing[0]), 1.0))
            try:
                result = extractor.execute(img, msk)
            except (ValueError, RuntimeError, KeyError, IndexError) as exc:  # pyradiomics' own refusals
                said = one_line(exc) or "it gave no reason"  # one line, whatever pyradiomics wrote
                reason = (f"pyradiomics could not compute features for this ROI ({said}); check the mask (or the "
                          "--settings file) and run again")
                if on_failure is None:
                    raise ImagingError(f"{study.patient_id} {view}/{roi}: {reason}") from exc
                on_failure(study, view, roi, reason)
                continue
            row = {"patient_id": study.patient_id, "study_instance_uid": study.study_instance_uid,
                   "view": view, "roi": roi}
            row.update({k: float(v) for k, v in result.items() if k.startswith("original_")})
            rows.append(row)
    return pd.DataFrame(rows)


def wide_table(features: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: ``patient_id`` and columns ``<view>_<roi>_<feature>``, no outcome (join the labels on
    ``patient_id`` before ``scintiml study``).

    Two studies of one patient are refused, never averaged into one row: a study table needs one row per
    patient, so choose the study to keep (or use the long table, where each study has its own rows).

    Examples
    --------
    >>> long = pd.DataFrame({"patient_id": ["A", "A"], "study_instance_uid": ["1", "1"], "view": ["ANT", "POST"],
    ...                      "roi": ["lung", "lung"], "original_firstorder_Mean": [2.0, 3.0]})
    >>> wide_table(long).columns.tolist()
    ['patient_id', 'ANT_lung_firstorder_Mean', 'POST_lung_firstorder_Mean']
    """
    if "study_instance_uid" in features:
        per_patient = features.groupby("patient_id")["study_instance_uid"].nunique()
        repeated = per_patient[per_patient > 1]
        if len(repeated):
            raise ImagingError(
                f"patient(s) {list(repeated.index[:5])} have {int(repeated.iloc[0])} studies each; a wide table has "
                "one row per patient and studies are never averaged — keep one study per patient in the folder, "
                "or leave out --wide (the long table keeps each study apart)"
            )
        features = features.drop(columns="study_instance_uid")
    long = features.melt(id_vars=["patient_id", "view", "roi"], var_name="feature")
    long["column"] = long["view"] + "_" + long["roi"] + "_" + long["feature"].str.replace("original_", "", regex=False)
    table = long.pivot(index="patient_id", columns="column", values="value").reset_index()
    table.columns.name = None
    return table


def lung_masks(lung: np.ndarray) -> dict[str, np.ndarray]:
    """Split a projected lung mask into the two lungs (left and right halves of the image)."""
    half = lung.shape[1] // 2
    left, right = lung.copy(), lung.copy()
    left[:, half:] = False
    right[:, :half] = False
    return {"image_left_lung": left, "image_right_lung": right}


def mask_path(masks: str | Path, patient_id: str) -> Path | None:
    """``masks/<PatientID>.npz``, or None when the PatientID cannot safely name a file in that folder.

    A PatientID comes from the DICOM file and is never trusted as a path: separators, ``..``, control
    characters or a name that resolves outside ``masks`` give None (the study is then reported, not read).

    Examples
    --------
    >>> mask_path("masks", "PAT-001").name
    'PAT-001.npz'
    >>> mask_path("masks", "../../etc/passwd") is None, mask_path("masks", "") is None
    (True, True)
    """
    pid = str(patient_id)
    if (not pid or pid in {".", ".."} or any(c in pid for c in "/\\\x00") or pid != pid.strip()
            or any(ord(c) < 32 for c in pid)):
        return None
    folder = Path(masks)
    path = folder / f"{pid}.npz"
    if path.resolve().parent != folder.resolve():
        return None
    return path


def mask_problem(mask: np.ndarray) -> str:
    """What makes ``mask`` no binary ROI mask ("" when it is one): 0 outside and one other value inside.

    0/1, booleans and 0/255 (an image editor's export) are binary. A label map (1, 2, ...), a probability map or
    a NaN would otherwise be cut at "not 0" without a word.

    Examples
    --------
    >>> mask_problem(np.array([[0, 1], [1, 0]])), mask_problem(np.array([[True, False]]))
    ('', '')
    >>> mask_problem(np.array([[0, 255], [255, 0]], dtype=np.uint8))
    ''
    >>> mask_problem(np.array([[0, 1, 2]]))
    'holds 2 values besides 0 (1, 2); save a binary mask (0 outside the ROI, one value inside), one array per ROI'
    >>> mask_problem(np.array([[0.0, 1.0, np.nan]]))
    'holds NaN; save a binary mask (0 outside the ROI, one value inside), one array per ROI'
    >>> mask_problem(np.array(["a"]))
    'is not numeric (dtype <U1)'
    """
    if mask.dtype == bool:
        return ""
    if mask.dtype.kind not in "iuf":
        return f"is not numeric (dtype {mask.dtype})"
    fix = "save a binary mask (0 outside the ROI, one value inside), one array per ROI"
    if mask.dtype.kind == "f" and not np.all(np.isfinite(mask)):
        return f"holds {'NaN' if np.isnan(mask).any() else 'infinite values'}; {fix}"
    inside = [v for v in np.unique(mask) if v != 0]
    if len(inside) <= 1:
        return ""
    shown = ", ".join(f"{float(v):g}" for v in inside[:3]) + (", ..." if len(inside) > 3 else "")
    return f"holds {len(inside)} values besides 0 ({shown}); {fix}"


def _why_unread(skipped: list[dict[str, str]], shown: int = 3) -> str:
    """Why no study was read, for the one error line: the first reasons (grouped by study where the files name
    one), so the message says what was wrong (a refused pixel module, a study that could not be put together), not
    only that nothing was read. Each reason already names its file."""
    from .ingest import unread_studies

    reasons = [u["reason"] for u in unread_studies(skipped)] or [s["reason"] for s in skipped]
    if not reasons:
        return " (no DICOM file found)"
    more = f"; and {len(reasons) - shown} more" if len(reasons) > shown else ""
    return ": " + "; ".join(reasons[:shown]) + more


def features_from_folders(
    images: str | Path, masks: str | Path, settings: dict[str, Any] | str | Path | None = None,
    wide: bool = False, classes: Iterable[str] = DEFAULT_CLASSES,
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Radiomic features of every NM study below ``images`` with its mask file ``masks/<PatientID>.npz``.

    Returns the table and the skipped studies (``{"file", "reason"}``). A study without a usable mask is
    skipped and reported; when no study has one, an :class:`ImagingError` says so (never an empty table).
    Studies are kept apart by Study Instance UID; :func:`wide_table` refuses two studies of one patient.
    """
    from .planar import scan_folder

    images, masks = Path(images), Path(masks)
    if not images.is_dir():
        raise ImagingError(f"image folder {str(images)!r} does not exist or is not a folder")
    if not masks.is_dir():
        raise ImagingError(f"mask folder {str(masks)!r} does not exist or is not a folder; give --masks FOLDER "
                           "of <PatientID>.npz files")
    if isinstance(settings, (str, os.PathLike)) and not Path(settings).is_file():
        raise ImagingError(f"settings file {str(settings)!r} does not exist")
    studies, skipped = scan_folder(images)
    if not studies:
        raise ImagingError(f"no readable NM DICOM study in {str(images)!r}{_why_unread(skipped)}")
    pairs = []
    mask_files: dict[int, str] = {}  # study -> its mask file, which names an ROI pyradiomics could not compute
    roi_reasons: list[str] = []  # why each ROI of the studies computed gets no features: the error when none has

    def skip_roi(file: str, reason: str) -> None:
        skipped.append({"file": file, "reason": reason})
        roi_reasons.append(reason)

    for st in studies:
        path = mask_path(masks, st.patient_id)
        if path is None:
            skipped.append({"file": st.source, "reason": "its PatientID cannot name a mask file (empty, or holds "
                                                         "path characters); rename the mask by hand"})
            continue
        if not path.is_file():
            skipped.append({"file": st.source, "reason": f"no mask file {path.name} for this study"})
            continue
        try:
            with np.load(path, allow_pickle=False) as npz:
                raw = {tuple(k.split("__", 1)): np.asarray(npz[k]) for k in npz.files if "__" in k}
        # .npz is a zip archive; TypeError: np.load gave one array (a .npy file), which is no context manager
        except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            skipped.append({"file": str(path), "reason": _unreadable_mask(path, exc)})
            continue
        rois = {}
        for (view, roi), arr in raw.items():
            problem = mask_problem(arr)
            if problem:
                skipped.append({"file": str(path), "reason": f"{view}__{roi}: no features, the mask {problem}"})
            elif view in st.views and arr.shape != np.shape(st.views[view]):  # one bad array, not the whole run
                skipped.append({"file": str(path), "reason": f"{view}__{roi}: no features, the mask is "
                                f"{'x'.join(map(str, arr.shape))} but the {view} view is "
                                f"{'x'.join(map(str, np.shape(st.views[view])))}"})
            else:
                rois[(view, roi)] = arr.astype(bool)
        if raw and not rois:
            continue
        if not rois:
            skipped.append({"file": str(path), "reason": "no VIEW__ROI arrays in the mask file"})
            continue
        for view, roi in [k for k in rois if k[0] not in st.views]:  # e.g. its file was unreadable (skipped above)
            skipped.append({"file": str(path), "reason": f"{view}__{roi}: the study {st.patient_id} has no readable "
                                                         f"{view} view, so no features for it"})
            del rois[(view, roi)]
        if not rois:
            continue
        for (view, roi), mask in rois.items():  # radiomic_features leaves these out: say so, per ROI
            if mask.sum() < MIN_MASK_PIXELS:
                skip_roi(str(path), f"{view}__{roi} holds {int(mask.sum())} pixel(s), fewer than {MIN_MASK_PIXELS}: "
                                    "no features for it")
            elif thin := thin_roi(mask):  # checked here: inside pyradiomics it ended the whole run
                skip_roi(str(path), f"{view}__{roi}: no features, {thin}")
        for view in sorted({v for v, _ in rois}):
            image = np.asarray(st.views[view], dtype=float)
            if image.size and np.ptp(image) == 0:  # a blank acquisition: its "features" would describe nothing
                skipped.append({"file": str(st.source or st.patient_id),
                                "reason": f"the {view} view of {st.patient_id} is blank (every pixel "
                                          f"{image.flat[0]:g}); no features for its ROIs"})
                rois = {k: m for k, m in rois.items() if k[0] != view}
        if not rois:
            continue
        pairs.append((st, rois))
        mask_files[id(st)] = str(path)
    if not pairs:
        raise ImagingError(
            f"none of the {len(studies)} studies has a usable mask in {str(masks)!r} (expected <PatientID>.npz "
            "with arrays named VIEW__ROI); nothing was written"
        )

    def failed(study: PlanarStudy, view: str, roi: str, reason: str) -> None:
        # an ROI pyradiomics cannot compute is skipped like any other bad ROI, not the end of the run
        skip_roi(mask_files[id(study)], f"{view}__{roi}: no features, {reason}")

    try:
        table = radiomic_features(pairs, settings=settings, classes=classes, on_failure=failed)
    except ImagingError:  # already says what is wrong: no class name in front of it
        raise
    except OSError as exc:
        if exc.errno is None:
            raise ImagingError(f"radiomic features could not be computed ({one_line(exc) or 'no reason given'}); "
                               "check the --settings file (or leave it out) and run again") from exc
        raise ImagingError(f"radiomic features could not be computed ({os.strerror(exc.errno)}); check the disk "
                           "and run again") from exc
    # settings pyradiomics took, then failed on (e.g. resampledPixelSpacing with 2 values: an assert in it)
    except (ValueError, TypeError, AssertionError) as exc:
        raise ImagingError(f"radiomic features could not be computed ({one_line(exc) or 'no reason given'}); "
                           "check the --settings file (or leave it out) and run again") from exc
    if table.empty:
        # the command prints skip lines only after it wrote the table: with nothing to write, the error says why
        first = roi_reasons[0] if roi_reasons else "no ROI was left to compute"
        others = f"; and {len(roi_reasons) - 1} other ROI(s)" if len(roi_reasons) > 1 else ""
        raise ImagingError(f"no ROI gave radiomic features ({first}{others}); nothing was written — redraw the masks")
    return (wide_table(table) if wide else table), skipped
