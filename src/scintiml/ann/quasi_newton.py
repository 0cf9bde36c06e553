"""Batched quasi-Newton (BFGS) training of many small networks at once.

Each network keeps its own parameters, inverse-Hessian approximation, step
length and stopping state; all of them advance together, one numpy call per
step for the whole batch, and a network leaves the batch as soon as it has
converged (the working arrays are compacted), so a slow network does not make
the fast ones pay. Written by hand because scipy's ``minimize`` optimises one
parameter vector per call and its per-iteration Python overhead, times
thousands of candidate networks, is the whole cost of model selection.

Algorithm (Nocedal & Wright, *Numerical Optimization*, 2nd ed., 2006):

* search direction ``d = -H g`` (reset to steepest descent if not a descent direction);
* backtracking line search with the Armijo sufficient-decrease condition
  (``c1 = 1e-4``), step 1 first, then safeguarded quadratic interpolation
  (§3.5), at most 30 trials; a network whose search fails on a steepest-descent
  direction has converged to machine precision;
* BFGS inverse-Hessian update (eq. 6.17) when the curvature ``s'y`` is positive,
  skipped otherwise (the line search does not enforce the Wolfe curvature
  condition, so the skip keeps ``H`` positive definite); the first update is
  preceded by the scaling ``H0 = (s'y / y'y) I`` (eq. 6.20); networks with more
  than :data:`DENSE_BFGS_MAX_PARAMS` parameters keep the last 10 pairs instead
  of a dense matrix (L-BFGS two-loop recursion, Algorithm 7.4);
* stop when ``max |g| < tol``, or when the loss falls by less than
  ``tol * max(1, loss)`` on ``patience`` consecutive iterations, or at ``max_iter``;
* optional early stopping (Neural Designer's *maximum selection failures*):
  the loss on a separate selection set is tracked each iteration, a network
  stops after ``max_selection_failures`` consecutive iterations without a new
  best selection loss, and its parameters at the best selection loss are returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .losses import ErrorTerm, regularization, regularization_gradient
from .network import Architecture, backward, forward

C1 = 1e-4
MAX_LINE_SEARCH = 30


@dataclass
class TrainingProblem:
    """Everything fixed during training: the data, the loss index, the architecture."""

    arch: Architecture
    X: np.ndarray  # (N, k) shared, or (B, N, k) one per network
    error: ErrorTerm
    activation: str = "logistic"
    regularization: str = "l2"
    regularization_weight: float = 0.0
    X_selection: np.ndarray | None = None
    error_selection: ErrorTerm | None = None
    gradient_mask: np.ndarray | None = None  # (B, P): 0 holds a parameter at its initial value

    def _rows(self, X: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
        if X is None or X.ndim == 2 or len(idx) == X.shape[0]:
            return X  # shared data, or every network in order: no copy
        return X[idx]

    def take(self, rows: np.ndarray) -> "TrainingProblem":
        """The same problem for a subset of the networks (their per-network data only)."""
        pick = lambda X: X if X is None or X.ndim == 2 else X[rows]
        term = lambda e: None if e is None else e.take(rows)
        mask = None if self.gradient_mask is None or len(rows) == len(self.gradient_mask) else self.gradient_mask[rows]
        return TrainingProblem(self.arch, pick(self.X), term(self.error), self.activation, self.regularization,
                               self.regularization_weight, pick(self.X_selection), term(self.error_selection),
                               self.gradient_mask if mask is None else mask)

    def loss(self, theta: np.ndarray, idx: np.ndarray) -> np.ndarray:
        z, _ = forward(self.arch, theta, self._rows(self.X, idx), self.activation)
        return self.error.take(idx).value(z) + regularization(theta, self.regularization, self.regularization_weight)

    def loss_and_gradient(self, theta: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z, kept = forward(self.arch, theta, self._rows(self.X, idx), self.activation, keep=True)
        err, dz = self.error.take(idx).value_and_dz(z)
        grad = backward(self.arch, theta, kept, dz, self.activation)
        grad += regularization_gradient(theta, self.regularization, self.regularization_weight)
        if self.gradient_mask is not None:
            grad *= self.gradient_mask if len(idx) == len(self.gradient_mask) else self.gradient_mask[idx]
        return err + regularization(theta, self.regularization, self.regularization_weight), grad

    def error_only(self, theta: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Training error without the regularisation term (what is reported)."""
        z, _ = forward(self.arch, theta, self._rows(self.X, idx), self.activation)
        return self.error.take(idx).value(z)

    def selection_error(self, theta: np.ndarray, idx: np.ndarray) -> np.ndarray:
        z, _ = forward(self.arch, theta, self._rows(self.X_selection, idx), self.activation)
        return self.error_selection.take(idx).value(z)


