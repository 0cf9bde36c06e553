"""Training, the model bundle (safetensors + JSON, no pickle) and prediction for the planar CNN."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..io import atomic_dir
from ..errors import BundleError
from ..imaging.planar import ImagingError
from ..evaluate import evaluate_binary, threshold_for_sensitivity
from ..split import Split, split_cohort
from .model import PlanarAlexNet
from .transforms import PoissonThinning, SmallAffine, preprocess


def seed_everything(seed: int) -> None:
    """Deterministic training: the same seed gives the same weights on the same machine."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True, warn_only=True)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class CNNModel:
    """A trained network with everything needed to use it again."""

    network: PlanarAlexNet
    config: dict[str, Any]
    card: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def views(self) -> list[str]:
        return list(self.config["views"])

    @property
    def threshold(self) -> float:
        return float(self.config["threshold"])

    def inputs(self, counts: np.ndarray) -> np.ndarray:
        """(n, views, H, W) counts → preprocessed float32 network inputs."""
        return np.stack([preprocess(c, self.config["transform"]) for c in counts])

    @torch.no_grad()
    def predict_proba(self, counts: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Probability of pulmonary embolism for each study ``(n, views, H, W)`` of counts."""
        self.network.eval()
        device = next(self.network.parameters()).device
        out = []
        for start in range(0, len(counts), batch_size):
            x = torch.from_numpy(self.inputs(counts[start:start + batch_size])).to(device)
            out.append(torch.sigmoid(self.network(x)).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Bundle: ``config.json`` + ``weights.safetensors`` + ``card.json`` / ``card.md``."""
        from safetensors.torch import save_file

        target = Path(path)
        with atomic_dir(target, overwrite=overwrite) as tmp:
            state = {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}
            save_file(state, str(tmp / "weights.safetensors"))
            (tmp / "config.json").write_text(json.dumps(self.config, indent=2))
            (tmp / "card.json").write_text(json.dumps(self.card, indent=2))
            (tmp / "card.md").write_text(_card_md(self.card))
            (tmp / "history.json").write_text(json.dumps(self.history))
        return target

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> "CNNModel":
        from safetensors.torch import load_file

        path = Path(path)
        if not (path / "config.json").exists() or not (path / "weights.safetensors").exists():
            raise BundleError(f"{str(path)!r} is not a scintiml CNN bundle (config.json, weights.safetensors)")
        config = json.loads((path / "config.json").read_text())
        network = PlanarAlexNet(len(config["views"]), config["width"], config.get("dropout", 0.3))
        network.load_state_dict(load_file(str(path / "weights.safetensors"), device=str(device)))
        network.to(device).eval()
        card = json.loads((path / "card.json").read_text()) if (path / "card.json").exists() else {}
        return cls(network, config, card)


def _card_md(card: dict[str, Any]) -> str:
    if not card:
        return "# Model card\n\n(not available)\n"
    m = card.get("metrics", {})
    lines = [
        "# Model card: planar-scan CNN for pulmonary-embolism triage", "",
        f"- views: {', '.join(card.get('views', []))}; network: {card.get('network')}",
        f"- data: {card.get('data')}", f"- split training/selection/testing: {card.get('split')}",
        f"- acquisition protocol: {card.get('protocol') or 'not recorded'}", "",
        "## Metrics on the testing studies (95 % CI)",
        f"- AUC {m.get('auc', float('nan')):.3f} ({m.get('auc_ci95')})",
        f"- threshold {m.get('threshold', float('nan')):.3f}, fixed on the selection studies for >= 95 % sensitivity",
        f"- sensitivity {m.get('sensitivity')} ({m.get('sensitivity_ci95')}), specificity {m.get('specificity')} "
        f"({m.get('specificity_ci95')})", "",
        "## Intended use",
        "Triage: order the reporting worklist so that likely positives are read first. **Not a diagnosis**: "
        "every study is still reported by a physician.", "", "## Known limits",
    ]
    lines += [f"- {x}" for x in card.get("known_limits", [])]
    return "\n".join(lines) + "\n"


def train_cnn(
    counts: np.ndarray,
    labels: np.ndarray,
    views: Sequence[str],
    ids: Sequence[str] | None = None,
    split: Split | None = None,
    width: int = 16,
    transform: str = "anscombe",
    epochs: int = 40,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    patience: int = 8,
    max_steps: int | None = None,
    augment: bool = True,
    seed: int = 0,
    device: str | torch.device | None = None,
    protocol: dict[str, str] | None = None,
    data_description: str = "",
    progress: Callable[[int, int, dict], None] | None = None,
) -> tuple[CNNModel, dict[str, Any]]:
    """Train the planar CNN with a 60:20:20 split by patient, class weighting and early stopping.

    Parameters
    ----------
    counts : array (n, views, H, W)
        Raw counts, one study per patient.
    labels : array (n,)
        1 = pulmonary embolism.
    views : sequence of str
        Names of the channels, in order.
    split : Split, optional
        Default: stratified 60:20:20 by patient (``seed``).
    max_steps : int, optional
        Stop after this many optimiser steps (for quick tests).
    progress : callable, optional
        ``progress(epoch, epochs, metrics)`` after each epoch.

    Returns
    -------
    model : CNNModel
        Threshold fixed on the selection studies for >= 95 % sensitivity.
    report : dict
        Testing analysis (:func:`scintiml.evaluate.evaluate_binary` as a dict), split sizes, timings.
    """
    seed_everything(seed)
    device = torch.device(device) if device is not None else default_device()
    labels = np.asarray(labels).astype(int)
    counts = np.asarray(counts)
    if counts.ndim != 4 or counts.shape[1] != len(views):
        raise ImagingError(f"counts must be (n, {len(views)} views, H, W); got shape {counts.shape}")
    if counts.shape[2:] != (128, 128):
        raise ImagingError(f"views must be 128 x 128 pixels (resample them first); got {counts.shape[2:]}")
    split = split or split_cohort(labels, random_state=seed)
    tr, se, te = split.training, split.selection, split.testing
    rng = np.random.default_rng(seed)
    thinning = PoissonThinning(rng=rng)
    affine = SmallAffine(seed=seed)
    network = PlanarAlexNet(len(views), width).to(device)
    n_pos = max(1, int(labels[tr].sum()))
    pos_weight = torch.tensor((len(tr) - n_pos) / n_pos, device=device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimiser = torch.optim.AdamW(network.parameters(), lr=learning_rate, weight_decay=1e-4)
    model = CNNModel(network, {"transform": transform})
    x_sel = torch.from_numpy(model.inputs(counts[se])).to(device) if len(se) else None
    y_sel = torch.from_numpy(labels[se].astype(np.float32)).to(device)

    best = (np.inf, None)
    stale = 0
    steps = 0
    history = []
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        network.train()
        order = rng.permutation(tr)
        losses = []
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = [thinning(counts[i]) if augment else counts[i] for i in idx]
            x = np.stack([preprocess(b, transform) for b in batch])
            if augment:
                x = np.stack([affine(v) for v in x])
            xb = torch.from_numpy(x).to(device)
            yb = torch.from_numpy(labels[idx].astype(np.float32)).to(device)
            optimiser.zero_grad()
            loss = loss_fn(network(xb), yb)
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
        network.eval()
        with torch.no_grad():
            sel_loss = float(loss_fn(network(x_sel), y_sel)) if x_sel is not None else float("nan")
        history.append({"epoch": epoch, "training_loss": float(np.mean(losses)), "selection_loss": sel_loss})
        if progress is not None:
            progress(epoch, epochs, history[-1])
        if sel_loss < best[0]:
            best = (sel_loss, {k: v.detach().clone() for k, v in network.state_dict().items()})
            stale = 0
        else:
            stale += 1
        if stale >= patience or (max_steps is not None and steps >= max_steps):
            break
    if best[1] is not None:
        network.load_state_dict(best[1])
    network.eval()
    model.config = {
        "format": "scintiml-cnn-bundle", "format_version": 1, "scintiml_version": __version__,
        "views": list(views), "width": width, "dropout": 0.3, "transform": transform, "threshold": 0.5,
        "image_shape": [128, 128], "protocol": dict(protocol or {}), "seed": seed,
    }
    p_sel = model.predict_proba(counts[se])
    threshold = threshold_for_sensitivity(labels[se], p_sel, 0.95) if 0 < labels[se].sum() < len(se) else 0.5
    model.config["threshold"] = float(threshold)
    model.history = history
    p_te = model.predict_proba(counts[te])
    report: dict[str, Any] = {
        "split": {"training": int(len(tr)), "selection": int(len(se)), "testing": int(len(te))},
        "epochs": len(history), "steps": steps, "training_seconds": time.perf_counter() - started,
        "device": str(device),
    }
    if 0 < labels[te].sum() < len(te):
        evaluation = evaluate_binary(labels[te], p_te, threshold=threshold, random_state=seed).to_dict()
        report["test"] = evaluation
        metrics = {k: evaluation[k] for k in ("auc", "auc_ci95", "threshold", "sensitivity", "sensitivity_ci95",
                                              "specificity", "specificity_ci95")}
    else:
        metrics = {"threshold": threshold}
    report["test_probabilities"] = {"ids": [str(ids[i]) for i in te] if ids is not None else te.tolist(),
                                    "labels": labels[te].tolist(), "probability": p_te.tolist()}
    model.card = {
        "views": list(views), "network": f"PlanarAlexNet(width={width}), {sum(p.numel() for p in network.parameters())} parameters",
        "data": data_description or f"{len(labels)} studies, {int(labels.sum())} with PE", "split": report["split"],
        "protocol": dict(protocol or {}), "metrics": metrics,
        "known_limits": [
            "trained and tested on one data source; validate on your own site's scans before use",
            "a protocol change (counts, collimator, energy window) changes the images: check drift first",
            "for triage, not diagnosis",
        ],
    }
    return model, report
