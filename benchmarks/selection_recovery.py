"""The "Done when" tables of docs/validation.md for resampled selection (issue #14).

1. Teaching mIBG cohort, 300 patients, cohort seeds 100-109 (never used while developing; development used
   seeds 0-4): growing / pruning / genetic with 5-fold CV selection on the non-testing patients (60:20 of a
   60:20:20 split); both true inputs kept, exactly the true pair, the pair plus at most one input; the clinical
   rule on the kept inputs (fitted on the same non-testing patients) with thresholds within +-3 of -10 and 30.
   Stability selection (10 complementary half-sample pairs) on the same patients beside it.
2. Heart failure without ``time``, split seeds 0-4: ejection_fraction and serum_creatinine kept, at most 3 inputs.
3. SPECTF and heart failure: nested 5-fold cross-validation (2 repeats) of the whole pipeline; network vs the
   best of LR / RF / GBM on the same folds.

Run: nice python benchmarks/selection_recovery.py [--quick]   (prints markdown tables; ~10-20 min on 2 cores)
"""

from __future__ import annotations

import sys
import time

import numpy as np

from scintiml import split_cohort
from scintiml.datasets import load_heart_failure, load_spectf, make_mibg_cohort
from scintiml.explain import extract_rule
from scintiml.nested import nested_cross_validation
from scintiml.select import InputSelector, SelectedNetworkClassifier, StabilitySelector
from scintiml.stages import baseline_models

TRUE = ["delta_lvef", "planar_washout"]
REPORT_SEEDS = range(100, 110)


def _non_testing(cohort, seed):
    s = split_cohort(cohort, random_state=seed)
    rows = np.r_[s.training, s.selection]
    return cohort.X.iloc[rows], cohort.y[rows]


def _rule_ok(X, y, chosen):
    if not set(TRUE) <= set(chosen):
        return False, "-"
    rule = extract_rule(X, y, chosen[:3] if len(chosen) <= 3 else TRUE, max_conditions=2)
    values = {c.input: c.value for c in rule.conditions}
    ok = (set(values) == set(TRUE) and abs(values["delta_lvef"] + 10) <= 3
          and abs(values["planar_washout"] - 30) <= 3)
    return ok, rule.text


def mibg_table(seeds):
    print("\n### Teaching mIBG cohort, 300 patients, cohort seeds", f"{seeds[0]}-{seeds[-1]}\n")
    print("| method | both true kept | exactly the pair | pair + at most 1 | rule within +-3 | median inputs | "
          "median s |")
    print("|---|---|---|---|---|---|---|")
    per_seed = []
    for method in ("growing", "pruning", "genetic", "stability (growing)"):
        both = exact = plus1 = rules = 0
        sizes, times = [], []
        for seed in seeds:
            cohort = make_mibg_cohort(n_patients=300, random_state=seed)
            X, y = _non_testing(cohort, seed)
            t = time.perf_counter()
            if method.startswith("stability"):
                chosen = StabilitySelector(random_state=seed).fit(X, y).selected_inputs_
            else:
                chosen = InputSelector(method=method, random_state=seed).fit(X, y).selected_inputs_
            times.append(time.perf_counter() - t)
            ok, text = _rule_ok(X, y, chosen)
            has = set(TRUE) <= set(chosen)
            both += has
            exact += sorted(chosen) == TRUE
            plus1 += has and len(chosen) <= 3
            rules += ok
            sizes.append(len(chosen))
            per_seed.append((method, seed, chosen, text))
            print(f"<!-- {method} seed {seed}: {chosen} rule: {text} ({times[-1]:.1f} s) -->", flush=True)
        n = len(seeds)
        print(f"| {method} | {both}/{n} | {exact}/{n} | {plus1}/{n} | {rules}/{n} | {np.median(sizes):g} | "
              f"{np.median(times):.1f} |", flush=True)
    return per_seed


def heart_failure_table(seeds=range(5)):
    print("\n### Heart failure (299 patients, without `time`), split seeds 0-4\n")
    print("| method | EF + creatinine kept | at most 3 inputs | inputs per seed |")
    print("|---|---|---|---|")
    cohort = load_heart_failure()
    for method in ("growing", "pruning", "genetic", "stability (growing)"):
        kept = small = 0
        sets = []
        for seed in seeds:
            X, y = _non_testing(cohort, seed)
            if method.startswith("stability"):
                chosen = StabilitySelector(random_state=seed).fit(X, y).selected_inputs_
            else:
                chosen = InputSelector(method=method, random_state=seed).fit(X, y).selected_inputs_
            kept += {"ejection_fraction", "serum_creatinine"} <= set(chosen)
            small += len(chosen) <= 3
            sets.append("+".join(c.replace("ejection_fraction", "EF").replace("serum_creatinine", "creat")
                                 for c in chosen))
        print(f"| {method} | {kept}/{len(seeds)} | {small}/{len(seeds)} | {'; '.join(sets)} |", flush=True)


def nested_table(n_repeats=2):
    print(f"\n### Nested 5-fold cross-validation x {n_repeats} of the whole pipeline (growing, CV selection)\n")
    print("| cohort | network AUC (95 % CI) | best baseline | its AUC | network - best (corrected 95 % CI) | "
          "inputs per fold (median, max) | wall s |")
    print("|---|---|---|---|---|---|---|")
    for name, cohort in (("SPECTF", load_spectf()), ("heart failure", load_heart_failure())):
        t = time.perf_counter()
        res = nested_cross_validation(SelectedNetworkClassifier(random_state=0), cohort.X, cohort.y,
                                      baselines=baseline_models(0), n_splits=5, n_repeats=n_repeats, random_state=0)
        wall = time.perf_counter() - t
        best, info = max(res.baselines.items(), key=lambda kv: kv[1]["auc"])
        sizes = [len(s) for s in res.selected_inputs]
        print(f"| {name} | {res.auc:.3f} ({res.auc_ci95[0]:.3f}-{res.auc_ci95[1]:.3f}) | {best} | {info['auc']:.3f} | "
              f"{info['network_minus_baseline']:+.3f} ({info['difference_ci95'][0]:+.3f} to "
              f"{info['difference_ci95'][1]:+.3f}) | {np.median(sizes):g}, {max(sizes)} | {wall:.0f} |", flush=True)
        counts = {}
        for s in res.selected_inputs:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        print(f"<!-- {name} inputs over folds: {dict(sorted(counts.items(), key=lambda kv: -kv[1]))} -->")


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    seeds = list(REPORT_SEEDS)[:2] if quick else list(REPORT_SEEDS)
    start = time.perf_counter()
    heart_failure_table(range(2) if quick else range(5))
    mibg_table(seeds)
    nested_table(1 if quick else 2)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