@dataclass
class TrainingResult:
    theta: np.ndarray  # (B, P)
    loss: np.ndarray  # (B,) final loss index (error + regularisation)
    n_iter: np.ndarray  # (B,)
    loss_curves: list[np.ndarray] = field(default_factory=list)
    selection_curves: list[np.ndarray] = field(default_factory=list)
    selection_error: np.ndarray | None = None  # (B,) at the returned parameters
    converged: np.ndarray | None = None  # (B,) bool
    problem: "TrainingProblem | None" = None  # what was trained (for errors at the returned parameters)


class DenseInverseHessian:
    """Full BFGS inverse-Hessian approximation, one ``(P, P)`` matrix per network."""

    def __init__(self, n_networks: int, n_params: int):
        self.eye = np.eye(n_params)
        self.H = np.broadcast_to(self.eye, (n_networks, n_params, n_params)).copy()

    def direction(self, g: np.ndarray) -> np.ndarray:
        return -np.einsum("bpq,bq->bp", self.H, g)

    def reset(self, mask: np.ndarray) -> None:
        self.H[mask] = self.eye

    def update(self, u: np.ndarray, fresh: np.ndarray, s: np.ndarray, y: np.ndarray, sy: np.ndarray) -> None:
        """BFGS update (N&W eq. 6.17) of networks ``u``; ``fresh`` ones are first scaled (eq. 6.20)."""
        if fresh.any():
            us = u[fresh]
            gamma = sy[fresh] / np.einsum("bp,bp->b", y[fresh], y[fresh])
            self.H[us] = gamma[:, None, None] * self.eye
        Hu = self.H[u]
        Hy = np.einsum("bpq,bq->bp", Hu, y)
        rho = 1.0 / sy
        yHy = np.einsum("bp,bp->b", y, Hy)
        coef = (rho * rho * yHy + rho)[:, None]
        # H += -rho (s Hy' + Hy s') + (rho^2 y'Hy + rho) s s'  ==  s a' + Hy' b' with a, b below
        a = coef * s - rho[:, None] * Hy
        Hu += np.einsum("bp,bq->bpq", s, a)
        Hu -= np.einsum("bp,bq->bpq", rho[:, None] * Hy, s)
        self.H[u] = Hu

    def keep(self, mask: np.ndarray) -> None:
        self.H = self.H[mask]


class LimitedMemoryInverseHessian:
    """L-BFGS two-loop recursion (N&W Algorithm 7.4) over the last ``m`` pairs, batched.

    All networks share one circular buffer position; a network that skips an
    update stores ``rho = 0`` in that slot, which makes the slot a no-op in
    both loops, so no per-network bookkeeping is needed.
    """

    def __init__(self, n_networks: int, n_params: int, memory: int = 10):
        self.m = memory
        self.S = np.zeros((n_networks, memory, n_params))
        self.Y = np.zeros((n_networks, memory, n_params))
        self.rho = np.zeros((n_networks, memory))
        self.gamma = np.ones(n_networks)
        self.pos = 0
        self.count = 0

    def direction(self, g: np.ndarray) -> np.ndarray:
        q = g.copy()
        k = min(self.count, self.m)
        order = [(self.pos - 1 - i) % self.m for i in range(k)]  # newest first
        alphas = []
        for j in order:
            a = self.rho[:, j] * np.einsum("bp,bp->b", self.S[:, j], q)
            q -= a[:, None] * self.Y[:, j]
            alphas.append(a)
        r = self.gamma[:, None] * q
        for j, a in zip(reversed(order), reversed(alphas)):
            beta = self.rho[:, j] * np.einsum("bp,bp->b", self.Y[:, j], r)
            r += self.S[:, j] * (a - beta)[:, None]
        return -r

    def reset(self, mask: np.ndarray) -> None:
        self.rho[mask] = 0.0
        self.gamma[mask] = 1.0

    def update(self, u: np.ndarray, fresh: np.ndarray, s: np.ndarray, y: np.ndarray, sy: np.ndarray) -> None:
        j = self.pos
        self.S[:, j] = 0.0
        self.Y[:, j] = 0.0
        self.rho[:, j] = 0.0
        self.S[u, j] = s
        self.Y[u, j] = y
        self.rho[u, j] = 1.0 / sy
        self.gamma[u] = sy / np.einsum("bp,bp->b", y, y)
        self.pos = (self.pos + 1) % self.m
        self.count += 1

    def keep(self, mask: np.ndarray) -> None:
        self.S, self.Y, self.rho, self.gamma = self.S[mask], self.Y[mask], self.rho[mask], self.gamma[mask]


