"""``train_networks``: the public batched trainer (many networks, one computation).

Model selection, stability selection and nested cross-validation all need
thousands of small networks: candidates × folds × restarts. They are trained
here as *one* batch of the quasi-Newton optimiser
(:mod:`scintiml.ann.quasi_newton`). A cross-validation fold or a resample is
not a separate loop: every network carries its own instance weights over the
same patients (0 outside its training fold, bootstrap counts, …), and its
selection error is measured with its own selection weights on the same
forward pass data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.utils import check_random_state

from .losses import LOSSES, ErrorTerm
from .network import Architecture
from .quasi_newton import TrainingProblem, TrainingResult, train_bfgs


def train_networks(
    X: np.ndarray,
    y: np.ndarray,
    hidden_layer_sizes: Sequence[int],
    *,
    n_networks: int | None = None,
    initial_parameters: np.ndarray | None = None,
    training_weights: np.ndarray | None = None,
    selection_weights: np.ndarray | None = None,
    selection: tuple[np.ndarray, np.ndarray] | None = None,
    parameter_mask: np.ndarray | None = None,
    loss: str = "weighted_squared_error",
    activation: str = "logistic",
    regularization: str = "l2",
    regularization_weight: float = 0.01,
    max_iter: int = 1000,
    tol: float = 1e-6,
    max_selection_failures: int | None = None,
    record_curves: bool = False,
    memory: int | None = None,
    random_state=None,
) -> TrainingResult:
    """Train ``B`` networks of one architecture together by batched quasi-Newton.

    Parameters
    ----------
    X : ndarray of shape (N, k) or (B, N, k)
        *Scaled* inputs, shared by every network or one matrix per network
        (e.g. each network its own input subset). float32 runs the hidden
        layers in float32 (about half the time); the optimiser stays float64.
    y : ndarray of shape (N,), or (B, N) with a 3-d ``X``
        0/1 targets (with a 3-d ``X`` each network may have its own instances).
    hidden_layer_sizes : sequence of int
    n_networks : int, optional
        ``B`` when neither ``X`` (3-d), the weights nor ``initial_parameters`` say it.
    initial_parameters : ndarray of shape (B, P), optional
        Default: Glorot-uniform weights, zero biases, from ``random_state``.
    training_weights : ndarray of shape (B, N), optional
        Each network's weight on each instance (0: not trained on it). Class
        weights and normalisation of the error are counted per network.
        Default: every instance, weight 1.
    selection_weights : ndarray of shape (B, N) or (B, M), optional
        Each network's weights on the selection instances: on ``X`` itself
        (e.g. its validation fold among the same ``N`` patients), or on the
        ``M`` instances of ``selection`` when it is given.
    selection : tuple (X_selection, y_selection), optional
        Separate selection instances: ``(M, k)`` and ``(M,)`` shared by every
        network (the single selection split), or ``(B, M, k)`` and ``(B, M)``
        one set per network (e.g. each its own validation fold).
    parameter_mask : ndarray of shape (B, P), optional
        0 holds a parameter at its initial value (e.g. 0 for the neurons a
        smaller architecture lacks, so networks of different widths share one
        batch: a neuron whose weights in and out stay 0 changes nothing).
    loss, activation, regularization, regularization_weight, max_iter, tol
        As in :class:`~scintiml.ann.ANNClassifier`.
    max_selection_failures : int, optional
        Early stopping on the selection error (needs selection instances).
    record_curves : bool, default False
        Keep each network's loss (and selection error) at every iteration.
    memory : int, optional
        0: dense BFGS inverse Hessian; ``m > 0``: L-BFGS with ``m`` pairs;
        default dense up to 120 parameters.
    random_state : int, RandomState or None

    Returns
    -------
    TrainingResult
        ``theta (B, P)``, final ``loss`` (error + norm), ``n_iter``,
        ``selection_error`` (``None`` without selection instances), ``converged``.

    Examples
    --------
    Two networks on the same patients, each on its own half (two folds in one batch):

    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(40, 2)); y = (X[:, 0] + 0.5 * rng.normal(size=40) > 0).astype(float)
    >>> fold = np.arange(40) % 2
    >>> train = np.stack([fold == 0, fold == 1]).astype(float)
    >>> result = train_networks(X, y, (3,), training_weights=train, selection_weights=1 - train,
    ...                         random_state=0)
    >>> result.theta.shape, result.selection_error.shape
    ((2, 13), (2,))
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    X = np.asarray(X)
    if X.ndim not in (2, 3):
        raise ValueError(f"X must be (N, k) or (B, N, k), got shape {X.shape}")
    t = np.asarray(y, dtype=float)
    if t.shape != (X.shape[-2],) and not (X.ndim == 3 and t.shape == X.shape[:2]):
        raise ValueError(f"y must have shape ({X.shape[-2]},) (or (B, N) with a 3-d X), got {t.shape}")
    sizes = [int(s) for s in np.atleast_1d(hidden_layer_sizes)]
    arch = Architecture((X.shape[-1], *sizes, 1))
    candidates = [
        X.shape[0] if X.ndim == 3 else None,
        None if training_weights is None else np.shape(training_weights)[0],
        None if selection_weights is None else np.shape(selection_weights)[0],
        None if initial_parameters is None else np.shape(initial_parameters)[0],
        n_networks,
    ]
    known = {c for c in candidates if c is not None}
    if len(known) > 1:
        raise ValueError(f"the number of networks is ambiguous: X, weights and parameters say {sorted(known)}")
    batch = known.pop() if known else 1
    if initial_parameters is None:
        theta0 = arch.initial_parameters(batch, check_random_state(random_state))
    else:
        theta0 = np.array(initial_parameters, dtype=float)
        if theta0.shape != (batch, arch.n_params):
            raise ValueError(f"initial_parameters must have shape ({batch}, {arch.n_params}), got {theta0.shape}")
    error = (ErrorTerm.for_targets(loss, t) if training_weights is None
             else ErrorTerm.for_weights(loss, t, training_weights))
    problem = TrainingProblem(arch=arch, X=X, error=error, activation=activation, regularization=regularization,
                              regularization_weight=float(regularization_weight))
    if parameter_mask is not None:
        problem.gradient_mask = np.asarray(parameter_mask, dtype=float)
        if problem.gradient_mask.shape != theta0.shape:
            raise ValueError(f"parameter_mask must have shape {theta0.shape}, got {problem.gradient_mask.shape}")
    if selection is not None:
        X_sel = np.asarray(selection[0], dtype=X.dtype)
        t_sel = np.asarray(selection[1], dtype=float)
        problem.X_selection = X_sel
        if selection_weights is None and t_sel.ndim == 1:
            problem.error_selection = ErrorTerm.for_targets(loss, t_sel)
        else:
            w_sel = np.ones((batch, t_sel.shape[-1])) if selection_weights is None else selection_weights
            problem.error_selection = ErrorTerm.for_weights(loss, t_sel, w_sel)
    elif selection_weights is not None:
        problem.X_selection = X
        problem.error_selection = ErrorTerm.for_weights(loss, t, selection_weights)
    early = max_selection_failures if problem.X_selection is not None else None
    result = train_bfgs(problem, theta0, max_iter=max_iter, tol=tol, max_selection_failures=early,
                        record_curves=record_curves, memory=memory)
    result.problem = problem
    return result
