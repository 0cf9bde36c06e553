"""Protocol guard: does a study look like the studies the model was trained on?

The bundle records the training protocol — matrix, pixel spacing, collimator, energy window, counts per view,
views — and an orientation template (the mean training input of every view). :meth:`ProtocolGuard.check` lists, in
words, every way a study departs from it; triage puts that list in the worklist and does not score such a study.

Orientation: in a lung perfusion scan the left lung is the smaller one (the cardiac notch). A left-right mirrored
study therefore matches the *mirrored* template better than the template itself; the check sums, over the views,
``corr(view, template) − corr(mirrored view, template)`` and flags a negative sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

#: Relative tolerance on the pixel spacing (rounding in headers, camera zoom calibration).
SPACING_TOLERANCE = 0.05
#: Counts per view accepted above the training maximum (more counts = less noise; beyond 2× is another protocol).
COUNTS_HIGH_FACTOR = 2.0


@dataclass
class ProtocolGuard:
    """The training protocol and the checks a new study must pass.

    Attributes
    ----------
    views : list of str
    matrix : [rows, columns]
    pixel_spacing_mm : [low, high] or None
    collimators : list of str
        Collimator names seen in training (empty: not recorded, not checked).
    energy_windows_kev : list of [low, high]
        Energy windows seen in training (empty: not recorded, not checked).
    counts_per_view : [low, high]
        Total counts per view accepted: the training minimum × the augmentation's thinning, up to 2 × the maximum.
    templates : array (views, h, w)
        Mean preprocessed training input per view (orientation check).

    Examples
    --------
    >>> from scintiml.datasets.perfusion import simulate_perfusion_scans
    >>> cases = simulate_perfusion_scans(8, random_state=0)
    >>> counts = np.stack([c.stack() for c in cases])
    >>> guard = ProtocolGuard.from_training(counts, ["ANT", "POST", "RAO", "LAO", "RPO", "LPO"])
    >>> guard.check_counts(counts[0]), guard.check_counts(counts[0][:, :, ::-1])
    ([], ['mirrored (left-right flipped) views'])
    """

    views: list[str]
    matrix: list[int]
    counts_per_view: list[float]
    templates: np.ndarray
    pixel_spacing_mm: list[float] | None = None
    collimators: list[str] = field(default_factory=list)
    energy_windows_kev: list[list[float]] = field(default_factory=list)

    @classmethod
    def from_training(cls, counts: np.ndarray, views: Sequence[str], pixel_spacing_mm: Sequence[float] = (),
                      collimators: Sequence[str] = (), energy_windows_kev: Sequence[Sequence[float]] = (),
                      thinning_low: float = 0.5, templates: np.ndarray | None = None) -> "ProtocolGuard":
        """The guard of a training set of counts ``(n, views, H, W)`` and the protocol values seen in it
        (``templates``: the mean preprocessed views, when the caller has them already)."""
        counts = np.asarray(counts)
        totals = counts.reshape(counts.shape[0], counts.shape[1], -1).sum(axis=2)
        spacing = [float(min(pixel_spacing_mm)), float(max(pixel_spacing_mm))] if len(pixel_spacing_mm) else None
        return cls(
            views=list(views), matrix=[int(counts.shape[2]), int(counts.shape[3])],
            counts_per_view=[float(totals.min() * thinning_low), float(totals.max() * COUNTS_HIGH_FACTOR)],
            templates=_orientation_templates(counts) if templates is None else np.asarray(templates), pixel_spacing_mm=spacing,
            collimators=sorted({str(c) for c in collimators if c}),
            # a header's [0, 0] ("not recorded") or reversed window is no window a study could be checked against
            energy_windows_kev=sorted({(float(a), float(b)) for a, b in energy_windows_kev
                                       if valid_energy_window((a, b))}),
        )

    def to_spec(self) -> dict[str, Any]:
        """The guard's numbers for the bundle spec (the templates go to their own file)."""
        return {"views": self.views, "matrix": self.matrix, "pixel_spacing_mm": self.pixel_spacing_mm,
                "collimators": self.collimators, "energy_windows_kev": [list(w) for w in self.energy_windows_kev],
                "counts_per_view": self.counts_per_view}

    @classmethod
    def from_spec(cls, spec: dict[str, Any], templates: np.ndarray) -> "ProtocolGuard":
        return cls(views=list(spec["views"]), matrix=[int(v) for v in spec["matrix"]],
                   counts_per_view=[float(v) for v in spec["counts_per_view"]], templates=np.asarray(templates),
                   pixel_spacing_mm=spec.get("pixel_spacing_mm"), collimators=list(spec.get("collimators", [])),
                   energy_windows_kev=[list(w) for w in spec.get("energy_windows_kev", [])])

    def check_counts(self, counts: np.ndarray) -> list[str]:
        """Problems of one study's counts ``(views, H, W)``: matrix, counts per view, orientation."""
        counts = np.asarray(counts)
        if list(counts.shape[1:]) != self.matrix:
            return [f"matrix {counts.shape[1]} x {counts.shape[2]}, trained on {self.matrix[0]} x {self.matrix[1]}"]
        # counts are never negative or undefined (signed pixel data, a negative RescaleIntercept): such a study is
        # listed as not triaged with the reason, where the network would refuse it and stop the whole worklist
        values = counts.astype(float, copy=False)
        if not np.isfinite(values).all():
            return ["pixel values that are not numbers (NaN or infinite)"]
        if (values < 0).any():
            return [f"negative pixel values (down to {values.min():g}): not counts"]
        problems = []
        totals = counts.reshape(len(counts), -1).sum(axis=1)
        low, high = self.counts_per_view
        if totals.min() < low or totals.max() > high:
            problems.append(f"counts per view {totals.min():.0f}-{totals.max():.0f}, trained on {low:.0f}-{high:.0f}")
        if orientation_score(counts, self.templates) < 0:
            problems.append("mirrored (left-right flipped) views")
        return problems

    def check(self, study: Any, counts: np.ndarray | None = None) -> list[str]:
        """Every way a :class:`~scintiml.imaging.planar.PlanarStudy` departs from the training protocol."""
        missing = [v for v in self.views if v not in study.views]
        if missing:
            return [f"view(s) {missing} missing"]
        counts = counts if counts is not None else study.stack(self.views)
        problems = self.check_counts(counts)
        spacing = np.asarray(study.pixel_spacing_mm, dtype=float)
        if self.pixel_spacing_mm is not None and np.all(np.isfinite(spacing)):
            low, high = self.pixel_spacing_mm
            if spacing.min() < low * (1 - SPACING_TOLERANCE) or spacing.max() > high * (1 + SPACING_TOLERANCE):
                problems.append(f"pixel spacing {spacing.max():.2f} mm, trained on {low:.2f}-{high:.2f} mm")
        collimator = study.metadata.get("collimator")
        if self.collimators and collimator and str(collimator) not in self.collimators:
            problems.append(f"collimator {collimator}, trained on {', '.join(self.collimators)}")
        # a window the header leaves unrecorded ([0, 0]) is no window: training dropped such windows too
        windows = [w for w in study.metadata.get("energy_windows_kev") or [] if valid_energy_window(w)]
        known = {tuple(w) for w in self.energy_windows_kev}
        if known and windows and any(tuple(map(float, w)) not in known for w in windows):
            problems.append(f"energy window {windows}, trained on {sorted(known)}")
        return problems


