"""The scaling layer: inputs brought to a common range before the perceptrons."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCALINGS = ("meanstd", "minmax", "none")


#: A column with no spread in the data fitted on (every training value the same) is divided by this many times its
#: magnitude: the network could learn nothing of it, so any other value a new patient brings maps to (nearly) 0 and
#: is ignored. Scale 1 had left an untrained starting weight acting on the raw difference, a unit-dependent effect.
CONSTANT_SCALE = 1e12


@dataclass
class ScalingLayer:
    """Per-input affine scaling ``x_scaled = (x - offset) / scale``, fitted on training data.

    ``meanstd``: offset = mean, scale = standard deviation (ddof=1, as OpenNN).
    ``minmax``: maps [min, max] to [-1, 1] (Neural Designer's minimum-maximum).
    ``none``: identity. An input constant in the data fitted on gets its value as offset and
    :data:`CONSTANT_SCALE` times its magnitude as scale: never a division by 0, and another value later is ignored.

    Examples
    --------
    A constant 0.1 (whose float mean is one rounding step off, a "standard deviation" of 2.8e-17 that scaled 0.3
    to 7e15 and saturated the network) and a column of tiny values:

    >>> layer = ScalingLayer.fit(np.array([[0.1, 1e-200], [0.1, 3e-200], [0.1, 2e-200]]), "meanstd")
    >>> layer.transform(np.array([[0.3, 3e-200]])).round(6).tolist()
    [[0.0, 1.0]]
    """

    method: str
    offset: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, method: str) -> "ScalingLayer":
        n_features = X.shape[1]
        if method == "none":
            return cls(method, np.zeros(n_features), np.ones(n_features))
        if method not in ("meanstd", "minmax"):
            raise ValueError(f"scaling must be one of {SCALINGS}, got {method!r}")
        lo, hi = X.min(axis=0), X.max(axis=0)
        # each column first divided by a power of two near its largest |value| (exact: no rounding), so that the
        # squares in the standard deviation neither overflow (|x| ~ 1e160) nor underflow (|x| ~ 1e-200)
        big = np.maximum(np.abs(lo), np.abs(hi))
        p2 = np.exp2(np.floor(np.log2(np.where(np.isfinite(big) & (big > 0), big, 1.0))))
        if method == "meanstd":
            Xn = X / p2
            offset = Xn.mean(axis=0) * p2
            scale = Xn.std(axis=0, ddof=1) * p2 if X.shape[0] > 1 else np.ones(n_features)
        else:
            offset = (hi / p2 + lo / p2) / 2.0 * p2
            scale = (hi / p2 - lo / p2) / 2.0 * p2
        constant = hi == lo  # exactly: a mean's rounding error is no spread
        offset = np.where(constant, lo, offset)
        scale = np.where(constant, CONSTANT_SCALE * np.maximum(1.0, np.abs(lo)),
                         np.where(np.isfinite(scale) & (scale > 0), scale, 1.0))
        return cls(method, np.asarray(offset, dtype=float), np.asarray(scale, dtype=float))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.offset) / self.scale

    def to_dict(self) -> dict:
        return {"method": self.method, "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "ScalingLayer":
        return cls(d["method"], np.asarray(d["offset"], dtype=float), np.asarray(d["scale"], dtype=float))
