"""The whole default study, timed stage by stage: 300 x 84 and 3,000 x 400.

``run_study`` with its defaults (inputs: the stable set of 20 half-sample growing selections over 10
complementary pairs, one 5-fold CV selection beside; order selection by 5-fold CV, final network, testing
analysis, explanation, the nested 5-fold cross-validation headline of that pipeline; no readiness stage, no
report) on:

* the teaching mIBG cohort, 300 patients x 84 inputs (seed 0);
* 3,000 patients x 400 inputs: the teaching mIBG cohort at 3,000 patients plus 316 independent N(0, 1) noise inputs.

The peer, run in the same process just before: scikit-learn's ``LogisticRegressionCV`` (L1, 5 folds, saga)
on the same non-testing patients — the cheapest standard "select inputs by cross-validation" a department
might run instead — to express the study's cost as a ratio on this machine at this moment.

``--jobs=N`` adds a row per cohort for ``run_study(..., n_jobs=N)`` (the resampled selections and the nested
outer folds in N processes; the script checks that the results equal the serial run's).

Run: python benchmarks/bench_study.py [--small] [--jobs=2]
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scintiml.cohort import Cohort
from scintiml.datasets import make_mibg_cohort
from scintiml.study import run_study


def wide_cohort(n_patients=3000, n_inputs=400, seed=0) -> Cohort:
    base = make_mibg_cohort(n_patients=n_patients, random_state=seed)
    rng = np.random.RandomState(seed + 1)
    extra = n_inputs - base.n_inputs
    noise = pd.DataFrame(rng.normal(size=(n_patients, extra)), columns=[f"noise_{i:03d}" for i in range(extra)])
    X = pd.concat([base.X.reset_index(drop=True), noise], axis=1)
    return Cohort(X=X, y=base.y, ids=base.ids, target=base.target, positive=base.positive, name="mibg + noise",
                  truth=base.truth)


def one(name, cohort, n_jobs=None):
    warnings.simplefilter("ignore", ConvergenceWarning)
    t = time.perf_counter()
    peer = make_pipeline(StandardScaler(), LogisticRegressionCV(cv=5, l1_ratios=(1.0,), solver="saga", max_iter=200))
    peer.fit(cohort.X.fillna(cohort.X.median()), cohort.y)
    peer_t = time.perf_counter() - t
    t = time.perf_counter()
    result = run_study(cohort, readiness=False, random_state=0)
    wall = time.perf_counter() - t
    rows = [(name, wall, result.results)]
    if n_jobs:
        t = time.perf_counter()
        parallel = run_study(cohort, readiness=False, random_state=0, n_jobs=n_jobs).results
        rows.append((f"{name}, n_jobs={n_jobs}", time.perf_counter() - t, parallel))
        same = {k: v for k, v in parallel.items() if k != "timings"} == {
            k: v for k, v in result.results.items() if k != "timings"}
        print(f"<!-- {name}: n_jobs={n_jobs} gives the serial results: {same} -->", flush=True)
    for name, wall, r in rows:
        row(name, wall, peer_t, r)


def row(name, wall, peer_t, r):
    stages = ", ".join(f"{k} {v:.1f}" for k, v in r["timings"].items())
    nested = r.get("nested", {})
    print(f"| {name} | {wall:.1f} | {peer_t:.1f} | {wall / peer_t:.1f} | {', '.join(r['inputs']['selected'])} | "
          f"{r['test']['auc']:.3f} | {nested.get('auc', float('nan')):.3f} | {stages} |", flush=True)


def main():
    print("| cohort | study s | LogisticRegressionCV(L1) s | ratio | inputs kept | testing AUC | nested AUC | "
          "stage seconds |")
    print("|---|---|---|---|---|---|---|---|")
    jobs = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--jobs=")), None)
    one("mIBG 300 x 84", make_mibg_cohort(n_patients=300, random_state=0), jobs)
    if "--small" not in sys.argv:
        one("mIBG + noise 3000 x 400", wide_cohort(), jobs)


if __name__ == "__main__":
    main()
