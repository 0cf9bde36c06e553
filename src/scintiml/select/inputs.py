"""Input selection on the selection loss: growing, pruning and genetic (Neural Designer's three methods)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .candidates import CandidateResults, clearly_better, prepare_data, train_candidates, within_margin


def correlation_with_target(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Absolute Pearson correlation of each input with the 0/1 outcome (point-biserial)."""
    Xc = X - X.mean(axis=0)
    yc = y - y.mean()
    denom = np.sqrt((Xc**2).sum(axis=0) * (yc**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (Xc.T @ yc) / denom
    return np.nan_to_num(np.abs(r))


class InputSelector(SelectorMixin, BaseEstimator):
    """Choose the inputs that lower the selection loss of a small network.

    Every candidate subset is trained on the training instances (``trials``
    restarts, the lowest training loss kept) and judged by its error on the
    separate *selection* instances — never on the testing ones.

    Methods
    -------
    ``growing``
        Inputs ranked by |correlation| with the outcome are added one at a
        time; an input is kept only when it lowers the best selection loss by
        more than the margin ``tolerance``. Stops after ``max_selection_failures``
        consecutive rejected inputs or at ``max_inputs``.
    ``pruning``
        Starts from all inputs and removes them in order of increasing
        |correlation|: the whole path (all inputs, all but the weakest, ...,
        the strongest alone) is trained in a few batches, and the smallest
        subset on it whose selection loss is within the margin ``tolerance`` of
        the path's lowest is kept. Single inputs are then removed, weakest
        first, while the selection loss does not rise by more than
        ``tolerance``, which also drops near-copies of a kept input.
        (Accepting one removal at a time from 84 inputs does not work: the
        selection loss of the overfitted many-input networks is so noisy that
        the removal of one noise input cannot be told from chance.)
    ``genetic``
        A population of input masks evolves for ``generations``: fitness = selection
        loss × (1 + ``tolerance`` × number of inputs) (a parsimony charge),
        rank-based selection, uniform crossover, bit-flip mutation, the
        ``elitism`` best kept unchanged. The answer is the smallest mask whose
        selection loss is within the margin (``tolerance``) of the best one seen.

    All three end with the same backward pass: single inputs are removed,
    weakest first, while the selection loss rises by no more than
    ``tolerance`` — which drops near-copies of a kept input (two members of a
    redundant family add nothing over one).

    Growing and pruning are sequential by nature; to batch them, the next
    ``batch_size`` candidates are trained *speculatively* together against the
    current subset. Results after an accepted change are stale and are
    retrained (counted in ``n_networks_``, not in ``history_``).

    Parameters
    ----------
    estimator : ANNClassifier, optional
        Architecture, loss, norm and solver settings of each candidate network
        (default ``ANNClassifier(hidden_layer_sizes=(3,))``).
    method : {"growing", "pruning", "genetic"}, default "growing"
    max_inputs : int, optional
        Most inputs kept (growing; genetic masks are trimmed to it).
    max_selection_failures : int, default 10
    trials : int, default 3
        Restarts per candidate.
    tolerance : float or "1se", default 0.03
        How much selection loss an input must buy (parsimony). ``"1se"``: one
        standard error of the *paired* difference of per-instance selection
        errors between the two subsets compared (the one-standard-error rule,
        Breiman et al. 1984); a float: that fraction of the reference loss.
        Searching many subsets on one selection set overfits it; this margin
        keeps out inputs whose gain could be chance. (Measured on the teaching
        cohorts: 0.03 recovers the true inputs with every method; "1se" is
        stricter and, on selection sets of ~60 patients, drops real inputs.)
    population_size, generations, mutation_rate, elitism
        Genetic algorithm settings (default 20, 10, ``1 / n_inputs``, 2). A longer
        search finds subsets that fit the selection set's noise better: on the
        teaching mIBG cohort 40 × 25 kept 5 noise inputs where 20 × 10 kept 2–4.
    batch_size : int, default 16
        Candidates trained together by growing/pruning.
    n_jobs : int, optional
        Split each batch over joblib workers (any joblib backend: loky, dask, ray).
    random_state : int, RandomState or None

    Attributes
    ----------
    selected_inputs_ : list of str
    support_ : ndarray of bool
    history_ : pandas.DataFrame
        One row per candidate judged: ``step, inputs, n_inputs, training_loss,
        selection_loss, selection_auc, accepted``.
    best_selection_loss_ : float
    n_candidates_ : int
        Candidate subsets in the history.
    n_networks_ : int
        Networks trained, restarts and stale speculative fits included.
    correlations_ : ndarray
        |correlation| of each input with the outcome on the training instances.
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "get_params"]), None],
        "method": [StrOptions({"growing", "pruning", "genetic"})],
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
        max_inputs=None,
        max_selection_failures=10,
        trials=3,
        tolerance=0.03,
        population_size=20,
        generations=10,
        mutation_rate=None,
        elitism=2,
        batch_size=16,
        n_jobs=None,
        random_state=None,
    ):
        self.estimator = estimator
        self.method = method
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
        X, y : training instances
        selection : tuple (X_selection, y_selection), optional
            The selection instances. Without them, 25 % of ``X`` is held out
            (stratified), which is the 60:20 of a 60:20:20 split.
        progress : callable, optional
            Called as ``progress(n_networks_trained)`` after each batch (for a progress bar).
        """
        self._validate_params()
        names = list(X.columns) if isinstance(X, pd.DataFrame) else None
        rng = check_random_state(self.random_state)
        self._data, self._estimator = prepare_data(self, X, y, selection, rng, seed=int(rng.randint(0, 2**31 - 1)))
        X_train, y_train = self._data.X_train[:, :-1], self._data.y_train
        self._names = names or [f"x{i}" for i in range(X_train.shape[1])]
        self._rng = rng
        self._progress = progress
        self._rows: list[dict] = []
        self._terms: dict[tuple[int, ...], np.ndarray] = {}
        self.n_networks_ = 0
        self.correlations_ = correlation_with_target(X_train, y_train)
        with np.errstate(invalid="ignore", divide="ignore"):
            self._inter = np.nan_to_num(np.abs(np.corrcoef(X_train, rowvar=False))) if X_train.shape[1] > 1 \
                else np.ones((1, 1))
        chosen = getattr(self, f"_{self.method}")()
        self.support_ = np.zeros(X_train.shape[1], dtype=bool)
        self.support_[chosen] = True
        self.selected_inputs_ = [self._names[i] for i in sorted(chosen)]
        self.history_ = pd.DataFrame(self._rows)
        self.n_candidates_ = len(self._rows)
        self.best_selection_loss_ = float(self._loss_of(chosen))
        del self._data, self._rng, self._progress, self._terms, self._inter
        return self

    # ---------------------------------------------------------------- helpers
    def _train(self, subsets: list[list[int]]) -> CandidateResults:
        res = train_candidates(self._data, subsets, self._estimator, self.trials, self._rng, self.n_jobs)
        self.n_networks_ += res.n_networks
        if self._progress is not None:
            self._progress(res.n_networks)
        return res

    def _record(self, step: int, subset: list[int], res: CandidateResults, i: int, accepted: bool) -> None:
        self._terms[tuple(sorted(subset))] = res.selection_terms[i]
        self._rows.append({
            "step": step, "inputs": [self._names[j] for j in sorted(subset)], "n_inputs": len(subset),
            "training_loss": float(res.training_loss[i]), "selection_loss": float(res.selection_loss[i]),
            "selection_auc": float(res.selection_auc[i]), "accepted": accepted,
        })

    def _loss_of(self, subset) -> float:
        return float(self._terms[tuple(sorted(subset))].mean())

    def _fitness(self, subset: tuple[int, ...]) -> float:
        """Genetic fitness: selection loss with a parsimony charge per input (a relative
        ``tolerance``, or 1 % per input with "1se"), so that the search does not
        reward inputs that fit the selection set's noise."""
        rate = 0.03 if self.tolerance == "1se" else float(self.tolerance)  # "1se": the default rate
        return float(self._terms[subset].mean()) * (1.0 + rate * len(subset))

    def _acceptable(self, terms: np.ndarray, reference: np.ndarray) -> bool:
        # The genetic search's best subset won among hundreds: its selection loss is
        # biased low (winner's curse), so smaller subsets get the wider, lenient margin.
        return within_margin(terms, reference, self.tolerance, lenient=self.method == "genetic")

    # ---------------------------------------------------------------- growing
    def _growing(self) -> list[int]:
        order = list(np.argsort(-self.correlations_, kind="stable"))
        max_inputs = self.max_inputs or len(order)
        current: list[int] = []
        best_terms = None
        failures = 0
        step = 0
        batch = min(self.batch_size, 4)
        while order and failures < self.max_selection_failures and len(current) < max_inputs:
            nxt = order[:batch]
            subsets = [current + [j] for j in nxt]
            res = self._train(subsets)
            consumed = 0
            accepted_any = False
            for i in range(len(nxt)):
                consumed += 1
                step += 1
                terms = res.selection_terms[i]
                improved = best_terms is None or clearly_better(terms, best_terms, self.tolerance)
                self._record(step, subsets[i], res, i, improved)
                if improved:
                    current, best_terms = subsets[i], terms
                    failures = 0
                    accepted_any = True
                    break  # later results in this batch were computed against the old subset
                failures += 1
                if failures >= self.max_selection_failures:
                    break
            order = order[consumed:]
            batch = min(self.batch_size, batch * 2) if not accepted_any else min(self.batch_size, 4)
        return self._refine(current, best_terms, step)

    # ---------------------------------------------------------------- pruning
    def _pruning(self) -> list[int]:
        ranked = sorted(range(self._data.n_inputs), key=lambda j: (self.correlations_[j], j))  # weakest first
        # 1. The pruning path: all inputs, then without the weakest, the two weakest, ... (few batches).
        path = [ranked[k:] for k in range(len(ranked))]
        terms = []
        for start in range(0, len(path), 32):
            res = self._train(path[start:start + 32])
            terms.extend(res.selection_terms)
            for i in range(len(res.selection_loss)):
                self._record(start + i, path[start + i], res, i, False)
        best = int(np.argmin([t.mean() for t in terms]))
        # the smallest subset on the path within the margin of the best
        pick = max(k for k in range(len(path)) if self._acceptable(terms[k], terms[best]))
        self._rows[pick]["accepted"] = True
        return self._refine(path[pick], terms[best], len(path))

    def _refine(self, current: list[int], reference: np.ndarray, step: int) -> list[int]:
        """Backward pass: remove single inputs, weakest first, while the selection loss
        stays within the margin of ``reference`` (the best candidate's terms); drops
        near-copies of kept inputs. The reference is fixed, so removals cannot drift.

        Near-copies (|r| >= 0.9 with another kept input) are tried first, the weaker
        member of the pair first: of two copies, one can always go."""
        while len(current) > 1:
            def redundant(j):
                others = [c for c in current if c != j]
                return bool(others) and self._inter[j, others].max() >= 0.9

            order = sorted(current, key=lambda j: (not redundant(j), self.correlations_[j], j))
            accepted = False
            batch = min(self.batch_size, 4)
            while order and not accepted:
                nxt = order[:batch]
                subsets = [[c for c in current if c != j] for j in nxt]
                res = self._train(subsets)
                for i in range(len(nxt)):
                    step += 1
                    ok = self._acceptable(res.selection_terms[i], reference)
                    self._record(step, subsets[i], res, i, ok)
                    if ok:
                        current = subsets[i]
                        accepted = True
                        break
                order = order[len(nxt):]
                batch = min(self.batch_size, batch * 2)
            if not accepted:
                break
        return current

    # ---------------------------------------------------------------- genetic
    def _genetic(self) -> list[int]:
        rng = self._rng
        n = self._data.n_inputs
        size = self.population_size
        rate = self.mutation_rate if self.mutation_rate is not None else 1.0 / n
        # Initial masks favour correlated inputs and small subsets (about 4 inputs expected).
        weight = self.correlations_ + 1e-3
        p_include = np.minimum(0.9, 4.0 * weight / weight.sum())
        population = rng.rand(size, n) < p_include

        def evaluate(pop: np.ndarray, generation: int) -> tuple[np.ndarray, np.ndarray]:
            pop = self._repair(pop, rng)
            unique = {tuple(np.flatnonzero(m)): m for m in pop}
            todo = [k for k in unique if k not in self._terms]
            if todo:
                res = self._train([list(k) for k in todo])
                for i, k in enumerate(todo):
                    self._record(generation, list(k), res, i, False)
            return pop, np.array([self._fitness(tuple(np.flatnonzero(m))) for m in pop])

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

        # The smallest subset within the margin of the best seen (parsimony), then the lowest loss.
        best = min(self._terms, key=lambda k: self._terms[k].mean())
        reference = self._terms[best]
        eligible = [k for k, t in self._terms.items() if self._acceptable(t, reference)]
        winner = min(eligible, key=lambda k: (len(k), self._terms[k].mean()))
        for row in self._rows:
            row["accepted"] = row["inputs"] == [self._names[j] for j in winner]
        return self._refine(list(winner), reference, self.generations + 1)

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
