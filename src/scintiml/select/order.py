"""Order selection: the smallest network that works, judged on the selection loss."""

from __future__ import annotations

import itertools
from numbers import Integral, Real

import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ..ann.network import Architecture
from .candidates import prepare_data, train_candidates, within_margin


class OrderSelector(BaseEstimator):
    """Grow hidden neurons (1 … ``max_neurons``) and layers (1 … ``max_layers``).

    Every architecture is trained ``trials`` times on the training instances
    (restarts of one architecture form one batch; architectures can run in
    parallel through joblib) and judged by its selection loss. The answer is
    the architecture with the fewest parameters whose selection loss is within
    ``tolerance`` (relative) of the lowest one — a smaller network that does as
    well is preferred.

    Parameters
    ----------
    estimator : ANNClassifier, optional
        Loss, norm, activation and solver settings (its hidden sizes are replaced).
    max_neurons : int, default 8
    max_layers : int, default 2
        Depth 2 tries every (n1, n2) with n2 <= n1; depth 3 every (n1, n2, n3) likewise.
    trials : int, default 3
    tolerance : float or "1se", default 0.03
        Margin within which a smaller network counts as good as the best (see
        :class:`InputSelector`).
    n_jobs : int, optional
    random_state : int, RandomState or None

    Attributes
    ----------
    hidden_layer_sizes_ : tuple of int
    history_ : pandas.DataFrame
        ``hidden_layer_sizes, n_parameters, training_loss, selection_loss, selection_auc, chosen``.
    best_selection_loss_ : float
    n_networks_ : int
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "get_params"]), None],
        "max_neurons": [Interval(Integral, 1, None, closed="left")],
        "max_layers": [Interval(Integral, 1, 3, closed="both")],
        "trials": [Interval(Integral, 1, None, closed="left")],
        "tolerance": [StrOptions({"1se"}), Interval(Real, 0, 1, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, max_neurons=8, max_layers=2, trials=3, tolerance=0.03, n_jobs=None,
                 random_state=None):
        self.estimator = estimator
        self.max_neurons = max_neurons
        self.max_layers = max_layers
        self.trials = trials
        self.tolerance = tolerance
        self.n_jobs = n_jobs
        self.random_state = random_state

    def architectures(self) -> list[tuple[int, ...]]:
        out: list[tuple[int, ...]] = []
        sizes = range(1, self.max_neurons + 1)
        for depth in range(1, self.max_layers + 1):
            for combo in itertools.product(sizes, repeat=depth):
                if all(a >= b for a, b in zip(combo, combo[1:])):  # funnel shapes only
                    out.append(combo)
        return out

    def fit(self, X, y, selection=None, progress=None):
        self._validate_params()
        rng = check_random_state(self.random_state)
        data, estimator = prepare_data(self, X, y, selection, rng)
        n_inputs = data.n_inputs
        subset = [list(range(n_inputs))]
        archs = self.architectures()
        seeds = rng.randint(0, 2**31 - 1, size=len(archs))

        def one(hidden, seed):
            return train_candidates(data, subset, estimator, self.trials, check_random_state(int(seed)), hidden=hidden)

        if self.n_jobs and self.n_jobs != 1:
            results = Parallel(n_jobs=self.n_jobs)(delayed(one)(h, s) for h, s in zip(archs, seeds))
        else:
            results = []
            for h, s in zip(archs, seeds):
                results.append(one(h, s))
                if progress is not None:
                    progress(self.trials)
        rows = []
        for hidden, res in zip(archs, results):
            rows.append({
                "hidden_layer_sizes": hidden,
                "n_parameters": Architecture((n_inputs, *hidden, 1)).n_params,
                "training_loss": float(res.training_loss[0]), "selection_loss": float(res.selection_loss[0]),
                "selection_auc": float(res.selection_auc[0]),
            })
        history = pd.DataFrame(rows)
        terms = [res.selection_terms[0] for res in results]
        reference = terms[int(history["selection_loss"].idxmin())]
        eligible = history[[within_margin(t, reference, self.tolerance) for t in terms]]
        winner = eligible.sort_values(["n_parameters", "selection_loss"], kind="stable").index[0]
        history["chosen"] = history.index == winner
        self.history_ = history
        self.hidden_layer_sizes_ = tuple(history.loc[winner, "hidden_layer_sizes"])
        self.best_selection_loss_ = float(history.loc[winner, "selection_loss"])
        self.n_networks_ = len(archs) * self.trials
        return self
