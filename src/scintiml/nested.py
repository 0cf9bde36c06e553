"""The honest headline: repeated nested cross-validation of the whole pipeline, selection included.

A single testing split of 60 patients gives an AUC whose interval is wide, and
a model chosen on the same patients that judge it looks better than it is.
Here every outer fold refits the *whole* pipeline (imputation, input
selection, order selection, the network) on its own training patients and
scores the patients it never saw; the baselines are fitted on the very same
outer folds, so each fold gives a paired difference. The mean over folds is
reported with the corrected resampled-t interval of Nadeau & Bengio (2003)
(:func:`scintiml.readiness.corrected_interval`), which widens the naive
interval for the overlap of the training sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from joblib import delayed
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.utils import check_random_state

from ._jobs import in_order
from .errors import ScintimlError
from .evaluate.roc import separation_interval
from .readiness import corrected_interval

INTERVAL = "corrected resampled t (Nadeau & Bengio 2003)"
#: The interval where every fold's AUC is 1 (or 0): the t interval has width 0 there.
SEPARATED_INTERVAL = "exact binomial (every fold perfectly separated)"
#: The t interval reaching down to that bound, which is wider than its own for folds all near 1.
WIDENED_INTERVAL = INTERVAL + ", widened to the exact binomial bound of perfect separation"


@dataclass
class NestedCVResult:
    """Out-of-fold AUCs of the pipeline and of each baseline on the same folds."""

    auc: float
    auc_ci95: tuple[float, float]
    fold_aucs: list[float]
    n_splits: int
    n_repeats: int
    selected_inputs: list[list[str]]
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    interval: str = INTERVAL

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary, with a line saying which figure this is."""
        counts = pd.Series([name for fold in self.selected_inputs for name in fold]).value_counts()
        repeats = f", repeated {self.n_repeats} times" if self.n_repeats > 1 else ""
        return {
            "what": f"whole pipeline (selection included) refitted in each outer fold of {self.n_splits}-fold "
                    f"stratified cross-validation{repeats} over all patients; mean of the fold AUCs",
            "auc": self.auc, "auc_ci95": list(self.auc_ci95), "interval": self.interval,
            "fold_aucs": list(self.fold_aucs), "n_splits": self.n_splits, "n_repeats": self.n_repeats,
            "n_inputs_per_fold": [len(s) for s in self.selected_inputs],
            "inputs_per_fold": self.selected_inputs,
            "input_counts": {str(k): int(v) for k, v in counts.items()},
            "baselines": self.baselines,
        }


