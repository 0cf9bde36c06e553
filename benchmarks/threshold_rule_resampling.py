"""How much the worklist threshold's specificity depends on the selection part's size and the bound's confidence.

The worklist threshold is set on the selection studies as the highest one whose sensitivity's one-sided lower
Wilson bound still reaches 0.95 (`scintiml.cnn.threshold_for_sensitivity_bound`). With ~160 selection positives
that is the 3rd or 4th lowest-scoring positive: an extreme order statistic, so the specificity it leaves varies
a lot from one selection sample to another even for one fixed model. This script takes one model's scores on
labelled studies (an .npz with ``p`` = probabilities and ``y`` = 0/1 labels, or ``p`` plus ``--labels`` from
another .npz), draws selection samples of a given number of positives (and 1.5 × as many negatives) with
replacement, sets the threshold by the rule, and reports the specificity and sensitivity on all the scored
studies: median, 10th percentile, share of draws with specificity >= 0.60, share with sensitivity < 0.95.

Run:  python benchmarks/threshold_rule_resampling.py SCORES.npz [SCORES2.npz ...] [--labels LABELS.npz]
      [--positives 160,240] [--levels 0.975,0.95] [--draws 300]
"""

from __future__ import annotations

import argparse

import numpy as np

from scintiml.cnn.calibrate import threshold_for_sensitivity_bound


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scores", nargs="+")
    ap.add_argument("--labels")
    ap.add_argument("--positives", default="160,240")
    ap.add_argument("--levels", default="0.975,0.95")
    ap.add_argument("--draws", type=int, default=300)
    args = ap.parse_args()
    labels = np.load(args.labels)["y"] if args.labels else None
    rng = np.random.default_rng(0)
    print("| scores | selection positives | one-sided confidence | specificity median | 10th pct | "
          "P(specificity >= 0.60) | sensitivity median | P(sensitivity < 0.95) |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.scores:
        data = np.load(path)
        p = data["p"]
        y = labels if labels is not None else data["y"]
        pos, neg = p[y == 1], p[y == 0]
        for n_pos in (int(v) for v in args.positives.split(",")):
            for level in (float(v) for v in args.levels.split(",")):
                spec, sens = [], []
                for _ in range(args.draws):
                    sp = rng.choice(pos, n_pos, replace=True)
                    sn = rng.choice(neg, int(1.5 * n_pos), replace=True)
                    t, _ = threshold_for_sensitivity_bound(np.r_[np.ones(n_pos), np.zeros(len(sn))], np.r_[sp, sn],
                                                           0.95, level=level)
                    spec.append(float((neg < t).mean()))
                    sens.append(float((pos >= t).mean()))
                spec, sens = np.array(spec), np.array(sens)
                print(f"| {path.split('/')[-1]} | {n_pos} | {level} | {np.median(spec):.3f} | "
                      f"{np.quantile(spec, 0.1):.3f} | {np.mean(spec >= 0.6):.2f} | {np.median(sens):.3f} | "
                      f"{np.mean(sens < 0.95):.3f} |", flush=True)


if __name__ == "__main__":
    main()
