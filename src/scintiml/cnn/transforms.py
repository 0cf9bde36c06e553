"""Count-aware preprocessing and anatomy-respecting augmentation for planar views.

Each step is a small callable on a ``(views, H, W)`` array (MONAI's habit: one
transform, one job); :func:`preprocess` is what training and prediction share.
"""

from __future__ import annotations

import numpy as np

#: Target total counts per view after normalisation (the scale the network sees).
NORMALISED_COUNTS = 128 * 128


def normalise_counts(views: np.ndarray) -> np.ndarray:
    """Scale each view to the same total counts, so the network sees the distribution, not the dose."""
    totals = views.reshape(len(views), -1).sum(axis=1)
    return views * (NORMALISED_COUNTS / np.maximum(totals, 1.0))[:, None, None]


def anscombe(views: np.ndarray) -> np.ndarray:
    """Anscombe transform 2·sqrt(x + 3/8): makes Poisson noise roughly unit-variance (Anscombe 1948)."""
    return 2.0 * np.sqrt(np.clip(views, 0, None) + 0.375)


def preprocess(views: np.ndarray, transform: str = "anscombe") -> np.ndarray:
    """Counts → network input: per-study normalisation, then ``anscombe``, ``sqrt`` or ``none``,
    then each view centred and scaled to unit variance (the network sees patterns, not levels)."""
    x = normalise_counts(np.asarray(views, dtype=np.float64))
    if transform == "anscombe":
        x = anscombe(x)
    elif transform == "sqrt":
        x = np.sqrt(np.clip(x, 0, None))
    elif transform != "none":
        raise ValueError(f"transform must be 'anscombe', 'sqrt' or 'none', got {transform!r}")
    x = x - x.mean(axis=(1, 2), keepdims=True)
    x = x / np.maximum(x.std(axis=(1, 2), keepdims=True), 1e-6)
    return x.astype(np.float32)


class PoissonThinning:
    """Simulate a shorter acquisition: keep each count with probability ``fraction`` (binomial thinning
    of Poisson counts is again Poisson), ``fraction`` drawn in [low, 1]."""

    def __init__(self, low: float = 0.5, prob: float = 0.5, rng=None):
        self.low, self.prob = low, prob
        self.rng = rng or np.random.default_rng()

    def __call__(self, views: np.ndarray) -> np.ndarray:
        if self.rng.random() >= self.prob:
            return views
        fraction = self.rng.uniform(self.low, 1.0)
        return self.rng.binomial(np.asarray(views, dtype=np.int64), fraction).astype(np.float64)


class SmallAffine:
    """Small shifts and rotations through MONAI's RandAffine — never left-right flips: a labelled view
    (RAO vs LAO, patient right on image left) must keep its anatomy."""

    def __init__(self, max_shift: int = 6, max_degrees: float = 7.0, prob: float = 0.7, seed: int = 0):
        from monai.transforms import RandAffine

        self.affine = RandAffine(
            prob=prob, rotate_range=(np.deg2rad(max_degrees),), translate_range=(max_shift, max_shift),
            padding_mode="zeros", mode="bilinear",
        )
        self.affine.set_random_state(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.affine(x), dtype=np.float32)
