"""The tabular network's bundle (kind ``tabular-ann``) on the one bundle format of :mod:`.format`.

The folder holds ``bundle.json`` (the spec below and the sha256 of every other file), ``weights.npz`` (layer
matrices, written with ``np.savez`` and read with ``allow_pickle=False`` so a bundle from an untrusted source
cannot run code), and the model card (``card.json``, ``card.md``). The spec holds the inputs, architecture,
activation, scaling layer, classes, threshold, outcome coding, training ranges, imputation medians, the
acquisition protocol, summary statistics of each input on the training patients (for drift checks), and
``spec_sha256``, a digest of the rest of the spec, so a hand-edited spec is noticed.

:func:`load_bundle` verifies the checksums (:func:`~scintiml.bundle.format.read_bundle`) and then every number
it will compute with: a finite threshold in (0, 1), finite weights of the shapes the architecture and inputs
imply, a finite scaling layer with positive scales, finite training ranges. Any damage is one
:class:`~scintiml.errors.BundleError` line.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..ann import ANNClassifier, ScalingLayer
from ..ann.network import ACTIVATIONS
from ..errors import BundleError, ScintimlError
from ..io import jsonable
from .card import card_markdown, model_card
from .format import read_bundle, require_finite, spec_digest, write_bundle

KIND = "tabular-ann"
WEIGHTS = "weights.npz"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

__all__ = ["KIND", "Bundle", "save_bundle", "load_bundle", "training_summary", "spec_digest"]


def training_summary(X: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per input on the training patients (before imputation): mean, sd, quantiles and the missing share —
    what a later drift check compares a site's data against.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> s = training_summary(pd.DataFrame({"a": [1.0, 2.0, 3.0, np.nan]}))["a"]
    >>> s["mean"], s["sd"], s["missing_share"], s["quantiles"]["0.5"]
    (2.0, 1.0, 0.25, 2.0)
    """
    out = {}
    for col in X.columns:
        values = pd.to_numeric(X[col], errors="coerce").to_numpy(dtype=float)
        present = values[np.isfinite(values)]
        has = present.size > 0
        out[str(col)] = {
            "mean": float(present.mean()) if has else None,
            "sd": float(present.std(ddof=1)) if present.size > 1 else None,
            "quantiles": {str(q): (float(np.quantile(present, q)) if has else None) for q in QUANTILES},
            "missing_share": float(1 - present.size / len(values)) if len(values) else None,
            "n": int(present.size),
        }
    return out


def save_bundle(study, path: str | Path, overwrite: bool = False) -> Path:
    """Write a study's network as a ``tabular-ann`` bundle folder (atomically).

    Parameters
    ----------
    study : StudyResult
        From :func:`scintiml.run_study`.
    path : path
        The bundle folder.
    overwrite : bool

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.study import run_study
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> study = run_study(cohort, inputs="all", readiness=False)
    >>> folder = save_bundle(study, pathlib.Path(tempfile.mkdtemp()) / "model")
    >>> sorted(p.name for p in folder.iterdir())
    ['bundle.json', 'card.json', 'card.md', 'weights.npz']
    >>> load_bundle(folder).inputs
    ['delta_lvef', 'planar_washout']
    """
    model: ANNClassifier = study.model
    r = study.results
    inputs = list(study.selected_inputs)
    spec = jsonable({
        "inputs": inputs, "architecture": list(model.architecture_), "activation": model.activation,
        "scaler": model.scaler_.to_dict(), "classes": list(model.classes_), "threshold": r["test"]["threshold"],
        "target": r["dataset"]["target"], "positive": r["dataset"]["positive"],
        "outcome_values": r["dataset"].get("outcome_values") or None,
        "training_ranges": {k: list(v) for k, v in study.training_ranges.items()},
        "imputation": {k: v for k, v in study.medians.items() if k in inputs},
        "protocol": r.get("protocol", {}),
        "training_summary": training_summary(study.cohort.X.iloc[study.split.training][inputs]),
    })
    arrays = {}
    for i, (w, b) in enumerate(zip(model.coefs_, model.intercepts_)):
        arrays[f"coef_{i}"] = np.asarray(w, dtype=float)
        arrays[f"intercept_{i}"] = np.asarray(b, dtype=float)
    card = model_card(r)
    return write_bundle(path, KIND, spec, {WEIGHTS: lambda p: np.savez(p, **arrays)}, card=card,
                        card_markdown=card_markdown(card), overwrite=overwrite)


