"""Development bench for the selection pipeline's defaults: nested AUC on NON-reporting cohorts only.

SPECTF and heart failure are the reporting cohorts of issue #14's headline target and are never run here. The
development cohorts:

* ``cleveland``: UCI heart disease, Cleveland (303 x 13);
* ``pooled``: UCI heart disease, all four hospitals (920 x 13, many missing values);
* ``mibg0``, ``mibg1``: the teaching mIBG cohort, 300 x 84, seeds 0 and 1 (development seeds of #14);
* ``extrav``: the teaching extravasation cohort, 300 patients, seed 0 (near-copy families, four drivers);
* ``weak0``, ``weak1``: synthetic, 300 x 40, eight weak drivers of decreasing strength, one of them a
  threshold effect, correlated families (the shape of a radiomics / ROI table with diffuse signal).

Each variant is :class:`Prototype` (the pipeline of ``SelectedNetworkClassifier`` with the option under test;
``default`` reproduces ``SelectedNetworkClassifier(stability=False, random_state=0)``, the default until
scintiml 0.3, exactly; ``stab_min55`` the default since 0.4, the stable set of 20 half-sample selections, each
the lowest loss, kept when chosen in at least 55 %); ``library`` is
``SelectedNetworkClassifier(random_state=0)`` with the library's current defaults, ``sfs4_lr`` the 4-input
logistic-regression peer of ``feasibility_4inputs.py``. Every cell is ``nested_cross_validation(...,
n_splits=5, n_repeats=2, random_state=0)``, the random forest (500 trees, all inputs) on the same folds beside it.
Output: one JSON line per cohort and variant. Results and verdicts: docs/validation.md, "Trying to close the gap".

Variants: ``mean5`` / ``mean10`` (final network = mean probability of 5 / 10 single-start networks instead of the
best of 3 starts), ``folds5`` (mean of networks trained on 5 CV folds' training parts), ``xent`` (cross-entropy for
the candidates and the final network), ``xent_sel`` / ``xent_final`` (for one of them only), ``order_min``
(order selection takes the lowest loss, no one-SE rule), ``input_min`` (inputs too), ``paired`` (growing's pick
and backward pass compare with the best subset by one paired SE instead of one unpaired SE), ``regX`` (norm weight X
for candidates and final network), ``reg0.03_sel`` / ``reg0.03_final`` (one of them only), ``reg_cv`` (the input
selection run at 0.01 and 0.03, the one whose pick has the lower CV loss kept), ``reg0.03_maxk`` / ``maxk``
(growing's step margin times the expected maximum of k standard normals), ``lr_on_selected`` (logistic regression
on the selected inputs: a diagnostic), ``stab`` / ``stab_min`` / ``stab_min55`` / ``stab_min60`` / ``stab_1pc``
(inputs = the stable set of 20 half-sample selections: inner one-SE rule, threshold 0.5; inner lowest loss,
threshold 0.5 / 0.55 / 0.6; inner margin 1 % of the loss, threshold 0.5). Against the 0.4 default (``stab_min55``):
``stab55_final0.03`` (final network's norm weight 0.03), ``stab55_order_final0.03`` (order selection and final
network at 0.03), ``stab55_sel0.03`` (the networks of the 20 half-sample selections and of order selection at
0.03, the final network at 0.01), ``stab55_lamcv`` (the norm weight of order selection and final network chosen
by 5-fold CV from 0.003 / 0.01 / 0.03 / 0.1).

Run: OMP_NUM_THREADS=1 python benchmarks/dev_pipeline.py VARIANT [VARIANT ...] [--cohorts=a,b]
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state

from scintiml.ann import ANNClassifier
from scintiml.datasets import load_heart_disease, make_extravasation_cohort, make_mibg_cohort
from scintiml.nested import nested_cross_validation
from scintiml.select import InputSelector, OrderSelector


#: Folder of the cohorts exported by ``dev_cohorts.py`` (``--devdata=FOLDER``).
DEVDATA = None


def weak_cohort(seed: int, n: int = 300, p: int = 40):
    rng = np.random.RandomState(1000 + seed)
    families = rng.normal(size=(n, 10))
    X = np.empty((n, p))
    for j in range(p):
        X[:, j] = 0.7 * families[:, j % 10] + 0.7 * rng.normal(size=n)
    beta = np.array([1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.3, 0.2])
    z = X[:, :8] @ beta - 1.0 + 1.2 * (X[:, 8] > 1.0)
    y = rng.binomial(1, expit(z))
    return pd.DataFrame(X, columns=[f"v{j:02d}" for j in range(p)]), y


def cohorts(names):
    for name in names:
        if name in ("cleveland", "hungarian"):
            c = load_heart_disease(name)
            yield name, c.X, c.y
        elif name == "pooled":
            c = load_heart_disease()
            yield name, c.X, c.y
        elif name.startswith("mibg"):
            c = make_mibg_cohort(n_patients=300, random_state=int(name[4:]))
            yield name, c.X, c.y
        elif name.startswith("extrav"):
            c = make_extravasation_cohort(n_patients=300, random_state=int(name[6:] or 0))
            yield name, c.X, c.y
        elif name.startswith("weak"):
            X, y = weak_cohort(int(name[4:]))
            yield name, X, y
        else:  # a cohort exported by dev_cohorts.py into --devdata=FOLDER
            frame = pd.read_csv(DEVDATA / f"{name}.csv")
            yield name, frame.drop(columns="event"), frame["event"].to_numpy()


class PairedSelector(InputSelector):
    """Growing whose pick and backward pass compare with the best subset PAIRED (one SE of the paired
    difference, the margin the growing steps already use) instead of one unpaired SE of the best loss."""

    def _within(self, s, best):
        return self._not_worse(s, best)

    def _growing(self):
        path, step = self._growing_path()
        best = min(path, key=self._loss)
        pick = next(s for s in path if self._within(s, best))
        return self._refine_paired(pick, step, best)

    def _refine_paired(self, current, step, best):
        current = list(current)
        while len(current) > 1:
            subsets = [[c for c in current if c != j] for j in sorted(current, key=lambda j: (self.correlations_[j], j))]
            res = self._train(subsets)
            step += 1
            ok = [i for i in range(len(subsets)) if self._not_worse(subsets[i], current)
                  and self._within(subsets[i], best)]
            for i in range(len(subsets)):
                self._record(step, subsets[i], res, i, bool(ok) and i == ok[0])
            if not ok:
                break
            current = subsets[ok[0]]
        self._mark(current)
        return current


def expected_max_normal(k: int) -> float:
    """E[max of k independent N(0, 1)]."""
    from scipy import integrate, stats
    f = lambda x: x * k * stats.norm.pdf(x) * stats.norm.cdf(x) ** (k - 1)
    return float(integrate.quad(f, -10, 10)[0])


class MaxKSelector(InputSelector):
    """Growing whose step margin is one paired SE times E[max of k N(0,1)] (k = inputs tried in the batch):
    the best of k candidates that are all no better than the current subset still beats it by about that much."""

    def _clearly_better(self, candidate, reference):
        from scintiml.select.candidates import paired_difference
        diff, margin = paired_difference(self._terms[tuple(sorted(candidate))],
                                         self._terms[tuple(sorted(reference))], self.tolerance)
        return -diff > margin * max(1.0, expected_max_normal(self.batch_size))


class Prototype(ClassifierMixin, BaseEstimator):
    """``SelectedNetworkClassifier`` with the options under test exposed."""

    def __init__(self, loss="weighted_squared_error", final_loss=None, regularization_weight=0.01, final_reg=None, input_tolerance="1se",
                 order_tolerance="1se", final="best", paired=False, maxk=False, n_restarts=3, n_members=5, stability=None,
                 stability_threshold=0.5, order_reg=None, skew_log=False, random_state=0):
        self.skew_log = skew_log
        self.order_reg = order_reg
        self.stability = stability
        self.stability_threshold = stability_threshold
        self.loss = loss
        self.final_loss = final_loss
        self.final_reg = final_reg
        self.regularization_weight = regularization_weight
        self.input_tolerance = input_tolerance
        self.order_tolerance = order_tolerance
        self.final = final
        self.paired = paired
        self.maxk = maxk
        self.n_restarts = n_restarts
        self.n_members = n_members
        self.random_state = random_state

    def _net(self, hidden, final=False, **kw):
        loss = self.final_loss if final and self.final_loss else self.loss
        reg = self.final_reg if final and self.final_reg is not None else self.regularization_weight
        reg = getattr(self, "final_reg_", reg) if final else reg
        reg = 0.01 if reg == "cv" else reg
        return ANNClassifier(hidden_layer_sizes=hidden, loss=loss, regularization_weight=reg, **kw)

    def fit(self, X, y):
        names = list(X.columns)
        X = np.asarray(X, float)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        rng = check_random_state(self.random_state)
        seeds = rng.randint(0, 2**31 - 1, size=3)
        self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True).fit(X)
        Xi = self.imputer_.transform(X)
        if self.skew_log:
            Xi = self._fit_log(Xi)
        if self.regularization_weight == "cv":  # the selection run whose pick has the lower CV loss
            runs = []
            for lam in (0.01, 0.03):
                est = ANNClassifier(hidden_layer_sizes=(3,), loss=self.loss, regularization_weight=lam)
                runs.append((InputSelector(estimator=est, tolerance=self.input_tolerance,
                                           random_state=int(seeds[0])).fit(Xi, y), lam))
            sel, self.lam_ = min(runs, key=lambda r: r[0].best_selection_loss_)
        elif self.stability is not None:  # the stable set of resampled selections with this inner tolerance
            from scintiml.select import StabilitySelector
            self.lam_ = self.regularization_weight
            inner = InputSelector(estimator=self._net((3,)), tolerance=self.stability)
            sel = StabilitySelector(inner, threshold=self.stability_threshold, random_state=int(seeds[0])).fit(Xi, y)
        else:
            self.lam_ = self.regularization_weight
            sel = (PairedSelector if self.paired else MaxKSelector if self.maxk else InputSelector)(estimator=self._net((3,)),
                                                                     tolerance=self.input_tolerance,
                                                                     random_state=int(seeds[0])).fit(Xi, y)
        self.support_ = sel.support_
        self.selected_inputs_ = [names[j] for j in np.flatnonzero(self.support_)]
        Xs = Xi[:, self.support_]
        grid = {None: [self.lam_], "final": [self.final_reg], "cv": [0.003, 0.01, 0.03, 0.1]}[self.order_reg]
        # one order selection per norm weight on the same folds; "cv": the weight whose pick has the lower CV loss
        runs = [(OrderSelector(estimator=ANNClassifier(hidden_layer_sizes=(3,), loss=self.loss,
                                                       regularization_weight=lam),
                               tolerance=self.order_tolerance, random_state=int(seeds[1])).fit(Xs, y), lam)
                for lam in grid]
        order, lam = min(runs, key=lambda r: r[0].best_selection_loss_)
        if self.order_reg == "cv":
            self.final_reg_ = lam
        self.hidden_ = tuple(order.hidden_layer_sizes_)
        r = check_random_state(int(seeds[2]))
        if self.final == "best":
            self.members_ = [self._net(self.hidden_, True, n_restarts=self.n_restarts, random_state=r).fit(Xs, y)]
        elif self.final == "mean":
            self.members_ = [self._net(self.hidden_, True, random_state=r).fit(Xs, y) for _ in range(self.n_members)]
        elif self.final == "lr":  # diagnostic: logistic regression on the selected inputs
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler
            self.members_ = [make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(Xs, y)]
        elif self.final == "folds":
            cv = StratifiedKFold(self.n_members, shuffle=True, random_state=r.randint(2**31 - 1))
            self.members_ = [self._net(self.hidden_, True, random_state=r).fit(Xs[tr], y[tr]) for tr, _ in cv.split(Xs, y)]
        return self

    def _fit_log(self, Xi):
        """``skew_log``: an input with no negative training value and skewness > 1 (Bulmer's "highly skewed")
        enters as log(x + c): c = 0 when every value is positive, else the smallest positive value; values below
        the training minimum are raised to it. A two-valued input is unchanged up to an affine map."""
        from scipy.stats import skew
        lo = Xi.min(axis=0)
        with np.errstate(all="ignore"):
            sk = np.nan_to_num(skew(Xi, axis=0, bias=False))
        self.log_ = (lo >= 0) & (sk > 1.0)
        smallest = np.array([c[c > 0].min() if (c > 0).any() else 1.0 for c in Xi.T])
        self.log_shift_ = np.where(lo > 0, 0.0, smallest)
        self.log_lo_ = lo
        return self._log(Xi)

    def _log(self, Xi):
        Z = np.array(Xi, float)
        j = self.log_
        Z[:, j] = np.log(np.maximum(Z[:, j], self.log_lo_[j]) + self.log_shift_[j])
        return Z

    def predict_proba(self, X):
        Xi = self.imputer_.transform(np.asarray(X, float))
        Xs = (self._log(Xi) if self.skew_log else Xi)[:, self.support_]
        p = np.mean([m.predict_proba(Xs)[:, 1] for m in self.members_], axis=0)
        return np.column_stack([1 - p, p])


VARIANTS = {
    "default": {},
    "mean5": {"final": "mean", "n_members": 5},
    "mean10": {"final": "mean", "n_members": 10},
    "folds5": {"final": "folds", "n_members": 5},
    "xent": {"loss": "cross_entropy"},
    "xent_sel": {"loss": "cross_entropy", "final_loss": "weighted_squared_error"},
    "xent_final": {"final_loss": "cross_entropy"},
    "xent_mean5": {"loss": "cross_entropy", "final": "mean", "n_members": 5},
    "order_min": {"order_tolerance": 0.0},
    "order_min_mean5": {"order_tolerance": 0.0, "final": "mean", "n_members": 5},
    "reg0.001": {"regularization_weight": 0.001},
    "reg0.03": {"regularization_weight": 0.03},
    "reg0.1": {"regularization_weight": 0.1},
    "reg0.05": {"regularization_weight": 0.05},
    "reg_cv": {"regularization_weight": "cv", "final_reg": 0.01},
    "reg0.03_sel": {"regularization_weight": 0.03, "final_reg": 0.01},
    "reg0.03_final": {"final_reg": 0.03},
    "reg0.03_maxk": {"regularization_weight": 0.03, "final_reg": 0.01, "maxk": True},
    "maxk": {"maxk": True},
    "reg0.03_xent": {"regularization_weight": 0.03, "loss": "cross_entropy", "final_loss": "weighted_squared_error"},
    "input_min": {"input_tolerance": 0.0},
    "paired": {"paired": True},
    "paired_xent": {"paired": True, "loss": "cross_entropy", "final_loss": "weighted_squared_error"},
    "lr_on_selected": {"final": "lr"},
    "stab": {"stability": "1se"},
    "stab_min": {"stability": 0.0},
    "stab_min60": {"stability": 0.0, "stability_threshold": 0.6},
    "stab_min55": {"stability": 0.0, "stability_threshold": 0.55},
    "stab_1pc": {"stability": 0.01},
    # session 5: the stable set (the 0.4 default) with the norm weight of the later networks changed
    "stab55_final0.03": {"stability": 0.0, "stability_threshold": 0.55, "final_reg": 0.03},
    "stab55_order_final0.03": {"stability": 0.0, "stability_threshold": 0.55, "final_reg": 0.03, "order_reg": "final"},
    "stab55_sel0.03": {"stability": 0.0, "stability_threshold": 0.55, "regularization_weight": 0.03, "final_reg": 0.01},
    "stab55_lamcv": {"stability": 0.0, "stability_threshold": 0.55, "order_reg": "cv"},
    "stab55_logskew": {"stability": 0.0, "stability_threshold": 0.55, "skew_log": True},
}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    names = ["cleveland", "pooled", "mibg0", "mibg1", "extrav", "weak0", "weak1"]
    global DEVDATA
    for a in sys.argv[1:]:
        if a.startswith("--cohorts="):
            names = a.split("=", 1)[1].split(",")
        if a.startswith("--devdata="):
            DEVDATA = __import__("pathlib").Path(a.split("=", 1)[1])
    warnings.simplefilter("ignore")
    for name, X, y in cohorts(names):
        rf = None
        for v in args:
            t = time.perf_counter()
            if v == "sfs4_lr":  # the 4-input peer of benchmarks/feasibility_4inputs.py
                sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
                from feasibility_4inputs import FourInputs, lr
                est = FourInputs("sfs-lr", lr())
            elif v == "library":  # the library's SelectedNetworkClassifier with its current defaults
                from scintiml.select import SelectedNetworkClassifier
                est = SelectedNetworkClassifier(random_state=0)
            else:
                est = Prototype(**VARIANTS[v])
            res = nested_cross_validation(est, X, y,
                                          baselines=None if rf is not None else
                                          {"rf": RandomForestClassifier(500, random_state=0, n_jobs=1)},
                                          n_splits=5, n_repeats=2, random_state=0)
            if rf is None:
                rf = res.baselines["rf"]["fold_aucs"]
            sizes = [len(s) for s in res.selected_inputs]
            print(json.dumps({"cohort": name, "variant": v, "auc": round(res.auc, 4),
                              "rf": round(float(np.mean(rf)), 4),
                              "diff": round(res.auc - float(np.mean(rf)), 4),
                              "inputs_med": float(np.median(sizes)), "inputs_max": max(sizes),
                              "s": round(time.perf_counter() - t, 1), "fold_aucs": [round(a, 4) for a in res.fold_aucs]}),
                  flush=True)


if __name__ == "__main__":
    main()
