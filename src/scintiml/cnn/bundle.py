"""The planar CNN on the one bundle format (kind ``planar-cnn``): weights in safetensors, never pickle.

Files: ``weights.safetensors`` (the network), ``orientation.safetensors`` (the guard's templates), ``card.json`` /
``card.md``, ``training_report.json``; ``bundle.json`` holds the spec (views, architecture, threshold, temperature,
the protocol guard's ranges) and the sha256 of every file. Loading refuses, with one :class:`BundleError` line, a
missing or edited file, a spec with a missing or non-finite number, weights of the wrong shape, and NaN/inf weights.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..bundle.format import read_bundle, require_finite, write_bundle
from ..errors import BundleError
from ..io import jsonable
from .guard import ProtocolGuard
from .model import ARCHITECTURES, PlanarViewNet
from .train import MATRIX, CNNModel
from .transforms import BINNING

KIND = "planar-cnn"
#: The most views a bundle may name (a planar study has at most eight standard views).
MAX_VIEWS = 16


def save_cnn(model: CNNModel, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``model`` as a ``planar-cnn`` bundle folder (atomically).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from scintiml.datasets.perfusion import simulate_perfusion_scans
    >>> from scintiml.cnn import train_cnn
    >>> cases = simulate_perfusion_scans(20, prevalence=0.5, random_state=0)
    >>> X = np.stack([c.stack() for c in cases]); y = np.array([c.label for c in cases])
    >>> model = train_cnn(X, y, ["ANT", "POST", "RAO", "LAO", "RPO", "LPO"], width=4, epochs=1, max_steps=1)
    >>> folder = save_cnn(model, pathlib.Path(tempfile.mkdtemp()) / "cnn")
    >>> again = load_cnn(folder)
    >>> bool(np.allclose(again.predict_proba(X[:3]), model.predict_proba(X[:3]), atol=1e-6))
    True
    """
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.network.state_dict().items()}
    templates = {"templates": torch.as_tensor(np.ascontiguousarray(model.guard.templates))}
    spec = {**model.spec, "protocol": model.guard.to_spec()}
    writers = {
        "weights.safetensors": lambda p: save_file(state, str(p)),
        "orientation.safetensors": lambda p: save_file(templates, str(p)),
        "training_report.json": _json_text(model.report),
    }
    return write_bundle(path, KIND, spec, writers, card=model.card, card_markdown=card_markdown(model.card),
                        overwrite=overwrite)


