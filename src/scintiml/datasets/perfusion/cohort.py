"""A simulated cohort as a folder a department would recognise, and its study table."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .lesions import MIMICS
from .simulate import PIXEL_MM, PerfusionCase, simulate_perfusion_scans


def _write_case(tmp: Path, i: int, seed: int, id_prefix: str, layout: str, random_state: int, keep: bool,
                simulate_kwargs: dict):
    """Simulate one study and write its NM files, lung masks and truth; return its rows (and the case if kept)."""
    from ...imaging.nm_iod import nm_datasets, view_from_code
    from ...imaging.planar import PlanarStudy

    (case,) = simulate_perfusion_scans(1, random_state=seed, id_prefix=id_prefix, **simulate_kwargs)
    case.case_id = f"{id_prefix}-{i + 1:05d}"
    # dates, times and UIDs follow from the seed and the protocol, so the same call writes the same files (and
    # the same patients under another protocol get other UIDs: both can sit in one PACS)
    day = date(2024, 1, 1) + timedelta(days=i % 365)
    age = int(case.clinical["age"])
    study = PlanarStudy(
        views=case.views, pixel_spacing_mm=(PIXEL_MM, PIXEL_MM), patient_id=case.case_id,
        metadata={"radiopharmaceutical": "99mTc-MAA", "collimator": "LEHR", "count_rate_cps": 4000,
                  "PatientSex": "F" if case.clinical["female"] else "M", "PatientAge": f"{age:03d}Y",
                  "PatientBirthDate": f"{day.year - age}0101", "StudyDate": day.strftime("%Y%m%d"),
                  "StudyTime": "091500", "injection_time": "090500", "acquisition_time": "091500",
                  "AccessionNumber": f"A{random_state}{i + 1:06d}", "StudyID": str(i + 1),
                  "PatientName": f"SIM^{case.case_id}", "injected_activity_mbq": 150.0,
                  "StudyDescription": "NM LUNG PERFUSION", "uid_entropy": f"scintiml-sim/{random_state}/{seed}/{sorted(simulate_kwargs.items())}/{layout}"})
    files = 0
    for ds in nm_datasets(study, layout):
        views = "-".join(view_from_code(it.ViewCodeSequence[0].CodeValue) for it in ds.DetectorInformationSequence)
        ds.save_as(tmp / "dicom" / f"{case.case_id}_{ds.InstanceNumber}_{views}.dcm", enforce_file_format=True)
        files += 1
    # lung masks are inputs (ROIs for radiomics); defect masks are the answer and kept apart
    np.savez_compressed(tmp / "masks" / f"{case.case_id}.npz", **{f"{v}__lungs": m for v, m in case.lung_masks.items()})
    truth = {f"{v}__defects": m for v, m in case.defect_masks.items()}
    for j, d in enumerate(case.defects):
        truth.update({f"{v}__defect{j + 1}": m for v, m in d.get("masks", {}).items()})
    np.savez_compressed(tmp / "truth" / f"{case.case_id}.npz", **truth)
    label = {"patient_id": case.case_id, "pe": case.label, "pattern": case.pattern,
             "perfusion_lost": case.acquisition["perfusion_lost"],
             "defects": "; ".join(f"{d['kind']}: {d['territory']}" for d in case.defects)}
    clinical = {"patient_id": case.case_id, **case.clinical}
    if keep:
        case.defects, case.anatomy = [], None  # the table needs views, lung masks, clinical, label
    return label, clinical, files, case if keep else None


def simulated_study_table(cases: Sequence[PerfusionCase], views: Sequence[str] | None = None):
    """One row per case for ``scintiml study``: radiomic first-order features per view and lung, the clinical
    context and ``pe``, with the input groups (``imaging``, ``clinical``) that make the readiness verdict run.

    Returns
    -------
    table : pandas.DataFrame
    groups : dict
        ``{"imaging": [...], "clinical": [...]}`` (the ``--groups`` file of ``scintiml study``).

    Examples
    --------
    >>> cases = simulate_perfusion_scans(2, views=("ANT",), random_state=0)
    >>> table, groups = simulated_study_table(cases)
    >>> len(table), sorted(groups), "pe" in table
    (2, ['clinical', 'imaging'], True)
    """
    import pandas as pd

    from ...imaging.planar import PlanarStudy
    from ...imaging.radiomics import lung_masks, radiomic_features, wide_table

    pairs = []
    for c in cases:
        shown = [v for v in (views or c.views) if v in c.views]
        st = PlanarStudy(views={v: c.views[v] for v in shown}, pixel_spacing_mm=(PIXEL_MM, PIXEL_MM),
                         patient_id=c.case_id)
        pairs.append((st, {(v, roi): m for v in shown for roi, m in lung_masks(c.lung_masks[v]).items()}))
    imaging = wide_table(radiomic_features(pairs, classes=("firstorder",)))
    clinical = pd.DataFrame([{"patient_id": c.case_id, **c.clinical} for c in cases])
    labels = pd.DataFrame({"patient_id": [c.case_id for c in cases], "pe": [c.label for c in cases]})
    table = imaging.merge(clinical, on="patient_id").merge(labels, on="patient_id")
    groups = {"imaging": [col for col in imaging.columns if col not in ("patient_id", "study_instance_uid")],
              "clinical": [col for col in clinical.columns if col != "patient_id"]}
    return table, groups


def write_simulated_cohort(
    out: str | Path,
    n_cases: int = 400,
    *,
    overwrite: bool = False,
    layout: str = "per_view",
    random_state: int = 0,
    study_table: bool = False,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    **simulate_kwargs,
) -> dict:
    """Simulate a cohort and write it as a folder a department would recognise, atomically.

    The folder holds ``dicom/`` (NM Image files, one per view by default, grouped by Study Instance UID),
    ``masks/<PatientID>.npz`` (lung outlines per view, keys ``VIEW__lungs``: inputs for radiomics),
    ``truth/<PatientID>.npz`` (the answer: ``VIEW__defects`` and ``VIEW__defectN`` per defect),
    ``labels.csv`` (patient_id, pe, pattern, perfusion_lost) and ``clinical.csv`` (patient_id, Wells items,
    D-dimer, age, sex, heart rate, SpO2). Nothing is left behind on an error or Ctrl-C.

    Parameters
    ----------
    out : path
        The new folder (refused if it exists and holds files, unless ``overwrite``).
    n_cases : int
    layout : {"per_view", "dual_head", "multiframe"}
        How the NM files are split (see :func:`scintiml.imaging.nm_iod.nm_datasets`).
    random_state : int
    study_table : bool
        Also write ``study.csv`` (radiomic first-order features per view and lung + ``clinical.csv`` + ``pe``)
        and ``groups.json`` (imaging and clinical inputs), ready for ``scintiml study --groups`` and its
        readiness verdict (needs the ``imaging`` extra: pyradiomics).
    n_jobs : int, optional
        Processes (joblib) that simulate and write studies; the folder is the same for any value.
    progress : callable(done, total), optional
    **simulate_kwargs
        Passed to :func:`simulate_perfusion_scans` (prevalence, counts_per_view, mimic_share, ...).

    Returns
    -------
    dict with the counts written (studies, positives, mimics, files).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "sim"
    >>> summary = write_simulated_cohort(folder, 2, views=("ANT", "POST"), random_state=1)
    >>> summary["studies"], sorted(p.name for p in folder.iterdir())
    (2, ['.scintiml-output', 'clinical.csv', 'dicom', 'labels.csv', 'masks', 'simulation.json', 'truth'])
    """
    import pandas as pd

    from ...io import atomic_dir, check_output_path, write_json
    from ...io.atomic import SIMULATION_OUTPUT

    out = check_output_path(out, overwrite=overwrite, output=SIMULATION_OUTPUT)
    if n_cases < 1:
        raise ValueError(f"n_cases must be at least 1, got {n_cases}")
    master = np.random.RandomState(random_state)
    id_prefix = simulate_kwargs.pop("id_prefix", f"SIM{random_state}")
    seeds = [int(master.randint(0, 2**31 - 1)) for _ in range(n_cases)]
    labels, clinical, files, kept = [], [], 0, []
    with atomic_dir(out, overwrite=overwrite, output=SIMULATION_OUTPUT) as tmp:
        for sub in ("dicom", "masks", "truth"):
            (tmp / sub).mkdir()
        jobs = [(tmp, i, seed, id_prefix, layout, random_state, study_table, simulate_kwargs)
                for i, seed in enumerate(seeds)]
        if n_jobs in (None, 1):
            results = (_write_case(*job) for job in jobs)
        else:
            from joblib import Parallel, delayed

            # each case's seed is drawn above, so the folder does not depend on n_jobs
            results = Parallel(n_jobs=n_jobs, return_as="generator", batch_size=4)(
                delayed(_write_case)(*job) for job in jobs)
        for i, (label, clin, n_files, case) in enumerate(results):
            labels.append(label)
            clinical.append(clin)
            files += n_files
            if case is not None:
                kept.append(case)
            if progress is not None:
                progress(i + 1, n_cases)
        pd.DataFrame(labels).to_csv(tmp / "labels.csv", index=False)
        pd.DataFrame(clinical).to_csv(tmp / "clinical.csv", index=False)
        if study_table:
            table, groups = simulated_study_table(kept)
            table.to_csv(tmp / "study.csv", index=False)
            write_json(tmp / "groups.json", groups)
        frame = pd.DataFrame(labels)
        summary = {"studies": n_cases, "positives": int(frame["pe"].sum()),
                   "mimics": int(frame["pattern"].isin(MIMICS).sum()), "files": files, "layout": layout,
                   "random_state": random_state}
        write_json(tmp / "simulation.json", {**summary, "parameters": simulate_kwargs})
    return summary