@dataclass
class Bundle:
    """A loaded, verified tabular bundle: its spec, the network and the model card.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.study import run_study
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> bundle = load_bundle(save_bundle(run_study(cohort, inputs="all", readiness=False, protocol={"iso": "I-123"}),
    ...                                  pathlib.Path(tempfile.mkdtemp()) / "m"))
    >>> bundle.check_protocol({"iso": "I-131"})
    ['protocol iso=I-131 differs from the training protocol (iso=I-123)']
    >>> list(bundle.predict(cohort.X.head(2)).columns)
    ['probability', 'predicted_class', 'above_threshold', 'out_of_range', 'imputed']
    """

    spec: dict[str, Any]
    model: ANNClassifier
    card: dict[str, Any]

    @property
    def inputs(self) -> list[str]:
        return list(self.spec["inputs"])

    @property
    def threshold(self) -> float:
        return float(self.spec["threshold"])

    def check_protocol(self, protocol: dict[str, str] | None) -> list[str]:
        """Differences between a site's protocol and the one the model was trained under."""
        trained = {str(k): str(v) for k, v in self.spec.get("protocol", {}).items()}
        out = []
        for k, v in (protocol or {}).items():
            if k not in trained:
                out.append(f"protocol {k}={v}: the model card does not record {k!r}")
            elif trained[k] != str(v):
                out.append(f"protocol {k}={v} differs from the training protocol ({k}={trained[k]})")
        return out

    def predict(self, frame: pd.DataFrame, id_column: str | None = None) -> pd.DataFrame:
        """Probability, class at the bundle's threshold, out-of-range and imputed inputs, per patient."""
        from ..cohort import model_inputs

        if id_column is not None and id_column not in frame.columns:
            raise BundleError(f"id column {id_column!r} not found in the data")
        try:  # the same reading as the study's (one-hot inputs rebuilt, TRUE/FALSE as 1/0, names trimmed)
            X = model_inputs(frame, self.inputs)
        except ScintimlError as exc:
            raise BundleError(str(exc)) from exc
        imputed = X.isna()
        from ..external.validate import bundle_medians  # training medians of every input (a new site's gaps)

        X = X.fillna(pd.Series(bundle_medians(self), dtype=float))
        still = [c for c in self.inputs if X[c].isna().any()]
        if still:
            raise BundleError(f"input column(s) {still} have missing values and the model has no value to impute")
        p = self.model.predict_proba(X)[:, 1]
        ranges = self.spec["training_ranges"]
        outside = pd.DataFrame({c: ~X[c].between(*ranges[c]) for c in self.inputs})

        def names(mask: pd.DataFrame) -> list[str]:
            return [";".join(c for c in self.inputs if row[c]) for _, row in mask.iterrows()]

        positive = str(self.spec["positive"])
        # the training table's own non-event value where the bundle records it (0.4.1 on); "not <event>" before
        values = self.spec.get("outcome_values") or []
        negative = str(values[0]) if len(values) == 2 else f"not {positive}"
        out = pd.DataFrame({
            "probability": p,
            "predicted_class": np.where(p >= self.threshold, positive, negative),
            "above_threshold": p >= self.threshold,
            "out_of_range": names(outside),
            "imputed": names(imputed),
        })
        if id_column is not None:
            out.insert(0, id_column, frame[id_column].to_numpy())
        return out


