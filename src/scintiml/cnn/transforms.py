"""Count-aware preprocessing and anatomy-respecting augmentation for planar views, as MONAI dictionary transforms.

A batch travels as one dictionary — ``{"counts": (n, views, H, W) tensor, "label": (n,), "views": [...]}`` — through
a :class:`monai.transforms.Compose` of small transforms, each with one job (MONAI's habit, kept with metadata beside
the pixels). The transforms work on whole batches of torch tensors on the training device, so augmentation runs on
the GPU when training there and never in a per-study Python loop (the issue measured the input pipeline, not the
network, setting the pace).

Order matters: :class:`RandCountThinningd` works on counts (a shorter acquisition), :class:`CountsToInputd` turns
counts into the network's input, :class:`RandShiftRotated` then moves the anatomy a little.
"""

from __future__ import annotations

from typing import Any, Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import Compose, MapTransform, Randomizable

#: 2 × 2 binning: 128 × 128 views become 64 × 64 (sums of Poisson counts are Poisson; segments stay > 5 pixels wide).
BINNING = 2


def counts_to_input(counts: torch.Tensor, binning: int = BINNING) -> torch.Tensor:
    """Counts ``(n, views, H, W)`` → network input ``(n, views, H/b, W/b)``.

    Steps: ``binning`` × ``binning`` sums; each view scaled to a mean of one count per pixel (the network sees
    the distribution, not the dose); the Anscombe transform ``2·sqrt(x + 3/8)`` (Poisson noise becomes roughly
    unit-variance; Anscombe 1948); each view centred and scaled to unit variance.

    Examples
    --------
    >>> x = torch.full((1, 2, 128, 128), 5.0)
    >>> x[0, :, :64] = 1.0
    >>> y = counts_to_input(x)
    >>> tuple(y.shape), round(float(y.mean()), 4), round(float(y.std(unbiased=False)), 3)
    ((1, 2, 64, 64), 0.0, 1.0)
    """
    x = counts.float()
    if binning > 1:
        x = F.avg_pool2d(x, binning) * float(binning * binning)
    mean = x.mean(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    x = 2.0 * torch.sqrt((x / mean).clamp_min(0.0) + 0.375)
    x = x - x.mean(dim=(2, 3), keepdim=True)
    return x / x.std(dim=(2, 3), keepdim=True, unbiased=False).clamp_min(1e-6)


def bin_counts(counts: np.ndarray | torch.Tensor, binning: int = BINNING) -> torch.Tensor:
    """Sum ``binning`` × ``binning`` pixels of counts ``(n, views, H, W)`` (float32; what training caches)."""
    x = torch.as_tensor(np.ascontiguousarray(counts, dtype=np.float32))  # mirrored views have negative strides
    return F.avg_pool2d(x, binning) * float(binning * binning) if binning > 1 else x


class CountsToInputd(MapTransform):
    """Dictionary transform: ``counts`` → ``image`` (:func:`counts_to_input`), the network's input.

    Examples
    --------
    >>> out = CountsToInputd(binning=1)({"counts": torch.rand(2, 6, 64, 64) * 9})
    >>> tuple(out["image"].shape)
    (2, 6, 64, 64)
    """

    def __init__(self, keys: str = "counts", output_key: str = "image", binning: int = 1):
        super().__init__(keys)
        self.output_key, self.binning = output_key, binning

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.output_key] = counts_to_input(d[key], self.binning)
        return d


