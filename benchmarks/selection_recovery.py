"""The "Done when" tables of docs/validation.md for resampled selection (issue #14).

1. Teaching mIBG cohort, 300 patients, cohort seeds 100-109 (never used while developing; development used
   seeds 0-4), on the non-testing patients (60:20 of a 60:20:20 split): the study's default, the stable inputs
   of 20 half-sample selections (``StabilitySelector`` with growing / pruning / genetic inside, each the lowest
   loss), and one 5-fold CV selection with the one-SE rule (``--selection cv``) with each method; both true
   inputs kept, exactly the true pair, the pair plus at most one input; the clinical rule on the kept inputs
   (fitted on the same non-testing patients) with thresholds within +-3 of -10 and 30.
2. Heart failure without ``time``, split seeds 0-4: ejection_fraction and serum_creatinine kept, at most 3 inputs.
3. With ``--nested`` only: the headline table of ``benchmarks/nested_headline.py`` (SPECTF and heart failure,
   nested 5-fold cross-validation x 2 of the whole pipeline, baselines on the same folds). It is kept out of the
   default run so that checking 1-2 after a change of defaults does not show the reporting cohorts' headline.

Run: OMP_NUM_THREADS=1 python benchmarks/selection_recovery.py [--quick] [--nested]   (markdown tables; ~100 s)
"""

from __future__ import annotations

import sys
import time

import numpy as np

from scintiml import split_cohort
from scintiml.datasets import load_heart_failure, load_spectf, make_mibg_cohort
from scintiml.explain import extract_rule
from scintiml.select import InputSelector, StabilitySelector, resampled_selector
from scintiml.select.stability import stable_support

TRUE = ["delta_lvef", "planar_washout"]
REPORT_SEEDS = range(100, 110)


METHODS = ("stable: growing (default)", "stable: pruning", "stable: genetic",
           "one CV selection: growing", "one CV selection: pruning", "one CV selection: genetic")


def select(method, X, y, seed):
    """The inputs ``method`` keeps: the stable set (the study's default) or one cross-validated selection."""
    mode, inner = method.split(": ")
    inner = inner.split(" ")[0]
    if mode == "stable":
        stable = StabilitySelector(resampled_selector(inner), random_state=seed).fit(X, y)
        return [c for c, keep in zip(X.columns, stable_support(stable)) if keep]  # as the study keeps them
    return InputSelector(method=inner, random_state=seed).fit(X, y).selected_inputs_


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
    for method in METHODS:
        both = exact = plus1 = rules = 0
        sizes, times = [], []
        for seed in seeds:
            cohort = make_mibg_cohort(n_patients=300, random_state=seed)
            X, y = _non_testing(cohort, seed)
            t = time.perf_counter()
            chosen = select(method, X, y, seed)
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
    for method in METHODS:
        kept = small = 0
        sets = []
        for seed in seeds:
            X, y = _non_testing(cohort, seed)
            chosen = select(method, X, y, seed)
            kept += {"ejection_fraction", "serum_creatinine"} <= set(chosen)
            small += len(chosen) <= 3
            sets.append("+".join(c.replace("ejection_fraction", "EF").replace("serum_creatinine", "creat")
                                 for c in chosen))
        print(f"| {method} | {kept}/{len(seeds)} | {small}/{len(seeds)} | {'; '.join(sets)} |", flush=True)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    seeds = list(REPORT_SEEDS)[:2] if quick else list(REPORT_SEEDS)
    start = time.perf_counter()
    heart_failure_table(range(2) if quick else range(5))
    mibg_table(seeds)
    if "--nested" in sys.argv:
        from nested_headline import nested_table
        nested_table(1 if quick else 2)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