def _finite_array(value: Any, what: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise BundleError(f"the bundle's {what} is not numeric; the bundle is corrupt") from None
    if arr.shape != shape:
        raise BundleError(f"the bundle's {what} has shape {arr.shape}, expected {shape}; the bundle is corrupt")
    if not np.all(np.isfinite(arr)):
        raise BundleError(f"the bundle's {what} holds NaN or infinite values; the bundle is corrupt")
    return arr


def _check_spec(spec: dict[str, Any]) -> tuple[list[str], list[int]]:
    """Inputs and architecture, after checking every number of the spec a prediction uses."""
    if spec.get("spec_sha256") != spec_digest(spec):
        raise BundleError("the bundle's spec (bundle.json) was edited after it was written (its spec_sha256 does "
                          "not match); use an intact copy of the bundle")
    inputs = spec.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(c, str) for c in inputs) \
            or len(set(inputs)) != len(inputs):
        raise BundleError("the bundle's inputs are not a list of distinct column names; the bundle is corrupt")
    arch = spec.get("architecture")
    if not isinstance(arch, list) or len(arch) < 2 or not all(isinstance(n, int) and n >= 1 for n in arch):
        raise BundleError(f"the bundle's architecture {arch!r} is not a list of layer sizes; the bundle is corrupt")
    if arch[0] != len(inputs) or arch[-1] != 1:
        raise BundleError(f"the bundle's architecture {arch} does not fit its {len(inputs)} inputs and one output; "
                          "the bundle is corrupt")
    if spec.get("activation") not in ACTIVATIONS:
        raise BundleError(f"the bundle's activation {spec.get('activation')!r} is unknown; the bundle is corrupt")
    threshold = require_finite(spec.get("threshold"), "threshold")
    if not 0 < threshold < 1:
        raise BundleError(f"the bundle's threshold is {threshold}, outside (0, 1); the bundle is corrupt")
    scaler = spec.get("scaler") or {}
    _finite_array(scaler.get("offset"), "scaling offset", (len(inputs),))
    if np.any(_finite_array(scaler.get("scale"), "scaling scale", (len(inputs),)) <= 0):
        raise BundleError("the bundle's scaling layer has a scale <= 0; the bundle is corrupt")
    ranges = spec.get("training_ranges") or {}
    for c in inputs:
        lo, hi = _finite_array(ranges.get(c), f"training range of {c!r}", (2,))
        if lo > hi:
            raise BundleError(f"the bundle's training range of {c!r} runs backwards; the bundle is corrupt")
    for c, v in (spec.get("imputation") or {}).items():
        require_finite(v, f"imputation value of {c!r}")
    if not isinstance(spec.get("classes"), list) or len(spec["classes"]) != 2:
        raise BundleError("the bundle's classes are not two outcome values; the bundle is corrupt")
    values = spec.get("outcome_values")  # optional (0.4.1 on): [non-event, event] of the training table
    if values is not None and not (isinstance(values, list) and len(values) == 2
                                   and all(isinstance(v, (str, int, float, bool)) for v in values)):
        raise BundleError("the bundle's outcome_values are not two outcome values; the bundle is corrupt")
    return inputs, arch


def _read_weights(path: Path, arch: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as exc:  # object arrays need pickle, which is refused
        raise BundleError(f"the bundle's {WEIGHTS} holds pickled objects ({exc}); refused — a bundle holds "
                          "plain arrays only") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise BundleError(f"the bundle's {WEIGHTS} cannot be read ({exc}); the file is truncated or damaged") from None
    coefs, intercepts = [], []
    for i in range(len(arch) - 1):
        for name, store, shape in ((f"coef_{i}", coefs, (arch[i], arch[i + 1])),
                                   (f"intercept_{i}", intercepts, (arch[i + 1],))):
            if name not in arrays:
                raise BundleError(f"the bundle's {WEIGHTS} lacks {name!r}; the bundle is corrupt")
            if arrays[name].dtype.kind not in "fiu":
                raise BundleError(f"the bundle's {name} is of type {arrays[name].dtype}, not numbers; corrupt")
            store.append(_finite_array(arrays[name], name, shape))
    return coefs, intercepts


def load_bundle(path: str | Path) -> Bundle:
    """Read and verify a ``tabular-ann`` bundle; refuse a tampered or corrupt one with one :class:`BundleError`.

    Examples
    --------
    >>> import tempfile
    >>> load_bundle(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    scintiml.errors.BundleError: ... is not a scintiml model bundle (bundle.json not found)
    """
    folder = read_bundle(path, kind=KIND)
    inputs, arch = _check_spec(folder.spec)
    coefs, intercepts = _read_weights(folder.file(WEIGHTS), arch)
    spec = folder.spec
    model = ANNClassifier(hidden_layer_sizes=tuple(arch[1:-1]), activation=spec["activation"])
    model.coefs_, model.intercepts_ = coefs, intercepts
    model.scaler_ = ScalingLayer.from_dict(spec["scaler"])
    model.classes_ = np.asarray(spec["classes"])
    model.n_features_in_ = len(inputs)
    model.feature_names_in_ = np.asarray(inputs, dtype=object)
    model.architecture_ = tuple(arch)
    return Bundle(spec, model, folder.card)
