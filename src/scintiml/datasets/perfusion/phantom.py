"""A 3-D lung phantom with bronchopulmonary segments fed by a segmental arterial tree.

Coordinates are millimetres in the patient: x runs to the patient's left, y to posterior, z to the feet
(the origin sits mid-chest). The phantom is a fixed grid of points (``GRID_MM`` apart) over the chest; each
patient decides which points are lung, from a handful of shape parameters, so a patient costs a few vector
operations and no resampling.

Anatomy (sizes of an adult, scaled per patient; Netter's *Atlas of Human Anatomy*, plates on the lungs and
their segments; Boyden, *Segmental Anatomy of the Lungs*, 1955):

* Lungs: D-shaped cross-sections (a superellipse) beside a mediastinum 44 mm wide, apex 135 mm above
  mid-chest, domed bases (the right dome about 15 mm higher than the left) with deeper lateral and posterior
  costophrenic recesses; the heart (an ellipsoid, left-anterior-inferior) indents mostly the left lung.
* Lobes: the oblique fissure (both lungs) runs from posterior-superior to anterior-inferior; the horizontal
  fissure (right) at the level of the hilum separates the middle lobe.
* Segments (10 right, 8 left): each is fed by one segmental artery running from the hilum toward the
  segment's pleural centre. A point belongs to the segment whose artery direction is closest to its own
  direction from the hilum (within its lobe), so segments are cones with the apex at the hilum and the base on
  the pleura — occluding a segmental artery leaves a pleural-based wedge. Subsegmental arteries split a segment
  in 2-3 smaller cones beyond a branch point.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

GRID_MM = 6.0
#: Extent of the point grid (mm) in x, y, z.
EXTENT = ((-180.0, 180.0), (-96.0, 114.0), (-144.0, 198.0))  # holds the largest patient's lungs

#: Segment targets: (lobe, name, pleural centre (x, y, z) mm in a reference adult). Right lung x < 0.
SEGMENTS = {
    "right": (
        ("RUL", "apical (1)", (-70, 5, -125)), ("RUL", "posterior (2)", (-105, 65, -75)),
        ("RUL", "anterior (3)", (-105, -60, -60)), ("RML", "lateral (4)", (-135, -35, 30)),
        ("RML", "medial (5)", (-55, -70, 40)), ("RLL", "superior (6)", (-85, 85, -20)),
        ("RLL", "medial basal (7)", (-40, 20, 100)), ("RLL", "anterior basal (8)", (-105, -45, 100)),
        ("RLL", "lateral basal (9)", (-145, 25, 90)), ("RLL", "posterior basal (10)", (-80, 90, 95)),
    ),
    "left": (
        ("LUL", "apicoposterior (1+2)", (70, 35, -115)), ("LUL", "anterior (3)", (105, -60, -60)),
        ("LUL", "superior lingular (4)", (135, -30, 10)), ("LUL", "inferior lingular (5)", (105, -60, 65)),
        ("LLL", "superior (6)", (85, 85, -20)), ("LLL", "anteromedial basal (7+8)", (85, -35, 105)),
        ("LLL", "lateral basal (9)", (145, 25, 95)), ("LLL", "posterior basal (10)", (80, 90, 100)),
    ),
}
HILUM = {"right": np.array([-45.0, 10.0, -10.0]), "left": np.array([45.0, 10.0, -15.0])}


@lru_cache(maxsize=1)
def grid_points() -> tuple[np.ndarray, tuple[int, int, int]]:
    """The phantom's points (n, 3) in mm and the grid's shape (x, y, z), built once."""
    axes = [np.arange(lo, hi + 1e-9, GRID_MM) for lo, hi in EXTENT]
    shape = tuple(len(a) for a in axes)
    x, y, z = np.meshgrid(*axes, indexing="ij")
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1).astype(np.float32), shape


@dataclass
class Anatomy:
    """One patient's lungs on the phantom grid (points are template coordinates, before size scaling)."""

    lung: np.ndarray  # (n,) bool over the grid
    side: np.ndarray  # (n,) int8: 0 right, 1 left, -1 not lung
    lobe: np.ndarray  # (n,) int8 index into LOBES, -1 not lung
    segment: np.ndarray  # (n,) int8 index into SEGMENT_NAMES, -1 not lung
    params: dict


LOBES = ("RUL", "RML", "RLL", "LUL", "LLL")
SEGMENT_NAMES = tuple(f"{'R' if side == 'right' else 'L'} {name}" for side in ("right", "left")
                      for _, name, _ in SEGMENTS[side])
SEGMENT_LOBE = tuple(LOBES.index(lobe) for side in ("right", "left") for lobe, _, _ in SEGMENTS[side])


def draw_shape(rng: np.random.RandomState, cardiomegaly: bool = False) -> dict:
    """A patient's shape parameters (sizes vary about 7 %, domes ±12 mm, tilt ±4°)."""
    return {
        "size": float(np.clip(rng.normal(1.0, 0.07), 0.84, 1.18)),
        "width": float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12)),
        "height": float(np.clip(rng.normal(1.0, 0.06), 0.86, 1.14)),
        "dome_right": float(60 + rng.normal(0, 12)), "dome_left": float(76 + rng.normal(0, 12)),
        "tilt_deg": float(rng.normal(0, 4.0)),
        "heart": float(rng.uniform(1.32, 1.6) if cardiomegaly else np.clip(rng.normal(1.0, 0.07), 0.85, 1.15)),
        "jitter": rng.normal(0, 9.0, size=(len(SEGMENT_NAMES), 3)),
    }


#: The heart: an ellipsoid about a third right of the midline and two thirds left, anterior, on the diaphragm.
HEART_CENTRE, HEART_RADII = (32.0, -30.0, 62.0), (64.0, 54.0, 60.0)


