"""How far can ANY 4-input model go? A feasibility bound for the nested headline target (issue #14).

The target: the network's nested AUC within 0.02 of the best baseline (in practice the random forest on all
inputs) with at most 4 inputs. Before blaming the network, ask what simple models reach with 4 inputs on the
very same outer folds (``nested_cross_validation(..., n_splits=5, n_repeats=2, random_state=0)``):

(a) honest: the 4 inputs chosen INSIDE each outer fold, on its training patients only
    * ``LR | SFS-LR``: forward sequential selection of 4 inputs with L2 logistic regression, inner 5-fold CV AUC;
    * ``RF | SFS-LR``: a random forest (500 trees) on those same 4 inputs;
    * ``RF | RF-imp``: the 4 inputs of highest impurity importance of a forest fitted on the fold, then a forest;
    * ``network | SFS-LR``: the study's network (order selection + final fit, defaults) on those same 4;
    * ``RF | SFS-RF`` (heart failure only, 11 inputs): forward selection with a 100-tree forest, inner 5-fold CV;
(b) optimistic oracle: the 4 inputs chosen on ALL patients, judged by the mean AUC over the SAME outer folds
    that are reported (the most favourable choice a 4-input model could have; the selection sees the testing
    patients, so this is an upper bound, not an estimate):
    * ``LR oracle``: every 4-subset for heart failure (330); for SPECTF (135,751 subsets) every 4-subset of the 20
      inputs of highest univariate AUC (4,845), plus greedy forward selection over all 44 on the same score;
    * ``RF oracle``: greedy forward selection (100-tree forests) on the same outer-fold score over all inputs,
      then the best subset refitted with 500 trees; the forest on the LR oracle's subset, and the study's network
      on it (all 4, and its first 2).

Run: OMP_NUM_THREADS=1 python benchmarks/feasibility_4inputs.py [spectf|heart_failure]
"""

from __future__ import annotations

import itertools
import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import SequentialFeatureSelector
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from scintiml.datasets import load_heart_failure, load_spectf
from scintiml.nested import nested_cross_validation
from scintiml.select import SelectedNetworkClassifier
from scintiml.stages import baseline_models

K = 4


def lr():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


def rf(n=500):
    return RandomForestClassifier(n_estimators=n, random_state=0, n_jobs=1)