#: Highest energy-window edge (keV): gamma-camera peaks run up to 511 keV (I-131 364, F-18 511); windows around
#: them stay well below this.
MAX_ENERGY_KEV = 1000.0


def valid_energy_window(window) -> bool:
    """A window a study can be checked against: two finite numbers, ``0 <= low < high <= 1000`` keV. Training keeps
    only such windows from the headers (a [0, 0] written for "not recorded" made its own bundle unreadable, then
    every study "not triaged"), the check compares only such windows, and the bundle loader refuses any other.

    Examples
    --------
    >>> valid_energy_window((126, 154)), valid_energy_window((0, 1000)), valid_energy_window((0, 0))
    (True, True, False)
    """
    try:
        low, high = (float(v) for v in window)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite([low, high]).all()) and 0 <= low < high <= MAX_ENERGY_KEV


def _orientation_templates(counts: np.ndarray) -> np.ndarray:
    from .transforms import preprocess

    return np.mean([preprocess(c) for c in counts], axis=0).astype(np.float32)


def orientation_score(counts: np.ndarray, templates: np.ndarray) -> float:
    """Σ over views of ``corr(view, template) − corr(mirrored view, template)``; negative = mirrored.

    Examples
    --------
    >>> t = np.zeros((1, 4, 4), np.float32); t[0, :, :2] = 1
    >>> c = np.zeros((1, 8, 8)); c[0, :, :4] = 9
    >>> orientation_score(c, t) > 0, orientation_score(c[:, :, ::-1], t) < 0
    (True, True)
    >>> orientation_score(np.zeros((1, 8, 8)), t)  # a blank view tells nothing (the counts check flags it)
    0.0
    """
    from .transforms import preprocess

    x = preprocess(np.asarray(counts, dtype=np.float32), binning=counts.shape[-1] // templates.shape[-1])
    score = 0.0
    for view, template in zip(x, templates):
        t = (template - template.mean()).ravel()
        a, b = view.ravel(), view[:, ::-1].ravel()
        if np.ptp(a) == 0 or np.ptp(t) == 0:  # a correlation with a constant is undefined: no vote either way
            continue
        score += float(np.corrcoef(a, t)[0, 1] - np.corrcoef(b, t)[0, 1])
    return score
