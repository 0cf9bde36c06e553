"""2-D radiomic features of planar views, through pyradiomics.

One row per study × view × region of interest, columns ``patient_id, view,
roi`` then one per feature (``original_firstorder_Mean``, ...): a table that
``scintiml study`` reads directly (``--id patient_id`` after pivoting, see
:func:`wide_table`). pyradiomics (PyPI ``pyradiomics-bhklab``) is an optional
dependency (``pip install 'scintiml[imaging]'``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .planar import ImagingError, PlanarStudy

DEFAULT_SETTINGS: dict[str, Any] = {
    "force2D": True, "force2Ddimension": 0, "binCount": 32, "label": 1, "minimumROIDimensions": 2,
    "correctMask": True,
}
DEFAULT_CLASSES = ("firstorder", "shape2D", "glcm", "glrlm", "glszm")


def _extractor(settings: dict[str, Any] | str | Path | None, classes: Iterable[str]):
    try:
        from radiomics import featureextractor
    except ImportError as exc:
        raise ImagingError(
            "radiomic features need pyradiomics: pip install 'scintiml[imaging]' (PyPI pyradiomics-bhklab)"
        ) from exc
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    if isinstance(settings, (str, Path)):
        extractor = featureextractor.RadiomicsFeatureExtractor(str(settings))
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
) -> pd.DataFrame:
    """Features for every (study, {(view, roi): mask}) pair given.

    Masks are boolean arrays of the view's shape. A mask with fewer than 10
    pixels is skipped (pyradiomics cannot compute texture on it).
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
            if mask.sum() < 10:
                continue
            img = sitk.GetImageFromArray(image[None])
            msk = sitk.GetImageFromArray(mask[None].astype(np.uint8))
            if np.all(np.isfinite(spacing)):
                img.SetSpacing((float(spacing[1]), float(spacing[0]), 1.0))
                msk.SetSpacing((float(spacing[1]), float(spacing[0]), 1.0))
            result = extractor.execute(img, msk)
            row = {"patient_id": study.patient_id, "view": view, "roi": roi}
            row.update({k: float(v) for k, v in result.items() if k.startswith("original_")})
            rows.append(row)
    return pd.DataFrame(rows)


def wide_table(features: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: columns ``<view>_<roi>_<feature>`` (ready for ``scintiml study``)."""
    long = features.melt(id_vars=["patient_id", "view", "roi"], var_name="feature")
    long["column"] = long["view"] + "_" + long["roi"] + "_" + long["feature"].str.replace("original_", "", regex=False)
    return long.pivot_table(index="patient_id", columns="column", values="value").reset_index()


def lung_masks(lung: np.ndarray) -> dict[str, np.ndarray]:
    """Split a projected lung mask into the two lungs (left and right halves of the image)."""
    half = lung.shape[1] // 2
    left, right = lung.copy(), lung.copy()
    left[:, half:] = False
    right[:, :half] = False
    return {"image_left_lung": left, "image_right_lung": right}