class FourInputs(ClassifierMixin, BaseEstimator):
    """Choose ``K`` inputs on the training patients (``how``), then fit ``final`` on them."""

    def __init__(self, how="sfs-lr", final=None):
        self.how = how
        self.final = final

    def fit(self, X, y):
        X = pd.DataFrame(X)
        Xi = pd.DataFrame(SimpleImputer(strategy="median").fit_transform(X), columns=X.columns)
        if self.how == "rf-imp":
            imp = rf().fit(Xi, y).feature_importances_
            cols = list(Xi.columns[np.argsort(-imp)[:K]])
        else:
            est = lr() if self.how == "sfs-lr" else rf(100)
            sfs = SequentialFeatureSelector(est, n_features_to_select=K, direction="forward", scoring="roc_auc",
                                            cv=StratifiedKFold(5, shuffle=True, random_state=0))
            cols = list(Xi.columns[sfs.fit(Xi, y).get_support()])
        self.selected_inputs_ = cols
        self.model_ = make_pipeline(SimpleImputer(strategy="median"), clone(self.final)).fit(X[cols], y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(pd.DataFrame(X)[self.selected_inputs_])


class FixedInputs(ClassifierMixin, BaseEstimator):
    """``final`` fitted on the named inputs ``cols`` (chosen beforehand: an oracle's subset)."""

    def __init__(self, cols=None, final=None):
        self.cols = cols
        self.final = final

    def fit(self, X, y):
        self.model_ = clone(self.final).fit(pd.DataFrame(X)[list(self.cols)], y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(pd.DataFrame(X)[list(self.cols)])


def network():
    """The study's network with its inputs given: order selection (5-fold CV, one-SE rule) and the final fit."""
    return SelectedNetworkClassifier(method="all", random_state=0)


def outer_folds(y, n_splits=5, n_repeats=2, random_state=0):
    """Exactly the folds of ``nested_cross_validation(..., random_state=random_state)``."""
    rng = check_random_state(random_state)
    splitter = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats,
                                       random_state=int(rng.randint(0, 2**31 - 1)))
    t = (np.asarray(y) == np.unique(y)[1]).astype(int)
    return list(splitter.split(np.zeros(len(t)), t)), t


def fold_score(model, X, t, folds, cols):
    aucs = []
    for tr, te in folds:
        m = clone(model).fit(X.iloc[tr][cols], t[tr])
        aucs.append(roc_auc_score(t[te], m.predict_proba(X.iloc[te][cols])[:, 1]))
    return float(np.mean(aucs)), aucs


def lr_scores_fast(X, t, folds, subsets):
    """Mean outer-fold AUC of L2 logistic regression (C=1, standardised) for many subsets (exact, sklearn)."""
    out = []
    for cols in subsets:
        out.append(fold_score(lr(), X, t, folds, list(cols))[0])
    return np.array(out)


def greedy(model, X, t, folds, pool):
    chosen: list[str] = []
    for _ in range(K):
        best = max((c for c in pool if c not in chosen), key=lambda c: fold_score(model, X, t, folds, chosen + [c])[0])
        chosen.append(best)
    return chosen


def run(name, cohort):
    warnings.simplefilter("ignore")
    X = pd.DataFrame(SimpleImputer(strategy="median").fit_transform(cohort.X), columns=cohort.X.columns)
    y = cohort.y
    folds, t = outer_folds(y)
    rows = []
    t0 = time.perf_counter()
    ref = nested_cross_validation(FourInputs("sfs-lr", lr()), cohort.X, y, baselines=baseline_models(0),
                                  n_splits=5, n_repeats=2, random_state=0)
    rows.append(("(a) LR | SFS-LR, 4 chosen per fold", ref.auc, ref.selected_inputs))
    base = {k: v["auc"] for k, v in ref.baselines.items()}
    best_name = max(base, key=base.get)
    # check: our folds are nested_cross_validation's folds
    rf_here = fold_score(rf(), X, t, folds, list(X.columns))[1]
    assert np.allclose(rf_here, ref.baselines["random_forest"]["fold_aucs"]), "folds differ"
    print(f"<!-- {name}: baselines {base}; {time.perf_counter() - t0:.0f} s -->", flush=True)
    for how, final, label in (("sfs-lr", rf(), "(a) RF | SFS-LR"), ("rf-imp", rf(), "(a) RF | RF importance top 4"),
                              ("rf-imp", lr(), "(a) LR | RF importance top 4")):
        r = nested_cross_validation(FourInputs(how, final), cohort.X, y, n_splits=5, n_repeats=2, random_state=0)
        rows.append((label, r.auc, r.selected_inputs))
        print(f"<!-- {label}: {r.auc:.3f} ({time.perf_counter() - t0:.0f} s) -->", flush=True)
    r = nested_cross_validation(FourInputs("sfs-lr", network()), cohort.X, y, n_splits=5, n_repeats=2, random_state=0)
    rows.append(("(a) network | SFS-LR", r.auc, r.selected_inputs))
    print(f"<!-- network | SFS-LR: {r.auc:.3f} ({time.perf_counter() - t0:.0f} s) -->", flush=True)
    if X.shape[1] <= 15:
        r = nested_cross_validation(FourInputs("sfs-rf", rf()), cohort.X, y, n_splits=5, n_repeats=2, random_state=0)
        rows.append(("(a) RF | SFS-RF", r.auc, r.selected_inputs))
        print(f"<!-- SFS-RF: {r.auc:.3f} ({time.perf_counter() - t0:.0f} s) -->", flush=True)
    # (b) oracle
    uni = {c: max(roc_auc_score(t, X[c]), 1 - roc_auc_score(t, X[c])) for c in X.columns}
    pool = sorted(X.columns, key=lambda c: -uni[c])
    top = pool[: min(20, len(pool))]
    subsets = list(itertools.combinations(top, K))
    scores = lr_scores_fast(X, t, folds, subsets)
    lr_exh = list(subsets[int(np.argmax(scores))])
    lr_exh_auc = float(scores.max())
    what = "every 4-subset" if len(top) == len(pool) else f"every 4-subset of the top {len(top)}"
    print(f"<!-- LR oracle exhaustive ({what}, {len(subsets)}): {lr_exh} {lr_exh_auc:.3f} "
          f"({time.perf_counter() - t0:.0f} s) -->", flush=True)
    lr_gr = greedy(lr(), X, t, folds, pool)
    lr_gr_auc = fold_score(lr(), X, t, folds, lr_gr)[0]
    lr_best, lr_best_auc = (lr_exh, lr_exh_auc) if lr_exh_auc >= lr_gr_auc else (lr_gr, lr_gr_auc)
    rows.append((f"(b) LR oracle ({what}; greedy over all: {lr_gr_auc:.3f})", lr_best_auc, [lr_best]))
    rows.append(("(b) RF on the LR oracle's 4", fold_score(rf(), X, t, folds, lr_best)[0], [lr_best]))
    for k in (4, 2):  # the network given the oracle's inputs (all 4; its first two, the strongest pair)
        r = nested_cross_validation(FixedInputs(lr_best[:k], network()), cohort.X, y, n_splits=5, n_repeats=2,
                                    random_state=0)
        rows.append((f"(b) network on the LR oracle's first {k}", r.auc, [lr_best[:k]]))
    print(f"<!-- LR oracle: {lr_best} ({time.perf_counter() - t0:.0f} s) -->", flush=True)
    rf_gr = greedy(rf(100), X, t, folds, pool)
    rows.append(("(b) RF oracle (greedy, 100 trees; refit 500)", fold_score(rf(), X, t, folds, rf_gr)[0], [rf_gr]))
    print(f"<!-- RF oracle: {rf_gr} ({time.perf_counter() - t0:.0f} s) -->", flush=True)
    print(f"\n#### {name}: all-input baselines on the same 5 x 2 folds: "
          + ", ".join(f"{k} {v:.3f}" for k, v in base.items()) + f"; best {best_name} {base[best_name]:.3f}\n")
    print("| 4-input model | nested AUC (mean of 10 folds) | minus best all-input baseline | inputs |")
    print("|---|---|---|---|")
    for label, auc, sel in rows:
        counts = pd.Series([c for s in sel for c in s]).value_counts()
        shown = ", ".join(f"{c} {n}" if len(sel) > 1 else c for c, n in counts.head(6).items())
        print(f"| {label} | {auc:.3f} | {auc - base[best_name]:+.3f} | {shown} |")
    print(f"\n({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    which = sys.argv[1:] or ["spectf", "heart_failure"]
    if "heart_failure" in which:
        run("heart failure (without time)", load_heart_failure())
    if "spectf" in which:
        run("SPECTF", load_spectf())
