"""The seed's question answered on data: radiomic features + the tabular study vs the CNN, same scans.

Simulates N perfusion studies, extracts pyradiomics 2-D features per view and lung (lung masks
only — never the defect masks), runs ``run_study`` on them, trains the CNN on the same patients
with the same 60:20:20 split, and compares the two testing AUCs with the paired DeLong test.

Run: python benchmarks/ml_first_vs_cnn.py [N]   (default 600)
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from scintiml import load_cohort, split_cohort
from scintiml.cnn import train_cnn
from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans
from scintiml.evaluate import delong_test
from scintiml.imaging.planar import PlanarStudy
from scintiml.imaging.radiomics import lung_masks, radiomic_features, wide_table
from scintiml.study import run_study


def main(n: int = 600, seed: int = 0):
    torch.set_num_threads(2)
    cases = simulate_perfusion_scans(n, prevalence=0.4, random_state=seed)
    y = np.array([c.label for c in cases])
    ids = [c.case_id for c in cases]
    t = time.perf_counter()
    pairs = [(PlanarStudy(views=c.views, pixel_spacing_mm=(3.125, 3.125), patient_id=c.case_id),
              {(v, r): m for v in VIEWS for r, m in lung_masks(c.lung_masks[v]).items()}) for c in cases]
    features = wide_table(radiomic_features(pairs, classes=("firstorder", "glcm", "shape2D")))
    table = features.set_index("patient_id").loc[ids].reset_index()
    table["pe"] = y
    cohort = load_cohort(table, "pe", id_column="patient_id", groups={"imaging": "*_image_*"})
    print(f"radiomics: {cohort.n_inputs} features for {n} studies in {time.perf_counter() - t:.0f} s")
    split = split_cohort(y, random_state=seed)
    t = time.perf_counter()
    result = run_study(cohort, split=split, seed=seed, readiness=False)
    study = result.results
    print(f"tabular study: {len(result.selected_inputs)} inputs {result.selected_inputs[:6]}, testing AUC "
          f"{study['test']['auc']:.3f} {np.round(study['test']['auc_ci95'], 3).tolist()} "
          f"({time.perf_counter() - t:.0f} s)")
    X = np.stack([c.stack() for c in cases])
    t = time.perf_counter()
    model = train_cnn(X, y, VIEWS, ids=ids, split=split, seed=seed, device="cpu")
    test = model.report["test"]
    print(f"CNN: testing AUC {test['auc']:.3f} {np.round(test['auc_ci95'], 3).tolist()} "
          f"({time.perf_counter() - t:.0f} s)")
    # paired DeLong test on the same testing patients
    p_cnn = model.predict_proba(X[split.testing])
    p_tab = result.model.predict_proba(cohort.X.iloc[split.testing][result.selected_inputs])[:, 1]
    cmp = delong_test(y[split.testing], p_cnn, p_tab)
    print(f"CNN - radiomics study: AUC difference {cmp.difference:+.3f} (95 % CI {cmp.ci[0]:+.3f} to "
          f"{cmp.ci[1]:+.3f}), DeLong p = {cmp.p_value:.3g}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 600)
