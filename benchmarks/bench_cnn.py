"""Planar CNN: training time to a testing AUC, and inference latency, torch vs onnxruntime.

Simulates N studies (default 2000; 6 views, 128 × 128), trains PlanarAlexNet on 2 CPU
threads with the default settings, and reports the testing AUC (95 % CI), the time to
train, the latency per study at batch 1 and 32 for torch and onnxruntime, and a
protocol-drift check: the same model on studies simulated with half the counts and a
general-purpose collimator (9 mm + 0.06/mm instead of 7 mm + 0.04/mm).

Run: python benchmarks/bench_cnn.py [N]   (simulation alone takes ~0.15 s per study)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from scintiml.cnn import OnnxPredictor, drift_check, export_onnx, train_cnn
from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans


def latency(fn, x, repeats=20):
    fn(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times)) / len(x)


def main(n: int = 2000):
    torch.set_num_threads(2)
    t = time.perf_counter()
    cases = simulate_perfusion_scans(n, prevalence=0.4, random_state=0)
    sim_s = time.perf_counter() - t
    X = np.stack([c.stack() for c in cases])
    y = np.array([c.label for c in cases])
    del cases
    t = time.perf_counter()
    model, report = train_cnn(X, y, VIEWS, seed=0, device="cpu")
    train_s = time.perf_counter() - t
    test = report["test"]
    print(f"simulated {n} studies in {sim_s:.0f} s; trained in {train_s:.0f} s ({report['epochs']} epochs, "
          f"{report['steps']} steps, 2 threads)")
    print(f"testing AUC {test['auc']:.3f} ({test['auc_ci95'][0]:.3f}-{test['auc_ci95'][1]:.3f}), sensitivity "
          f"{test['sensitivity']:.2f} at threshold {model.threshold:.3f}, specificity {test['specificity']:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        ort = OnnxPredictor(export_onnx(model, Path(tmp) / "m.onnx"), model.config)
        for batch in (1, 32):
            xb = X[:batch]
            print(f"batch {batch:2d}: torch {latency(model.predict_proba, xb):6.2f} ms/study, onnxruntime "
                  f"{latency(ort.predict_proba, xb):6.2f} ms/study")
    for row in drift_check(model, n_cases=200, random_state=12345).itertuples():
        print(f"drift, {row.protocol:42s}: AUC {row.auc:.3f} ({row.auc_ci_low:.3f}-{row.auc_ci_high:.3f}), "
              f"sensitivity {row.sensitivity:.2f}, specificity {row.specificity:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
