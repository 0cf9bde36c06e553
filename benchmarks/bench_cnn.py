"""Planar CNN, the issue's "done when" run: train with defaults on N simulated studies per seed, score M studies
of a simulator seed never seen, and measure the protocol guard, the saliency hit rate, latency and ONNX parity.

Per training seed: training time (epochs, steps), testing AUC; on the unseen studies: AUC (DeLong CI),
sensitivity and specificity at the worklist threshold (Wilson CIs), URGENT share, calibration-in-the-large and
slope. Then, for the first seed's model: the protocol guard on the unseen studies as acquired, mirrored
(left-right flipped) and at 256 × 256; the per-view saliency-peak-in-true-defect rate on the unseen true
positives (with the chance rate: a peak dropped at random on the lung); latency per study at batch 1 and 32,
torch vs onnxruntime (the peer, same run, as a ratio) and the largest |torch − onnxruntime| difference.

Run:  python benchmarks/bench_cnn.py [--n 2000] [--seeds 0,1,2] [--unseen 500]
      [--cache-train FILE.npz --cache-unseen FILE.npz]   (npz with X, y, D (defect masks), L (lung masks);
      written when missing)  [--device cuda] [--nondeterministic] [--jobs 8]
Simulation costs ~0.1-0.3 s a study on the development machine, before any training.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from scintiml.cnn import OnnxPredictor, export_onnx, grad_cam, saliency_hit_rate, train_cnn
from scintiml.cnn.calibrate import threshold_for_sensitivity_bound
from scintiml.cnn.train import patient_split
from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans
from scintiml.evaluate import auc_ci, calibration_intercept_slope, wilson_interval


def simulate(n: int, seed: int, cache: str | None, n_jobs: int | None = None):
    if cache and Path(cache).exists():
        d = np.load(cache)
        return d["X"].astype(np.float32), d["y"], d["D"], d["L"]
    # the cases do not depend on n_jobs (each case's seed is drawn first)
    cases = simulate_perfusion_scans(n, prevalence=0.4, random_state=seed, n_jobs=n_jobs)
    X = np.stack([c.stack(VIEWS) for c in cases]).astype(np.float32)
    y = np.array([c.label for c in cases])
    D = np.stack([np.stack([c.defect_masks[v] for v in VIEWS]) for c in cases])
    L = np.stack([np.stack([c.lung_masks[v] for v in VIEWS]) for c in cases])
    if cache:  # written once, so a second run (another device, say) scores the very same studies
        np.savez(cache, X=X, y=y, D=D, L=L)
    return X, y, D, L


def latency(fn, x, repeats=20):
    fn(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times)) / len(x)


def ci(pair):
    return f"({pair[0]:.3f}-{pair[1]:.3f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--unseen", type=int, default=500)
    ap.add_argument("--train-sim-seed", type=int, default=100)
    ap.add_argument("--unseen-sim-seed", type=int, default=999)
    ap.add_argument("--cache-train")
    ap.add_argument("--cache-unseen")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cpu", help="torch device for training and the torch latency (cpu, cuda)")
    ap.add_argument("--nondeterministic", action="store_true",
                    help="GPU: allow cuDNN's non-deterministic algorithms (train_cnn(deterministic=False))")
    ap.add_argument("--jobs", type=int, default=None, help="processes for the simulator (default: one)")
    ap.add_argument("--save-scores", help="folder: write each seed's unseen probabilities and labels (npz) there, "
                                          "for benchmarks/threshold_rule_resampling.py")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    X, y, _, _ = simulate(args.n, args.train_sim_seed, args.cache_train, args.jobs)
    Xu, yu, Du, Lu = simulate(args.unseen, args.unseen_sim_seed, args.cache_unseen, args.jobs)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} torch thread(s)"
    print(f"data: {len(y)} training studies (simulator seed {args.train_sim_seed}), {len(yu)} unseen "
          f"(seed {args.unseen_sim_seed}), {time.perf_counter() - t:.0f} s; torch {torch.__version__} on {where}")
    print("| training seed | training s (epochs, steps) | testing AUC | unseen AUC (95 % CI) | sensitivity (CI) "
          "| specificity (CI) | URGENT | cal. intercept | cal. slope | stricter rule (97.5 %): sensitivity, "
          "specificity |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    first = None
    for seed in [int(s) for s in args.seeds.split(",")]:
        model = train_cnn(X, y, VIEWS, seed=seed, device=device, deterministic=not args.nondeterministic)
        r = model.report
        p = model.predict_proba(Xu)
        called = p >= model.threshold
        tp, pos = int((called & (yu == 1)).sum()), int(yu.sum())
        tn, neg = int((~called & (yu == 0)).sum()), int((yu == 0).sum())
        auc = auc_ci(yu, p)
        a, b = calibration_intercept_slope(yu, p)
        # the same model with the stricter threshold rule of scintiml 0.2 (one-sided 97.5 % bound), for comparison
        se = patient_split(y, None, seed).selection
        t975, _ = threshold_for_sensitivity_bound(y[se], model.predict_proba(X[se]), 0.95, level=0.975)
        strict = p >= t975
        strict_cell = (f"{(strict & (yu == 1)).sum() / pos:.3f}, {(~strict & (yu == 0)).sum() / neg:.3f}")
        print(f"| {seed} | {r['training_seconds']:.0f} ({r['epochs_run']}, {r['steps']}) | "
              f"{r['metrics'].get('auc', float('nan')):.3f} | {auc.auc:.3f} {ci(auc.ci)} | {tp / pos:.3f} "
              f"{ci(wilson_interval(tp, pos))} | {tn / neg:.3f} {ci(wilson_interval(tn, neg))} | "
              f"{called.mean():.2f} | {a:+.2f} | {b:.2f} | {strict_cell} |", flush=True)
        if args.save_scores:
            Path(args.save_scores).mkdir(parents=True, exist_ok=True)
            np.savez(Path(args.save_scores) / f"unseen_scores_seed{seed}.npz", p=p, y=yu, threshold=model.threshold)
        first = first or (model, p)
    model, p = first

    flags = [bool(model.guard.check_counts(x)) for x in Xu]
    mirrored = [bool(model.guard.check_counts(x[:, :, ::-1])) for x in Xu]
    big = [bool(model.guard.check_counts(np.kron(x, np.ones((1, 2, 2))) / 4)) for x in Xu[:50]]
    print(f"\nprotocol guard on {len(Xu)} unseen studies: flagged as acquired {np.mean(flags):.3f}, "
          f"mirrored flagged {np.mean(mirrored):.3f}; 256 x 256 flagged {np.mean(big):.3f} (of {len(big)})")

    tp_idx = np.flatnonzero((yu == 1) & (p >= model.threshold))
    maps = grad_cam(model, Xu[tp_idx])
    print(f"\nsaliency peak in a true defect (2-pixel tolerance), {len(tp_idx)} unseen true positives:")
    print("| view | studies with a visible defect | hit rate | chance rate |")
    print("|---|---|---|---|")
    for row in saliency_hit_rate(maps, Du[tp_idx], VIEWS, lung_masks=Lu[tp_idx]):
        print(f"| {row['view']} | {row['studies']} | {row['hit_rate']:.2f} | {row['chance_rate']:.2f} |")

    with tempfile.TemporaryDirectory() as tmp:
        ort = OnnxPredictor(export_onnx(model, Path(tmp) / "m.onnx"))
        diff = float(np.abs(ort.predict_proba(Xu[:64]) - model.predict_proba(Xu[:64])).max())
        print(f"\nONNX parity: max |torch - onnxruntime| = {diff:.2e} on 64 studies")
        for batch in (1, 32):
            xb = Xu[:batch]
            # predict_proba returns numpy, so each timed call waits for the device
            lt, lo = latency(model.predict_proba, xb), latency(ort.predict_proba, xb)
            print(f"latency, batch {batch:2d}: torch on {device} {lt:6.2f} ms/study, onnxruntime (CPU) {lo:6.2f} "
                  f"ms/study (torch / onnxruntime = {lt / lo:.2f})")


if __name__ == "__main__":
    main()
