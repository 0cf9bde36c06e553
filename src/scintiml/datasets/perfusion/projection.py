"""Planar projection of the phantom's activity: attenuation, depth-dependent collimator blur, scatter, Poisson.

Per view the camera faces the patient from direction ``c`` (ANT: anterior; RAO: 45° between the right side and
the front, ...). Each lung point lands on the detector at column ``u = p·r`` (``r`` = the image's row direction,
the same as ``PatientOrientation``: ANT rows run to the patient's left) and row ``z``; its counts are

* attenuated along its path to the body surface, ``exp(-(μ_tissue·t_tissue + μ_lung·t_lung))`` with
  μ = 0.0153 /mm for soft tissue and 0.0045 /mm for lung at 140 keV (narrow-beam water 0.154 /cm,
  Hubbell & Seltzer, NIST XCOM; lung density ≈ 0.3 g/cm³). The body is an elliptic cylinder; the tissue path
  is the chest wall (28 mm) plus the ray's path through the heart, the rest of the path is lung;
* blurred by the collimator in four depth slabs: FWHM = ``fwhm_face + slope × distance`` (LEHR ≈ 7 mm at the
  face, ≈ 13 mm at 15 cm: Cherry, Sorenson & Phelps, *Physics in Nuclear Medicine*, 4th ed., ch. 14);
* given a scatter component, a broad blur (FWHM 60 mm) holding ``scatter_fraction`` of the counts (about 25-35 %
  in a 20 % window for 99mTc in the chest: Cherry et al., ch. 13);
* scaled to the view's total counts and given Poisson noise (done by the caller).

Images are 128 × 128 with 3.125 mm pixels (a 400 mm field of view); the projection runs on a 64 × 64 grid of
6.25 mm bins (bilinear splatting of 6 mm points) and is interpolated to 128.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

MU_TISSUE, MU_LUNG = 0.0153, 0.0045  # per mm at 140 keV
BIN_MM = 6.25
NBIN = 64
N_SLABS = 4
CHEST_WALL_MM = 28.0
#: Direction from the patient toward the camera (x: left, y: posterior) for each view.
CAMERA = {
    "ANT": (0.0, -1.0), "POST": (0.0, 1.0), "RAO": (-0.7071, -0.7071), "LAO": (0.7071, -0.7071),
    "RPO": (-0.7071, 0.7071), "LPO": (0.7071, 0.7071), "RLAT": (-1.0, 0.0), "LLAT": (1.0, 0.0),
}


def _exit_length(px, py, cx, cy, a, b):
    """Distance from (px, py) inside the ellipse (x/a)²+(y/b)²=1 to its boundary along (cx, cy)."""
    qa = (cx / a) ** 2 + (cy / b) ** 2
    qb = 2 * (px * cx / a ** 2 + py * cy / b ** 2)
    qc = (px / a) ** 2 + (py / b) ** 2 - 1.0
    disc = np.maximum(qb * qb - 4 * qa * qc, 0.0)
    return np.maximum((-qb + np.sqrt(disc)) / (2 * qa), 0.0)


def _heart_chord(p, c3, heart):
    """Length of the ray p + t·c (t > 0) inside the heart ellipsoid."""
    from .phantom import HEART_CENTRE, HEART_RADII

    centre, radii = np.array(HEART_CENTRE), np.array(HEART_RADII) * heart
    q0, q1, q2 = ((p[:, k] - centre[k]) / radii[k] for k in range(3))
    d = c3 / radii
    qa = (d * d).sum()
    qb = 2 * (q0 * d[0] + q1 * d[1] + q2 * d[2])
    qc = q0 * q0 + q1 * q1 + q2 * q2 - 1.0
    disc = qb * qb - 4 * qa * qc
    ok = disc > 0
    root = np.sqrt(np.where(ok, disc, 0.0))
    t0 = np.maximum((-qb - root) / (2 * qa), 0.0)
    t1 = np.maximum((-qb + root) / (2 * qa), 0.0)
    return np.where(ok, t1 - t0, 0.0)


def view_geometry(points: np.ndarray, view: str, body_ab: tuple[float, float], heart: float, scale: float = 1.0):
    """Detector column (mm), row (mm), distance to the collimator (mm) and attenuation factor per point.

    ``scale`` multiplies every path length (the patient's size; ``points`` are template coordinates).
    """
    cx, cy = CAMERA[view]
    c3 = np.array([cx, cy, 0.0])
    r = np.array([-cy, cx])  # the image row direction (f × head), see nm_iod.VIEW_ORIENTATION
    u = points[:, 0] * r[0] + points[:, 1] * r[1]
    t = _exit_length(points[:, 0], points[:, 1], cx, cy, *body_ab)
    tissue = np.minimum(t, CHEST_WALL_MM) + _heart_chord(points, c3, heart)
    tissue = np.minimum(tissue, t)
    atten = np.exp(-scale * (MU_TISSUE * tissue + MU_LUNG * (t - tissue)))
    distance = scale * t + 20.0  # the collimator face sits 2 cm off the skin
    return u, points[:, 2], distance, atten


def splat_index(u, v):
    """Bins and bilinear weights of points at detector (u, v) mm: four (index, weight) pairs.

    Points are clamped to the grid (the 400 mm field of view holds any chest), so every corner is a valid bin.
    """
    fu = np.clip(u * (1 / BIN_MM) + (NBIN / 2 - 0.5), 0, NBIN - 1.000001)
    fv = np.clip(v * (1 / BIN_MM) + (NBIN / 2 - 0.5), 0, NBIN - 1.000001)
    iu, iv = fu.astype(np.int64), fv.astype(np.int64)
    du, dv = fu - iu, fv - iv
    base = iv * NBIN + iu
    cu, cv = 1 - du, 1 - dv
    return [(base, cv * cu), (base + 1, cv * du), (base + NBIN, dv * cu), (base + NBIN + 1, dv * du)]


def splat(index, weights, slab=None, n_slabs=1, subset=None):
    """Accumulate weighted points into (n_slabs, NBIN, NBIN) bins using :func:`splat_index`'s bins."""
    size = n_slabs * NBIN * NBIN
    base = 0 if slab is None else slab * (NBIN * NBIN)
    out = np.zeros(size)
    for idx, w in index:
        i, ww = idx + base, w * weights
        if subset is not None:
            i, ww = i[subset], ww[subset]
        out += np.bincount(i, weights=ww, minlength=size)
    return out.reshape(n_slabs, NBIN, NBIN)


def project(index, distance, weights, fwhm_face: float, slope: float, scatter: float) -> np.ndarray:
    """Expected counts (unnormalised) on the 64 × 64 grid: slabs by distance, each blurred by its resolution."""
    edges = np.quantile(distance, np.linspace(0, 1, N_SLABS + 1)[1:-1])
    slab = np.searchsorted(edges, distance)
    stack = splat(index, weights, slab, N_SLABS)
    image = np.zeros((NBIN, NBIN))
    for k in range(N_SLABS):
        d = float(np.median(distance[slab == k])) if np.any(slab == k) else float(distance.mean())
        sigma = (fwhm_face + slope * d) / 2.355 / BIN_MM
        image += ndimage.gaussian_filter(stack[k], sigma, truncate=3.0)
    if scatter > 0:
        image = (1 - scatter) * image + scatter * ndimage.gaussian_filter(image, 60.0 / 2.355 / BIN_MM, truncate=3.0)
    return image


def upsample(image: np.ndarray) -> np.ndarray:
    """64 × 64 bins → 128 × 128 pixels (linear), total preserved."""
    out = ndimage.zoom(image, 2, order=1, grid_mode=True, mode="nearest")
    total = out.sum()
    return out * (image.sum() / total) if total > 0 else out
