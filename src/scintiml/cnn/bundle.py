"""The planar CNN on the one bundle format (kind ``planar-cnn``): weights in safetensors, never pickle.

Files: ``weights.safetensors`` (the network), ``orientation.safetensors`` (the guard's templates), ``card.json`` /
``card.md``, ``training_report.json``; ``bundle.json`` holds the spec (views, architecture, threshold, temperature,
the protocol guard's ranges) and the sha256 of every file. Loading refuses, with one :class:`BundleError` line, a
missing or edited file, a spec without its ``spec_sha256`` or not matching it, a spec field of the wrong type or
outside what training writes (views that are not names, a width that is not a whole number, a threshold that is
not a probability, a temperature outside the fitted range, an implausible counts range or energy window), a model
card that does not render, weights of the wrong shape, and NaN/inf weights.
"""

from __future__ import annotations

import errno

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..bundle.format import read_bundle, spec_digest, write_bundle
from ..errors import BundleError
from ..io import jsonable
from .guard import MAX_ENERGY_KEV, ProtocolGuard, valid_energy_window
from .model import ARCHITECTURES, PlanarViewNet
from .train import MATRIX, CNNModel
from .transforms import BINNING

KIND = "planar-cnn"
#: The most views a bundle may name (a planar study has at most eight standard views).
MAX_VIEWS = 16
#: The longest view name (the standard ones have 3-4 characters; a name is drawn into the summary image).
MAX_VIEW_NAME = 64
#: The widest network read (``cnn train`` offers far less; the weights' shapes are checked against it after).
MAX_WIDTH = 256
#: Temperatures read. ``fit_temperature`` searches log T in [-3, 3], so a bundle it fitted holds T in
#: [e^-3, e^3] = [0.0498, 20.09] (a 40-study training hit the upper end); the range leaves room around that for
#: rounding and nothing more. Outside it, T was not fitted by scintiml: 1e308 made every probability 0.5 (every
#: study URGENT) and 1e-300 overflowed exp() to exactly 0 or 1.
TEMPERATURE_RANGE = (0.04, 25.0)
#: Most counts a view's guard may accept. Lung perfusion views hold about 0.5-1 million counts and a whole-body
#: bone view a few million; the bound is far above that (stored values scaled by a rescale slope, or summed
#: frames, must not make a bundle training wrote unreadable) and only refuses a forged guard that can never fire
#: (1e308).
MAX_COUNTS_PER_VIEW = 1e15


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
    def tensors(data):
        def write(p):
            from safetensors import SafetensorError

            try:
                save_file(data, str(p))
            except SafetensorError as exc:
                # safetensors reports a failed write (full disk, file size limit) as its own error type, which
                # reached the terminal as a traceback: it is the file system's refusal, said as such
                said = str(exc)
                code = (errno.ENOSPC if "No space left" in said else errno.EFBIG if "too large" in said
                        else errno.EIO)
                raise OSError(code, f"the weights could not be written ({' '.join(said.split())})", str(p)) from exc
        return write

    writers = {
        "weights.safetensors": tensors(state),
        "orientation.safetensors": tensors(templates),
        "training_report.json": _json_text(shareable_report(model.report)),
    }
    return write_bundle(path, KIND, spec, writers, card=model.card, card_markdown=card_markdown(model.card),
                        overwrite=overwrite)


def shareable_report(report: dict[str, Any]) -> dict[str, Any]:
    """The training report as the bundle holds it: nothing in it names a patient.

    A bundle travels (to another site, a vendor, a model repository) where the patients' records may not. The
    testing patients' ids beside their probabilities, the skipped studies (named by PatientID and file path) and
    the labels file's examples stay in memory (``model.report``; ``cnn train`` prints the skipped studies and the
    notes, and ``--split-csv`` writes each study's part), as does each study's part (``"parts"``); the bundle
    keeps the
    testing labels and probabilities without ids, the number of studies skipped, and the notes with every quoted
    name or path replaced by ``'…'``, as the tabular bundle keeps no patient-level data.

    Examples
    --------
    >>> shareable_report({"test_probabilities": {"ids": ["P7"], "labels": [1], "probability": [0.9]},
    ...                   "skipped": [{"file": "PatientID 'P3' (/data/p3.dcm)", "reason": "blank"}],
    ...                   "notes": ["1 patient_id(s) of the labels file name no complete study in '/data' (e.g. "
    ...                             "'P9'); not used"]})  # doctest: +NORMALIZE_WHITESPACE
    {'test_probabilities': {'labels': [1], 'probability': [0.9]}, 'notes': ["1 patient_id(s) of the labels file
    name no complete study in '…' (e.g. '…'); not used"], 'n_skipped': 1}
    """
    import re

    shared = {k: v for k, v in report.items() if k not in ("skipped", "parts")}
    probabilities = shared.get("test_probabilities")
    if isinstance(probabilities, dict):
        shared["test_probabilities"] = {k: v for k, v in probabilities.items() if k != "ids"}
    if isinstance(shared.get("notes"), list):
        quoted = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")  # as repr() quotes, escapes included
        shared["notes"] = [quoted.sub("'…'", str(note)) for note in shared["notes"]]
    if "skipped" in report:
        shared["n_skipped"] = len(report["skipped"]) if isinstance(report["skipped"], list) else report["skipped"]
    return shared