#: Networks with more parameters than this use limited-memory BFGS: the dense
#: (P, P) inverse Hessian per network would dominate time and memory.
DENSE_BFGS_MAX_PARAMS = 120


def train_bfgs(
    problem: TrainingProblem,
    theta0: np.ndarray,
    max_iter: int = 1000,
    tol: float = 1e-6,
    patience: int = 5,
    max_selection_failures: int | None = None,
    record_curves: bool = True,
    memory: int | None = None,
) -> TrainingResult:
    """Minimise the loss index of ``B`` networks from ``theta0 (B, P)`` together.

    ``memory``: 0 for the dense BFGS inverse Hessian, ``m > 0`` for L-BFGS with
    ``m`` pairs; default dense up to :data:`DENSE_BFGS_MAX_PARAMS` parameters.
    """
    n_networks, n_params = theta0.shape
    early = problem.X_selection is not None and max_selection_failures is not None

    # Output arrays, indexed by the network's original position.
    out_theta = theta0.copy()
    out_loss = np.empty(n_networks)
    out_iter = np.zeros(n_networks, dtype=int)
    out_converged = np.zeros(n_networks, dtype=bool)
    out_sel = np.full(n_networks, np.nan) if problem.X_selection is not None else None
    curves: list[list[float]] = [[] for _ in range(n_networks)]
    sel_curves: list[list[float]] = [[] for _ in range(n_networks)]

    # Working arrays for the networks still training.
    idx = np.arange(n_networks)  # original positions of the networks still training
    work = problem  # per-network data kept aligned with idx (compacted as networks finish)
    theta = theta0.copy()
    f, g = work.loss_and_gradient(theta, np.arange(idx.size))
    if memory is None:
        memory = 0 if n_params <= DENSE_BFGS_MAX_PARAMS else 10
    H = DenseInverseHessian(n_networks, n_params) if memory == 0 else LimitedMemoryInverseHessian(
        n_networks, n_params, memory)
    fresh = np.ones(n_networks, dtype=bool)  # H is the identity: scale it at the next update
    small_steps = np.zeros(n_networks, dtype=int)
    sel0 = work.selection_error(theta, np.arange(idx.size)) if problem.X_selection is not None else None
    if early:
        best_sel = sel0.copy()
        best_theta = theta.copy()
        failures = np.zeros(n_networks, dtype=int)
    if record_curves:
        for j, i in enumerate(idx):
            curves[i].append(f[j])
            if sel0 is not None:
                sel_curves[i].append(sel0[j])

    iteration = 0
    while idx.size and iteration < max_iter:
        iteration += 1
        d = H.direction(g)
        slope = np.einsum("bp,bp->b", g, d)
        bad = ~(slope < 0) | ~np.isfinite(slope)
        if bad.any():  # not a descent direction: restart from steepest descent
            H.reset(bad)
            fresh[bad] = True
            d[bad] = -g[bad]
            slope[bad] = -np.einsum("bp,bp->b", g[bad], g[bad])
        # First step of a fresh H: a unit step along -g may be huge; start at 1/|g|.
        alpha = np.where(fresh, np.minimum(1.0, 1.0 / np.maximum(np.sqrt(-slope), 1e-12)), 1.0)

        f_new = np.full(idx.size, np.nan)
        accepted = np.zeros(idx.size, dtype=bool)
        trying = np.arange(idx.size)
        for attempt in range(MAX_LINE_SEARCH):
            trial = theta[trying] + alpha[trying, None] * d[trying]
            if attempt == 0:
                # Most networks accept the first step: take the gradient with the loss (one forward
                # pass instead of two for them; the gradient is reused below).
                f_try, g_first = work.loss_and_gradient(trial, trying)
            else:
                f_try = work.loss(trial, trying)
            ok = np.isfinite(f_try) & (f_try <= f[trying] + C1 * alpha[trying] * slope[trying])
            if attempt == 0:
                first_ok = ok.copy()
            accepted[trying[ok]] = True
            f_new[trying[ok]] = f_try[ok]
            trying = trying[~ok]
            if not trying.size:
                break
            # Safeguarded quadratic interpolation of the loss along the direction.
            a, fa = alpha[trying], f_try[~ok]
            denom = 2.0 * (fa - f[trying] - slope[trying] * a)
            with np.errstate(divide="ignore", invalid="ignore"):
                a_new = -slope[trying] * a * a / denom
            a_new = np.where(np.isfinite(a_new), a_new, 0.5 * a)
            alpha[trying] = np.clip(a_new, 0.1 * a, 0.5 * a)

        step = alpha[:, None] * d
        theta_new = np.where(accepted[:, None], theta + step, theta)
        everyone = np.arange(idx.size)
        # f and g at the new point: from the first trial, unchanged (step refused), or computed now
        f_acc, g_new = f.copy(), g.copy()
        f_acc[first_ok], g_new[first_ok] = f_new[first_ok], g_first[first_ok]
        later = np.flatnonzero(accepted & ~first_ok)
        if later.size:
            f_acc[later], g_new[later] = work.loss_and_gradient(theta_new[later], later)
        s = theta_new - theta
        y = g_new - g
        sy = np.einsum("bp,bp->b", s, y)
        update = accepted & (sy > 1e-10 * np.sqrt(np.einsum("bp,bp->b", s, s) * np.einsum("bp,bp->b", y, y)))
        u = np.flatnonzero(update)
        if u.size or memory:
            H.update(u, fresh[u], s[u], y[u], sy[u])
            fresh[u] = False

        decrease = f - f_acc
        small_steps = np.where(accepted & (decrease < tol * np.maximum(1.0, np.abs(f_acc))), small_steps + 1, 0)
        # A failed line search on a quasi-Newton direction: retry once from steepest descent.
        failed = ~accepted
        retry = failed & ~fresh
        H.reset(retry)
        fresh[retry] = True
        done = (failed & ~retry) | (np.abs(g_new).max(axis=1) < tol) | (small_steps >= patience)

        theta, f, g = theta_new, f_acc, g_new
        out_iter[idx] = iteration
        if record_curves or early:
            sel_now = work.selection_error(theta, everyone) if problem.X_selection is not None else None
        if record_curves:
            for j, i in enumerate(idx):
                curves[i].append(f[j])
                if sel_now is not None:
                    sel_curves[i].append(sel_now[j])
        if early:
            improved = sel_now < best_sel
            best_sel = np.where(improved, sel_now, best_sel)
            best_theta[improved] = theta[improved]
            failures = np.where(improved, 0, failures + 1)
            done |= failures >= max_selection_failures

        if done.any() or iteration == max_iter:
            finished = done | (iteration == max_iter)
            fi = idx[finished]
            out_converged[fi] = done[finished]
            out_theta[fi] = best_theta[finished] if early else theta[finished]
            out_loss[fi] = f[finished]
            keep = ~finished
            idx, theta, f, g = idx[keep], theta[keep], f[keep], g[keep]
            work = work.take(np.flatnonzero(keep))
            H.keep(keep)
            fresh, small_steps = fresh[keep], small_steps[keep]
            if early:
                best_sel, best_theta, failures = best_sel[keep], best_theta[keep], failures[keep]

    if idx.size:  # max_iter == 0
        out_theta[idx] = theta
        out_loss[idx] = f
    if early:
        all_idx = np.arange(n_networks)
        out_loss = problem.loss(out_theta, all_idx)
    if out_sel is not None:
        out_sel = problem.selection_error(out_theta, np.arange(n_networks))
    return TrainingResult(
        theta=out_theta, loss=out_loss, n_iter=out_iter,
        loss_curves=[np.asarray(c) for c in curves],
        selection_curves=[np.asarray(c) for c in sel_curves],
        selection_error=out_sel, converged=out_converged,
    )
