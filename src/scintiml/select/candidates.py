"""Train many candidate networks (input subsets × restarts) as one batched computation.

Input subsets of different sizes share one batch: each subset is padded to the
largest size with a column of zeros whose first-layer weights start at 0.
Those weights then receive no gradient from the data (their input is 0) nor
from the norm (its gradient at 0 is 0), so they stay exactly 0 and a padded
candidate *is* the smaller network.

Batches can be sent through joblib, so ``joblib.parallel_config(backend="dask")``
(or Ray) spreads the fits over a cluster without code changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import check_random_state

from ..ann import ANNClassifier
from ..ann.losses import ErrorTerm
from ..ann.network import Architecture, forward
from ..ann.quasi_newton import TrainingProblem, train_bfgs
from ..ann.scaling import ScalingLayer
from ..evaluate.roc import _midrank_components


def prepare_data(selector, X, y, selection, rng: np.random.RandomState, seed: int | None = None):
    """Validate the training (and selection) instances of a selector and scale them once.

    Without a selection set, 25 % of ``X`` is held out, stratified (the 60:20 of 60:20:20).
    Returns ``(data, estimator)``: the :class:`CandidateData` and the candidate networks' settings.
    """
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split
    from sklearn.utils.validation import validate_data

    X, y = validate_data(selector, X, y, dtype=np.float64)
    if selection is None:
        X, X_sel, y, y_sel = train_test_split(X, y, test_size=0.25, stratify=y, random_state=rng)
    else:
        X_sel = validate_data(selector, selection[0], reset=False, dtype=np.float64)
        y_sel = np.asarray(selection[1])
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(f"model selection needs a binary outcome, got classes {classes.tolist()}")
    estimator = clone(selector.estimator) if selector.estimator is not None else default_estimator()
    data = CandidateData.build(X, (y == classes[1]).astype(float), X_sel, (y_sel == classes[1]).astype(float),
                               estimator.get_params()["scaling"], seed=seed)
    return data, estimator


def default_estimator() -> ANNClassifier:
    """The network used to judge candidates when none is given: 3 logistic neurons, L2 norm 0.01."""
    return ANNClassifier(hidden_layer_sizes=(3,))


@dataclass
class CandidateData:
    """Training and selection data, scaled once (scaling is per input, so subsets need not refit it)."""

    X_train: np.ndarray  # (N, p + 1): last column all zeros (padding)
    y_train: np.ndarray
    X_sel: np.ndarray
    y_sel: np.ndarray
    seed: int | None = None  # master seed of the common initial weights

    @classmethod
    def build(cls, X_train, y_train, X_sel, y_sel, scaling: str, seed: int | None = None) -> "CandidateData":
        scaler = ScalingLayer.fit(X_train, scaling)
        pad = lambda A: np.column_stack([scaler.transform(A), np.zeros(len(A))])
        return cls(pad(X_train), np.asarray(y_train, float), pad(X_sel), np.asarray(y_sel, float), seed)

    @property
    def n_inputs(self) -> int:
        return self.X_train.shape[1] - 1


def _paired_difference(terms: np.ndarray, reference: np.ndarray, tolerance: str | float) -> tuple[float, float]:
    """Mean paired difference (candidate − reference) of per-instance terms, and the margin.

    ``tolerance="1se"``: the margin is one standard error of that paired
    difference (the one-standard-error rule of Breiman et al. 1984, on paired
    instances). A float: that fraction of the reference loss.
    """
    d = np.asarray(terms) - np.asarray(reference)
    if tolerance == "1se":
        margin = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else 0.0
    else:
        margin = float(tolerance) * float(np.mean(reference))
    return float(d.mean()), margin


def within_margin(
    terms: np.ndarray, reference: np.ndarray, tolerance: str | float, lenient: bool = False
) -> bool:
    """Is a candidate's selection loss no worse than the reference's plus the margin?

    ``lenient``: the margin is the larger of the relative ``tolerance`` and one
    paired standard error — for a reference that is the best of very many
    candidates (the genetic search), whose loss is biased low by the search itself.
    """
    diff, margin = _paired_difference(terms, reference, tolerance)
    if lenient and tolerance != "1se":
        margin = max(margin, _paired_difference(terms, reference, "1se")[1])
    return diff <= margin


def clearly_better(terms: np.ndarray, reference: np.ndarray, tolerance: str | float) -> bool:
    """Does a candidate lower the selection loss below the reference's by more than the margin?"""
    diff, margin = _paired_difference(terms, reference, tolerance)
    return -diff > margin


@dataclass
class CandidateResults:
    training_loss: np.ndarray  # (C,) training error (without the norm) of the kept restart
    selection_loss: np.ndarray  # (C,)
    selection_auc: np.ndarray  # (C,)
    selection_terms: np.ndarray  # (C, n_selection): per-instance terms, mean = selection loss
    n_networks: int  # networks trained (candidates × restarts)


