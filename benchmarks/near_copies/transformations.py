"""Near-copy transformations of one study (V, 128, 128) of counts: each returns what a re-export would hold."""
import numpy as np
from scipy import ndimage


def _shift(x, dy, dx):
    return np.stack([ndimage.shift(v, (dy, dx), order=0, mode="constant", cval=0.0) for v in x])


def _zoom_to(x, size, order=1):
    return np.stack([ndimage.zoom(v, size / v.shape[0], order=order, grid_mode=True, mode="nearest") for v in x])


def transformations(rng):
    t = {
        "8-bit + rescale slope": lambda x: np.round(x / (x.max() / 255)) * (x.max() / 255),
        "12-bit + slope, intercept": lambda x: np.round(x / (x.max() / 4095)) * 0.37 + 12.5,
        "float rescale (gain 0.37, offset 12.5)": lambda x: x * 0.37 + 12.5,
        "window 0-70 % of view max, 8-bit": lambda x: np.round(255 * np.clip(x / x.max(axis=(1, 2), keepdims=True), 0, .7) / .7),
        "window 10-85 %, 16-bit": lambda x: np.round(65535 * (np.clip(x / x.max(axis=(1, 2), keepdims=True), .1, .85) - .1) / .75),
        "window 0-50 % of view max, 8-bit": lambda x: np.round(255 * np.clip(x / x.max(axis=(1, 2), keepdims=True), 0, .5) / .5),
        "shift 1 px (x)": lambda x: _shift(x, 0, 1),
        "shift 1 px (y)": lambda x: _shift(x, 1, 0),
        "shift 1 px (diagonal)": lambda x: _shift(x, -1, 1),
        "shift 2 px (x)": lambda x: _shift(x, 0, 2),
        "shift 2 px (diagonal)": lambda x: _shift(x, 2, -2),
        "resampled 128->64->128": lambda x: _zoom_to(x.reshape(len(x), 64, 2, 64, 2).sum(axis=(2, 4)), 128),
        "resampled 128->96->128": lambda x: _zoom_to(_zoom_to(x, 96), 128),
        "resampled 128->256 (signature of 256)": lambda x: _zoom_to(x, 256),
        "resampled 128->64 (signature of 64)": lambda x: x.reshape(len(x), 64, 2, 64, 2).sum(axis=(2, 4)),
        "resampled 128->80 cubic (signature of 80)": lambda x: np.clip(_zoom_to(x, 80, order=3), 0, None),
        "noise: Poisson re-draw": lambda x: rng.poisson(x).astype(float),
        "noise: Gaussian SD 2 % of view max": lambda x: np.clip(x + rng.normal(0, 1, x.shape) * 0.02 * x.max(axis=(1, 2), keepdims=True), 0, None),
        "noise: Gaussian SD 5 % of view max": lambda x: np.clip(x + rng.normal(0, 1, x.shape) * 0.05 * x.max(axis=(1, 2), keepdims=True), 0, None),
        "noise: half the counts (binomial thinning)": lambda x: rng.binomial(x.astype(np.int64), 0.5).astype(float),
        "PNG 8-bit per view": lambda x: np.round(255 * x / x.max(axis=(1, 2), keepdims=True)),
        "PNG 16-bit per study": lambda x: np.round(65535 * x / x.max()),
        "PNG 8-bit + shift 1 px + Poisson noise": lambda x: np.round(255 * _shift(rng.poisson(x).astype(float), 1, 1) / x.max()),
        "128->64->128 + window 0-70 % + 8-bit": lambda x: np.round(255 * np.clip(_zoom_to(x.reshape(len(x), 64, 2, 64, 2).sum(axis=(2, 4)), 128) / (4 * x.max()), 0, .7) / .7),
        "shift 2 px + half counts + 8-bit": lambda x: np.round(255 * _shift(rng.binomial(x.astype(np.int64), 0.5).astype(float), 2, 2) / x.max()),
    }
    return t
