"""Input selection on the resampled selection loss: growing, pruning and genetic (Neural Designer's three methods)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils import ClassifierTags, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .candidates import CandidateResults, margin_of, paired_difference, prepare_data, train_candidates

#: Genetic fitness: selection loss × (1 + GENETIC_PARSIMONY × number of inputs) when ``tolerance="1se"``.
GENETIC_PARSIMONY = 0.03

#: Growing stops at this many inputs unless ``max_inputs`` says otherwise.
GROWING_MAX_INPUTS = 15


def correlation_with_target(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Absolute Pearson correlation of each input with the 0/1 outcome (point-biserial).

    Examples
    --------
    >>> import numpy as np
    >>> correlation_with_target(np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 0.0]]), np.array([0.0, 0.0, 1.0])).round(3)
    array([0.866, 1.   ])
    """
    Xc = X - X.mean(axis=0)
    yc = y - y.mean()
    denom = np.sqrt((Xc**2).sum(axis=0) * (yc**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (Xc.T @ yc) / denom
    return np.nan_to_num(np.abs(r))


class InputSelector(SelectorMixin, BaseEstimator):
    """Choose the inputs of a small network by their cross-validated selection loss.

    Every candidate subset is trained on each cross-validation fold's training
    patients (``trials`` restarts, the lowest training loss kept) and judged by
    its error on that fold's held-out patients: its *selection loss* is the
    mean over the folds, with its standard error. All folds × candidates ×
    restarts of a step are one batched computation
    (:func:`scintiml.ann.train_networks`). Given an explicit ``selection`` set
    (or ``cv="split"``), candidates are judged on that one split instead —
    Neural Designer's published workflow.

    The answer follows the **one-standard-error rule** (Breiman et al. 1984;
    Hastie et al. 2009 §7.10): the smallest subset whose selection loss is
    within one standard error of the lowest one.

    Methods
    -------
    ``growing``
        Inputs are ranked by |correlation| with the outcome. At each step the
        next ``batch_size`` ranked inputs are each tried on top of the current
        subset and the one with the lowest selection loss is added (the first
        always; later ones only if they lower the current subset's loss by more
        than the margin: one standard error of the paired per-patient
        difference with the default ``tolerance="1se"``, a float × the current
        loss otherwise); else the whole batch is dropped. Stops after
        ``max_selection_failures`` dropped inputs or at ``max_inputs``
        (default 15). The one-SE rule then picks the smallest subset on this path.
    ``pruning``
        The path from all inputs down to the strongest alone, removing inputs
        in order of increasing |correlation|, is trained in a few batches; the
        one-SE rule picks the smallest subset on it.
    ``genetic``
        A population of input masks evolves for ``generations``: fitness =
        selection loss × (1 + 0.03 × number of inputs) (a parsimony charge;
        a float ``tolerance`` replaces the 0.03), rank-based selection, uniform
        crossover, bit-flip mutation, the ``elitism`` best kept unchanged. The
        one-SE rule picks the smallest mask among all seen.

    All three end with the same backward pass: single inputs are removed,
    near-copies (|r| >= 0.9 with another kept input) first, then weakest
    first, while each removal costs no more than one paired SE and the loss
    stays within one SE of the lowest seen.

    What this selector can and cannot do is measured, not promised: see
    ``docs/validation.md`` (truth recovery on fresh teaching cohorts, the
    heart-failure inputs) and ``benchmarks/README.md``.

    Parameters
    ----------
    estimator : ANNClassifier, optional
        Architecture, loss, norm and training settings of each candidate network
        (default ``ANNClassifier(hidden_layer_sizes=(3,))``).
    method : {"growing", "pruning", "genetic"}, default "growing"
    cv : int >= 2 or "split", default 5
        Stratified K-fold cross-validation over the patients given to ``fit``;
        ``"split"``: 25 % of them held out once. Ignored when ``fit`` gets a
        ``selection`` set.
    n_repeats : int, default 1
        Repeats of the K-fold cross-validation (new folds each time).
    max_inputs : int, optional
        Most inputs kept, by every method (growing's path and genetic masks stop there; pruning picks the
        best subset of its path that fits).
    max_selection_failures : int, default 10
    trials : int, default 2
        Restarts per candidate and fold.
    tolerance : "1se" or float, default "1se"
        How much selection loss a smaller subset may give up: one standard
        error of the best subset's loss, or a fraction of it (e.g. 0.03).
    population_size, generations, mutation_rate, elitism
        Genetic algorithm settings (default 20, 10, ``1 / n_inputs``, 2).
    batch_size : int, default 8
        Inputs tried together at each growing step.
    n_jobs : int, optional
        Split each batch over joblib workers (any joblib backend: loky, dask, ray).
    random_state : int, RandomState or None

    Attributes
    ----------
    selected_inputs_ : list of str
    support_ : ndarray of bool
    history_ : pandas.DataFrame
        One row per candidate judged: ``step, inputs, n_inputs, training_loss,
        selection_loss, selection_se, selection_auc, accepted``.
    best_selection_loss_ : float
        Selection loss of the chosen subset.
    best_selection_se_ : float
    n_candidates_ : int
        Candidate subsets in the history.
    n_networks_ : int
        Networks trained (candidates × folds × restarts).
    n_folds_ : int
        Folds each candidate was judged on (1 for a single split).
    correlations_ : ndarray
        |correlation| of each input with the outcome.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=1)
    >>> X = cohort.X[["delta_lvef", "planar_washout", "age", "bmi"]]
    >>> selector = InputSelector(cv=3, random_state=0).fit(X, cohort.y)
    >>> selector.selected_inputs_
    ['delta_lvef', 'planar_washout']
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "get_params"]), None],
        "method": [StrOptions({"growing", "pruning", "genetic"})],
        "cv": [Interval(Integral, 2, None, closed="left"), StrOptions({"split"})],
        "n_repeats": [Interval(Integral, 1, None, closed="left")],
        "max_inputs": [Interval(Integral, 1, None, closed="left"), None],
        "max_selection_failures": [Interval(Integral, 1, None, closed="left")],
        "trials": [Interval(Integral, 1, None, closed="left")],
        "tolerance": [StrOptions({"1se"}), Interval(Real, 0, 1, closed="left")],
        "population_size": [Interval(Integral, 4, None, closed="left")],
        "generations": [Interval(Integral, 1, None, closed="left")],
        "mutation_rate": [Interval(Real, 0, 1, closed="both"), None],
        "elitism": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        method="growing",
        cv=5,
        n_repeats=1,
        max_inputs=None,
        max_selection_failures=10,
        trials=2,
        tolerance="1se",
        population_size=20,
        generations=10,
        mutation_rate=None,
        elitism=2,
        batch_size=8,
        n_jobs=None,
        random_state=None,
    ):
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.n_repeats = n_repeats
        self.max_inputs = max_inputs
        self.max_selection_failures = max_selection_failures
        self.trials = trials
        self.tolerance = tolerance
        self.population_size = population_size
        self.generations = generations
        self.mutation_rate = mutation_rate
        self.elitism = elitism
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y, selection=None, progress=None):
        """Select inputs.

        Parameters
        ----------
        X, y : the patients to select on (all non-testing patients with cross-validation)
        selection : tuple (X_selection, y_selection), optional
            A separate selection set: candidates are then judged on this one split.
        progress : callable, optional
            Called as ``progress(n_networks_trained)`` after each batch (for a progress bar).

        Returns
        -------
        self
        """
        self._validate_params()
        names = list(X.columns) if isinstance(X, pd.DataFrame) else None
        rng = check_random_state(self.random_state)
        self._data, self._estimator = prepare_data(self, X, y, selection, rng, seed=int(rng.randint(0, 2**31 - 1)))
        data = self._data
        rows = np.flatnonzero(data.training_weights.sum(axis=0) > 0)  # every row some fold trains on
        X_fit, y_fit = data.X[rows, :-1], data.y[rows]
        self._names = names or [f"x{i}" for i in range(X_fit.shape[1])]
        self._rng = rng
        self._progress = progress
        self._rows: list[dict] = []
        self._scores: dict[tuple[int, ...], tuple[float, float]] = {}
        self._terms: dict[tuple[int, ...], np.ndarray] = {}
        self.n_networks_ = 0
        self.n_folds_ = data.n_folds
        self.correlations_ = correlation_with_target(X_fit, y_fit)
        with np.errstate(invalid="ignore", divide="ignore"):
            self._inter = np.nan_to_num(np.abs(np.corrcoef(X_fit, rowvar=False))) if X_fit.shape[1] > 1 \
                else np.ones((1, 1))
        chosen = getattr(self, f"_{self.method}")()
        self.support_ = np.zeros(X_fit.shape[1], dtype=bool)
        self.support_[chosen] = True
        self.selected_inputs_ = [self._names[i] for i in sorted(chosen)]
        self.history_ = pd.DataFrame(self._rows)
        self.n_candidates_ = len(self._rows)
        self.best_selection_loss_, self.best_selection_se_ = self._scores[tuple(sorted(chosen))]
        del self._data, self._rng, self._progress, self._scores, self._terms, self._inter
        return self

    # ---------------------------------------------------------------- helpers
    def _train(self, subsets: list[list[int]]) -> CandidateResults:
        res = train_candidates(self._data, subsets, self._estimator, self.trials, self._rng, self.n_jobs)
        self.n_networks_ += res.n_networks
        for i, s in enumerate(subsets):
            self._scores[tuple(sorted(s))] = (float(res.selection_loss[i]), float(res.selection_se[i]))
            self._terms[tuple(sorted(s))] = res.selection_terms[i]
        if self._progress is not None:
            self._progress(res.n_networks)
        return res

    def _record(self, step: int, subset: list[int], res: CandidateResults, i: int, accepted: bool) -> None:
        self._rows.append({
            "step": step, "inputs": [self._names[j] for j in sorted(subset)], "n_inputs": len(subset),
            "training_loss": float(res.training_loss[i]), "selection_loss": float(res.selection_loss[i]),
            "selection_se": float(res.selection_se[i]), "selection_auc": float(res.selection_auc[i]),
            "accepted": accepted,
        })

    def _ceiling(self, subsets) -> float:
        """Highest selection loss the one-SE rule accepts: best loss + its margin, over ``subsets``."""
        best = min(subsets, key=lambda k: self._scores[tuple(sorted(k))][0])
        loss, se = self._scores[tuple(sorted(best))]
        return loss + margin_of(self.tolerance, loss, se)

    def _loss(self, subset) -> float:
        return self._scores[tuple(sorted(subset))][0]

    def _mark(self, chosen: list[int]) -> None:
        names = [self._names[j] for j in sorted(chosen)]
        for row in self._rows:
            row["accepted"] = row["inputs"] == names

    # ---------------------------------------------------------------- growing
    def _growing(self) -> list[int]:
        path, step = self._growing_path()
        ceiling = self._ceiling(path)
        pick = next(s for s in path if self._loss(s) <= ceiling)  # the path only grows: first = smallest
        return self._refine(pick, step)

    def _growing_path(self) -> tuple[list[list[int]], int]:
        """The accepted subsets of forward selection, smallest first, and the number of steps taken."""
        pool = list(np.argsort(-self.correlations_, kind="stable"))
        max_inputs = self.max_inputs or min(len(pool), GROWING_MAX_INPUTS)
        current: list[int] = []
        path: list[list[int]] = []
        failures = 0
        step = 0
        while pool and failures < self.max_selection_failures and len(current) < max_inputs:
            nxt = pool[: self.batch_size]
            subsets = [current + [j] for j in nxt]
            res = self._train(subsets)
            step += 1
            best = int(np.argmin(res.selection_loss))
            improved = not path or self._clearly_better(subsets[best], current)
            for i, s in enumerate(subsets):
                self._record(step, s, res, i, improved and i == best)
            if improved:
                current = subsets[best]
                path.append(current)
                pool.remove(nxt[best])
                failures = 0
            else:  # none of these inputs helps now: drop them
                failures += len(nxt)
                pool = pool[len(nxt):]
        return path, step

    # ---------------------------------------------------------------- pruning
    def _pruning(self) -> list[int]:
        ranked = sorted(range(self._data.n_inputs), key=lambda j: (self.correlations_[j], j))  # weakest first
        path = [ranked[k:] for k in range(len(ranked))]
        for start in range(0, len(path), 32):
            res = self._train(path[start:start + 32])
            for i in range(len(res.selection_loss)):
                self._record(start + i, path[start + i], res, i, False)
        ceiling = self._ceiling(path)
        pick = max(k for k in range(len(path)) if self._loss(path[k]) <= ceiling)
        if self.max_inputs and len(path[pick]) > self.max_inputs:
            # the one-SE pick is larger than allowed: the best of the path's subsets that fit (max_inputs was
            # ignored here, and a study asked for 1 input kept 3)
            pick = min((k for k in range(len(path)) if len(path[k]) <= self.max_inputs),
                       key=lambda k: (self._loss(path[k]), -k))
        return self._refine(path[pick], len(path))

    def _clearly_better(self, candidate, reference) -> bool:
        """Does ``candidate`` lower the selection loss below ``reference``'s by more than the
        margin (one SE of their paired difference, or ``tolerance`` × the reference loss)?"""
        diff, margin = paired_difference(self._terms[tuple(sorted(candidate))],
                                         self._terms[tuple(sorted(reference))], self.tolerance)
        return -diff > margin

    def _not_worse(self, candidate, reference) -> bool:
        diff, margin = paired_difference(self._terms[tuple(sorted(candidate))],
                                         self._terms[tuple(sorted(reference))], self.tolerance)
        return diff <= margin

    def _refine(self, current: list[int], step: int) -> list[int]:
        """Backward pass: remove single inputs while each removal is not worse than the subset
        it is removed from by more than the margin (paired, on the same patients) and the
        selection loss stays at or under the one-SE ceiling of the best subset seen, which
        keeps the removals from drifting.

        Judged against the current subset rather than the starting one: the start is often
        the luckiest candidate of a search (its loss biased low), and measured against it no
        noise input could leave (teaching cohorts, development seeds 0-4: pruning kept 4
        inputs in seed 2 that way, 3 this way; growing and genetic unchanged).

        Near-copies (|r| >= 0.9 with another kept input) are tried first, the weaker
        member of the pair first: of two copies, one can always go."""
        current = list(current)
        ceiling = self._ceiling(list(self._scores))
        while len(current) > 1:
            def redundant(j):
                others = [c for c in current if c != j]
                return bool(others) and self._inter[j, others].max() >= 0.9

            order = sorted(current, key=lambda j: (not redundant(j), self.correlations_[j], j))
            subsets = [[c for c in current if c != j] for j in order]
            res = self._train(subsets)
            step += 1
            ok = [i for i in range(len(subsets))
                  if self._not_worse(subsets[i], current) and res.selection_loss[i] <= ceiling]
            for i in range(len(subsets)):
                self._record(step, subsets[i], res, i, bool(ok) and i == ok[0])
            if not ok:
                break
            current = subsets[ok[0]]
        self._mark(current)
        return current

    # ---------------------------------------------------------------- genetic
    def _genetic(self) -> list[int]:
        rng = self._rng
        n = self._data.n_inputs
        size = self.population_size
        rate = self.mutation_rate if self.mutation_rate is not None else 1.0 / n
        parsimony = GENETIC_PARSIMONY if self.tolerance == "1se" else float(self.tolerance)
        # Initial masks favour correlated inputs and small subsets (about 4 inputs expected).
        weight = self.correlations_ + 1e-3
        p_include = np.minimum(0.9, 4.0 * weight / weight.sum())
        population = rng.rand(size, n) < p_include

        def evaluate(pop: np.ndarray, generation: int) -> tuple[np.ndarray, np.ndarray]:
            pop = self._repair(pop, rng)
            unique = {tuple(np.flatnonzero(m)): m for m in pop}
            todo = [k for k in unique if k not in self._scores]
            if todo:
                res = self._train([list(k) for k in todo])
                for i, k in enumerate(todo):
                    self._record(generation, list(k), res, i, False)
            fitness = [self._scores[tuple(np.flatnonzero(m))][0] * (1.0 + parsimony * m.sum()) for m in pop]
            return pop, np.array(fitness)

        population, fitness = evaluate(population, 0)
        for generation in range(1, self.generations + 1):
            order = np.argsort(fitness, kind="stable")
            ranks = np.empty(size)
            ranks[order] = np.arange(size, 0, -1)  # best gets the highest rank
            prob = ranks / ranks.sum()
            elite = population[order[: self.elitism]]
            n_children = size - len(elite)
            parents_a = population[rng.choice(size, n_children, p=prob)]
            parents_b = population[rng.choice(size, n_children, p=prob)]
            mix = rng.rand(n_children, n) < 0.5
            children = np.where(mix, parents_a, parents_b)
            children ^= rng.rand(n_children, n) < rate
            population, fitness = evaluate(np.vstack([elite, children]), generation)

        seen = list(self._scores)
        ceiling = self._ceiling(seen)
        winner = min((k for k in seen if self._scores[k][0] <= ceiling), key=lambda k: (len(k), self._scores[k][0]))
        return self._refine(list(winner), self.generations + 1)

    def _repair(self, pop: np.ndarray, rng) -> np.ndarray:
        """Every mask keeps at least one input and at most ``max_inputs``."""
        pop = pop.copy()
        for i in np.flatnonzero(pop.sum(axis=1) == 0):
            pop[i, rng.randint(pop.shape[1])] = True
        if self.max_inputs:
            for i in np.flatnonzero(pop.sum(axis=1) > self.max_inputs):
                on = np.flatnonzero(pop[i])
                keep = on[np.argsort(-self.correlations_[on])[: self.max_inputs]]
                pop[i] = False
                pop[i, keep] = True
        return pop

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        # a binary outcome only: tells scikit-learn's estimator checks to give two classes
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags
