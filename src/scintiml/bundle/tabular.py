"""The tabular network's bundle (kind ``tabular-ann``) on the one bundle format of :mod:`.format`.

The folder holds ``bundle.json`` (the spec below and the sha256 of every other file), ``weights.npz`` (layer
matrices, written with ``np.savez`` and read with ``allow_pickle=False`` so a bundle from an untrusted source
cannot run code), and the model card (``card.json``, ``card.md``). The spec holds the inputs, architecture,
activation, scaling layer, classes, threshold, outcome coding, training ranges, imputation medians, the
acquisition protocol, summary statistics of each input on the training patients (for drift checks), and
``spec_sha256``, a digest of the rest of the spec, so a hand-edited spec is noticed.

:func:`load_bundle` verifies the checksums (:func:`~scintiml.bundle.format.read_bundle`) and then, since anyone
can recompute those, every field it will use: a finite threshold in (0, 1), finite weights of the shapes the
architecture and inputs imply (each ``.npy`` header read before its data, no member the network does not use), a
finite scaling layer with positive scales, finite training ranges, imputation values and training summary, a
protocol of plain values, and a model card that renders. Any damage is one :class:`~scintiml.errors.BundleError`
line.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..ann import ANNClassifier, ScalingLayer
from ..ann.network import ACTIVATIONS
from ..ann.scaling import SCALINGS
from ..cohort import categories_of, input_source
from ..errors import BundleError, ScintimlError
from ..io import jsonable
from .card import card_markdown, model_card
from .format import _short, read_bundle, require_finite, spec_digest, write_bundle

KIND = "tabular-ann"
WEIGHTS = "weights.npz"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MAX_PARAMETERS = 10_000_000  # a tabular network has far fewer weights; more is a forged architecture (80 MB)
MAX_LAYERS = 64
#: Largest weight magnitude a bundle may hold. Networks trained here carry a norm penalty and standardised inputs
#: (their weights stay within tens); 1e6 is far beyond any fit, and a forged 1e308 overflowed every product.
MAX_WEIGHT = 1e6
#: Smallest scaling-layer scale: its reciprocal times the largest accepted input (1e15) must stay finite
#: (a forged 1e-320 turned every scaled value into infinity and every probability into NaN).
MIN_SCALE = 1e-250
#: The columns ``predict`` writes beside the id; an id column of one of these names would be overwritten.
PREDICTION_COLUMNS = ("probability", "predicted_class", "above_threshold", "out_of_range", "imputed")
SUMMARY_NUMBERS = ("mean", "sd", "std", "min", "max", "missing_share", "missing_fraction", "n")  # what drift reads

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
    ['.scintiml-output', 'bundle.json', 'card.json', 'card.md', 'weights.npz']
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
        # values the training table meant as "not measured": new patients are read the same way
        "missing_codes": dict(study.cohort.missing_codes),
        # every level of each one-hot input's column, reference first: a new patient's unseen level is flagged
        "categories": categories_of(study.cohort.categories, inputs),
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


def check_id_name(id_column: str | None, outputs: tuple[str, ...]) -> None:
    """Refuse an id column named like one of the output columns: the output could not hold both.

    Examples
    --------
    >>> check_id_name("probability", PREDICTION_COLUMNS)
    Traceback (most recent call last):
    ...
    scintiml.errors.BundleError: the id column 'probability' has the name of an output column (probability, \
predicted_class, above_threshold, out_of_range, imputed); rename it in the table (e.g. patient_id) and give that \
name to --id
    """
    if id_column is not None and id_column in outputs:
        raise BundleError(f"the id column {id_column!r} has the name of an output column ({', '.join(outputs)}); "
                          "rename it in the table (e.g. patient_id) and give that name to --id")


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
        trained = {str(k): str(v) for k, v in (self.spec.get("protocol") or {}).items()}
        out = []
        for k, v in (protocol or {}).items():
            if k not in trained:
                out.append(f"protocol {k}={v}: the model card does not record {k!r}")
            elif trained[k] != str(v):
                out.append(f"protocol {k}={v} differs from the training protocol ({k}={trained[k]})")
        return out

    @property
    def categories(self) -> dict[str, list[str]]:
        """Each one-hot input's column and its training levels, reference first (empty for bundles before 0.5)."""
        return {k: list(v) for k, v in (self.spec.get("categories") or {}).items()}

    @property
    def missing_codes(self) -> dict[str, list[Any]]:
        """The values the training table meant as "not measured" (``{column: [codes]}``, ``"*"``: every input)."""
        return {k: list(v) for k, v in (self.spec.get("missing_codes") or {}).items()}

    def read_as_trained(self, frame: pd.DataFrame, id_column: str | None = None) -> pd.DataFrame:
        """``frame`` with the training table's missing-value codes read as missing in the columns the model reads
        (its inputs, the columns its one-hot inputs come from, the columns its drift check summarises) and in no
        other: never an outcome or an id, whatever a site calls them; ``frame`` itself when the study named no
        code. Applying it twice changes nothing."""
        codes = self.missing_codes
        if not codes:
            return frame
        from ..missing_codes import ALL, apply_missing_codes

        used = set(self.inputs) | {input_source(c, [*self.categories, *frame.columns]) for c in self.inputs
                                   if "=" in c} \
            | set(self.spec.get("training_summary") or {})
        used -= {self.spec.get("target"), id_column}
        wanted = {c: v for c, v in codes.items() if c == ALL or (c in used and c in frame.columns)}
        skip = [c for c in frame.columns if c not in used]
        return apply_missing_codes(frame, wanted, skip=skip)[0]

    def probabilities(self, X: pd.DataFrame) -> np.ndarray:
        """The event probability of each row of model inputs (complete, in the bundle's order); never NaN: a
        network whose arithmetic fails on these values is refused, not reported as "no event"."""
        with np.errstate(all="ignore"):  # a failure is reported below in one line, not as numpy warnings
            p = self.model.predict_proba(X)[:, 1]
        if not np.all(np.isfinite(p)):
            raise BundleError(f"the model gives no probability for {int((~np.isfinite(p)).sum())} patient(s) (its "
                              "arithmetic overflows on their values); the bundle is corrupt or the values absurd")
        return p

    def predict(self, frame: pd.DataFrame, id_column: str | None = None, warn: bool = True) -> pd.DataFrame:
        """Probability, class at the bundle's threshold, out-of-range and imputed inputs, per patient, on the
        caller's index; a value the training table meant as "not measured" (:attr:`missing_codes`) is read as
        missing here too. What the batch's reader must know (levels the model never saw, an input in another
        unit, inputs outside the training range …) is in ``attrs["warnings"]`` and, with ``warn``, raised as
        ``UserWarning``s — the lines ``scintiml predict`` prints (a notebook saw none of them)."""
        from ..cohort import model_inputs

        if not isinstance(frame, pd.DataFrame):
            raise BundleError(f"predict takes the new patients as a pandas DataFrame with the model's input columns, "
                              f"got {type(frame).__name__}")
        caller_index = frame.index
        if id_column is not None and id_column not in frame.columns:
            raise BundleError(f"id column {id_column!r} not found in the data")
        check_id_name(id_column, PREDICTION_COLUMNS)
        frame = self.read_as_trained(frame, id_column)
        try:  # the same reading as the study's (one-hot inputs rebuilt, TRUE/FALSE as 1/0, names trimmed)
            X = model_inputs(frame, self.inputs, categories=self.categories)
        except ScintimlError as exc:
            raise BundleError(str(exc)) from exc
        imputed = X.isna()
        from ..external.validate import bundle_medians  # training medians of every input (a new site's gaps)

        X = X.fillna(pd.Series(bundle_medians(self), dtype=float))
        still = [c for c in self.inputs if X[c].isna().any()]
        if still:
            raise BundleError(f"input column(s) {still} have missing values and the model has no value to impute")
        p = self.probabilities(X)
        ranges = self.spec["training_ranges"]
        outside = pd.DataFrame({c: ~X[c].between(*ranges[c]) for c in self.inputs})

        def names(mask: pd.DataFrame) -> list[str]:
            # the flagged inputs of each row, in the model's order, joined by ";". Over a boolean array, not
            # DataFrame.iterrows: that built a Series per patient (50,000 patients x 3 inputs: the whole prediction
            # took 5.08 s with it, 0.87 s without)
            flags = mask[self.inputs].to_numpy(dtype=bool)
            inputs = list(self.inputs)
            return ["" if not row.any() else ";".join(inputs[j] for j in np.flatnonzero(row)) for row in flags]

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
        }, index=caller_index if len(caller_index) == len(p) else None)
        # on the caller's index: `old["p"] = bundle.predict(old)["probability"]` on a filtered frame had put 16 of 52
        # probabilities on other patients (rows 0..n-1 aligned by label), the rest NaN
        if id_column is not None:
            out.insert(0, id_column, frame[id_column].to_numpy())
        out.attrs["unseen_levels"] = X.attrs.get("unseen_levels", {})
        from .predict import batch_warnings

        out.attrs["warnings"] = batch_warnings(self, frame, out, id_column)
        if warn:
            import warnings

            for line in out.attrs["warnings"]:
                warnings.warn(line, UserWarning, stacklevel=2)
        return out


