"""Training the planar CNN: split by patient, a one-cycle learning rate, weight decay, early stopping on a smoothed
selection loss, temperature scaling and the worklist threshold — all fitted on the selection studies."""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from scipy.special import expit
from sklearn.utils import check_random_state
from torch import nn

from .._version import __version__
from ..errors import ScintimlError, SplitError, TargetClassesError
from ..evaluate import calibration_intercept_slope, evaluate_binary
from ..imaging.planar import ImagingError
from ..split import PARTS, Split, split_cohort
from .calibrate import fit_temperature, threshold_for_sensitivity_bound
from .copies import MAX_PARTNERS, Copies, exact_copies, find_copies, merged_keys  # noqa: F401  (exact_copies)
from .guard import ProtocolGuard
from .model import ARCHITECTURES, PlanarViewNet
from .transforms import BINNING, bin_counts, inference_transform, training_transform

#: The matrix the network is built for (views are binned 2 × 2 to 64 × 64 inside).
MATRIX = (128, 128)


@contextlib.contextmanager
def full_float32(device: torch.device):
    """Run cuDNN convolutions in IEEE float32, not TF32, while predicting on a GPU.

    cuDNN's default TF32 convolutions moved an H100's probabilities by up to 9.3e-4 from the CPU / onnxruntime
    ones for the same bundle (benchmarks/bench_cnn.py, 2026-11-26): enough to move a study across the worklist
    threshold. Training keeps TF32 (speed); predictions, the threshold and the temperature set from them do not.
    """
    conv = getattr(torch.backends.cudnn, "conv", None)
    if device.type != "cuda" or conv is None or not hasattr(conv, "fp32_precision"):
        # CPU, or a torch without the per-backend precision setting: nothing to switch
        yield
        return
    before = conv.fp32_precision
    conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv.fp32_precision = before