def _common_initial_parameters(
    arch: Architecture, idx: np.ndarray, n_inputs: int, trials: int, seed: int
) -> np.ndarray:
    """Initial weights drawn once per restart for *all* inputs, then gathered per subset.

    Common random numbers: two candidates that differ by one input start from
    the same weights on the inputs they share, so the difference between their
    selection losses reflects the input, not the luck of the initialisation
    (and a subset always gets the same result). Padded inputs start at 0.
    """
    rng = check_random_state(seed)
    slices = arch.slices()
    hidden = arch.sizes[1]
    master_w1 = rng.uniform(-1.0, 1.0, size=(trials, n_inputs + 1, hidden))
    master_w1[:, n_inputs] = 0.0
    rest = [rng.uniform(-1.0, 1.0, size=(trials, a * b)) for _, _, (a, b) in slices[1:]]
    n_rows = idx.shape[0]
    trial_of_row = np.arange(n_rows) % trials
    theta0 = np.zeros((n_rows, arch.n_params))
    w_slice, _, (_, fan_out) = slices[0]
    fan_in = (idx != n_inputs).sum(axis=1)  # the candidate's real number of inputs, padding excluded
    bound = np.sqrt(6.0 / (fan_in + fan_out))[:, None, None]
    theta0[:, w_slice] = (bound * master_w1[trial_of_row[:, None], idx]).reshape(n_rows, -1)
    for (w, _, (a, b)), draws in zip(slices[1:], rest):
        theta0[:, w] = np.sqrt(6.0 / (a + b)) * draws[trial_of_row]
    return theta0


def _train_chunk(
    data: CandidateData, padded: np.ndarray, hidden: tuple[int, ...], params: dict, trials: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_cand, k = padded.shape
    arch = Architecture((k, *hidden, 1))
    idx = np.repeat(padded, trials, axis=0)  # (C*T, k)
    # float32 inputs: the hidden layers run in float32 (see network.forward); the optimiser stays float64.
    Xb = np.ascontiguousarray(np.moveaxis(data.X_train[:, idx], 1, 0), dtype=np.float32)  # (C*T, N, k)
    Xs = np.ascontiguousarray(np.moveaxis(data.X_sel[:, idx], 1, 0), dtype=np.float32)
    theta0 = _common_initial_parameters(arch, idx, data.n_inputs, trials, seed)
    problem = TrainingProblem(
        arch=arch, X=Xb, error=ErrorTerm.for_targets(params["loss"], data.y_train),
        activation=params["activation"], regularization=params["regularization"],
        regularization_weight=float(params["regularization_weight"]),
        X_selection=Xs, error_selection=ErrorTerm.for_targets(params["loss"], data.y_sel),
    )
    result = train_bfgs(problem, theta0, max_iter=params["max_iter"], tol=params["tol"], record_curves=False)
    loss = result.loss.reshape(n_cand, trials)
    best = np.argmin(loss, axis=1)
    rows = np.arange(n_cand) * trials + best
    train_err = problem.error_only(result.theta[rows], rows)
    sel_err = result.selection_error[rows]
    z, _ = forward(arch, result.theta[rows], Xs[rows], params["activation"])
    sel_terms = problem.error_selection.instance_terms(z)
    y_sel = data.y_sel.astype(int)
    if y_sel.min() == y_sel.max():
        aucs = np.full(n_cand, np.nan)
    else:
        aucs = np.array([_midrank_components(y_sel, zi)[0] for zi in z])
    return train_err, sel_err, aucs, sel_terms


def train_candidates(
    data: CandidateData,
    subsets: list[list[int]],
    estimator: ANNClassifier,
    trials: int,
    random_state: np.random.RandomState,
    n_jobs: int | None = None,
    hidden: tuple[int, ...] | None = None,
) -> CandidateResults:
    """Train every subset ``trials`` times; report the restart with the lowest training loss."""
    params = estimator.get_params()
    hidden = tuple(hidden if hidden is not None else np.atleast_1d(params["hidden_layer_sizes"]).tolist())
    k = max(len(s) for s in subsets)
    padded = np.full((len(subsets), k), data.n_inputs, dtype=int)
    for i, s in enumerate(subsets):
        padded[i, : len(s)] = s
    n_chunks = 1 if not n_jobs or n_jobs == 1 else min(len(subsets), abs(int(n_jobs)) if n_jobs > 0 else 8)
    chunks = np.array_split(np.arange(len(subsets)), max(1, n_chunks))
    seed = data.seed if data.seed is not None else int(random_state.randint(0, 2**31 - 1))
    if len(chunks) == 1:
        parts = [_train_chunk(data, padded, hidden, params, trials, seed)]
    else:
        parts = Parallel(n_jobs=n_jobs)(
            delayed(_train_chunk)(data, padded[c], hidden, params, trials, seed) for c in chunks
        )
    train_err, sel_err, aucs, sel_terms = (np.concatenate([p[i] for p in parts]) for i in range(4))
    return CandidateResults(train_err, sel_err, aucs, sel_terms, len(subsets) * trials)
