"""ANNClassifier against scikit-learn's MLPClassifier (lbfgs, logistic): fit time and testing AUC.

Same architecture, same iteration budget, inputs standardised for both, same
60:20:20 split (the network is trained on the 60 %, judged on the testing 20 %).
Regularisation: scintiml's L2 term is lambda * ||theta|| (OpenNN's norm, all
parameters); scikit-learn's is alpha / (2 n) * ||W||^2 (weights only). They are
not the same function; both are set to their defaults for a small network
(lambda = 0.01; alpha = 1e-2). Both stop at tol = 1e-4 (scikit-learn's default)
or 200 iterations.

Run: python benchmarks/bench_ann.py  (prints a table; numbers go into benchmarks/README.md)
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scintiml import ANNClassifier, split_cohort
from scintiml.datasets import load_heart_failure, load_spectf

REPEATS = 7
TOL = 1e-4  # scikit-learn's default tol (its L-BFGS-B gradient tolerance); the same for scintiml


def synthetic(n=300, p=44, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, p))
    logit = 1.2 * X[:, 0] - 0.9 * X[:, 1] + 0.6 * X[:, 2] * X[:, 3]
    y = rng.binomial(1, 1 / (1 + np.exp(-logit)))
    return X, y


def median_time(fn):
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    sets = {}
    for name, loader in (("SPECTF (267x44)", load_spectf), ("heart failure (299x11)", load_heart_failure)):
        c = loader()
        sets[name] = (c.X.to_numpy(), c.y)
    sets["synthetic (300x44)"] = synthetic()
    hidden, max_iter = (6,), 200
    print(f"{'data':26s} {'restarts':>8s} {'scintiml s':>11s} {'sklearn s':>10s} {'ratio':>6s} "
          f"{'AUC scintiml':>12s} {'AUC sklearn':>11s} {'iter ours':>9s} {'iter sk':>8s}")
    for name, (X, y) in sets.items():
        s = split_cohort(y, random_state=0)
        Xtr, ytr, Xte, yte = X[s.training], y[s.training], X[s.testing], y[s.testing]
        for restarts in (1, 10):
            ours_t, ours = median_time(lambda: ANNClassifier(
                hidden_layer_sizes=hidden, max_iter=max_iter, tol=TOL, n_restarts=restarts, random_state=0
            ).fit(Xtr, ytr))

            def sk_fit():
                best = None
                for r in range(restarts):  # scikit-learn trains one start per fit
                    m = make_pipeline(StandardScaler(), MLPClassifier(
                        hidden_layer_sizes=hidden, activation="logistic", solver="lbfgs", alpha=1e-2,
                        max_iter=max_iter, tol=TOL, random_state=r)).fit(Xtr, ytr)
                    loss = m[-1].loss_
                    if best is None or loss < best[0]:
                        best = (loss, m)
                return best[1]

            sk_t, sk = median_time(sk_fit)
            auc_o = roc_auc_score(yte, ours.predict_proba(Xte)[:, 1])
            auc_s = roc_auc_score(yte, sk.predict_proba(Xte)[:, 1])
            print(f"{name:26s} {restarts:8d} {ours_t:11.4f} {sk_t:10.4f} {ours_t / sk_t:6.2f} {auc_o:12.3f} "
                  f"{auc_s:11.3f} {ours.n_iter_:9d} {sk[-1].n_iter_:8d}")


def defaults(seeds=range(5)):
    """One fit with each library's defaults: ANNClassifier() vs MLPClassifier((6, 6, 6), solver="lbfgs").

    Time: median over the seeds' fits; AUC: mean testing AUC over 60:20:20 splits of those seeds."""
    warnings.simplefilter("ignore", ConvergenceWarning)
    sets = {"synthetic (300x44)": synthetic()}
    for name, loader in (("SPECTF (267x44)", load_spectf), ("heart failure (299x11)", load_heart_failure)):
        c = loader()
        sets[name] = (c.X.to_numpy(), c.y)
    print(f"{'data':26s} {'scintiml s':>11s} {'sklearn s':>10s} {'ratio':>6s} {'AUC scintiml':>12s} {'AUC sklearn':>11s}")
    for name, (X, y) in sets.items():
        t_o, t_s, a_o, a_s = [], [], [], []
        for seed in seeds:
            s = split_cohort(y, random_state=seed)
            Xtr, ytr, Xte, yte = X[s.training], y[s.training], X[s.testing], y[s.testing]
            t = time.perf_counter()
            ours = ANNClassifier(random_state=seed).fit(Xtr, ytr)
            t_o.append(time.perf_counter() - t)
            t = time.perf_counter()
            sk = make_pipeline(StandardScaler(), MLPClassifier((6, 6, 6), solver="lbfgs", random_state=seed)).fit(Xtr, ytr)
            t_s.append(time.perf_counter() - t)
            a_o.append(roc_auc_score(yte, ours.predict_proba(Xte)[:, 1]))
            a_s.append(roc_auc_score(yte, sk.predict_proba(Xte)[:, 1]))
        mo, ms = np.median(t_o), np.median(t_s)
        print(f"{name:26s} {mo:11.4f} {ms:10.4f} {mo / ms:6.2f} {np.mean(a_o):12.3f} {np.mean(a_s):11.3f}")


if __name__ == "__main__":
    import sys

    defaults() if sys.argv[1:] == ["defaults"] else (main(), defaults())