def _finite_array(value: Any, what: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise BundleError(f"the bundle's {what} is not numeric; the bundle is corrupt") from None
    if arr.shape != shape:
        raise BundleError(f"the bundle's {what} has shape {arr.shape}, expected {shape}; the bundle is corrupt")
    if not np.all(np.isfinite(arr)):
        raise BundleError(f"the bundle's {what} holds NaN or infinite values; the bundle is corrupt")
    if np.asarray(value).dtype.kind not in "iuf":  # "0.5" converts, but the spec's raw value is compared as is
        raise BundleError(f"the bundle's {what} holds text or flags, not numbers; the bundle is corrupt")
    return arr


def _number(value: Any, what: str) -> float:
    """:func:`require_finite`, refusing also numbers written as text or flags (the spec's raw value is used)."""
    number = require_finite(value, what)
    if isinstance(value, (str, bool)):
        raise BundleError(f"the bundle's {what} is {_short(value)}, not a number; the bundle is corrupt")
    return number


def _finite_code(value: Any) -> bool:
    """A number a bundle may hold as a missing-value code: finite in float64 (``10**400`` is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _plain(value: Any) -> bool:
    """A JSON scalar a prediction can print or compare (outcome values, protocol values): text, a flag or a
    finite number (an integer like 10**400 overflows where outcomes are compared as floats)."""
    if isinstance(value, (str, bool)):
        return True
    try:
        return isinstance(value, (int, float)) and math.isfinite(value)
    except OverflowError:
        return False


def _mapping(spec: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    """``spec[key]`` as a dict ({} when absent), or a :class:`BundleError` naming ``what``."""
    value = spec.get(key, {})
    if not isinstance(value, dict):
        raise BundleError(f"the bundle's {what} is a {type(value).__name__}, not a mapping; the bundle is corrupt")
    return value


def _check_summary(summary: Any) -> None:
    """The training summary (optional: bundles before 0.4 have none) holds, per input, numbers or None only —
    the drift guard and the imputation medians compute with every one of them."""
    if summary is None:
        return
    if not isinstance(summary, dict):
        raise BundleError("the bundle's training_summary is not a mapping; the bundle is corrupt")
    for name, stats in summary.items():
        where = f"training summary of {name!r}"
        if not isinstance(stats, dict):
            raise BundleError(f"the bundle's {where} is {_short(stats)}, not a mapping; the bundle is corrupt")
        for key in SUMMARY_NUMBERS:
            if stats.get(key) is not None:
                _number(stats[key], f"{where}: {key}")
        quantiles = stats.get("quantiles") or {}
        if not isinstance(quantiles, dict):
            raise BundleError(f"the bundle's {where}: quantiles are not a mapping; the bundle is corrupt")
        for level, value in quantiles.items():
            if not 0 <= require_finite(level, f"{where}: quantile level") <= 1:
                raise BundleError(f"the bundle's {where}: quantile level {level} is outside [0, 1]; corrupt")
            if value is not None:
                _number(value, f"{where}: quantile {level}")


def _class_number(value: Any) -> int | None:
    """A class label as the network codes it: 0 or 1 (an int or a whole float, never a boolean); None otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in (0, 1):
        return None
    return int(value)


def _same_value(a: Any, b: Any) -> bool:
    """Equal outcome values, a boolean never equal to a number (``True == 1`` in Python)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _check_spec(spec: dict[str, Any]) -> tuple[list[str], list[int]]:
    """Inputs and architecture, after checking every field of the spec a prediction, drift check or
    recalibration uses: its type, its shape, its finiteness and its agreement with the architecture."""
    if spec.get("spec_sha256") != spec_digest(spec):
        raise BundleError("the bundle's spec (bundle.json) was edited after it was written (its spec_sha256 does "
                          "not match); use an intact copy of the bundle")
    inputs = spec.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(c, str) for c in inputs) \
            or len(set(inputs)) != len(inputs):
        raise BundleError("the bundle's inputs are not a list of distinct column names; the bundle is corrupt")
    arch = spec.get("architecture")
    if not isinstance(arch, list) or not 2 <= len(arch) <= MAX_LAYERS \
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in arch):
        raise BundleError(f"the bundle's architecture {_short(arch)} is not a list of layer sizes; corrupt")
    if arch[0] != len(inputs) or arch[-1] != 1:
        raise BundleError(f"the bundle's architecture {arch} does not fit its {len(inputs)} inputs and one output; "
                          "the bundle is corrupt")
    if sum(a * b + b for a, b in zip(arch, arch[1:])) > MAX_PARAMETERS:
        raise BundleError(f"the bundle's architecture {arch} has more than {MAX_PARAMETERS} weights; not a "
                          "tabular network of scintiml")
    activation = spec.get("activation")
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise BundleError(f"the bundle's activation {_short(activation)} is unknown; the bundle is corrupt")
    threshold = _number(spec.get("threshold"), "threshold")
    if not 0 < threshold < 1:
        raise BundleError(f"the bundle's threshold is {threshold}, outside (0, 1); the bundle is corrupt")
    scaler = _mapping(spec, "scaler", "scaling layer")
    if not isinstance(scaler.get("method"), str) or scaler["method"] not in SCALINGS:
        raise BundleError(f"the bundle's scaling method {_short(scaler.get('method'))} is not one of "
                          f"{', '.join(SCALINGS)}; the bundle is corrupt")
    offset = _finite_array(scaler.get("offset"), "scaling offset", (len(inputs),))
    scale = _finite_array(scaler.get("scale"), "scaling scale", (len(inputs),))
    if np.any(scale < MIN_SCALE):
        raise BundleError(f"the bundle's scaling layer has a scale below {MIN_SCALE:.0e} (or <= 0); the bundle is "
                          "corrupt")
    # the offsets and scales are what is applied, whatever the method says; "none" fits offset 0 and scale 1, so
    # other numbers under that name mean the spec was edited by hand (its method and numbers disagree)
    if scaler["method"] == "none" and (np.any(offset != 0) or np.any(scale != 1)):
        raise BundleError("the bundle's scaling method is 'none' but its offsets and scales are not 0 and 1; the "
                          "method and the numbers disagree — the bundle is corrupt")
    ranges = _mapping(spec, "training_ranges", "training_ranges")
    for c in inputs:
        if c not in ranges:
            raise BundleError(f"the bundle's training_ranges lack input {c!r}; the bundle is corrupt")
    for c, value in ranges.items():  # every one: the drift guard reads the range of any summarised column
        lo, hi = _finite_array(value, f"training range of {c!r}", (2,))
        if lo > hi:
            raise BundleError(f"the bundle's training range of {c!r} runs backwards; the bundle is corrupt")
    for c, v in _mapping(spec, "imputation", "imputation").items():
        _number(v, f"imputation value of {c!r}")
    _check_summary(spec.get("training_summary"))
    classes = spec.get("classes")
    if not isinstance(classes, list) or len(classes) != 2 or not all(_plain(v) for v in classes):
        raise BundleError("the bundle's classes are not two outcome values; the bundle is corrupt")
    if not _plain(spec.get("positive")):
        raise BundleError(f"the bundle's positive outcome {_short(spec.get('positive'))} is not a value; corrupt")
    if "target" in spec and not isinstance(spec["target"], str):
        raise BundleError(f"the bundle's target {_short(spec['target'])} is not a column name; the bundle is corrupt")
    # The network's classes are the outcome coded 0/1 (1 the event: ANNClassifier reads classes_[1] as the event),
    # whatever the table held; positive and outcome_values are the table's own values, [non-event, event]. So
    # positive is no member of classes ("yes" for [0, 1]) but must be outcome_values[1]: an edit making them
    # disagree ("positive": 7, or outcome_values [1, 0] with positive 1) labelled predictions 7, or the event the
    # non-event, without a word.
    if [_class_number(v) for v in classes] != [0, 1]:
        raise BundleError(f"the bundle's classes are {_short(classes)}, not [0, 1] (the outcome as the network codes "
                          "it, 1 the event); the bundle is corrupt")
    values = spec.get("outcome_values")  # optional (0.4.1 on): [non-event, event] of the training table
    if values is not None and not (isinstance(values, list) and len(values) == 2 and all(_plain(v) for v in values)):
        raise BundleError("the bundle's outcome_values are not two outcome values; the bundle is corrupt")
    if values is not None:
        positive = spec["positive"]
        if _same_value(values[0], values[1]):
            raise BundleError(f"the bundle's outcome_values {_short(values)} are one value twice; the bundle is "
                              "corrupt")
        if not _same_value(values[1], positive):
            raise BundleError(f"the bundle's positive outcome {_short(positive)} is not the event of its "
                              f"outcome_values {_short(values)} ([non-event, event]); the two disagree — the bundle "
                              "is corrupt")
    bad = [k for k, v in _mapping(spec, "protocol", "protocol").items() if v is not None and not _plain(v)]
    if bad:
        raise BundleError(f"the bundle's protocol value of {bad[0]!r} is not a plain value; the bundle is corrupt")
    codes = spec.get("missing_codes")  # optional (0.5 on, format 3): {column: [numbers or words]}
    if codes is not None and not (isinstance(codes, dict) and all(
            isinstance(k, str) and k.strip() and k != spec.get("target") and isinstance(v, list) and v
            and all(_finite_code(c) or (isinstance(c, str) and c.strip()) for c in v) for k, v in codes.items())):
        raise BundleError("the bundle's missing_codes are not lists of numbers or words per input column; the "
                          "bundle is corrupt")
    levels = spec.get("categories")  # optional (0.5 on): {column: [level, ...]}
    if levels is not None and not (isinstance(levels, dict) and all(
            isinstance(k, str) and isinstance(v, list) and v and all(isinstance(x, str) for x in v)
            for k, v in levels.items())):
        raise BundleError("the bundle's categories are not lists of level names per column; the bundle is corrupt")
    history = spec.get("recalibrations", [])
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise BundleError("the bundle's recalibrations are not a list of records; the bundle is corrupt")
    return inputs, arch


def _read_weights(path: Path, arch: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The layer matrices of ``arch`` from ``weights.npz``, reading each member's ``.npy`` header (dtype, shape)
    before its data, so a forged header or an extra member is refused before anything is allocated."""
    shapes = {}
    for i in range(len(arch) - 1):
        shapes[f"coef_{i}"], shapes[f"intercept_{i}"] = (arch[i], arch[i + 1]), (arch[i + 1],)
    # np.savez stores each array as a .npy (128-byte header) in a zip: anything much larger was not written by us
    limit = sum(8 * math.prod(s) + 4096 for s in shapes.values()) + 65536
    if path.stat().st_size > limit:
        raise BundleError(f"the bundle's {WEIGHTS} is {path.stat().st_size} bytes, more than its architecture "
                          f"{arch} needs ({limit}); refused")
    arrays = {}
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            extra = sorted(set(names) - {f"{k}.npy" for k in shapes})
            if extra or len(set(names)) != len(names):
                raise BundleError(f"the bundle's {WEIGHTS} holds members the network does not use "
                                  f"({', '.join(map(repr, extra or names))[:200]}); refused")
            # np.savez stores, np.savez_compressed deflates; other methods (and encryption) are not ours
            odd = [i.filename for i in zf.infolist()
                   if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or i.flag_bits & 0x1]
            if odd:
                raise BundleError(f"the bundle's {WEIGHTS} member {odd[0]!r} is encrypted or compressed in a way "
                                  "np.savez never writes; refused")
            for name, shape in shapes.items():
                if f"{name}.npy" not in names:
                    raise BundleError(f"the bundle's {WEIGHTS} lacks {name!r}; the bundle is corrupt")
                with zf.open(f"{name}.npy") as fh:
                    arrays[name] = _read_npy(fh, name, shape)
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError) as exc:
        raise BundleError(f"the bundle's {WEIGHTS} cannot be read ({exc}); the file is truncated or damaged") from None
    for name, arr in arrays.items():
        if arr.size and float(np.max(np.abs(arr))) > MAX_WEIGHT:
            raise BundleError(f"the bundle's {name} holds a weight of magnitude {float(np.max(np.abs(arr))):.3g}, "
                              f"beyond any trained network's (at most {MAX_WEIGHT:.0e}); the bundle is corrupt")
    coefs = [arrays[f"coef_{i}"] for i in range(len(arch) - 1)]
    intercepts = [arrays[f"intercept_{i}"] for i in range(len(arch) - 1)]
    return coefs, intercepts


