"""Input selection against scikit-learn, measured in the same run.

Teaching mIBG cohort (300 patients, 84 inputs, 2 true), the 240 non-testing patients of a 60:20:20 split.

1. End to end: scintiml ``InputSelector(method="growing")`` (5-fold CV, one-SE rule, every fold x candidate x
   restart of a step one batch) vs scikit-learn ``SequentialFeatureSelector(MLPClassifier((3,), lbfgs),
   direction="forward", cv=5)`` asked for as many inputs as scintiml kept.
2. Raw throughput: 256 random 5-input subsets x 5 folds (1,280 networks, hidden (3,)) trained as one batch by
   ``train_candidates`` vs ``MLPClassifier((3,), solver="lbfgs")`` fitted one at a time on 64 of the same
   (subset, fold) pairs; networks per second, and their ratio.

Run: python benchmarks/bench_selection.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import SequentialFeatureSelector
from sklearn.neural_network import MLPClassifier

from scintiml import split_cohort
from scintiml.datasets import make_mibg_cohort
from scintiml.select import InputSelector
from scintiml.select.candidates import CandidateData, default_estimator, train_candidates


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    cohort = make_mibg_cohort(n_patients=300, random_state=0)
    s = split_cohort(cohort, random_state=0)
    rows = np.r_[s.training, s.selection]
    X, y = cohort.X.iloc[rows], cohort.y[rows]
    p = X.shape[1]

    t = time.perf_counter()
    ours = InputSelector(method="growing", random_state=0).fit(X, y)
    ours_t = time.perf_counter() - t
    k = max(2, len(ours.selected_inputs_))
    mlp = MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs", random_state=0)
    Xs = (X - X.mean()) / X.std()
    sfs = SequentialFeatureSelector(mlp, n_features_to_select=k, direction="forward", scoring="roc_auc", cv=5)
    t = time.perf_counter()
    sfs.fit(Xs, y)
    sk_t = time.perf_counter() - t
    sk_fits = sum(p - i for i in range(k)) * 5
    print("| method | networks | wall s | networks/s | inputs |")
    print("|---|---|---|---|---|")
    print(f"| scintiml growing, 5-fold CV, 2 restarts | {ours.n_networks_} | {ours_t:.2f} | "
          f"{ours.n_networks_ / ours_t:.0f} | {', '.join(ours.selected_inputs_)} |")
    print(f"| scikit-learn SFS forward, MLP (3,) lbfgs, cv=5, k={k} | {sk_fits} | {sk_t:.2f} | {sk_fits / sk_t:.0f} | "
          f"{', '.join(X.columns[sfs.get_support()])} |")

    rng = np.random.RandomState(0)
    data = CandidateData.cross_validated(X.to_numpy(), y.astype(float), 5, 1, "meanstd", seed=0, random_state=0)
    subsets = [list(rng.choice(p, 5, replace=False)) for _ in range(256)]
    Xd = data.X[:, :-1]
    n_sk = 32
    batch_rates, sk_rates = [], []
    for _ in range(3):  # interleaved rounds: the machine is shared, so both sides see the same load
        t = time.perf_counter()
        res = train_candidates(data, subsets, default_estimator(), 1, rng)
        batch_t = time.perf_counter() - t
        batch_rates.append(res.n_networks / batch_t)
        t = time.perf_counter()
        for i in range(n_sk):
            f = i % data.n_folds
            train = data.training_weights[f] > 0
            MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs", random_state=i).fit(Xd[train][:, subsets[i]],
                                                                                        data.y[train])
        one_t = time.perf_counter() - t
        sk_rates.append(n_sk / one_t)
    ours_rate, sk_rate = float(np.median(batch_rates)), float(np.median(sk_rates))
    print(f"| scintiml one batch: 256 subsets x 5 folds (5 inputs), median of 3 | {res.n_networks} | "
          f"{res.n_networks / ours_rate:.2f} | {ours_rate:.0f} | |")
    print(f"| scikit-learn MLPClassifier((3,), lbfgs), one fit at a time, median of 3 | {n_sk} | "
          f"{n_sk / sk_rate:.2f} | {sk_rate:.0f} | |")
    print(f"\nbatched throughput: {ours_rate / sk_rate:.1f}x scikit-learn's fits per second; "
          f"growing selection wall time {ours_t / sk_t:.3f}x SFS's")


if __name__ == "__main__":
    main()