def load_cnn(path: str | Path, device: str | torch.device = "cpu") -> CNNModel:
    """Read and verify a ``planar-cnn`` bundle (see the module docstring for what is refused)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = read_bundle(path, kind=KIND)
    spec = folder.spec
    where = f"the bundle in {str(path)!r}"
    try:
        views = [str(v) for v in spec["views"]]
        architecture, width = spec["architecture"], int(spec["width"])
        guard_spec = spec["protocol"]
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{where} lacks a valid {exc} in its spec; the bundle is corrupt") from None
    if not isinstance(spec["views"], list) or not 1 <= len(views) <= MAX_VIEWS or len(set(views)) != len(views):
        # checked before the network is built from len(views): a forged list of a million views is refused here
        raise BundleError(f"{where}: its views must be 1 to {MAX_VIEWS} different names, got {len(views)} "
                          f"({len(set(views))} different); the bundle is corrupt")
    if architecture not in ARCHITECTURES or not 1 <= width <= 256:
        raise BundleError(f"{where} names an unknown network ({architecture!r}, width {width}, views {views})")
    _check_protocol(guard_spec, views, where)
    threshold = require_finite(spec.get("threshold"), "threshold")
    temperature = require_finite(spec.get("temperature"), "temperature")
    if not 0 < threshold < 1 or temperature <= 0:
        raise BundleError(f"{where}: threshold {threshold} must lie in (0, 1) and temperature {temperature} be > 0")
    try:
        state = load_file(str(folder.file("weights.safetensors")), device="cpu")
        templates = load_file(str(folder.file("orientation.safetensors")))["templates"].numpy()
    except (SafetensorError, OSError, KeyError, RuntimeError) as exc:
        raise BundleError(f"{where}: its weights cannot be read ({exc}); the bundle is corrupt") from None
    for name, tensor in {**state, "orientation templates": torch.as_tensor(templates)}.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise BundleError(f"{where}: weight {name!r} holds NaN or infinite values; the bundle is corrupt")
    network = PlanarViewNet(len(views), architecture, width)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise BundleError(f"{where}: its weights do not fit a {architecture} network of width {width} with "
                          f"{len(views)} views ({' '.join(first[1:2] or first[:1]).strip()})") from None
    try:
        guard = ProtocolGuard.from_spec(guard_spec, templates)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{where}: its protocol guard lacks {exc}; the bundle is corrupt") from None
    expected = (len(views), MATRIX[0] // BINNING, MATRIX[1] // BINNING)
    if templates.shape != expected:
        raise BundleError(f"{where}: orientation templates of shape {tuple(templates.shape)}, expected {expected} "
                          f"(one {expected[1]} x {expected[2]} mean view per view); the bundle is corrupt")
    if any(np.ptp(t) == 0 for t in templates):  # a flat template would pass every study as not mirrored
        raise BundleError(f"{where}: an orientation template is flat (one value everywhere); the bundle is corrupt")
    network.to(device).eval()
    report = folder.json("training_report.json") if "training_report.json" in folder.files else {}
    return CNNModel(network, dict(spec), guard, card=folder.card, report=report)


def _check_protocol(guard: Any, views: list[str], where: str) -> None:
    """The guard's numbers as the network takes them: a forged spec is refused here, not met later as a crash
    or as a guard that lets everything through."""

    def bad(what: str) -> BundleError:
        return BundleError(f"{where}: its protocol guard's {what}; the bundle is corrupt")

    if not isinstance(guard, dict):
        raise bad("spec is not a mapping")
    if [str(v) for v in guard.get("views") or []] != views:
        raise bad(f"views {guard.get('views')!r} differ from the network's {views}")
    if guard.get("matrix") != list(MATRIX):
        raise bad(f"matrix {guard.get('matrix')!r} is not the network's {list(MATRIX)}")
    spacing = guard.get("pixel_spacing_mm")
    if spacing is not None and not (_numbers(spacing, 2) and 0 < spacing[0] <= spacing[1]):
        raise bad(f"pixel spacing {spacing!r} is not two positive numbers, low then high")
    counts = guard.get("counts_per_view")
    if not (_numbers(counts, 2) and 0 <= counts[0] < counts[1]):
        raise bad(f"counts range {counts!r} is not two finite numbers, low below high")
    if not isinstance(guard.get("collimators", []), list) or not all(
            isinstance(c, str) for c in guard.get("collimators", [])):
        raise bad("collimators are not a list of names")
    windows = guard.get("energy_windows_kev", [])
    if not isinstance(windows, list) or not all(_numbers(w, 2) for w in windows):
        raise bad(f"energy windows {windows!r} are not pairs of numbers")


def _numbers(value: Any, n: int) -> bool:
    """``value`` is a list of ``n`` finite real numbers (no booleans, no text)."""
    return (isinstance(value, list) and len(value) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))


def _json_text(obj: Any) -> str:
    import json

    return json.dumps(jsonable(obj), indent=1, allow_nan=False)


def card_markdown(card: dict[str, Any]) -> str:
    """The model card (Mitchell et al. 2019) as Markdown: data, protocol, threshold rule, metrics with CIs."""
    m = card.get("metrics", {})

    def num(key: str, digits: int = 3) -> str:
        v = m.get(key)
        return "n/a" if v is None else f"{v:.{digits}f}"

    def ci(key: str) -> str:
        v = m.get(key)
        # an interval may be undefined (null: DeLong's with one study of a class)
        return "n/a" if not v or any(x is None or x != x for x in v) else f"{v[0]:.3f}-{v[1]:.3f}"

    rule = card.get("threshold_rule", {})
    sel = card.get("selection", {})
    lines = [
        "# Model card: planar lung-perfusion CNN for pulmonary-embolism triage", "",
        f"- network: {card.get('model')}", f"- views: {', '.join(card.get('views', []))}",
        f"- data: {card.get('data')}", f"- split training/selection/testing (by patient): {card.get('split')}",
        f"- training protocol (the guard): {card.get('protocol')}", "",
        "## Threshold and calibration (fitted on the selection studies)",
        f"- threshold {num('threshold')}: {rule.get('rule')}; {rule.get('caught')} of {rule.get('positives')} "
        f"selection positives caught; promise shown: {rule.get('promise_shown')}",
        f"- selection specificity {sel.get('specificity', float('nan')):.3f} "
        f"({', '.join(f'{x:.3f}' for x in sel.get('specificity_ci95', []))})",
        f"- temperature {card.get('temperature', float('nan')):.3f}", "",
        "## Testing studies (95 % CI)",
        f"- AUC {num('auc')} ({ci('auc_ci95')})",
        f"- sensitivity {num('sensitivity')} ({ci('sensitivity_ci95')}), specificity {num('specificity')} "
        f"({ci('specificity_ci95')}); URGENT {num('urgent_fraction', 2)} of studies",
        f"- calibration-in-the-large {num('calibration_in_the_large')}, slope {num('calibration_slope')}", "",
        "## Intended use", card.get("intended_use", ""), "", "## Known limits",
    ]
    lines += [f"- {x}" for x in card.get("known_limits", [])]
    return "\n".join(lines) + "\n"
