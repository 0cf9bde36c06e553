"""Model bundle: JSON + ``.npz`` (no pickle), a model card, and prediction on new patients.

A bundle folder holds

* ``model.json`` — inputs, scaling layer, architecture, threshold, training ranges,
  imputation values, outcome coding, acquisition protocol;
* ``weights.npz`` — the layer matrices, read with ``allow_pickle=False`` so a
  bundle from an untrusted source cannot run code;
* ``card.json`` and ``card.md`` — the model card (Mitchell et al. 2019): cohort,
  protocol, metrics with confidence intervals, intended use, known limits.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from ..ann import ANNClassifier
from ..ann.scaling import ScalingLayer
from ..errors import BundleError

BUNDLE_FORMAT = "scintiml-model-bundle"
BUNDLE_VERSION = 1


def _atomic_dir(target: Path) -> Path:
    """A fresh temporary folder beside ``target`` (same file system, so a rename is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))


def publish(tmp: Path, target: Path, overwrite: bool) -> None:
    """Move a finished temporary folder into place; an old ``target`` is replaced only at the end."""
    if target.exists():
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BundleError(f"{str(target)!r} already exists; choose another path or pass --overwrite")
        backup = target.with_name(f".{target.name}.old")
        shutil.rmtree(backup, ignore_errors=True)
        os.replace(target, backup)
        os.replace(tmp, target)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(tmp, target)


def model_card(study_results: dict[str, Any]) -> dict[str, Any]:
    """The model card as a dict (what ``card.json`` holds)."""
    r = study_results
    test = r["test"]
    n_test = r["split"]["testing"]
    limits = [
        f"tested on {n_test} patients ({test['n_events']} events) from one cohort: the confidence intervals are the "
        "honest size of what is known",
        "single-site data unless the cohort says otherwise: validate on your own site's patients before use",
        "inputs outside the training range are flagged (out_of_range); predictions there are extrapolation",
    ]
    limits += [w for w in r.get("warnings", [])]
    return {
        "model": {
            "type": "feed-forward neural network (scintiml ANNClassifier)",
            "architecture": r["architecture"], "inputs": r["inputs"]["selected"],
            "scintiml_version": r["scintiml_version"],
        },
        "cohort": {k: r["dataset"][k] for k in ("name", "n_patients", "n_events", "target", "positive", "citation")},
        "acquisition_protocol": r.get("protocol", {}),
        "split": {k: r["split"][k] for k in ("training", "selection", "testing")},
        "metrics": {
            "auc": test["auc"], "auc_ci95": test["auc_ci95"], "threshold": test["threshold"],
            "sensitivity": test["sensitivity"], "sensitivity_ci95": test["sensitivity_ci95"],
            "specificity": test["specificity"], "specificity_ci95": test["specificity_ci95"],
            "accuracy": test["accuracy"], "accuracy_ci95": test["accuracy_ci95"],
        },
        "rule": r.get("rule", {}).get("text"),
        "intended_use": (
            f"Research and decision support: estimate the probability of {r['dataset']['target']} = "
            f"{r['dataset']['positive']} for patients like those of the training cohort. Not a diagnosis."
        ),
        "known_limits": limits,
    }


def _card_markdown(card: dict[str, Any]) -> str:
    m = card["metrics"]
    ci = lambda v: f"{v[0]:.2f}–{v[1]:.2f}" if v and None not in v else "n/a"
    lines = [
        f"# Model card: {card['cohort']['target']} from {', '.join(card['model']['inputs'])}",
        "",
        "## Model",
        f"- {card['model']['type']}, layers {card['model']['architecture']}",
        f"- inputs: {', '.join(card['model']['inputs'])}",
        f"- scintiml {card['model']['scintiml_version']}",
        "",
        "## Cohort",
        f"- {card['cohort']['name']}: {card['cohort']['n_patients']} patients, {card['cohort']['n_events']} events",
        f"- split training/selection/testing: {card['split']['training']}/{card['split']['selection']}/"
        f"{card['split']['testing']}",
        f"- source: {card['cohort']['citation'] or 'user data'}",
        "",
        "## Acquisition protocol",
    ]
    protocol = card["acquisition_protocol"]
    lines += [f"- {k}: {v}" for k, v in protocol.items()] or ["- not recorded (pass --protocol KEY=VALUE)"]
    lines += [
        "",
        "## Metrics on the testing instances (95 % CI)",
        f"- AUC {m['auc']:.3f} ({ci(m['auc_ci95'])})",
        f"- threshold {m['threshold']:.3f} (chosen on the selection instances)",
        f"- sensitivity {m['sensitivity']:.2f} ({ci(m['sensitivity_ci95'])}), specificity {m['specificity']:.2f} "
        f"({ci(m['specificity_ci95'])}), accuracy {m['accuracy']:.2f} ({ci(m['accuracy_ci95'])})",
    ]
    if card.get("rule"):
        lines += ["", "## Clinical rule", f"- `{card['rule']}`"]
    lines += ["", "## Intended use", card["intended_use"], "", "## Known limits"]
    lines += [f"- {x}" for x in card["known_limits"]]
    return "\n".join(lines) + "\n"


