"""The simulator proper: one patient → views, outlines, per-defect truth and clinical context (see the package)."""


from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import ndimage
from sklearn.utils import check_random_state

from ...errors import ScintimlError
from .clinical import clinical_context
from .lesions import MIMICS, PE_MIX, PE_PATTERNS, emboli, mimic
from .phantom import Anatomy, build_anatomy, draw_shape, grid_points
from .projection import BIN_MM, NBIN, project, splat, splat_index, upsample, view_geometry

VIEWS = ("ANT", "POST", "RAO", "LAO", "RPO", "LPO")
ALL_VIEWS = VIEWS + ("RLAT", "LLAT")
#: Kept for callers of the first simulator: the camera's angle about the vertical axis (0 = anterior).
VIEW_ANGLES = {"ANT": 0.0, "POST": 180.0, "RAO": -45.0, "LAO": 45.0, "RPO": -135.0, "LPO": 135.0,
               "RLAT": -90.0, "LLAT": 90.0}
PIXEL_MM = BIN_MM / 2
VISIBLE_CONTRAST = 0.2
#: Bounds of the physics options (finite, and far beyond any real acquisition); the ``simulate`` command uses the
#: same ones. A planar view holds 1e5-1e6 counts; a collimator resolves 5-15 mm at the face and loses 0.02-0.1 mm
#: per mm of distance. Past them the Poisson draw fails ("lam value too large") or the blur kernel grows without
#: end (a 1e9 mm FWHM ran for minutes, then out of memory).
MAX_COUNTS = 1e9
MAX_FWHM_MM = 100.0
MAX_COLLIMATOR_SLOPE = 1.0


@dataclass
class PerfusionCase:
    """One simulated study: views of counts, masks, the truth and the clinical context."""

    case_id: str
    label: int  # 1 = pulmonary embolism
    views: dict[str, np.ndarray]  # view -> (128, 128) counts (integer-valued floats)
    lung_masks: dict[str, np.ndarray]  # view -> bool
    defect_masks: dict[str, np.ndarray]  # view -> bool, union of the defects (empty for normal)
    pattern: str  # "normal", a PE pattern or a mimic
    defects: list[dict] = field(default_factory=list)  # kind, territory, residual, share, masks (view -> bool)
    acquisition: dict = field(default_factory=dict)
    clinical: dict = field(default_factory=dict)
    anatomy: Anatomy | None = None  # kept with keep_anatomy=True (3-D masks for checks)
    reference: dict | None = None  # keep_anatomy=True: view -> expected counts without the defects

    def stack(self, views: Sequence[str] | None = None) -> np.ndarray:
        """The views as one (n_views, 128, 128) array.

        Parameters
        ----------
        views : sequence of str, optional
            Which views, in this order; by default the case's own views, in the order they were simulated.

        Raises
        ------
        ScintimlError
            Where a view asked for was not simulated for this case.

        Examples
        --------
        >>> (case,) = simulate_perfusion_scans(1, views=("ANT", "POST"), random_state=0)
        >>> case.stack().shape, case.stack(["POST"]).shape
        ((2, 128, 128), (1, 128, 128))
        """
        views = list(self.views) if views is None else list(views)
        missing = [v for v in views if v not in self.views]
        if missing:
            raise ScintimlError(f"case {self.case_id}: view(s) {', '.join(map(str, missing))} were not simulated; "
                                f"it has {', '.join(self.views)} — pass views= from those, or simulate with "
                                "those views")
        return np.stack([self.views[v] for v in views])


