"""Loss index = error term + regularisation term, as in Neural Designer / OpenNN.

Error terms (``p`` = network output, ``t`` = 0/1 target, sums over instances)
--------------------------------------------------------------------------
``weighted_squared_error`` (OpenNN ``WeightedSquaredError``)::

    WSE = [ w_pos * sum_{t=1} (p - t)^2 + w_neg * sum_{t=0} (p - t)^2 ] / (0.5 * N_neg * w_neg)

with ``w_neg = 1`` and ``w_pos = N_neg / N_pos`` counted on the instances the
loss is measured on. Errors on the rarer class count as much, in total, as
errors on the common class, and the normalisation makes the loss of the
trivial model that outputs 0.5 for everyone exactly 1, whatever the data set
size or prevalence — so training and selection losses are comparable.
(OpenNN, ``weighted_squared_error.cpp``: ``positives_weight = negatives /
positives``, ``normalization_coefficient = negatives * negatives_weight * 0.5``.)

``cross_entropy``: mean binary cross-entropy ``-mean(t log p + (1-t) log(1-p))``.

``squared_error``: mean squared error ``mean((p - t)^2)``.

Regularisation (the *neural parameters norm*, over all weights and biases)
------------------------------------------------------------------------
``l2``: ``lambda * sqrt(sum(theta^2))``;  ``l1``: ``lambda * sum(|theta|)``;  ``none``: 0.

As in OpenNN (``LossIndex::calculate_regularization`` → ``l2_norm``), the L2
term is the Euclidean *norm* of the parameter vector, not its square (weight
decay): the penalty grows linearly with the size of the weights, so the
default weight 0.01 does not flatten a narrow deep network such as (6, 1) to
the trivial 0.5 output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_expit

from .network import logistic

LOSSES = ("weighted_squared_error", "cross_entropy", "squared_error")
REGULARIZATIONS = ("l2", "l1", "none")


@dataclass(frozen=True)
class ErrorTerm:
    """An error term bound to one set of targets: per-instance weights and normalisation.

    ``weight`` is ``(N,)`` (every network measured on the same instances) or
    ``(B, N)`` with ``normalization`` ``(B,)``: each network its own instance
    weights, e.g. 0 outside its cross-validation fold, or bootstrap counts —
    so folds and resamples are just more networks in one batch (see
    :meth:`for_weights`).
    """

    name: str
    target: np.ndarray  # (N,) floats 0/1, or (B, N): each network its own instances (with per-network weights)
    weight: np.ndarray  # (N,) or (B, N)
    normalization: float | np.ndarray  # scalar or (B,)

    @property
    def per_network(self) -> bool:
        return self.weight.ndim == 2

    def take(self, rows: np.ndarray) -> "ErrorTerm":
        """The term of a subset of the networks (per-network weights only; shared ones are kept)."""
        if not self.per_network or len(rows) == self.weight.shape[0]:
            return self
        target = self.target[rows] if self.target.ndim == 2 else self.target
        return ErrorTerm(self.name, target, self.weight[rows], self.normalization[rows])

    @classmethod
    def for_weights(cls, name: str, y: np.ndarray, weights: np.ndarray) -> "ErrorTerm":
        """One error term per network from instance weights ``(B, N)`` (0 = instance not used).

        Each network's term is exactly :meth:`for_targets` on its own instances
        repeated by their weights: class weights and normalisation are counted
        on the weighted instances of that network.
        """
        t = np.asarray(y, dtype=float)
        w = np.asarray(weights, dtype=float)
        if w.ndim != 2 or w.shape[1] != t.shape[-1] or (t.ndim == 2 and t.shape != w.shape):
            raise ValueError(f"weights must have shape (n_networks, {t.shape[-1]}), got {w.shape}")
        if name == "weighted_squared_error":
            n_pos = (w * t).sum(axis=1)
            n_neg = w.sum(axis=1) - n_pos
            both = (n_pos > 0) & (n_neg > 0)
            ratio = np.divide(n_neg, n_pos, out=np.ones_like(n_neg), where=both)
            weight = w * np.where(t == 1, ratio[:, None], 1.0)
            # one class only: the unweighted sum, normalised so that the 0.5 model scores 1 (as for_targets)
            norm = np.where(both, 0.5 * n_neg, 0.25 * w.sum(axis=1))
            return cls(name, t, weight, np.maximum(norm, 1e-12))
        if name in ("cross_entropy", "squared_error"):
            return cls(name, t, w, np.maximum(w.sum(axis=1), 1e-12))
        raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")

    @classmethod
    def for_targets(cls, name: str, y: np.ndarray) -> "ErrorTerm":
        t = np.asarray(y, dtype=float)
        n = len(t)
        if name == "weighted_squared_error":
            n_pos = float(t.sum())
            n_neg = float(n - n_pos)
            if n_pos == 0 or n_neg == 0:
                # One class only (a tiny selection set): fall back to the unweighted sum, still
                # normalised so that the 0.5 model scores 1.
                return cls(name, t, np.ones(n), 0.25 * n)
            weight = np.where(t == 1, n_neg / n_pos, 1.0)
            return cls(name, t, weight, 0.5 * n_neg)
        if name in ("cross_entropy", "squared_error"):
            return cls(name, t, np.ones(n), float(n))
        raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")

    def value(self, z: np.ndarray) -> np.ndarray:
        """Error of each network from output logits ``z (B, N)``: shape ``(B,)``."""
        if self.name == "cross_entropy":
            # -[t log p + (1-t) log(1-p)] from the logit, stable for large |z|
            per = -(self.target * log_expit(z) + (1.0 - self.target) * log_expit(-z))
        else:
            per = (logistic(z) - self.target) ** 2
        return self._weighted_sum(per)

    def _weighted_sum(self, per: np.ndarray) -> np.ndarray:
        if self.per_network:
            return np.einsum("bn,bn->b", per, self.weight) / self.normalization
        return per @ self.weight / self.normalization

    def _scale(self) -> np.ndarray:
        if self.per_network:
            return self.weight / self.normalization[:, None]
        return self.weight / self.normalization

    def instance_terms(self, z: np.ndarray) -> np.ndarray:
        """Per-instance contributions ``(B, N)`` whose mean over instances is :meth:`value`.

        The error is ``sum_i w_i e_i / C = mean_i (n w_i e_i / C)``. Comparing two
        models on the same instances through these terms gives a *paired*
        standard error of their difference (used by model selection).
        """
        if self.name == "cross_entropy":
            per = -(self.target * log_expit(z) + (1.0 - self.target) * log_expit(-z))
        else:
            per = (logistic(z) - self.target) ** 2
        return per * (per.shape[-1] * self._scale())

    def value_and_dz(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Error ``(B,)`` and its derivative with respect to the logits ``(B, N)``."""
        p = logistic(z)
        if self.name == "cross_entropy":
            per = -(self.target * log_expit(z) + (1.0 - self.target) * log_expit(-z))
            dz = p - self.target
        else:
            r = p - self.target
            per = r * r
            dz = 2.0 * r * p * (1.0 - p)
        return self._weighted_sum(per), dz * self._scale()


def regularization(theta: np.ndarray, kind: str, weight: float) -> np.ndarray:
    """Neural-parameters norm of each network ``(B,)``."""
    if kind == "none" or weight == 0.0:
        return np.zeros(theta.shape[0])
    if kind == "l2":
        return weight * np.sqrt(np.einsum("bp,bp->b", theta, theta))
    return weight * np.abs(theta).sum(axis=1)


def regularization_gradient(theta: np.ndarray, kind: str, weight: float) -> np.ndarray:
    if kind == "none" or weight == 0.0:
        return np.zeros_like(theta)
    if kind == "l2":
        norm = np.sqrt(np.einsum("bp,bp->b", theta, theta))[:, None]
        return weight * np.divide(theta, norm, out=np.zeros_like(theta), where=norm > 0)
    return weight * np.sign(theta)