def _read_npy(fh, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One ``.npy`` member: header checked (plain numbers, the expected shape), then exactly its data read."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"unsupported .npy version {version}")
        header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        got, fortran, dtype = header(fh)  # ast.literal_eval of a bounded header; refuses malformed ones
    except ValueError as exc:  # no .npy magic (a pickle, say) or a malformed header
        reason = " ".join(str(exc).split())[:200]
        raise BundleError(f"the bundle's {WEIGHTS} member {name}.npy is not a plain .npy array ({reason}); refused "
                          "— a bundle holds plain arrays only") from None
    if dtype.hasobject:  # np.savez pickles object arrays; loading them would run code
        raise BundleError(f"the bundle's {WEIGHTS} holds pickled objects in {name}; refused — a bundle holds plain "
                          "arrays only")
    if dtype.kind not in "fiu" or dtype.itemsize > 8:
        raise BundleError(f"the bundle's {name} is of type {dtype}, not numbers; the bundle is corrupt")
    if tuple(got) != shape:
        raise BundleError(f"the bundle's {name} has shape {tuple(got)}, expected {shape}; the bundle is corrupt")
    nbytes = math.prod(shape) * dtype.itemsize
    data = fh.read(nbytes)
    if len(data) != nbytes:
        raise BundleError(f"the bundle's {name} holds {len(data)} of its {nbytes} bytes; the file is truncated or "
                          "damaged")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return _finite_array(arr, name, shape)


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
    card = folder.json("card.json")  # save_bundle always writes it; recalibrate re-renders it
    try:
        card_markdown(card)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise BundleError(f"the bundle's card.json is not a model card ({type(exc).__name__}: {reason}); the "
                          "bundle is corrupt") from None
    spec = folder.spec
    model = ANNClassifier(hidden_layer_sizes=tuple(arch[1:-1]), activation=spec["activation"])
    model.coefs_, model.intercepts_ = coefs, intercepts
    model.scaler_ = ScalingLayer.from_dict(spec["scaler"])
    model.classes_ = np.asarray(spec["classes"])
    model.n_features_in_ = len(inputs)
    model.feature_names_in_ = np.asarray(inputs, dtype=object)
    model.architecture_ = tuple(arch)
    return Bundle(spec, model, card)