@contextlib.contextmanager
def deterministic_algorithms(device: torch.device, on: bool = True):
    """Deterministic cuDNN convolutions and torch kernels while training on a GPU; the settings are put back.

    Without it four trainings of seed 0 on one H100 ended with unseen specificities 0.841, 0.837, 0.781 and 0.691
    at their worklist thresholds (benchmarks/bench_cnn.py, 2026-11-26; docs/cnn.md): some of cuDNN's convolution
    algorithms (the backward ones above all) add partial sums in an order that changes from run to run. The
    settings are process-wide: two trainings in threads of one process share them.
    """
    if not on or device.type != "cuda":
        yield
        return
    # cuBLAS needs a fixed workspace to be deterministic; it reads this when its handle is created (a process
    # that ran CUDA matrix work before may keep a handle made without it; torch then warns, as warn_only asks)
    workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    before = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
              torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    # warn_only: an operation without a deterministic kernel warns instead of stopping the training
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[0], before[1]
        torch.use_deterministic_algorithms(before[2], warn_only=before[3])
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class CNNModel:
    """A trained planar CNN with everything needed to use it again.

    Attributes
    ----------
    network : PlanarViewNet
    spec : dict
        Views, architecture, width, threshold, temperature, the threshold's rule, the training protocol.
    guard : ProtocolGuard
    card : dict
    report : dict
        The training report (split, history, selection and testing analysis, timings).
    """

    network: PlanarViewNet
    spec: dict[str, Any]
    guard: ProtocolGuard
    card: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def views(self) -> list[str]:
        return list(self.spec["views"])

    @property
    def threshold(self) -> float:
        return float(self.spec["threshold"])

    @property
    def temperature(self) -> float:
        return float(self.spec["temperature"])

    @torch.no_grad()
    def logits(self, counts: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Uncalibrated logits of studies ``(n, views, 128, 128)`` of counts."""
        self.network.eval()
        device = next(self.network.parameters()).device
        pipeline = inference_transform()
        out = []
        with full_float32(device):
            for start in range(0, len(counts), batch_size):
                batch = bin_counts(counts[start:start + batch_size]).to(device)
                out.append(self.network(pipeline({"counts": batch})["image"]).cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def predict_proba(self, counts: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Calibrated probability of pulmonary embolism for each study ``(n, views, 128, 128)`` of counts.

        Raises
        ------
        ImagingError
            Counts of another shape, or studies holding NaN, infinite or negative values (named by index).
        """
        counts = np.asarray(counts)
        if counts.ndim != 4 or counts.shape[1] != len(self.views) or tuple(counts.shape[2:]) != MATRIX:
            raise ImagingError(f"counts must be (n, {len(self.views)} views, 128, 128); got {counts.shape}")
        # a NaN pixel gave a NaN probability and a negative one was clamped to 0 without a word: refused by name
        _check_count_values(counts)
        # expit, not 1 / (1 + exp(-z)): the same numbers, without numpy's overflow warning for a large logit
        return expit(self.logits(counts, batch_size) / self.temperature)

    def save(self, path, overwrite: bool = False):
        """Write the model bundle (kind ``planar-cnn``); see :func:`scintiml.cnn.bundle.save_cnn`."""
        from .bundle import save_cnn

        return save_cnn(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path, device: str | torch.device = "cpu") -> "CNNModel":
        """Read and verify a model bundle; see :func:`scintiml.cnn.bundle.load_cnn`."""
        from .bundle import load_cnn

        return load_cnn(path, device=device)


#: Training : selection : testing. The selection part is larger than the tabular study's 20 %: it sets the
#: worklist threshold, whose specificity hangs on the few lowest-scoring selection positives (an extreme order
#: statistic). Resampling one development model's scores (docs/cnn.md) put specificity at that threshold
#: >= 0.60 in 55 % of draws with 160 selection positives and in 76 % with 240, for the same promise.
CNN_SPLIT = (0.5, 0.3, 0.2)


def patient_split(labels: np.ndarray, ids: Sequence[str] | None, random_state: int,
                  ratios: Sequence[float] = CNN_SPLIT) -> Split:
    """Split stratified by outcome (``ratios``, default 50:30:20), **by patient**: all studies of one patient fall
    in one part.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1, 0, 1, 0, 1, 0, 1] * 3)
    >>> ids = [f"P{i // 2}" for i in range(30)]  # two studies per patient
    >>> s = patient_split(y, ids, 0)
    >>> parts = [{ids[i] for i in p} for p in (s.training, s.selection, s.testing)]
    >>> parts[0] & parts[1], parts[0] & parts[2], parts[1] & parts[2]
    (set(), set(), set())
    """
    labels = np.asarray(labels).astype(int)
    if ids is None:
        return split_cohort(labels, ratios=ratios, random_state=random_state)
    ids = np.asarray([str(i) for i in ids])
    patients, index = np.unique(ids, return_inverse=True)
    # a patient is positive if any study is: a positive must not hide among negatives in another part
    patient_label = np.zeros(len(patients), dtype=int)
    np.maximum.at(patient_label, index, labels)
    by_patient = split_cohort(patient_label, ratios=ratios, random_state=random_state)
    return Split(*(np.flatnonzero(np.isin(index, part)) for part in
                   (by_patient.training, by_patient.selection, by_patient.testing)))


def _with_copies_merged(ids: Sequence[str] | None, copies: list[list[int]], n: int) -> list[str] | None:
    """Patient ids with the patients of each group of copies made one (transitively); ``ids`` itself when there is
    no copy (so a cohort without copies is split exactly as before)."""
    if not copies:
        return None if ids is None else list(ids)
    keys = [str(i) for i in ids] if ids is not None else [str(i) for i in range(n)]
    return merged_keys(keys, copies)


def training_split(counts: np.ndarray, labels: np.ndarray, ids: Sequence[str] | None, random_state: int,
                   ratios: Sequence[float] = CNN_SPLIT, copies: Copies | None = None) -> Split:
    """:func:`train_cnn`'s split when none is given: :func:`patient_split` by patient, with the copies of a study
    (:func:`~scintiml.cnn.copies.find_copies`: exact copies, and near copies filed as another patient's) counted as one
    patient's, with a warning.

    A study filed under two PatientIDs was split as two patients: one copy trained on, the other tested (and its
    testing AUC flattered by a study the network had seen). Without copies the split is :func:`patient_split`'s.

    Parameters
    ----------
    counts : array (n, views, H, W)
    labels : array (n,)
    ids : sequence of str, optional
    random_state : int
    ratios : sequence of 3 floats
    copies : Copies, optional
        The copies among ``counts``, when already found (:func:`~scintiml.cnn.copies.find_copies`): they are then not
        searched again.

    Examples
    --------
    >>> import warnings
    >>> y = np.array([0, 1] * 10)
    >>> x = np.random.default_rng(0).poisson(5.0, (20, 1, 4, 4)).astype(float)
    >>> x[19] = x[1]  # study 1 filed again as another patient's
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     s = training_split(x, y, None, 0)
    >>> len({part for part, idx in enumerate((s.training, s.selection, s.testing)) if {1, 19} & set(idx)})
    1
    """
    ids = None if ids is None else list(ids)  # a pandas Series by position, not by its index
    if ids is not None and len(ids) != len(counts):
        raise ValueError(f"ids gives {len(ids)} PatientIDs for {len(counts)} studies; give one per study")
    copies = find_copies(counts, ids) if copies is None else copies.check(len(counts), ids)
    if copies.exact:
        n_copies = sum(len(g) - 1 for g in copies.exact)
        warnings.warn(f"{n_copies} stud{'y is an exact copy' if n_copies == 1 else 'ies are exact copies'} of "
                      f"another (the same counts in every view; e.g. {_copies_named(copies.exact[0], ids)}): each copy "
                      "is kept in its original's part of the split, so that no study is trained on and tested as "
                      "another patient's; remove the copies", UserWarning, stacklevel=3)
    if copies.near:
        k = len(copies.near)
        shown = "; ".join(_pair_named(pair, ids) for pair in copies.near[:_NAMED_PAIRS])
        more = f"; and {k - _NAMED_PAIRS} more" if k > _NAMED_PAIRS else ""
        warnings.warn(f"{k} pair{'' if k == 1 else 's'} of studies of different patients "
                      f"{'is a near copy' if k == 1 else 'are near copies'} of one acquisition (the same noise, "
                      f"noise-fingerprint similarity >= {copies.threshold:.2f}: one scan exported again, re-windowed, "
                      f"shifted or resampled): {shown}{more}; each pair is kept in one part of the split, so that no "
                      "study is trained on and tested as another patient's; remove the copies", UserWarning,
                      stacklevel=3)
    if copies.crowded:
        warnings.warn(crowded_message(copies, ids), UserWarning, stacklevel=3)
    return patient_split(labels, _with_copies_merged(ids, copies.groups(), len(counts)), random_state, ratios)


def crowded_message(copies: Copies, ids: Sequence[str] | None) -> str:
    """The warning for studies alike to the studies of many patients (:attr:`~scintiml.cnn.copies.Copies.crowded`)."""
    k = len(copies.crowded)
    named = _copies_named(copies.crowded, ids)
    return (f"{k} stud{'y is' if k == 1 else 'ies are'} alike to the studies of more than {MAX_PARTNERS} other "
            f"patients, or linked through near copies to more than {MAX_PARTNERS + 1} patients in all, by the "
            f"noise-fingerprint search for copies ({named}): text or a marker burned into the views at the same "
            "place, or a fixed pattern of the camera, makes studies alike, and one acquisition is not filed under "
            "that many PatientIDs, so these were not taken for near copies and not merged as such (exact copies are "
            "still kept together; the search cannot see past it); check them by eye, and remove burned-in "
            "annotations before training")


#: How many near-copy pairs a warning names (the rest are counted).
_NAMED_PAIRS = 3


def _pair_named(pair: tuple[int, int, float], ids: Sequence[str] | None) -> str:
    """A near-copy pair as a user can find it: by index, PatientIDs where the studies have them, and similarity."""
    i, j, s = pair
    who = "" if ids is None else f", PatientIDs {str(ids[i])!r} and {str(ids[j])!r}"
    return f"the studies at index {i} and {j}{who} (similarity {s:.2f})"


def _copies_named(group: Sequence[int], ids: Sequence[str] | None) -> str:
    """A group of copies as a user can find them: by PatientID where the studies have one, else by index."""
    if ids is None:
        return _at(group)
    return f"{_at(group)}, PatientID(s) {', '.join(repr(str(ids[i])) for i in group[:_NAMED])}"


def _check_split(split: Split, n: int, ids: Sequence[str] | None, counts: np.ndarray,
                 copies: Copies | None = None) -> Split:
    """An explicit split as integer positions of counts, refused where it lets a study, a patient or one acquisition
    reach two parts.

    Near copies are refused as exact copies are, not only warned of: a pair on both sides is the same leak (the
    network tested on a study it was trained on), a split given by hand is fixed by moving one study, and the default
    split keeps the pair together by itself. ``copies`` (:func:`~scintiml.cnn.copies.find_copies` of ``counts``) is
    searched when not given.

    Raises
    ------
    SplitError
        Positions that are not whole numbers from 0 to ``n - 1``, a study in two parts, a patient (``ids``) with
        studies in two parts, exact copies of one study in two parts, or a near-copy pair in two parts.
    """
    parts = []
    for name, part in split.parts().items():
        idx = np.asarray(part)
        if idx.size == 0:
            idx = idx.astype(int)
        if idx.ndim != 1 or idx.dtype.kind not in "iu" or (idx.size and (idx.min() < 0 or idx.max() >= n)):
            raise SplitError(f"the split's {name} part must hold positions of studies in counts (whole numbers from "
                             f"0 to {n - 1}), got {_short(part)}")
        if len(np.unique(idx)) != len(idx):  # a study twice in testing counted twice: intervals too narrow
            values, times = np.unique(idx, return_counts=True)
            raise SplitError(f"the split's {name} part names {_at(values[times > 1])} more than once; give each study "
                             "once")
        parts.append(idx)
    owner = np.full(n, -1)
    for k, idx in enumerate(parts):
        twice = np.unique(idx[(owner[idx] >= 0) & (owner[idx] != k)])
        if len(twice):
            raise SplitError(f"the split puts {_at(twice)} in both the {PARTS[owner[twice[0]]]} and the {PARTS[k]} "
                             "part, so it would be both fitted on and judged on; give each study one part")
        owner[idx] = k

    def straddling(keys: Sequence[str], what: str) -> None:
        seen: dict[str, tuple[int, int]] = {}
        for i in np.flatnonzero(owner >= 0):
            first = seen.setdefault(keys[i], (int(i), int(owner[i])))
            if first[1] != owner[i]:
                raise SplitError(f"the split puts {what} in two parts (the studies at index {first[0]} and {i}: "
                                 f"{PARTS[first[1]]} and {PARTS[owner[i]]}), so {judged} would be both fitted on and "
                                 f"judged on; {advice}")

    if ids is not None:
        judged, advice = "a patient", "keep a patient's studies in one part (scintiml.cnn.patient_split)"
        straddling([str(i) for i in ids], "one patient's studies")
    copies = find_copies(counts, ids) if copies is None else copies.check(n, ids)
    if copies.exact:
        judged, advice = "one acquisition", "remove the copies, or split with scintiml.cnn.train.training_split"
        straddling(_with_copies_merged(None, copies.exact, n), "exact copies of one study (the same counts in every "
                                                                "view)")
    for i, j, s in copies.near:  # pair by pair, not merged: each refusal names a pair that is itself alike
        if owner[i] >= 0 and owner[j] >= 0 and owner[i] != owner[j]:
            who = "" if ids is None else f", PatientIDs {str(ids[i])!r} and {str(ids[j])!r}"
            raise SplitError(f"the split puts near copies of one acquisition in two parts (the studies at index {i} "
                             f"and {j}{who}: {PARTS[owner[i]]} and {PARTS[owner[j]]}; noise-fingerprint similarity "
                             f"{s:.2f} >= {copies.threshold:.2f}), so one acquisition would be both fitted on and "
                             "judged on; put both in one part or remove one, or split with "
                             "scintiml.cnn.train.training_split")
    if copies.near:  # linked through a study or a patient the pairs share: 0 like 1, 1 like 2, 1 left out
        judged, advice = "one acquisition", "put them in one part, or split with scintiml.cnn.train.training_split"
        straddling(_with_copies_merged(ids, copies.groups(), n), "studies linked by near copies (through a study or "
                                                                  "a patient they share)")
    return Split(*parts)


def _state(network: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in network.state_dict().items()}


#: How many offending studies or values an error names (the rest are counted): one line, not thousands.
_NAMED = 5


def _short(value: Any) -> str:
    """``repr(value)`` cut to 80 characters, so that a long argument keeps the error to one readable line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _at(indices: Sequence[int]) -> str:
    """``"the study at index 3"`` / ``"the studies at index 3, 7, ... and 4 more"`` (indices of counts, from 0)."""
    shown = ", ".join(str(int(i)) for i in indices[:_NAMED])
    more = f" and {len(indices) - _NAMED} more" if len(indices) > _NAMED else ""
    return f"the stud{'y' if len(indices) == 1 else 'ies'} at index {shown}{more}"


def _check_views(views: Any) -> list[str]:
    """The views as a list of names, refused by the rule :func:`scintiml.cnn.bundle.load_cnn` applies to a bundle's
    views, so that a training never writes a bundle that cannot be read back.

    Raises
    ------
    ImagingError
        A single string (``"AP"`` is not the views ``["A", "P"]``), not a sequence, fewer than 1 or more than
        ``MAX_VIEWS`` views, a name that is not non-empty text of at most ``MAX_VIEW_NAME`` characters, or a name
        given twice.
    """
    from .bundle import MAX_VIEW_NAME, MAX_VIEWS  # bundle imports this module: imported when used, not at the top

    if isinstance(views, (str, bytes)):
        raise ImagingError(f"views must be a list of view names, got the single text {_short(views)}; pass a list "
                           f"(e.g. [{_short(views)}] for one view, or ['ANT', 'POST'] for two)")
    try:
        names = list(views)
    except TypeError:
        raise ImagingError(f"views must be a list of view names, got {type(views).__name__}; pass e.g. "
                           "['ANT', 'POST'], one name per view of counts' second axis") from None
    if not 1 <= len(names) <= MAX_VIEWS:
        raise ImagingError(f"views must be 1 to {MAX_VIEWS} different names, got {len(names)}; name each view of "
                           "counts' second axis once")
    if not all(isinstance(v, str) and v.strip() and len(v) <= MAX_VIEW_NAME for v in names):
        raise ImagingError(f"views {_short(names)} are not all names (non-empty text of at most {MAX_VIEW_NAME} "
                           "characters); name each view of counts' second axis, e.g. 'ANT'")
    repeated = sorted({v for v in names if names.count(v) > 1})
    if repeated:
        raise ImagingError(f"views must be 1 to {MAX_VIEWS} different names, but {', '.join(map(repr, repeated))} "
                           f"{'is' if len(repeated) == 1 else 'are'} named more than once in {_short(names)}; name "
                           "each view of counts' second axis once")
    return names


def _check_labels(labels: np.ndarray) -> np.ndarray:
    """Labels as int 0/1: 0/1 numbers or booleans only, anything else refused by value and study.

    ``astype(int)`` read 0.3 as 0, raised ``int()``'s own error for "yes", and turned NaN into
    -9223372036854775808; as the tabular side does (:func:`scintiml.explore.describe.check_outcome`), the
    values that are not 0/1 are named instead.

    Raises
    ------
    TargetClassesError
        Labels that are not one value per study (1-D) or hold anything other than 0/1 and True/False.
    """
    if labels.ndim != 1:
        raise TargetClassesError(f"labels must hold one 0/1 value per study (1-D), got shape {labels.shape}; pass "
                                 "a single column")
    if labels.dtype.kind in "biuf":
        bad = np.flatnonzero(~np.isin(labels, (0, 1)))  # NaN is in neither: refused too
    else:  # text, or a mix (object): compared one by one, as "1" == 1 is False and must stay refused
        bad = np.asarray([i for i, v in enumerate(labels.tolist())
                          if not (isinstance(v, (bool, int, float, np.number)) and v in (0, 1))], dtype=int)
    if len(bad):
        found = list({repr(v): v for v in labels[bad].tolist()}.values())  # distinct; repr keeps NaNs as one
        try:
            found = sorted(found)
        except TypeError:  # text beside numbers
            pass
        values = repr(found[:_NAMED])[:-1] + (", ...]" if len(found) > _NAMED else "]")
        raise TargetClassesError(f"labels must be 0/1 (1 = pulmonary embolism; True/False also accepted), got "
                                 f"{values} for {_at(bad)}; code PE as 1 and no PE as 0, and leave out studies "
                                 "without a label together with their counts")
    return labels.astype(int)


def _check_count_values(counts: np.ndarray, block: int = 256) -> None:
    """Counts must be finite and non-negative: refused by study index otherwise.

    Checked ``block`` studies at a time, so that the check never holds a boolean copy of a whole data set.

    Raises
    ------
    ImagingError
        Counts that are not numbers, or studies holding NaN, infinite or negative values.
    """
    if counts.dtype.kind not in "biuf":
        raise ImagingError(f"counts must be numbers (photon counts), got an array of {counts.dtype}; convert them "
                           "with np.asarray(counts, dtype=float)")
    if counts.dtype.kind in "bu":  # no NaN, no negative
        return
    non_finite, negative = [], []
    for start in range(0, len(counts), block):
        # reshaped a block at a time: a mirrored (negative-stride) array is copied by reshape, a block not the whole
        part = counts[start:start + block].reshape(min(block, len(counts) - start), -1)
        if part.dtype.kind == "f":
            non_finite.extend(start + np.flatnonzero(~np.isfinite(part).all(axis=1)))
        negative.extend(start + np.flatnonzero((part < 0).any(axis=1)))
    said = []
    if non_finite:
        said.append(f"{_at(non_finite)} hold{'s' if len(non_finite) == 1 else ''} NaN or infinite values")
    if negative:
        said.append(f"{_at(negative)} hold{'s' if len(negative) == 1 else ''} negative values")
    if said:
        raise ImagingError(f"counts must be finite and non-negative (photon counts), but {' and '.join(said)}; "
                           "correct those studies or leave them out")


def train_cnn(
    counts: np.ndarray,
    labels: np.ndarray,
    views: Sequence[str],
    ids: Sequence[str] | None = None,
    split: Split | None = None,
    copies: Copies | None = None,
    architecture: str = "alexnet",
    width: int = 8,
    epochs: int = 60,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    weight_decay: float = 5e-4,
    patience: int = 6,
    min_epochs: int | None = None,
    smoothing: float = 0.5,
    max_steps: int | None = None,
    augment: bool = True,
    target_sensitivity: float = 0.95,
    threshold_confidence: float = 0.95,
    seed: int = 0,
    device: str | torch.device | None = None,
    deterministic: bool = True,
    protocol: dict[str, Any] | None = None,
    data_description: str = "",
    progress: Callable[[int, int, dict], None] | None = None,
) -> CNNModel:
    """Train the per-view planar CNN.

    Parameters
    ----------
    counts : array (n, views, 128, 128)
        Raw counts, one study per row.
    labels : array (n,)
        1 = pulmonary embolism.
    views : sequence of str
        The views' names, in the order of ``counts``' second axis.
    ids : sequence of str, optional
        Patient ids: the split keeps each patient's studies together (default: one patient per study).
    split : Split, optional
        Explicit training/selection/testing positions of studies in ``counts``, refused where a study, a patient of
        ``ids``, exact copies of one study or a near-copy pair fall in two parts (default: :func:`training_split`,
        50:30:20 by patient, copies of a study kept in one part).
    copies : Copies, optional
        The copies among ``counts`` (:func:`scintiml.cnn.copies.find_copies` with ``ids``), when already found: not
        searched again (``cnn train`` finds them once for its split and the training). Found when not given.
    architecture : {"alexnet", "monai-densenet"}
    width : int
        First-stage filters of the encoder.
    epochs, batch_size, learning_rate, weight_decay : training (AdamW, one-cycle schedule over ``epochs``;
        60 epochs by default: against 30, unseen specificity at the worklist threshold rose from 0.60 to 0.68 for
        one training seed, and 0.68-0.81 over three, on development data)
    patience : int
        Epochs without a better smoothed selection loss before stopping.
    min_epochs : int, optional
        No stop before this epoch (default: three quarters of ``epochs``). The one-cycle learning rate is still
        high until late in the cycle, where the selection loss is noisy: a stop at the peak kept epoch 2 of 30
        (testing AUC 0.80 instead of 0.98) in one measured run, and with 60 epochs a stop allowed from epoch 30
        ended one run there, at 69 % of the peak rate (unseen specificity at the worklist threshold 0.45; on
        development data, runs that went on to epochs 46-60 gave 0.68-0.81).
    smoothing : float
        Weight of the newest epoch in the exponentially smoothed selection loss (1 = no smoothing).
    max_steps : int, optional
        Stop after this many optimiser steps (quick runs).
    target_sensitivity : float
        The worklist's promise: the threshold is set where the one-sided lower confidence bound of the
        selection sensitivity still reaches it.
    threshold_confidence : float
        Confidence of that one-sided bound (0.975 reproduces the rule of scintiml 0.2, the lower end of the
        two-sided 95 % interval).
    seed : int
        Split, initial weights, batches and augmentation.
    device : str or torch.device, optional
        Where to train (default: a CUDA GPU when there is one, else the CPU).
    deterministic : bool
        On a GPU, train with deterministic cuDNN and torch algorithms, so that the same seed gives the same
        model on the same machine (the CPU is deterministic for one machine and thread count either way). See
        docs/cnn.md "Speed" for what it costs and how far seeds differ without it.
    protocol : dict, optional
        Acquisition values of the training studies for the guard: ``pixel_spacing_mm`` (list of numbers),
        ``collimators`` (list), ``energy_windows_kev`` (list of [low, high]) and any free text to show on the card.
    progress : callable, optional
        ``progress(epoch, epochs, metrics)`` after each epoch.

    Returns
    -------
    CNNModel
        With ``model.report``: the split, the history, the selection analysis (temperature, threshold, its
        sensitivity and specificity with CIs) and the testing analysis.

    Raises
    ------
    ImagingError
        Views that a bundle could not be read back with (a single string, a name given twice, more than 16), counts
        of the wrong shape or holding NaN, infinite or negative values, labels or ids of another length than
        counts, or a selection part without both outcomes.
    TargetClassesError
        Labels other than 0/1 (True/False accepted), named by value and study index.
    ScintimlError
        A width that is not a whole number from 1 to 256.
    SplitError
        An explicit ``split`` whose parts share a study, a patient of ``ids``, exact copies of one study or a pair of
        near copies.
    ValueError
        An unknown architecture, ``epochs < 1``, ``batch_size < 2``, ``smoothing`` outside (0, 1], or ``copies``
        found among another number of studies.

    Examples
    --------
    >>> from scintiml.datasets.perfusion import simulate_perfusion_scans
    >>> cases = simulate_perfusion_scans(20, prevalence=0.5, random_state=0)
    >>> X = np.stack([c.stack() for c in cases]); y = np.array([c.label for c in cases])
    >>> model = train_cnn(X, y, ["ANT", "POST", "RAO", "LAO", "RPO", "LPO"], width=4, epochs=1, max_steps=1)
    >>> model.report["split"]
    {'training': 10, 'selection': 6, 'testing': 4}
    >>> train_cnn(X, y[:18], ["ANT", "POST", "RAO", "LAO", "RPO", "LPO"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    scintiml.imaging.planar.ImagingError: counts hold 20 studies but labels hold 18 values; pass one label per ...
    """
    from .bundle import MAX_WIDTH  # bundle imports this module: imported when used, not at the top

    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    if epochs < 1 or batch_size < 2 or not 0 < smoothing <= 1:
        raise ValueError("epochs >= 1, batch_size >= 2 and 0 < smoothing <= 1 are required")
    # the range load_cnn reads back: width 0 was a torch RuntimeError deep inside the first convolution
    if isinstance(width, (bool, np.bool_)) or not isinstance(width, (int, np.integer)) or not 1 <= width <= MAX_WIDTH:
        raise ScintimlError(f"width must be a whole number from 1 to {MAX_WIDTH} (the encoder's first-stage "
                            f"filters; 8 by default), got {_short(width)}")
    width = int(width)
    views = _check_views(views)
    counts = np.asarray(counts)
    if counts.ndim != 4 or counts.shape[1] != len(views):
        raise ImagingError(f"counts must be (n, {len(views)} views, H, W); got shape {counts.shape}")
    if tuple(counts.shape[2:]) != MATRIX:
        raise ImagingError(f"views must be 128 x 128 pixels (resample them first); got {counts.shape[2:]}")
    labels = np.asarray(labels)
    # lengths first: a label missing in the middle shifted every later one, and the surplus studies were dropped
    if labels.ndim == 1 and len(labels) != len(counts):  # another shape is refused as such just below
        raise ImagingError(f"counts hold {len(counts)} studies but labels hold {len(labels)} value"
                           f"{'' if len(labels) == 1 else 's'}; pass one label per study, in the order of counts")
    if ids is not None:
        ids = list(ids)  # positions, as the split's indices are (a pandas Series would be read by its index)
        if len(ids) != len(counts):
            raise ImagingError(f"counts hold {len(counts)} studies but ids hold {len(ids)} patient id"
                               f"{'' if len(ids) == 1 else 's'}; pass one patient id per study, in the order of "
                               "counts")
    labels = _check_labels(labels)
    _check_count_values(counts)
    min_epochs = (3 * epochs) // 4 if min_epochs is None else min_epochs
    rng = check_random_state(seed)
    torch.manual_seed(seed)
    device = torch.device(device) if device is not None else default_device()
    # the default split keeps a patient's studies, and copies of one study, in one part; an explicit one is checked
    # for the same (a by-study split with patient ids, or overlapping parts, was used without a word)
    if split is None:
        split = training_split(counts, labels, ids, seed, copies=copies)
    else:
        split = _check_split(split, len(counts), ids, counts, copies)
    tr, se, te = split.training, split.selection, split.testing
    if len(se) == 0 or not 0 < labels[se].sum() < len(se):
        raise ImagingError("the selection part needs positive and negative studies; give more studies")

    with deterministic_algorithms(device, deterministic):
        # the whole data set, binned, stays in memory (on the device): batches are index lookups, not a Python loop
        cache = bin_counts(counts).to(device)
        y_all = torch.as_tensor(labels, dtype=torch.float32, device=device)
        network = PlanarViewNet(len(views), architecture, width).to(device)
        with torch.no_grad():
            network.templates.copy_(_batched_mean(inference_transform(), cache[tr]))
        loss_fn = nn.BCEWithLogitsLoss()
        optimiser = torch.optim.AdamW(network.parameters(), lr=learning_rate, weight_decay=weight_decay)
        steps_per_epoch = int(np.ceil(len(tr) / batch_size))
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=learning_rate, epochs=epochs,
                                                       steps_per_epoch=steps_per_epoch, pct_start=0.2)
        augmentation = training_transform(seed, augment)
        x_sel = inference_transform()({"counts": cache[se]})["image"]

        best_smoothed, best_state, best_epoch, smoothed, stale, steps = np.inf, None, 0, None, 0, 0
        history: list[dict[str, float]] = []
        started = time.perf_counter()
        for epoch in range(1, epochs + 1):
            network.train()
            order = rng.permutation(tr)
            losses = []
            for start in range(0, len(order), batch_size):
                idx = torch.as_tensor(order[start:start + batch_size], device=device)
                if len(idx) < 2:  # batch normalisation needs two studies
                    continue
                batch = augmentation({"counts": cache[idx], "label": y_all[idx], "views": list(views)})
                optimiser.zero_grad(set_to_none=True)
                loss = loss_fn(network(batch["image"]), batch["label"])
                loss.backward()
                optimiser.step()
                if schedule.last_epoch + 1 < schedule.total_steps:
                    schedule.step()
                losses.append(float(loss.detach()))
                steps += 1
                if max_steps is not None and steps >= max_steps:
                    break
            network.eval()
            with torch.no_grad():
                sel_loss = float(loss_fn(_batched(network, x_sel), y_all[se]))
            smoothed = sel_loss if smoothed is None else smoothing * sel_loss + (1 - smoothing) * smoothed
            history.append({"epoch": epoch, "training_loss": float(np.mean(losses)) if losses else float("nan"),
                            "selection_loss": sel_loss, "smoothed_selection_loss": smoothed,
                            "learning_rate": float(optimiser.param_groups[0]["lr"])})
            if progress is not None:
                progress(epoch, epochs, history[-1])
            if smoothed < best_smoothed:
                best_smoothed, best_state, best_epoch, stale = smoothed, _state(network), epoch, 0
            else:
                stale += 1
            if (stale >= patience and epoch >= min_epochs) or (max_steps is not None and steps >= max_steps):
                break
    training_seconds = time.perf_counter() - started
    network.load_state_dict(best_state)
    network.eval()

    pixel_spacing = list((protocol or {}).get("pixel_spacing_mm", []))
    guard = ProtocolGuard.from_training(counts[tr], views, pixel_spacing_mm=pixel_spacing,
                                        collimators=(protocol or {}).get("collimators", []),
                                        energy_windows_kev=(protocol or {}).get("energy_windows_kev", []),
                                        templates=network.templates.cpu().numpy())
    spec: dict[str, Any] = {
        "views": list(views), "architecture": architecture, "width": width, "matrix": list(MATRIX),
        "binning": BINNING, "threshold": 0.5, "temperature": 1.0, "seed": seed, "scintiml_version": __version__,
    }
    model = CNNModel(network, spec, guard)
    # calibration and the threshold: selection studies only (the testing ones stay untouched until the end)
    z_sel = model.logits(counts[se])
    temperature = fit_temperature(z_sel, labels[se])
    p_sel = expit(z_sel / temperature)
    threshold, selection = threshold_for_sensitivity_bound(labels[se], p_sel, target_sensitivity,
                                                           level=threshold_confidence)
    spec.update(temperature=temperature, threshold=threshold,
                threshold_rule={k: selection[k] for k in ("rule", "confidence", "positives", "caught",
                                                          "promise_shown")})
    report: dict[str, Any] = {
        "split": {"training": int(len(tr)), "selection": int(len(se)), "testing": int(len(te))},
        "epochs_run": len(history), "best_epoch": best_epoch, "steps": steps,
        "training_seconds": training_seconds, "device": str(device), "history": history,
        "selection": {"temperature": temperature, "threshold": threshold, **selection},
    }
    metrics: dict[str, Any] = {"threshold": threshold}
    if len(te) and 0 < labels[te].sum() < len(te):
        p_te = model.predict_proba(counts[te])
        evaluation = evaluate_binary(labels[te], p_te, threshold=threshold, random_state=seed).to_dict()
        intercept, slope = calibration_intercept_slope(labels[te], p_te)
        metrics = {k: evaluation[k] for k in ("auc", "auc_ci95", "threshold", "sensitivity", "sensitivity_ci95",
                                              "specificity", "specificity_ci95")}
        metrics.update(calibration_in_the_large=intercept, calibration_slope=slope,
                       urgent_fraction=float(np.mean(p_te >= threshold)))
        report["test"] = evaluation
        report["test_probabilities"] = {
            "ids": [str(ids[i]) for i in te] if ids is not None else [int(i) for i in te],
            "labels": labels[te].tolist(), "probability": p_te.tolist()}
    report["metrics"] = metrics
    model.report = report
    n_params = sum(p.numel() for p in network.parameters())
    model.card = {
        "model": f"PlanarViewNet({architecture}, width={width}): one encoder shared by the views, view embedding, "
                 f"late fusion; {n_params} parameters",
        "views": list(views), "data": data_description or f"{len(labels)} studies, {int(labels.sum())} with PE",
        "split": report["split"], "protocol": {**guard.to_spec(), **{k: v for k, v in (protocol or {}).items()
                                                                    if k not in ("pixel_spacing_mm",)}},
        "threshold_rule": spec["threshold_rule"], "temperature": temperature, "metrics": metrics,
        "selection": {k: selection[k] for k in ("sensitivity", "sensitivity_ci95", "specificity",
                                                "specificity_ci95")},
        "intended_use": "Triage: order the reporting worklist so that likely positives are read first. Not a "
                        "diagnosis: every study is still reported by a physician.",
        "known_limits": [
            "trained and tested on one data source; validate on your own site's scans before use",
            "studies outside the training protocol (matrix, spacing, collimator, energy window, counts, "
            "orientation) are flagged and not scored",
            "a protocol change changes the images: run `scintiml cnn drift` first",
            # measured: docs/cnn.md "On a GPU" (ten seeds, one data set: AUC 0.975-0.985, specificity 0.47-0.92)
            "the worklist threshold rests on the few lowest-scoring selection positives, so its specificity "
            "differs between trainings of the same studies far more than the AUC does; read the selection and "
            "testing specificity above before relying on it",
        ] + ([] if selection["promise_shown"] else [
            f"the selection part held {selection['positives']} positives: too few to show the sensitivity promise "
            "at its lower confidence bound; the threshold catches every selection positive"]),
    }
    return model


@torch.no_grad()
def _batched_mean(pipeline, binned: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    total = sum(pipeline({"counts": binned[i:i + batch_size]})["image"].sum(dim=0)
                for i in range(0, len(binned), batch_size))
    return total / len(binned)


@torch.no_grad()
def _batched(network: nn.Module, x: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    return torch.cat([network(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
