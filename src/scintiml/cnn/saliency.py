"""Per-view saliency (Grad-CAM through the shared encoder) and how often its peak falls in a true defect."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .train import CNNModel
from .transforms import bin_counts, inference_transform


def grad_cam(model: CNNModel, counts: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Grad-CAM (Selvaraju et al., ICCV 2017) of every view: ``(n, views, H, W)`` maps in [0, 1].

    Each view passes the shared encoder on its own, so the gradient of *that view's* logit (before late fusion)
    with respect to its last feature maps gives it its own map: ``ReLU(Σ_k mean(∂logit_v/∂A_k) · A_k)``,
    upsampled to the view's pixels and scaled by the study's largest value (a view without evidence stays dark).

    The view's own logit, not the fused study logit: fusion may give a view a negative weight, and the
    gradient of the study logit then points at that view's evidence *against* PE. Measured on one trained model
    (seed 0, 196 unseen true positives): the posterior view's fusion weight was −0.09, and its saliency peak fell
    in a true defect in 17 % of studies with the study logit (chance 23 %) and 43 % with its own logit; the
    views with positive weights got identical maps either way.

    Examples
    --------
    >>> from scintiml.datasets.perfusion import simulate_perfusion_scans
    >>> from scintiml.cnn import train_cnn
    >>> cases = simulate_perfusion_scans(20, prevalence=0.5, random_state=0)
    >>> X = np.stack([c.stack() for c in cases]); y = np.array([c.label for c in cases])
    >>> model = train_cnn(X, y, ["ANT", "POST", "RAO", "LAO", "RPO", "LPO"], width=4, epochs=1, max_steps=1)
    >>> maps = grad_cam(model, X[:2])
    >>> maps.shape, bool(maps.min() >= 0 and maps.max() <= 1)
    ((2, 6, 128, 128), True)
    """
    network = model.network.eval()
    device = next(network.parameters()).device
    pipeline = inference_transform()
    out = []
    for start in range(0, len(counts), batch_size):
        x = pipeline({"counts": bin_counts(counts[start:start + batch_size]).to(device)})["image"]
        with torch.enable_grad():
            maps = network.view_features(x).detach().requires_grad_(True)
            # views are independent through the head, so one backward pass of the summed view logits gives every
            # view the gradient of its own logit
            (grads,) = torch.autograd.grad(network.view_logits(maps).sum(), maps)
        weights = grads.mean(dim=(3, 4), keepdim=True)
        cam = F.relu((weights * maps).sum(dim=2)).detach()  # (n, v, h, w)
        n, v, h, w = cam.shape
        cam = F.interpolate(cam.reshape(n * v, 1, h, w), size=tuple(counts.shape[2:]), mode="bilinear",
                            align_corners=False).reshape(n, v, *counts.shape[2:])
        peak = cam.reshape(n, -1).amax(dim=1).clamp_min(1e-12).view(n, 1, 1, 1)
        out.append((cam / peak).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def saliency_hit_rate(maps: np.ndarray, defect_masks: np.ndarray, views: Sequence[str],
                      lung_masks: np.ndarray | None = None, dilate: int = 2) -> list[dict]:
    """Per view: how often the saliency peak lies inside a true defect (studies where the defect shows).

    Parameters
    ----------
    maps : array (n, views, H, W)
        Saliency of true positives.
    defect_masks : bool array (n, views, H, W)
        The simulator's truth.
    lung_masks : bool array, optional
        With it, the chance rate is reported too: the defect's share of the lung, i.e. the hit rate of a peak
        dropped at random on the lung.
    dilate : int
        Pixels of tolerance around the defect (the saliency comes from an 8 × 8 map).

    Returns
    -------
    list of dict
        ``view``, ``studies`` (defect visible), ``hits``, ``hit_rate``, ``chance_rate``.

    Examples
    --------
    >>> maps = np.zeros((2, 1, 8, 8)); maps[0, 0, 1, 1] = 1; maps[1, 0, 6, 6] = 1
    >>> masks = np.zeros((2, 1, 8, 8), bool); masks[:, 0, :3, :3] = True
    >>> saliency_hit_rate(maps, masks, ["ANT"], dilate=0)[0]["hit_rate"]
    0.5
    """
    from scipy import ndimage

    rows = []
    for j, view in enumerate(views):
        hits = studies = 0
        chance = []
        for i in range(len(maps)):
            mask = defect_masks[i, j]
            if not mask.any():
                continue
            region = ndimage.binary_dilation(mask, iterations=dilate) if dilate else mask
            peak = np.unravel_index(int(np.argmax(maps[i, j])), maps[i, j].shape)
            studies += 1
            hits += bool(region[peak])
            if lung_masks is not None and lung_masks[i, j].any():
                chance.append(float((region & lung_masks[i, j]).sum() / lung_masks[i, j].sum()))
        rows.append({"view": view, "studies": studies, "hits": hits,
                     "hit_rate": hits / studies if studies else float("nan"),
                     "chance_rate": float(np.mean(chance)) if chance else float("nan")})
    return rows
