"""Simulated 99mTc-MAA planar lung perfusion scans, with and without pulmonary embolism.

A teaching simulator, not a Monte-Carlo code: it produces images a reader
recognises as lung perfusion scans, with a known truth per case, and exposes
the acquisition parameters (counts, collimator resolution, scatter fraction)
so that protocol drift can be simulated on purpose.

The model, per case
-------------------
* **Anatomy** (a 64³ voxel volume, 6.25 mm voxels scaled by the patient's
  size): two half-ellipsoidal lungs with a flat mediastinal border, a domed
  base (diaphragm) and a cardiac notch in the left lung, inside an elliptical
  body. Perfusion has a gravitational gradient (more activity posteriorly and
  at the bases).
* **Bronchopulmonary segments** (approximate): each lung is split into sectors
  of polar angle around its hilum in the coronal plane × front/back — 10 on
  the right, 8 on the left; a segment's territory reaches the pleura.
* **Pulmonary embolism**: 1-4 *segmental* defects (a whole segment's wedge
  from the hilum out to the pleura, activity × 0.05-0.2) or 2-4
  *subsegmental* ones (the outer half of a segment). Pleural-based and
  wedge-shaped, as the PIOPED criteria describe.
* **Negatives**: normal perfusion, or non-segmental patterns that are not PE —
  a small round central defect, a basal effusion-like reduction, or a
  diffuse heterogeneity.
* **Imaging**: the volume is rotated to each view (ANT, POST, RAO, LAO, RPO,
  LPO), attenuated (μ = 0.15 /cm in soft tissue, 0.045 /cm in lung, at
  140 keV), projected in four depth slabs, each blurred by the collimator's
  depth-dependent resolution (FWHM = ``collimator_fwhm_mm`` at the face +
  ``collimator_slope`` × distance), plus scatter (a broad blur holding
  ``scatter_fraction`` of the counts), scaled to ``counts_per_view`` and
  given Poisson noise. Images are 128 × 128 counts, ``pixel_spacing_mm`` apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from sklearn.utils import check_random_state

VIEWS = ("ANT", "POST", "RAO", "LAO", "RPO", "LPO")
#: Rotation of the patient about the vertical axis for each view (degrees; 0 = anterior camera).
VIEW_ANGLES = {"ANT": 0.0, "POST": 180.0, "RAO": -45.0, "LAO": 45.0, "RPO": -135.0, "LPO": 135.0}
GRID = 64
VOXEL_MM = 6.25
MU_TISSUE, MU_LUNG = 0.015, 0.0045  # per mm at 140 keV


@dataclass
class PerfusionCase:
    """One simulated study: views of counts, masks and the truth."""

    case_id: str
    label: int  # 1 = pulmonary embolism
    views: dict[str, np.ndarray]  # view -> (128, 128) float counts (integers)
    lung_masks: dict[str, np.ndarray]  # view -> bool
    defect_masks: dict[str, np.ndarray]  # view -> bool (empty for normal)
    pattern: str  # "normal", "segmental", "subsegmental", "round", "effusion", "heterogeneous"
    defects: list[dict] = field(default_factory=list)
    acquisition: dict = field(default_factory=dict)

    def stack(self, views=VIEWS) -> np.ndarray:
        return np.stack([self.views[v] for v in views])


def _anatomy(rng, size: float):
    """Lung and body masks in a (z, y, x) grid: z = head→feet, y = anterior→posterior, x = patient right→left."""
    c = (np.arange(GRID) - GRID / 2 + 0.5) * VOXEL_MM / size
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    body = (x / 170) ** 2 + (y / 115) ** 2 <= 1.0
    lungs = {}
    hila = {}
    for side, sign in (("right", -1), ("left", 1)):
        cx = sign * (68 + rng.normal(0, 3))
        a, b, h = 62 + rng.normal(0, 3), 80 + rng.normal(0, 3), 235 + rng.normal(0, 8)
        top = -125.0
        zz = (z - top) / h  # 0 at apex, 1 at base
        r = np.clip(zz, 0, 1)
        width = a * np.clip(r / 0.35, 0, 1) ** 0.5 * 1.1  # rounded apex, full width from a third down
        inside = ((x - cx) / np.maximum(width, 1e-3)) ** 2 + ((y - 5) / b) ** 2 <= 1.0
        dome = z <= top + h - 35 * (1 - ((x - cx) / (a * 1.2)) ** 2).clip(0, 1)  # diaphragm dome
        medial = sign * x >= 18  # mediastinum
        lung = inside & dome & medial & (zz >= 0)
        if side == "left":  # cardiac notch
            notch = ((x - 30) / 45) ** 2 + ((y + 30) / 50) ** 2 + ((z - 50) / 60) ** 2 <= 1.0
            lung &= ~notch
        lungs[side] = lung & body
        hila[side] = np.array([top + 0.45 * h, 5.0, cx - sign * 0.45 * a])
    return (z, y, x), body, lungs, hila


def _segments(coords, lung, hilum, n_sectors: int):
    """Segment index per lung voxel: polar sector around the hilum (coronal) × anterior/posterior half."""
    z, y, x = coords
    angle = np.arctan2(z - hilum[0], x - hilum[2])
    sector = ((angle + np.pi) / (2 * np.pi) * n_sectors).astype(int) % n_sectors
    front = (y < hilum[1]).astype(int)
    seg = np.full(lung.shape, -1)
    seg[lung] = (sector * 2 + front)[lung]
    return seg


def _project(volume, body_mu, angle, fwhm_face, slope, scatter):
    """Attenuated, depth-blurred parallel projection of a (z, y, x) volume seen from the anterior after rotation."""
    if angle:
        volume = ndimage.rotate(volume, angle, axes=(1, 2), reshape=False, order=1, mode="constant")
        body_mu = ndimage.rotate(body_mu, angle, axes=(1, 2), reshape=False, order=1, mode="constant")
    # camera at y = 0 (anterior): attenuation from each voxel to the detector
    path = np.cumsum(body_mu, axis=1) - body_mu / 2
    attenuated = volume * np.exp(-path * VOXEL_MM)
    image = np.zeros((GRID, GRID))
    for slab in np.array_split(np.arange(GRID), 4):
        part = attenuated[:, slab, :].sum(axis=1)
        distance = (slab.mean() + 4) * VOXEL_MM  # mm from the collimator face
        sigma = (fwhm_face + slope * distance) / 2.355 / VOXEL_MM
        image += ndimage.gaussian_filter(part, sigma)
    image = (1 - scatter) * image + scatter * ndimage.gaussian_filter(image, 25.0 / 2.355 * 2)
    return image


def _to_128(image):
    return ndimage.zoom(image, 128 / GRID, order=1)


def simulate_perfusion_scans(
    n_cases: int = 20,
    prevalence: float = 0.4,
    counts_per_view: float = 500_000,
    collimator_fwhm_mm: float = 7.0,
    collimator_slope: float = 0.04,
    scatter_fraction: float = 0.25,
    views=VIEWS,
    random_state=None,
    id_prefix: str = "SIM",
) -> list[PerfusionCase]:
    """Simulate planar 99mTc-MAA perfusion studies (see the module docstring for the model).

    Parameters
    ----------
    n_cases : int
    prevalence : float
        Fraction of cases with pulmonary embolism.
    counts_per_view : float
        Total counts per view (clinical: 0.5-1 million).
    collimator_fwhm_mm, collimator_slope : float
        Resolution at the collimator face and its growth per mm of distance
        (LEHR ≈ 7 mm + 0.04/mm; a general-purpose collimator ≈ 9 mm + 0.06/mm).
    scatter_fraction : float
        Share of counts in the broad scatter component (energy window).
    views : sequence of str
    random_state : int or None

    Returns
    -------
    list of PerfusionCase
    """
    master = check_random_state(random_state)
    unknown = set(views) - set(VIEWS)
    if unknown:
        raise ValueError(f"unknown view(s) {sorted(unknown)}; choose from {VIEWS}")
    cases = []
    for i in range(n_cases):
        # Two streams per case: the patient (anatomy, defects) and the acquisition noise. The master
        # stream gives each case both seeds, so the same random_state simulates the same patients
        # under any protocol (counts, collimator, scatter) — what a drift comparison needs.
        patient_seed, noise_seed = master.randint(0, 2**31 - 1, size=2)
        rng = np.random.RandomState(patient_seed)
        noise = np.random.RandomState(noise_seed)
        size = float(np.clip(rng.normal(1.0, 0.07), 0.85, 1.2))
        coords, body, lungs, hila = _anatomy(rng, size)
        z, y, x = coords
        lung_any = lungs["right"] | lungs["left"]
        # gravitational gradient: more perfusion posteriorly and at the bases
        perfusion = (1.0 + 0.004 * (y + 100) + 0.002 * (z + 100)) * lung_any
        perfusion *= 1 + 0.05 * ndimage.gaussian_filter(rng.normal(size=perfusion.shape), 1.5)
        defect = np.zeros(lung_any.shape, dtype=bool)
        positive = rng.rand() < prevalence
        defects = []
        if positive:
            pattern = "segmental" if rng.rand() < 0.65 else "subsegmental"
            n_def = rng.randint(1, 5) if pattern == "segmental" else rng.randint(2, 5)
            for _ in range(n_def):
                side = "right" if rng.rand() < 0.55 else "left"
                n_sec = 5 if side == "right" else 4
                seg = _segments(coords, lungs[side], hila[side], n_sec)
                present = np.unique(seg[seg >= 0])
                k = int(rng.choice(present))
                region = seg == k
                if pattern == "subsegmental":
                    dist = np.sqrt(((np.stack(coords) - hila[side][:, None, None, None]) ** 2).sum(axis=0))
                    region &= dist >= np.quantile(dist[region], 0.55)
                depth = rng.uniform(0.05, 0.2)
                perfusion[region] *= depth
                defect |= region
                defects.append({"lung": side, "segment": k, "kind": pattern, "residual": round(depth, 3)})
        else:
            pattern = rng.choice(["normal", "normal", "round", "effusion", "heterogeneous"])
            if pattern == "round":  # small central, non-segmental defect (not PE)
                side = "right" if rng.rand() < 0.5 else "left"
                cz, cy, cx = hila[side] + np.array([rng.normal(0, 10), rng.normal(0, 10), 0])
                region = (((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2) <= 22**2) & lungs[side]
                perfusion[region] *= 0.3
                defect |= region
            elif pattern == "effusion":  # basal reduction following the diaphragm
                side = "right" if rng.rand() < 0.5 else "left"
                zmax = np.where(lungs[side].any(axis=(1, 2)))[0].max()
                region = lungs[side] & (np.arange(GRID)[:, None, None] >= zmax - rng.randint(3, 7))
                perfusion[region] *= 0.4
                defect |= region
            elif pattern == "heterogeneous":
                perfusion *= np.clip(1 + 0.35 * ndimage.gaussian_filter(rng.normal(size=perfusion.shape), 2.0) * 4,
                                     0.3, 1.8)
            if pattern != "normal":
                defects.append({"kind": pattern})
        mu = np.where(lung_any, MU_LUNG, np.where(body, MU_TISSUE, 0.0))
        out_views, lung_masks, defect_masks = {}, {}, {}
        for view in views:
            angle = VIEW_ANGLES[view]
            image = _to_128(_project(perfusion, mu, angle, collimator_fwhm_mm, collimator_slope, scatter_fraction))
            image = np.clip(image, 0, None)
            image *= counts_per_view / max(image.sum(), 1e-9)
            out_views[view] = noise.poisson(image).astype(float)
            rot = (lambda v: ndimage.rotate(v.astype(float), angle, axes=(1, 2), reshape=False, order=0)) if angle \
                else (lambda v: v.astype(float))
            lung_masks[view] = _to_128(rot(lung_any).max(axis=1)) > 0.5
            defect_masks[view] = _to_128(rot(defect).max(axis=1)) > 0.5
        cases.append(PerfusionCase(
            case_id=f"{id_prefix}-{i + 1:05d}", label=int(positive), views=out_views, lung_masks=lung_masks,
            defect_masks=defect_masks, pattern=str(pattern), defects=defects,
            acquisition={"radiopharmaceutical": "99mTc-MAA", "counts_per_view": counts_per_view,
                         "collimator_fwhm_mm": collimator_fwhm_mm, "collimator_slope": collimator_slope,
                         "scatter_fraction": scatter_fraction, "pixel_spacing_mm": VOXEL_MM * GRID / 128,
                         "patient_size": size},
        ))
    return cases