def _heterogeneity(p, rng, amplitude=0.08, n=6):
    """Mild regional variation (a few broad ±8 % bumps) at the lung points ``p``."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    local = np.ones(len(p))
    for _ in range(n):
        c = p[rng.randint(len(p))]
        r = rng.uniform(25, 50)
        d2 = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2
        local *= 1 + rng.uniform(-amplitude, amplitude) * np.exp(-d2 / (2 * r * r))
    return local


def _one_case(case_id, patient_seed, noise_seed, positive, prevalence, mimic_share, counts_per_view, fwhm, slope,
              scatter, views, keep_anatomy, pe_mix):
    rng = np.random.RandomState(patient_seed)
    noise = np.random.RandomState(noise_seed)
    kind = None
    if positive:
        pattern = str(rng.choice(PE_PATTERNS, p=pe_mix))
    elif rng.rand() < mimic_share:
        pattern = kind = str(rng.choice(MIMICS))
    else:
        pattern = "normal"
    shape = draw_shape(rng, cardiomegaly=pattern == "cardiomegaly")
    anatomy = build_anatomy(shape)
    pts, _ = grid_points()
    lung = anatomy.lung
    li = np.flatnonzero(lung)
    sub = pts[li] * np.array([1, 1, 1 / shape["height"]], dtype=np.float32)  # lung points, normalised height
    # supine injection: perfusion rises toward the dependent (posterior) lung and the bases
    gradient = rng.uniform(0.25, 0.5)
    w0 = np.zeros(len(lung))
    w0[li] = (1 + gradient * (sub[:, 1] + 90) / 200) * (1 + 0.15 * (sub[:, 2] + 135) / 250) * _heterogeneity(sub, rng)
    w = w0.copy()
    defects = emboli(anatomy, pattern, rng) if positive else (mimic(anatomy, kind, w, rng) if kind else [])
    for d in defects:
        if positive:
            w[d["mask"]] = w0[d["mask"]] * d["residual"]
    w0l, wl = w0[li], w[li]
    lost = float(1 - wl.sum() / w0l.sum())
    subsets = [np.flatnonzero(d["mask"][li]) for d in defects]
    for d, idx in zip(defects, subsets):
        d["share_of_lungs"] = float(len(idx) / len(li))
    dwl = w0l - wl
    # geometry: template points, scaled by size and tilted in the coronal plane on the detector
    size, tilt = shape["size"], np.deg2rad(shape["tilt_deg"])
    body_ab = (165.0 * shape["width"], 115.0)
    out_views, lung_masks, union, reference = {}, {}, {}, {}
    per_defect = [dict() for _ in defects]
    v = pts[li, 2].astype(float)
    cos_t, sin_t = np.cos(tilt), np.sin(tilt)
    sigma = 10.0 / 2.355 / BIN_MM
    for view in views:
        u, _, distance, atten = view_geometry(sub, view, body_ab, shape["heart"], scale=size)
        uu = size * (cos_t * u - sin_t * v)
        vv = size * (sin_t * u + cos_t * v)
        index = splat_index(uu, vv)
        image = project(index, distance, wl * atten, fwhm, slope, scatter)
        image = upsample(np.clip(image, 0, None))
        scale = counts_per_view / max(image.sum(), 1e-12)
        image *= scale
        out_views[view] = noise.poisson(image).astype(float)
        if keep_anatomy:  # the same patient without its defects, on the same count scale (for checks)
            reference[view] = upsample(np.clip(project(index, distance, w0l * atten, fwhm, slope, scatter),
                                               0, None)) * scale
        # lung outline: at least ~12 mm of lung along the ray (nearest bin: an outline needs no interpolation)
        nearest = index[0][0] + (index[1][1] > 0.5) + NBIN * (index[2][1] > 0.5)
        thickness = np.bincount(nearest, minlength=NBIN * NBIN).reshape(NBIN, NBIN) * (6.0 / BIN_MM) ** 2 * 6.0
        lung_masks[view] = ndimage.zoom(thickness, 2, order=1, grid_mode=True, mode="nearest") >= 12.0
        if defects:
            normal = np.maximum(ndimage.gaussian_filter(splat(index, w0l * atten)[0], sigma), 1e-9)
            loss = dwl * atten
            for j, idx in enumerate(subsets):
                if len(idx):
                    missing = ndimage.gaussian_filter(splat(index, loss, subset=idx)[0], sigma)
                    ratio = ndimage.zoom(missing / normal, 2, order=1, grid_mode=True, mode="nearest")
                    per_defect[j][view] = (ratio >= VISIBLE_CONTRAST) & lung_masks[view]
                else:
                    per_defect[j][view] = np.zeros((2 * NBIN, 2 * NBIN), bool)
            union[view] = np.any([m[view] for m in per_defect], axis=0)
        else:
            union[view] = np.zeros((2 * NBIN, 2 * NBIN), bool)
    public = []
    for d, masks in zip(defects, per_defect):
        item = {k: (round(val, 4) if isinstance(val, float) else val) for k, val in d.items() if k != "mask"}
        item["masks"] = masks
        if keep_anatomy:
            item["points"] = d["mask"]
        public.append(item)
    clin = clinical_context(int(positive), lost, kind, rng)
    return PerfusionCase(
        case_id=case_id, label=int(positive), views=out_views, lung_masks=lung_masks, defect_masks=union,
        pattern=pattern, defects=public,
        acquisition={"radiopharmaceutical": "99mTc-MAA", "counts_per_view": counts_per_view,
                     "collimator_fwhm_mm": fwhm, "collimator_slope": slope, "scatter_fraction": scatter,
                     "pixel_spacing_mm": PIXEL_MM, "patient_size": size,
                     "perfusion_lost": round(lost, 4), "heart_size": round(shape["heart"], 3)},
        clinical=clin, anatomy=anatomy if keep_anatomy else None, reference=reference or None,
    )


def _within(value, low: float, high: float, *, low_open: bool = False) -> bool:
    """Whether ``value`` is a real number in [low, high] (or (low, high]); False for NaN, text or None."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        return False
    try:
        x = float(value)
    except (TypeError, ValueError):
        return False
    return (low < x if low_open else low <= x) and x <= high  # NaN fails every comparison


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
    mimic_share: float = 0.4,
    pe_mix: Sequence[float] = PE_MIX,
    keep_anatomy: bool = False,
    n_jobs: int | None = None,
) -> list[PerfusionCase]:
    """Simulate planar 99mTc-MAA perfusion studies (the model is in the package docstring).

    Parameters
    ----------
    n_cases : int
        At least 0.
    prevalence : float
        Share of cases with pulmonary embolism.
    counts_per_view : float
        Total counts per view (clinical: 0.5-1 million), in (0, ``MAX_COUNTS``].
    collimator_fwhm_mm, collimator_slope : float
        Resolution at the collimator face and its growth per mm of distance (LEHR ≈ 7 mm + 0.04/mm; a
        general-purpose collimator ≈ 9 mm + 0.06/mm); in (0, ``MAX_FWHM_MM``] and [0, ``MAX_COLLIMATOR_SLOPE``].
    scatter_fraction : float
        Share of counts in the broad scatter component.
    views : sequence of str
        At least one of ANT, POST, RAO, LAO, RPO, LPO, RLAT, LLAT, each once.
    random_state : int, RandomState or None
        The same value gives the same patients under any acquisition protocol (separate patient and noise
        streams per case).
    id_prefix : str
    mimic_share : float
        Share of the non-PE cases that carry a mimic (COPD, effusion, cardiomegaly, pneumonia, tumour, stripe
        sign, equally likely); the rest are normal.
    pe_mix : sequence of 4 floats
        Probabilities of the subsegmental, segmental, lobar and multiple patterns among PE cases.
    keep_anatomy : bool
        Keep the 3-D anatomy, each defect's 3-D points and the expected image without the defects (for
        checks; memory-hungry and slower).
    n_jobs : int, optional
        Processes (joblib: a negative value counts back from the number of CPUs, -1 = all; 0 is refused); the
        cases are the same for any value.

    Returns
    -------
    list of PerfusionCase

    Raises
    ------
    ScintimlError
        An argument out of its range (the message names it), before any case is simulated.

    Examples
    --------
    >>> cases = simulate_perfusion_scans(2, prevalence=1.0, views=("ANT", "POST"), random_state=0)
    >>> [c.label for c in cases], cases[0].views["ANT"].shape
    ([1, 1], (128, 128))
    >>> sorted(cases[0].clinical)[:3]
    ['age', 'd_dimer_ng_ml', 'female']
    """
    # every argument is checked before the first case: NaN passed the old "<= 0" tests (a NaN resolution gave
    # unblurred views), and huge values failed deep in numpy or ran out of memory
    if isinstance(n_cases, bool) or not isinstance(n_cases, numbers.Integral) or n_cases < 0:
        raise ScintimlError(f"n_cases must be a whole number of cases, at least 0, got {n_cases!r}")
    if isinstance(views, (str, bytes)):
        raise ScintimlError(f"views must be a sequence of view names such as ('ANT', 'POST'), got the string "
                            f"{views!r}")
    views = tuple(views)
    if not views:
        raise ScintimlError(f"views is empty; give at least one of {', '.join(ALL_VIEWS)}")
    unknown = [v for v in views if not isinstance(v, str) or v not in ALL_VIEWS]
    if unknown:
        raise ScintimlError(f"unknown view(s) {unknown}; choose from {ALL_VIEWS}")
    twice = [v for v in dict.fromkeys(views) if views.count(v) > 1]
    if twice:
        raise ScintimlError(f"view(s) {', '.join(twice)} given more than once; name each view once")
    if not _within(prevalence, 0, 1) or not _within(mimic_share, 0, 1):
        raise ScintimlError(f"prevalence and mimic_share must lie in [0, 1], got {prevalence} and {mimic_share}")
    for name, value, low, high, low_open in (
            ("counts_per_view", counts_per_view, 0, MAX_COUNTS, True),
            ("collimator_fwhm_mm", collimator_fwhm_mm, 0, MAX_FWHM_MM, True),
            ("collimator_slope", collimator_slope, 0, MAX_COLLIMATOR_SLOPE, False)):
        if not _within(value, low, high, low_open=low_open):
            raise ScintimlError(f"{name} must lie in {'(' if low_open else '['}{low:g}, {high:g}], got {value!r}")
    if not _within(scatter_fraction, 0, 1) or scatter_fraction == 1:
        raise ScintimlError(f"scatter_fraction must lie in [0, 1), got {scatter_fraction!r}")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0):
        raise ScintimlError(f"n_jobs must be None or a non-zero whole number (-1: every CPU), got {n_jobs!r}")
    try:
        pe_mix = np.asarray(pe_mix, float)
    except (TypeError, ValueError):
        pe_mix = np.full(0, np.nan)  # refused just below, by the same message
    if pe_mix.shape != (4,) or not np.all(np.isfinite(pe_mix)) or np.any(pe_mix < 0) or pe_mix.sum() <= 0:
        raise ScintimlError("pe_mix needs 4 non-negative finite weights (subsegmental, segmental, lobar, multiple)")
    pe_mix = pe_mix / pe_mix.sum()
    master = check_random_state(random_state)
    draws = []
    for i in range(n_cases):
        # Two streams per case: the patient (anatomy, defects, clinical) and the acquisition noise, so the
        # same random_state gives the same patients under any protocol — what a drift comparison needs.
        patient_seed, noise_seed = master.randint(0, 2**31 - 1, size=2)
        draws.append((f"{id_prefix}-{i + 1:05d}", patient_seed, noise_seed, master.rand() < prevalence))
    args = (prevalence, mimic_share, counts_per_view, collimator_fwhm_mm, collimator_slope, scatter_fraction,
            tuple(views), keep_anatomy, pe_mix)
    if n_jobs in (None, 1) or n_cases < 8:
        return [_one_case(*draw, *args) for draw in draws]
    from joblib import Parallel, delayed

    # every case's seeds are drawn above, so the cases do not depend on n_jobs
    return Parallel(n_jobs=n_jobs, batch_size=16)(delayed(_one_case)(*draw, *args) for draw in draws)

