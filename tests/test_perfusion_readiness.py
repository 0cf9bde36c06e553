"""The README's imaging path on simulated data: simulate → radiomics + clinical.csv → readiness verdict."""

import numpy as np
import pandas as pd
import pytest


def test_readiness_runs_on_a_default_simulated_cohort(tmp_path):
    pytest.importorskip("radiomics")
    from scintiml import load_cohort
    from scintiml.datasets.perfusion import write_simulated_cohort
    from scintiml.imaging import scan_folder
    from scintiml.imaging.radiomics import radiomic_features, wide_table
    from scintiml.readiness import assess_readiness

    out = tmp_path / "sim"
    write_simulated_cohort(out, 60, random_state=0)  # default protocol, prevalence and mimic share
    studies, skipped = scan_folder(out / "dicom", views=("ANT", "POST", "RAO", "LAO", "RPO", "LPO"))
    assert len(studies) == 60 and skipped == []
    pairs = []
    for st in studies:
        with np.load(out / "masks" / f"{st.patient_id}.npz") as npz:
            pairs.append((st, {tuple(k.split("__", 1)): npz[k] for k in npz.files if k.split("__")[0] in
                               ("ANT", "POST")}))
    imaging = wide_table(radiomic_features(pairs, classes=("firstorder",)))
    clinical = pd.read_csv(out / "clinical.csv")
    labels = pd.read_csv(out / "labels.csv")[["patient_id", "pe"]]
    table = imaging.merge(clinical, on="patient_id").merge(labels, on="patient_id")
    assert len(table) == 60
    groups = {"imaging": [c for c in imaging.columns if c != "patient_id"],
              "clinical": [c for c in clinical.columns if c != "patient_id"]}
    cohort = load_cohort(table, "pe", id_column="patient_id", groups=groups)
    result = assess_readiness(cohort, n_splits=3, n_repeats=1, random_state=0)
    assert result.verdict in ("supported", "not_supported", "inconclusive")
    # the clinical context is drawn given the truth, so it carries signal on its own
    assert result.auc["clinical"]["mean"] > 0.65
