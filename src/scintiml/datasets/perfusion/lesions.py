"""What changes perfusion: emboli (occluded arteries) and the mimics a reader must not call PE.

Emboli (the occluded artery's whole downstream territory loses perfusion, down to a residual of 5-30 %: MAA
defects from occlusion are near-complete, partial occlusion and bronchial collaterals leave some):

* ``subsegmental``: 1-3 subsegmental territories (part of a segment, PIOPED "moderate" defects of 25-75 % of a
  segment; PIOPED Investigators, JAMA 1990;263:2753);
* ``segmental``: 1-2 whole segments ("large" defects, > 75 % of a segment);
* ``lobar``: a whole lobe (a lobar artery), sometimes with one more segment;
* ``multiple``: 3-6 territories of mixed level, often both lungs — PE is usually multiple and bilateral.
The mix (15 / 30 / 15 / 40 %) follows CT angiography series, where isolated subsegmental PE is about 5-10 % of
PE (Carrier et al., J Thromb Haemost 2010;8:1716) and most patients have several emboli.

Mimics (non-PE):

* ``copd``: heterogeneous perfusion with upper-zone predominance and small non-segmental matched defects;
* ``effusion``: a basal pleural effusion compresses the lower lobe (smaller lung base, blunted costophrenic
  angle) and fluid in the oblique fissure gives the fissure sign;
* ``cardiomegaly``: a large heart indents the left lung (drawn in the anatomy);
* ``pneumonia``: a non-segmental defect (an ellipsoid crossing segment borders);
* ``tumour``: a central, hilar defect that does not reach the pleura;
* ``stripe``: a defect with a rim of preserved perfusion along the pleura — the stripe sign, which argues
  against PE (Sostman & Gottschalk, Radiology 1982;142:737).
"""

from __future__ import annotations

import numpy as np

from .phantom import HILUM, LOBES, SEGMENT_LOBE, SEGMENT_NAMES, Anatomy, grid_points, subsegment

PE_PATTERNS = ("subsegmental", "segmental", "lobar", "multiple")
PE_MIX = (0.15, 0.30, 0.15, 0.40)
MIMICS = ("copd", "effusion", "cardiomegaly", "pneumonia", "tumour", "stripe")


def _segment_mask(anatomy: Anatomy, seg: int) -> np.ndarray:
    return anatomy.segment == seg


def _present_segments(anatomy: Anatomy, side: int | None = None) -> list[int]:
    segs = np.unique(anatomy.segment[anatomy.segment >= 0])
    counts = np.bincount(anatomy.segment[anatomy.segment >= 0], minlength=len(SEGMENT_NAMES))
    keep = [int(s) for s in segs if counts[s] >= 12]  # a segment squeezed to a few points is not a target
    if side is not None:
        keep = [s for s in keep if (s >= 10) == bool(side)]
    return keep


def emboli(anatomy: Anatomy, pattern: str, rng: np.random.RandomState) -> list[dict]:
    """Defects of an embolic ``pattern``: each ``{"kind", "territory", "mask", "residual"}``."""
    out: list[dict] = []
    taken = np.zeros(len(anatomy.lung), bool)

    def add(kind, name, mask):
        mask = mask & ~taken
        if mask.sum() >= 4:
            taken[:] |= mask
            out.append({"kind": kind, "territory": name, "mask": mask, "residual": float(rng.uniform(0.05, 0.3))})

    segs = _present_segments(anatomy)
    if pattern == "subsegmental":
        for s in rng.choice(segs, size=rng.randint(1, 4), replace=False):
            add("subsegmental", SEGMENT_NAMES[s] + " (subsegment)", subsegment(anatomy, int(s), rng))
    elif pattern == "segmental":
        for s in rng.choice(segs, size=rng.randint(1, 3), replace=False):
            add("segmental", SEGMENT_NAMES[s], _segment_mask(anatomy, int(s)))
    elif pattern == "lobar":
        lobe = int(rng.choice([0, 2, 3, 4, 1], p=[0.2, 0.3, 0.2, 0.25, 0.05]))
        add("lobar", LOBES[lobe], anatomy.lobe == lobe)
        if rng.rand() < 0.5:
            others = [s for s in segs if SEGMENT_LOBE[s] != lobe]
            s = int(rng.choice(others))
            add("segmental", SEGMENT_NAMES[s], _segment_mask(anatomy, s))
    elif pattern == "multiple":
        for s in rng.choice(segs, size=min(len(segs), rng.randint(3, 7)), replace=False):
            if rng.rand() < 0.5:
                add("segmental", SEGMENT_NAMES[s], _segment_mask(anatomy, int(s)))
            else:
                add("subsegmental", SEGMENT_NAMES[s] + " (subsegment)", subsegment(anatomy, int(s), rng))
    else:
        raise ValueError(f"unknown embolic pattern {pattern!r}; choose from {PE_PATTERNS}")
    return out


