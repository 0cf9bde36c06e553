"""The numbers of docs/validation.md, "Does it hold at another hospital?" (UCI Heart Disease, four sites).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python docs/scripts/heart_disease_external.py`` (5 min 16 s on 2 shared cores at load 4–5, 2026-11-27, scintiml 0.7.1).
Nothing here is tuned on a validation site: the inputs are chosen from missingness alone (recorded for at least
70 % of the patients at every site), the study runs with its defaults and seed 0, and each bundle is applied
unchanged.
"""

import tempfile
from pathlib import Path

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from scintiml.ann import ANNClassifier
from scintiml.bundle import load_bundle, save_bundle
from scintiml.errors import ScintimlError
from scintiml.datasets import heart_disease_frame, heart_disease_sites, load_heart_disease
from scintiml.external import internal_external_cv, recalibrate_bundle, validate_bundle
from scintiml.study import run_study

TRANSPORT = ["age", "sex", "cp", "trestbps", "restecg", "thalach", "exang", "oldpeak"]
OTHERS = ["hungarian", "switzerland", "va"]
work = Path(tempfile.mkdtemp())


def develop(sites, name):
    cohort = load_heart_disease(sites).subset(TRANSPORT)
    cohort.groups = {}
    study = run_study(cohort, readiness=False, random_state=0)
    t = study.results["test"]
    print(f"\n{name}: inputs {study.selected_inputs}, layers {study.results['architecture']}, internal testing AUC "
          f"{t['auc']:.3f} ({t['auc_ci95'][0]:.3f}-{t['auc_ci95'][1]:.3f}), n = {t['n']}")
    return load_bundle(save_bundle(study, work / name)), study


def row(label, v):
    p, c = v.performance, v.performance["calibration"]
    m = f"{v.membership['auc']:.2f}" if v.membership else "n/a"
    print(f"| {label} | {p['n']} ({p['n_events']}) | {p['auc']:.3f} ({p['auc_ci95'][0]:.3f}–{p['auc_ci95'][1]:.3f}) | "
          f"{c['intercept']:+.2f} ({c['intercept_ci95'][0]:+.2f} to {c['intercept_ci95'][1]:+.2f}) | "
          f"{c['slope']:.2f} ({c['slope_ci95'][0]:.2f}–{c['slope_ci95'][1]:.2f}) | "
          f"{p['brier']:.3f} ({p['brier_ci95'][0]:.3f}–{p['brier_ci95'][1]:.3f}) | {m} | {v.verdict} |")


header = ("| development → validation | patients (events) | AUC (95 % CI) | calibration-in-the-large (95 % CI) | "
          "calibration slope (95 % CI) | Brier (95 % CI) | site-membership AUC | verdict |\n|---|---|---|---|---|---|---|---|")

cleveland, _ = develop("cleveland", "cleveland")
pooled, _ = develop(OTHERS, "others")
print(header)
for site in OTHERS:
    row(f"Cleveland → {site}", validate_bundle(cleveland, heart_disease_frame(site), "disease",
                                                reference=heart_disease_frame("cleveland")))
row("Hungarian + Switzerland + VA → Cleveland", validate_bundle(pooled, heart_disease_frame("cleveland"), "disease",
                                                                  reference=heart_disease_frame(OTHERS)))

print("\nInternal-external cross-validation (each hospital left out in turn)")
cohort = load_heart_disease()
sites = heart_disease_sites(cohort)
for label, estimator in (
    ("logistic regression", None),
    ("network 3-1 (scintiml ANNClassifier)", make_pipeline(SimpleImputer(strategy="median"),
                                                           ANNClassifier(hidden_layer_sizes=(3,), random_state=0))),
):
    out = internal_external_cv(cohort.X[TRANSPORT], cohort.y, sites, estimator=estimator, random_state=0)
    print(f"\n{label}\n| left out | patients (events) | AUC (95 % CI) | calibration-in-the-large | slope |\n|---|---|---|---|---|")
    for r in out["per_site"]:
        print(f"| {r['site']} | {r['n']} ({r['n_events']}) | {r['auc']:.3f} ({r['auc_ci95'][0]:.3f}–{r['auc_ci95'][1]:.3f}) | "
              f"{r['calibration_intercept']:+.2f} ({r['calibration_intercept_ci95'][0]:+.2f} to "
              f"{r['calibration_intercept_ci95'][1]:+.2f}) | {r['calibration_slope']:.2f} "
              f"({r['calibration_slope_ci95'][0]:.2f}–{r['calibration_slope_ci95'][1]:.2f}) |")
    s = out["summary"]
    a = s["auc"]
    print(f"summary AUC {a['auc']:.3f} (95 % CI {a['auc_ci95'][0]:.3f}–{a['auc_ci95'][1]:.3f}), I² {100 * a['i2']:.0f} %, "
          f"95 % prediction interval {a['auc_prediction_interval95'][0]:.3f}–{a['auc_prediction_interval95'][1]:.3f}; "
          f"calibration-in-the-large {s['calibration_intercept']['mean']:+.2f} (I² {100 * s['calibration_intercept']['i2']:.0f} %, "
          f"PI {s['calibration_intercept']['prediction_interval95'][0]:+.2f} to {s['calibration_intercept']['prediction_interval95'][1]:+.2f}); "
          f"slope {s['calibration_slope']['mean']:.2f} (I² {100 * s['calibration_slope']['i2']:.0f} %, "
          f"PI {s['calibration_slope']['prediction_interval95'][0]:.2f} to {s['calibration_slope']['prediction_interval95'][1]:.2f})")

print("\nRecalibration of the Cleveland bundle on one half of a site, judged on the other half "
      "(stratified halves, seed 0)\n| site | method | CITL before → after | slope before → after | Brier before → after |"
      "\n|---|---|---|---|---|")
for site in OTHERS:
    frame = heart_disease_frame(site)
    fit_half, check_half = train_test_split(frame, test_size=0.5, stratify=frame["disease"], random_state=0)
    before = validate_bundle(cleveland, check_half, "disease").performance
    for method in ("intercept", "logistic"):
        target = work / f"recal-{site}-{method}"
        try:
            recalibrate_bundle(work / "cleveland", fit_half, "disease", target, method=method)
        except ScintimlError as exc:
            print(f"| {site} ({len(fit_half)} fit / {len(check_half)} check) | {method} | refused: {exc} | | |")
            continue
        after = validate_bundle(load_bundle(target), check_half, "disease").performance
        cb, ca = before["calibration"], after["calibration"]
        print(f"| {site} ({len(fit_half)} fit / {len(check_half)} check) | {method} | {cb['intercept']:+.2f} "
              f"({cb['intercept_ci95'][0]:+.2f} to {cb['intercept_ci95'][1]:+.2f}) → {ca['intercept']:+.2f} "
              f"({ca['intercept_ci95'][0]:+.2f} to {ca['intercept_ci95'][1]:+.2f}) | {cb['slope']:.2f} → {ca['slope']:.2f} "
              f"| {before['brier']:.3f} → {after['brier']:.3f} |")