def load_cnn(path: str | Path, device: str | torch.device = "cpu") -> CNNModel:
    """Read and verify a ``planar-cnn`` bundle (see the module docstring for what is refused)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = read_bundle(path, kind=KIND)
    spec = folder.spec
    where = f"the bundle in {str(path)!r}"
    _check_digest(spec, where)
    views, architecture, width = _check_network(spec, where)
    guard_spec = spec.get("protocol")
    _check_protocol(guard_spec, views, where)
    _check_calibration(spec, where)
    card = folder.card
    try:  # rendered now, as the tabular loader does, so a forged card is refused here, not when it is shown
        card_markdown(card)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise BundleError(f"{where}: its card.json is not a model card ({type(exc).__name__}: {reason}); the "
                          "bundle is corrupt") from None
    report = folder.json("training_report.json") if "training_report.json" in folder.files else {}
    if not isinstance(report, dict):
        raise BundleError(f"{where}: its training_report.json is not a JSON object; the bundle is corrupt")
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
    return CNNModel(network, dict(spec), guard, card=card, report=report)


def _check_digest(spec: dict[str, Any], where: str) -> None:
    """Every bundle this version writes carries ``spec_sha256``; one without it is refused, as the tabular loader
    refuses it: read_bundle checks the digest only where there is one, so deleting it was a way past the check."""
    if "spec_sha256" not in spec:
        raise BundleError(f"{where}: its spec carries no spec_sha256 (written before scintiml 0.3, or edited); "
                          "retrain the model with this version, or use an intact copy of the bundle")
    if spec["spec_sha256"] != spec_digest(spec):
        raise BundleError(f"{where}: the bundle's spec (bundle.json) was edited after it was written (its "
                          "spec_sha256 does not match); use an intact copy of the bundle")


def _int_field(spec: dict[str, Any], key: str, low: int, high: int, where: str) -> int:
    """A true integer in ``[low, high]``: not 8.7 (read as 8 before), not 1e400 (inf), not ``true``, not text."""
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BundleError(f"{where}: its {key} {_short(value)} is not a whole number from {low} to {high}; the "
                          "bundle is corrupt")
    return value


def _check_network(spec: dict[str, Any], where: str) -> tuple[list[str], str, int]:
    """Views, architecture and width, as the network is built from them (before anything is allocated)."""
    views = spec.get("views")
    # checked before the network is built from len(views): a forged list of a million views is refused here
    if not isinstance(views, list) or not 1 <= len(views) <= MAX_VIEWS:
        n = len(views) if isinstance(views, list) else "not a list"
        raise BundleError(f"{where}: its views must be 1 to {MAX_VIEWS} different names, got {n}; the bundle is "
                          "corrupt")
    if not all(isinstance(v, str) and v.strip() and len(v) <= MAX_VIEW_NAME for v in views):
        # names are written into the worklist, the summary image and the Secondary Capture: numbers crashed there
        raise BundleError(f"{where}: its views {_short(views)} are not all names (non-empty text of at most "
                          f"{MAX_VIEW_NAME} characters); the bundle is corrupt")
    if len(set(views)) != len(views):
        raise BundleError(f"{where}: its views must be 1 to {MAX_VIEWS} different names, got {len(views)} "
                          f"({len(set(views))} different); the bundle is corrupt")
    architecture = spec.get("architecture")
    if not isinstance(architecture, str) or architecture not in ARCHITECTURES:
        raise BundleError(f"{where} names an unknown network ({_short(architecture)}; known: "
                          f"{', '.join(ARCHITECTURES)})")
    width = _int_field(spec, "width", 1, MAX_WIDTH, where)
    if "matrix" in spec and spec["matrix"] != list(MATRIX):
        raise BundleError(f"{where}: its matrix {_short(spec['matrix'])} is not the network's {list(MATRIX)}; the "
                          "bundle is corrupt")
    if "binning" in spec:
        _int_field(spec, "binning", BINNING, BINNING, where)
    return list(views), architecture, width


def _check_calibration(spec: dict[str, Any], where: str) -> tuple[float, float]:
    """The threshold (a probability) and the temperature (within the range training fits it in)."""
    threshold, temperature = spec.get("threshold"), spec.get("temperature")
    if not _real(threshold) or not 0 <= threshold <= 1:
        raise BundleError(f"{where}: its threshold {_short(threshold)} is not a number from 0 to 1; the bundle is "
                          "corrupt")
    low, high = TEMPERATURE_RANGE
    if not _real(temperature) or not low <= temperature <= high:
        raise BundleError(f"{where}: its temperature {_short(temperature)} is not a number from {low:g} to "
                          f"{high:g} (the range training fits it in); the bundle is corrupt")
    return float(threshold), float(temperature)


def _real(value: Any) -> bool:
    """A finite real number of JSON (no boolean, no text: ``"0.5"`` and ``true`` are not thresholds)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _short(value: Any) -> str:
    """``repr(value)`` cut to 80 characters: a forged field must not turn the one error line into megabytes."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_protocol(guard: Any, views: list[str], where: str) -> None:
    """The guard's numbers as the network takes them: a forged spec is refused here, not met later as a crash
    or as a guard that lets everything through."""

    def bad(what: str) -> BundleError:
        return BundleError(f"{where}: its protocol guard's {what}; the bundle is corrupt")

    if not isinstance(guard, dict):
        raise bad("spec is not a mapping")
    if guard.get("views") != views:
        raise bad(f"views {_short(guard.get('views'))} differ from the network's {views}")
    if guard.get("matrix") != list(MATRIX):
        raise bad(f"matrix {_short(guard.get('matrix'))} is not the network's {list(MATRIX)}")
    spacing = guard.get("pixel_spacing_mm")
    if spacing is not None and not (_numbers(spacing, 2) and 0 < spacing[0] <= spacing[1]):
        raise bad(f"pixel spacing {_short(spacing)} is not two positive numbers, low then high")
    counts = guard.get("counts_per_view")
    if not (_numbers(counts, 2) and 0 <= counts[0] < counts[1]):
        raise bad(f"counts range {_short(counts)} is not two finite numbers, low below high")
    if counts[1] > MAX_COUNTS_PER_VIEW:
        raise bad(f"counts range {_short(counts)} reaches above {MAX_COUNTS_PER_VIEW:g} counts a view, which no "
                  "planar acquisition holds (a guard that can never fire)")
    if not isinstance(guard.get("collimators", []), list) or not all(
            isinstance(c, str) for c in guard.get("collimators", [])):
        raise bad("collimators are not a list of names")
    windows = guard.get("energy_windows_kev", [])
    if not isinstance(windows, list) or not all(_numbers(w, 2) for w in windows):
        raise bad(f"energy windows {_short(windows)} are not pairs of numbers")
    for low, high in windows:
        # a reversed window matches no study's, so every study would be "not triaged"
        if not valid_energy_window((low, high)):
            raise bad(f"energy window [{low:g}, {high:g}] keV is not a window, low below high, within 0-"
                      f"{MAX_ENERGY_KEV:g} keV")


def _numbers(value: Any, n: int) -> bool:
    """``value`` is a list of ``n`` finite real numbers (no booleans, no text)."""
    return (isinstance(value, list) and len(value) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))


def _json_text(obj: Any) -> str:
    import json

    return json.dumps(jsonable(obj), indent=1, allow_nan=False)


def card_markdown(card: dict[str, Any]) -> str:
    """The model card (Mitchell et al. 2019) as Markdown: data, protocol, threshold rule, metrics with CIs."""
    from ..bundle.card import markdown_text

    m = card.get("metrics", {})

    def fmt(v: Any, digits: int = 3) -> str:
        # None is how JSON keeps an undefined number (a specificity with no negative study); text is refused
        return "n/a" if v is None or v != v else f"{v:.{digits}f}"  # NaN: a slope with no estimate

    def num(key: str, digits: int = 3) -> str:
        return fmt(m.get(key), digits)

    def ci(key: str) -> str:
        v = m.get(key)
        # an interval may be undefined (null: DeLong's with one study of a class)
        return "n/a" if not v or any(x is None or x != x for x in v) else f"{v[0]:.3f}-{v[1]:.3f}"

    rule = card.get("threshold_rule", {})
    sel = card.get("selection", {})
    lines = [
        "# Model card: planar lung-perfusion CNN for pulmonary-embolism triage", "",
        # views, the data's description and the protocol's values (read from the DICOM files) are user text
        f"- network: {card.get('model')}", f"- views: {', '.join(map(markdown_text, card.get('views', [])))}",
        f"- data: {markdown_text(card.get('data'))}",
        f"- split training/selection/testing (by patient): {card.get('split')}",
        f"- training protocol (the guard): {markdown_text(card.get('protocol'))}", "",
        "## Threshold and calibration (fitted on the selection studies)",
        f"- threshold {num('threshold')}: {rule.get('rule')}; {rule.get('caught')} of {rule.get('positives')} "
        f"selection positives caught; promise shown: {rule.get('promise_shown')}",
        f"- selection specificity {fmt(sel.get('specificity'))} "
        f"({', '.join(fmt(x) for x in sel.get('specificity_ci95', []))})",
        f"- temperature {fmt(card.get('temperature'))}", "",
        "## Testing studies (95 % CI)",
        f"- AUC {num('auc')} ({ci('auc_ci95')})",
        f"- sensitivity {num('sensitivity')} ({ci('sensitivity_ci95')}), specificity {num('specificity')} "
        f"({ci('specificity_ci95')}); URGENT {num('urgent_fraction', 2)} of studies",
        f"- calibration-in-the-large {num('calibration_in_the_large')}, slope {num('calibration_slope')}", "",
        "## Intended use", card.get("intended_use", ""), "", "## Known limits",
    ]
    lines += [f"- {x}" for x in card.get("known_limits", [])]
    return "\n".join(lines) + "\n"