def heart_inside(p: np.ndarray, heart: float, margin: float = 0.0) -> np.ndarray:
    """Points inside the heart of relative size ``heart`` (1 = normal; cardiomegaly 1.3-1.6)."""
    c, r = HEART_CENTRE, np.array(HEART_RADII) * heart + margin
    return ((p[:, 0] - c[0]) / r[0]) ** 2 + ((p[:, 1] - c[1]) / r[1]) ** 2 + ((p[:, 2] - c[2]) / r[2]) ** 2 <= 1.0


def build_anatomy(shape: dict) -> Anatomy:
    """Which grid points are lung for this patient, and their lobe and segment."""
    pts, _ = grid_points()
    x, y, z = pts[:, 0], pts[:, 1], pts[:, 2] / shape["height"]
    side = np.full(len(pts), -1, np.int8)
    lung = np.zeros(len(pts), bool)
    for k, (name, sign) in enumerate((("right", -1), ("left", 1))):
        a, b, y0 = (63.0 if name == "right" else 58.0) * shape["width"], 86.0, 10.0  # the right lung is larger
        medial = 27.0  # half the mediastinum's width
        # the lung widens from a rounded apex to the base, its lateral border sloping outward (a cone, not a box)
        t = np.clip((z + 135.0) / 215.0, 0, 1)
        half = a * (0.3 + 0.7 * (1 - (1 - t) ** 3)) * np.clip((z + 135.0) / 25.0, 0, 1) ** 0.5
        cx = sign * (medial + half)
        u = np.abs(x - cx) / np.maximum(half, 1e-3)
        v = np.abs(y - y0) / (b * np.clip(0.5 + 0.5 * np.sqrt(t * 2.5).clip(0, 1), 0, 1))
        cross = u ** 2.4 + v ** 2.4  # D-shaped cross-section
        dome = shape["dome_right" if name == "right" else "dome_left"]
        base = dome + 48.0 * np.clip(cross, 0, 1) + 0.25 * np.clip(y - y0, 0, None)  # recesses lateral, posterior
        inside = (cross <= 1.0) & (z >= -135.0) & (z <= base)
        side[inside] = k
        lung |= inside
    heart = heart_inside(np.stack([x, y, z], axis=1), shape["heart"])
    lung &= ~heart
    side[~lung] = -1
    # lobes: oblique fissure (posterior-superior to anterior-inferior), horizontal fissure (right, hilum level)
    lower = z > -70.0 + (-1.15) * (y - 80.0)
    lobe = np.full(len(pts), -1, np.int8)
    right, left = lung & (side == 0), lung & (side == 1)
    lobe[right & lower] = 2
    lobe[right & ~lower & (z > -5.0) & (y < 60)] = 1
    lobe[right & ~lower & ~((z > -5.0) & (y < 60))] = 0
    lobe[left & lower] = 4
    lobe[left & ~lower] = 3
    segment = np.full(len(pts), -1, np.int8)
    offset = 0
    for k, name in enumerate(("right", "left")):
        targets = np.array([t for _, _, t in SEGMENTS[name]], float) + shape["jitter"][offset:offset + len(SEGMENTS[name])]
        dirs = targets - HILUM[name]
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        mask = lung & (side == k)
        rel = np.stack([x, y, z], axis=1)[mask] - HILUM[name]
        rel /= np.maximum(np.linalg.norm(rel, axis=1, keepdims=True), 1e-6)
        cos = rel @ dirs.T
        seg_lobe = np.array([SEGMENT_LOBE[offset + j] for j in range(len(dirs))])
        cos[lobe[mask][:, None] != seg_lobe[None, :]] = -9.0  # a segment never crosses its lobe's fissure
        segment[mask] = offset + np.argmax(cos, axis=1)
        offset += len(SEGMENTS[name])
    return Anatomy(lung=lung, side=side, lobe=lobe, segment=segment, params=shape)


def subsegment(anatomy: Anatomy, seg: int, rng: np.random.RandomState) -> np.ndarray:
    """The territory of one subsegmental artery of segment ``seg``: a smaller cone beyond its branch point."""
    pts, _ = grid_points()
    side = "right" if seg < len(SEGMENTS["right"]) else "left"
    idx = np.flatnonzero(anatomy.segment == seg)
    rel = pts[idx] * np.array([1, 1, 1 / anatomy.params["height"]]) - HILUM[side]
    dist = np.linalg.norm(rel, axis=1)
    unit = rel / np.maximum(dist[:, None], 1e-6)
    # 2-3 subsegmental arteries spread about the segment's axis; the chosen one's cone beyond the branch point
    axis = unit.mean(axis=0)
    axis /= np.linalg.norm(axis)
    k = rng.randint(2, 4)
    spread = unit - axis
    basis = np.linalg.svd(spread, full_matrices=False)[2][:2]
    angles = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(k) / k
    subdirs = axis + 0.35 * (np.cos(angles)[:, None] * basis[0] + np.sin(angles)[:, None] * basis[1])
    subdirs /= np.linalg.norm(subdirs, axis=1, keepdims=True)
    which = np.argmax(unit @ subdirs.T, axis=1)
    chosen = rng.randint(k)
    branch = np.quantile(dist, rng.uniform(0.3, 0.5))
    out = np.zeros(len(anatomy.lung), bool)
    out[idx[(which == chosen) & (dist >= branch)]] = True
    return out


def pleural_surface(anatomy: Anatomy) -> np.ndarray:
    """Lung points with a non-lung neighbour (the pleura, including fissure-free mediastinal surfaces)."""
    from scipy import ndimage

    _, shape = grid_points()
    lung = anatomy.lung.reshape(shape)
    return (lung & ~ndimage.binary_erosion(lung, border_value=0)).ravel()
