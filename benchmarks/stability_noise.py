"""Does the vote of stability selection remove noise inputs? The checks behind the 0.55 threshold.

``StabilitySelector`` with its defaults (10 complementary pairs of half-samples = 20 selections, each growing
selection keeping its subset of lowest selection loss, threshold 0.55) on all 300 patients of:

* ``mibg``: the teaching mIBG cohort (84 inputs, 2 true: ``delta_lvef``, ``planar_washout``), cohort seeds 0-4;
* ``noise``: the same cohort's two true inputs beside 40 independent N(0, 1) inputs (drawn with seed
  12345 + cohort seed), cohort seeds 0-4.

The networks that judge the candidates use the L2 norm weight given on the command line (the library's default
is 0.01). Per seed: the stable set, whether it is exactly the true pair, and the most frequent other input with
its share of the 20 selections. Results: docs/validation.md ("Trying to close the gap").

Run: OMP_NUM_THREADS=1 python benchmarks/stability_noise.py [WEIGHT ...]   (default: 0.01 0.03)
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from scintiml.ann import ANNClassifier
from scintiml.datasets import make_mibg_cohort
from scintiml.select import InputSelector, StabilitySelector

TRUE = ("delta_lvef", "planar_washout")


def cohort(kind: str, seed: int):
    c = make_mibg_cohort(n_patients=300, random_state=seed)
    if kind == "mibg":
        return c.X, c.y
    rng = np.random.RandomState(12345 + seed)  # not the cohort's own seed: its stream would replay its draws
    X = c.X[list(TRUE)].copy()
    for j in range(40):
        X[f"noise{j:02d}"] = rng.normal(size=len(X))
    return X, c.y


def main():
    warnings.simplefilter("ignore")
    weights = [float(a) for a in sys.argv[1:]] or [0.01, 0.03]
    print("| norm weight | cohort | seed | stable set | exactly the true pair | most frequent other input (share) |")
    print("|---|---|---|---|---|---|")
    for lam in weights:
        for kind in ("mibg", "noise"):
            for seed in range(5):
                X, y = cohort(kind, seed)
                inner = InputSelector(estimator=ANNClassifier(hidden_layer_sizes=(3,), regularization_weight=lam),
                                      tolerance=0.0)
                stable = StabilitySelector(inner, random_state=seed).fit(X, y)
                other = stable.frequencies_[~stable.frequencies_["input"].isin(TRUE)]
                top = other.loc[other["frequency"].idxmax()]
                exact = sorted(stable.selected_inputs_) == sorted(TRUE)
                print(f"| {lam:g} | {kind} | {seed} | {', '.join(stable.selected_inputs_)} | "
                      f"{'yes' if exact else 'no'} | {top['input']} ({top['frequency']:.2f}) |", flush=True)


if __name__ == "__main__":
    main()