def nested_cross_validation(
    estimator,
    X: pd.DataFrame,
    y: np.ndarray,
    baselines: dict[str, Any] | None = None,
    n_splits: int = 5,
    n_repeats: int = 1,
    random_state=None,
    progress: Callable[[int], None] | None = None,
    n_jobs: int | None = None,
) -> NestedCVResult:
    """Evaluate a whole pipeline by repeated stratified K-fold cross-validation, with baselines on the same folds.

    Parameters
    ----------
    estimator : classifier
        Refitted on each outer training part (e.g.
        :class:`scintiml.select.SelectedNetworkClassifier`, which selects
        inputs and architecture inside). Exposes ``selected_inputs_`` to have
        the inputs of each fold recorded.
    X : DataFrame of shape (n_patients, n_inputs)
        Missing values allowed: baselines get median imputation fitted per fold.
    y : array of shape (n_patients,), two classes
    baselines : dict name -> classifier, optional
        Fitted on the same folds; each gets its mean AUC with interval and the
        paired difference *network − baseline* with the corrected interval.
    n_splits, n_repeats : int, default 5, 1
    random_state : int, RandomState or None
    progress : callable, optional
        ``progress(1)`` after each outer fold.
    n_jobs : int, optional
        Outer folds fitted in parallel (joblib; ``-1``: every core). Each fold's pipeline is a clone with the
        same parameters, so the result is the serial one (equal in every check of the tests and benchmarks);
        only the wall time changes.

    Returns
    -------
    NestedCVResult

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from scintiml.datasets import make_mibg_cohort
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=1)
    >>> X = cohort.X[["delta_lvef", "planar_washout"]]
    >>> res = nested_cross_validation(LogisticRegression(), X, cohort.y, n_splits=3, random_state=0)
    >>> len(res.fold_aucs), 0.5 < res.auc < 1
    (3, True)
    """
    if not isinstance(X, pd.DataFrame):  # a notebook's numpy array: columns by position, named as sklearn does
        X = np.asarray(X)
        if X.ndim != 2:
            raise ScintimlError(f"X must be a table of patients x inputs (2-D); got {X.ndim} dimension(s)")
        X = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        # folds are drawn on y: extra rows of X were never used, without a word
        raise ScintimlError(f"X has {len(X)} patients but y has {len(y) if y.ndim else 1} outcome(s); give one "
                            "outcome per row of X")
    for name, value, least in (("n_splits", n_splits, 2), ("n_repeats", n_repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ScintimlError(f"{name} must be a whole number of at least {least}; got {value!r}")
    try:
        rng = check_random_state(random_state)
    except (TypeError, ValueError):
        raise ScintimlError(f"random_state must be a whole number, a numpy RandomState or None; got "
                            f"{random_state!r}") from None
    classes = np.unique(y)
    if len(classes) != 2:
        raise ScintimlError(f"nested cross-validation needs a binary outcome, got classes {classes.tolist()}")
    t = (y == classes[1]).astype(int)
    smallest = int(min(t.sum(), len(t) - t.sum()))
    if smallest < n_splits:
        raise ScintimlError(f"{n_splits}-fold nested cross-validation needs at least {n_splits} patients of each "
                            f"outcome; the rarer has {smallest}. Use fewer folds.")
    splitter = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats,
                                       random_state=int(rng.randint(0, 2**31 - 1)))
    baselines = baselines or {}
    folds = list(splitter.split(np.zeros(len(t)), t))
    jobs = (delayed(_outer_fold)(estimator, baselines, X, y, t, train, test) for train, test in folds)
    aucs: list[float] = []
    chosen: list[list[str]] = []
    base_aucs: dict[str, list[float]] = {name: [] for name in baselines}
    for auc, inputs, fold_base in in_order(jobs, n_jobs):  # in fold order; the progress bar moves as each ends
        aucs.append(auc)
        chosen.append(inputs)
        for name, value in fold_base.items():
            base_aucs[name].append(value)
        if progress is not None:
            progress(1)
    n_train, n_test = len(folds[-1][0]), len(folds[-1][1])
    # every event/non-event pair met in one repeat's testing folds: disjoint pairs, each ranked once
    pairs = sum(min(int(t[test].sum()), int(len(test) - t[test].sum())) for _, test in folds[:n_splits])
    mean, _, ci, method = _auc_interval(np.array(aucs), n_train, n_test, pairs)
    summary: dict[str, dict[str, Any]] = {}
    for name, values in base_aucs.items():
        b_mean, _, b_ci, b_method = _auc_interval(np.array(values), n_train, n_test, pairs)
        d_mean, _, d_ci = corrected_interval(np.array(aucs) - np.array(values), n_train, n_test)
        summary[name] = {"auc": b_mean, "auc_ci95": [float(b_ci[0]), float(b_ci[1])], "interval": b_method,
                         "fold_aucs": values, "network_minus_baseline": d_mean,
                         "difference_ci95": [float(d_ci[0]), float(d_ci[1])]}
    return NestedCVResult(float(mean), (float(ci[0]), float(ci[1])), aucs, n_splits, n_repeats, chosen, summary,
                          method)


def _auc_interval(aucs: np.ndarray, n_train: int, n_test: int, pairs: int, level: float = 0.95):
    """The corrected resampled-t interval of fold AUCs, within [0, 1]; where every fold's AUC is 1 (or 0) its
    width is 0 — "1.000 (1.000-1.000)" claimed certainty from a few patients — and the interval is instead the
    exact binomial one of ``pairs`` disjoint event/non-event pairs all ranked right (as
    :func:`scintiml.evaluate.auc_ci` gives a testing part: conservative, [0.025^(1/k), 1] at 95 %). Returns the
    mean, its standard error, the interval and the name of the method that gave it (:data:`INTERVAL`,
    :data:`SEPARATED_INTERVAL` or :data:`WIDENED_INTERVAL`), which the report prints beside it.

    Examples
    --------
    >>> _auc_interval(np.ones(10), 120, 30, pairs=60)[2][0] == 0.025 ** (1 / 60)
    True
    >>> mean, se, ci, method = _auc_interval(np.r_[np.ones(9), 0.98], 120, 30, pairs=60)
    >>> ci[0] == 0.025 ** (1 / 60), method == WIDENED_INTERVAL  # not narrower than all 1s
    (True, True)
    """
    mean, se, ci = corrected_interval(aucs, n_train, n_test, level)
    if pairs <= 0 or not len(aucs):
        # an AUC lies in [0, 1]; the t interval does not know it
        return mean, se, (max(0.0, ci[0]), min(1.0, ci[1])), INTERVAL
    if np.ptp(aucs) == 0 and aucs[0] in (0.0, 1.0):
        return mean, se, separation_interval(float(aucs[0]), pairs, level), SEPARATED_INTERVAL
    bound = separation_interval(1.0, pairs, level)[0]
    # a near-perfect result is no surer than a perfect one: folds of 1, 1, 1, 1, 0.98 gave (0.979, 1) where all 1
    # gives (0.940, 1)
    lo, hi = max(0.0, min(ci[0], bound)), min(1.0, max(ci[1], 1.0 - bound))
    widened = lo < max(0.0, ci[0]) or hi > min(1.0, ci[1])
    return mean, se, (lo, hi), WIDENED_INTERVAL if widened else INTERVAL


def _outer_fold(estimator, baselines: dict[str, Any], X: pd.DataFrame, y: np.ndarray, t: np.ndarray,
                train: np.ndarray, test: np.ndarray) -> tuple[float, list[str], dict[str, float]]:
    """One outer fold: the pipeline and every baseline fitted on ``train``, their AUCs on ``test``."""
    model = clone(estimator).fit(X.iloc[train], y[train])
    auc = float(roc_auc_score(t[test], model.predict_proba(X.iloc[test])[:, 1]))
    inputs = list(getattr(model, "selected_inputs_", list(X.columns)))
    fold_base = {}
    for name, base in baselines.items():
        fitted = make_pipeline(SimpleImputer(strategy="median"), clone(base)).fit(X.iloc[train], y[train])
        fold_base[name] = float(roc_auc_score(t[test], fitted.predict_proba(X.iloc[test])[:, 1]))
    return auc, inputs, fold_base