class RandCountThinningd(Randomizable, MapTransform):
    """A shorter acquisition: each study's counts thinned to a random fraction in ``[low, 1]`` (with ``prob``).

    Binomial thinning of Poisson counts is again Poisson; it is drawn here through its normal approximation
    (mean ``f·c``, variance ``f(1−f)·c``) so that a whole batch is thinned in one tensor operation.

    Examples
    --------
    >>> t = RandCountThinningd(low=0.5, prob=1.0)
    >>> _ = t.set_random_state(0)
    >>> c = torch.full((4, 6, 8, 8), 100.0)
    >>> ratio = float(t({"counts": c})["counts"].sum() / c.sum())
    >>> 0.5 <= ratio < 1.0
    True
    """

    def __init__(self, keys: str = "counts", low: float = 0.5, prob: float = 0.5):
        MapTransform.__init__(self, keys)
        self.low, self.prob = low, prob

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            c = d[key]
            n = c.shape[0]
            apply = torch.as_tensor(self.R.random_sample(n) < self.prob, device=c.device)
            f = torch.as_tensor(self.R.uniform(self.low, 1.0, n), dtype=c.dtype, device=c.device)
            f = torch.where(apply, f, torch.ones_like(f)).view(n, 1, 1, 1)
            gen = torch.Generator(device=c.device).manual_seed(int(self.R.randint(0, 2**31 - 1)))
            noise = torch.randn(c.shape, generator=gen, device=c.device, dtype=c.dtype)
            d[key] = (f * c + torch.sqrt(f * (1 - f) * c.clamp_min(0)) * noise).clamp_min(0)
        return d

    def randomize(self, data: Any = None) -> None:  # draws happen per batch in __call__
        pass


class RandShiftRotated(Randomizable, MapTransform):
    """Small shifts and rotations of every study in a batch (one ``affine_grid`` + ``grid_sample``).

    Never a left-right flip: a labelled view (RAO vs LAO, patient right on image left) must keep its anatomy,
    and the protocol guard treats a mirrored study as out of protocol.

    Examples
    --------
    >>> t = RandShiftRotated(keys="image", max_shift=0.1, max_degrees=7.0, prob=1.0)
    >>> _ = t.set_random_state(1)
    >>> tuple(t({"image": torch.rand(3, 6, 32, 32)})["image"].shape)
    (3, 6, 32, 32)
    """

    def __init__(self, keys: str = "image", max_shift: float = 0.08, max_degrees: float = 7.0, prob: float = 0.7):
        MapTransform.__init__(self, keys)
        self.max_shift, self.max_degrees, self.prob = max_shift, max_degrees, prob

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            x = d[key]
            n = x.shape[0]
            apply = self.R.random_sample(n) < self.prob
            angle = np.deg2rad(self.R.uniform(-self.max_degrees, self.max_degrees, n)) * apply
            shift = self.R.uniform(-self.max_shift, self.max_shift, (n, 2)) * 2 * apply[:, None]  # grid is [-1, 1]
            theta = np.zeros((n, 2, 3), dtype=np.float32)
            theta[:, 0, 0] = theta[:, 1, 1] = np.cos(angle)
            theta[:, 0, 1], theta[:, 1, 0] = -np.sin(angle), np.sin(angle)
            theta[:, :, 2] = shift
            grid = F.affine_grid(torch.as_tensor(theta, device=x.device), list(x.shape), align_corners=False)
            # the input is centred per view, so zero padding is the view's mean level
            d[key] = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return d

    def randomize(self, data: Any = None) -> None:
        pass


def inference_transform() -> Compose:
    """Binned counts → network input, nothing random (prediction, selection, saliency)."""
    return Compose([CountsToInputd(keys="counts", binning=1)])


def training_transform(seed: int, augment: bool = True, thinning_low: float = 0.5) -> Compose:
    """Binned counts → augmented network input: thinning, preprocessing, small shifts and rotations."""
    if not augment:
        return inference_transform()
    steps: Sequence = [RandCountThinningd(keys="counts", low=thinning_low, prob=0.5),
                       CountsToInputd(keys="counts", binning=1),
                       RandShiftRotated(keys="image", max_shift=0.06, max_degrees=6.0, prob=0.7)]
    compose = Compose(list(steps))
    compose.set_random_state(seed=seed % 2**32)
    return compose


def preprocess(views: np.ndarray, binning: int = BINNING) -> np.ndarray:
    """One study's counts ``(views, H, W)`` → its network input (numpy float32), as :func:`counts_to_input`.

    Examples
    --------
    >>> preprocess(np.ones((6, 128, 128))).shape
    (6, 64, 64)
    """
    return counts_to_input(torch.as_tensor(np.ascontiguousarray(views, dtype=np.float32))[None], binning)[0].numpy()