def _blob(points, centre, radii, rotation=None):
    rel = points - centre
    if rotation is not None:
        rel = rel @ rotation
    return ((rel / radii) ** 2).sum(axis=1) <= 1.0


def _random_rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q


def mimic(anatomy: Anatomy, kind: str, weights: np.ndarray, rng: np.random.RandomState) -> list[dict]:
    """Apply a non-PE pattern to ``weights`` (in place where it is a field) and return its defects."""
    pts, shape = grid_points()
    p = pts * np.array([1, 1, 1 / anatomy.params["height"]], dtype=np.float32)
    lung = anatomy.lung
    out: list[dict] = []
    if kind == "copd":
        # emphysema: upper-zone predominant loss plus patchy, non-segmental matched defects
        z = p[:, 2]
        weights *= np.clip(1.0 - rng.uniform(0.25, 0.5) * np.clip((40 - z) / 170, 0, 1), 0.2, 1)
        field = np.ones(len(p))
        for _ in range(rng.randint(8, 16)):
            c = p[rng.choice(np.flatnonzero(lung))]
            r = rng.uniform(12, 28)
            field *= 1 - rng.uniform(0.3, 0.7) * np.exp(-((p - c) ** 2).sum(axis=1) / (2 * r * r))
        weights *= field
        out.append({"kind": "copd", "territory": "diffuse, upper zones", "mask": lung & (field < 0.6),
                    "residual": None})
    elif kind == "effusion":
        side = rng.randint(2)
        lobe = 2 if side == 0 else 4
        # fluid fills the posterior costophrenic recess and the base: the lowest lung points are no longer lung
        zs = p[:, 2][lung & (anatomy.side == side)]
        level = np.quantile(zs, rng.uniform(0.78, 0.9))
        fluid = lung & (anatomy.side == side) & (p[:, 2] + 0.35 * (p[:, 1] - 10) > level)
        weights[fluid] = 0.0
        fissure_dist = np.abs((p[:, 2] + 70.0) + 1.15 * (p[:, 1] - 80.0)) / np.hypot(1, 1.15)
        fissure = lung & (anatomy.side == side) & (fissure_dist < 7.0) & ~fluid
        weights[fissure] *= 0.3
        out.append({"kind": "effusion", "territory": f"{'right' if side == 0 else 'left'} base ({LOBES[lobe]})",
                    "mask": fluid | fissure, "residual": 0.0})
    elif kind == "cardiomegaly":
        out.append({"kind": "cardiomegaly", "territory": f"heart × {anatomy.params['heart']:.2f}",
                    "mask": np.zeros(len(p), bool), "residual": None})
    elif kind == "pneumonia":
        c = p[rng.choice(np.flatnonzero(lung))]
        mask = lung & _blob(p, c, rng.uniform(28, 55, size=3), _random_rotation(rng))
        residual = float(rng.uniform(0.2, 0.5))
        weights[mask] *= residual
        out.append({"kind": "pneumonia", "territory": "non-segmental", "mask": mask, "residual": residual})
    elif kind == "tumour":
        side = "right" if rng.rand() < 0.5 else "left"
        c = HILUM[side] + np.array([(-1 if side == "right" else 1) * rng.uniform(15, 30), rng.normal(0, 12),
                                    rng.normal(0, 15)])
        mask = lung & _blob(p, c, np.full(3, rng.uniform(20, 34)))
        residual = float(rng.uniform(0.05, 0.3))
        weights[mask] *= residual
        out.append({"kind": "tumour", "territory": f"{side} hilum", "mask": mask, "residual": residual})
    elif kind == "stripe":
        from scipy import ndimage

        seg = int(rng.choice(_present_segments(anatomy)))
        # mm from the pleura (padded, so that the grid's edge counts as outside the lung)
        depth = ndimage.distance_transform_edt(np.pad(lung.reshape(shape), 1))[1:-1, 1:-1, 1:-1].ravel() * 6.0
        mask = (anatomy.segment == seg) & (depth > rng.uniform(10, 16))
        residual = float(rng.uniform(0.1, 0.35))
        weights[mask] *= residual
        out.append({"kind": "stripe", "territory": SEGMENT_NAMES[seg] + " (pleura spared)", "mask": mask,
                    "residual": residual})
    else:
        raise ValueError(f"unknown mimic {kind!r}; choose from {MIMICS}")
    return out
