"""The scaling layer: inputs brought to a common range before the perceptrons."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCALINGS = ("meanstd", "minmax", "none")


@dataclass
class ScalingLayer:
    """Per-input affine scaling ``x_scaled = (x - offset) / scale``, fitted on training data.

    ``meanstd``: offset = mean, scale = standard deviation (ddof=1, as OpenNN).
    ``minmax``: maps [min, max] to [-1, 1] (Neural Designer's minimum-maximum).
    ``none``: identity. A constant input gets scale 1 so it never divides by 0.
    """

    method: str
    offset: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, method: str) -> "ScalingLayer":
        n_features = X.shape[1]
        if method == "none":
            return cls(method, np.zeros(n_features), np.ones(n_features))
        if method == "meanstd":
            offset = X.mean(axis=0)
            scale = X.std(axis=0, ddof=1) if X.shape[0] > 1 else np.ones(n_features)
        elif method == "minmax":
            lo, hi = X.min(axis=0), X.max(axis=0)
            offset = (hi + lo) / 2.0
            scale = (hi - lo) / 2.0
        else:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {method!r}")
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        return cls(method, np.asarray(offset, dtype=float), np.asarray(scale, dtype=float))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.offset) / self.scale

    def to_dict(self) -> dict:
        return {"method": self.method, "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "ScalingLayer":
        return cls(d["method"], np.asarray(d["offset"], dtype=float), np.asarray(d["scale"], dtype=float))
