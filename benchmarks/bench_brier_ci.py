"""The Brier score's bootstrap interval of an external validation (``scintiml.external.metrics.brier_ci``) against
the same percentile bootstrap written with scikit-learn's peers (``sklearn.utils.resample`` +
``sklearn.metrics.brier_score_loss``, one resample at a time), same data, same run.

Both draw 1,000 resamples of the patients with replacement; the intervals agree to Monte-Carlo error (different
random streams), not to the digit. Usage: ``python benchmarks/bench_brier_ci.py``. Prints a markdown table.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import brier_score_loss
from sklearn.utils import resample

from scintiml.external.metrics import brier_ci


def _peer(y: np.ndarray, p: np.ndarray, n_bootstrap: int = 1000) -> tuple[float, float]:
    values = []
    for b in range(n_bootstrap):
        yb, pb = resample(y, p, random_state=b)
        values.append(brier_score_loss(yb, pb))
    lo, hi = np.quantile(values, [0.025, 0.975])
    return float(lo), float(hi)


def main() -> None:
    print("| patients | scintiml brier_ci s | sklearn resample + brier_score_loss s | ratio (peer / ours) | "
          "interval ours | interval peer |")
    print("|---|---|---|---|---|---|")
    for n in (1_000, 10_000, 50_000):
        rng = np.random.default_rng(n)
        p = rng.uniform(0.02, 0.98, n)
        y = rng.binomial(1, p)
        start = time.perf_counter()
        _, ours = brier_ci(y, p)
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        peer = _peer(y, p)
        t_peer = time.perf_counter() - start
        print(f"| {n:,} | {t_ours:.2f} | {t_peer:.2f} | {t_peer / t_ours:.1f} | {ours[0]:.4f}–{ours[1]:.4f} | "
              f"{peer[0]:.4f}–{peer[1]:.4f} |")


if __name__ == "__main__":
    main()