def save_bundle(study, path: str | Path, overwrite: bool = False) -> Path:
    """Write the study's model as a bundle folder (atomically)."""
    target = Path(path)
    model: ANNClassifier = study.model
    r = study.results
    tmp = _atomic_dir(target)
    try:
        spec = {
            "format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION, "scintiml_version": __version__,
            "inputs": list(study.selected_inputs), "architecture": list(model.architecture_),
            "activation": model.activation, "scaler": model.scaler_.to_dict(),
            "classes": [_plain(c) for c in model.classes_],
            "threshold": r["test"]["threshold"],
            "target": r["dataset"]["target"], "positive": r["dataset"]["positive"],
            "training_ranges": {k: list(v) for k, v in study.training_ranges.items()},
            "imputation": {k: v for k, v in study.medians.items() if k in study.selected_inputs},
            "protocol": r.get("protocol", {}),
        }
        (tmp / "model.json").write_text(json.dumps(spec, indent=2))
        arrays = {}
        for i, (w, b) in enumerate(zip(model.coefs_, model.intercepts_)):
            arrays[f"coef_{i}"] = w
            arrays[f"intercept_{i}"] = b
        np.savez(tmp / "weights.npz", **arrays)
        card = model_card(r)
        (tmp / "card.json").write_text(json.dumps(card, indent=2))
        (tmp / "card.md").write_text(_card_markdown(card))
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish(tmp, target, overwrite)
    return target


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


@dataclass
class Bundle:
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
        if not protocol:
            return []
        trained = {str(k): str(v) for k, v in self.spec.get("protocol", {}).items()}
        out = []
        for k, v in protocol.items():
            if k not in trained:
                out.append(f"protocol {k}={v}: the model card does not record {k!r}")
            elif trained[k] != str(v):
                out.append(f"protocol {k}={v} differs from the training protocol ({k}={trained[k]})")
        return out

    def predict(self, frame: pd.DataFrame, id_column: str | None = None) -> pd.DataFrame:
        """Probability, class at the bundle's threshold, and out-of-range inputs, per patient."""
        missing = [c for c in self.inputs if c not in frame.columns]
        if missing:
            raise BundleError(
                f"the data lack the model's input column(s) {missing}; the model needs {self.inputs}"
            )
        if id_column is not None and id_column not in frame.columns:
            raise BundleError(f"id column {id_column!r} not found in the data")
        X = frame[self.inputs].apply(pd.to_numeric, errors="coerce")
        bad = [c for c in self.inputs if X[c].isna().any() and not frame[c].isna().all() and
               frame[c][X[c].isna()].notna().any()]
        if bad:
            raise BundleError(f"input column(s) {bad} hold non-numeric values; fix or remove those cells")
        imputed = X.isna()
        X = X.fillna(pd.Series(self.spec.get("imputation", {}), dtype=float))
        still = [c for c in self.inputs if X[c].isna().any()]
        if still:
            raise BundleError(f"input column(s) {still} have missing values and the model has no value to impute")
        p = self.model.predict_proba(X)[:, 1]
        ranges = self.spec["training_ranges"]
        outside = []
        for i in range(len(X)):
            names = [c for c in self.inputs if not (ranges[c][0] <= X[c].iloc[i] <= ranges[c][1])]
            outside.append(";".join(names))
        out = pd.DataFrame({
            "probability": p,
            "predicted_class": [str(self.spec["positive"]) if q >= self.threshold else f"not {self.spec['positive']}"
                                for q in p],
            "above_threshold": p >= self.threshold,
            "out_of_range": outside,
            "imputed": [";".join(c for c in self.inputs if imputed[c].iloc[i]) for i in range(len(X))],
        })
        if id_column is not None:
            out.insert(0, id_column, frame[id_column].to_numpy())
        return out


def load_bundle(path: str | Path) -> Bundle:
    """Read a bundle folder; arrays are loaded without pickle."""
    path = Path(path)
    if not (path / "model.json").exists() or not (path / "weights.npz").exists():
        raise BundleError(f"{str(path)!r} is not a scintiml model bundle (model.json and weights.npz expected)")
    try:
        spec = json.loads((path / "model.json").read_text())
        with np.load(path / "weights.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError) as exc:
        raise BundleError(f"cannot read the bundle in {str(path)!r}: {exc}") from exc
    if spec.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{str(path)!r}: unknown bundle format {spec.get('format')!r}")
    n_layers = len(spec["architecture"]) - 1
    model = ANNClassifier(hidden_layer_sizes=tuple(spec["architecture"][1:-1]), activation=spec["activation"])
    model.coefs_ = [arrays[f"coef_{i}"] for i in range(n_layers)]
    model.intercepts_ = [arrays[f"intercept_{i}"] for i in range(n_layers)]
    model.scaler_ = ScalingLayer.from_dict(spec["scaler"])
    model.classes_ = np.asarray(spec["classes"])
    model.n_features_in_ = len(spec["inputs"])
    model.feature_names_in_ = np.asarray(spec["inputs"], dtype=object)
    model.architecture_ = tuple(spec["architecture"])
    card = json.loads((path / "card.json").read_text()) if (path / "card.json").exists() else {}
    return Bundle(spec, model, card)
