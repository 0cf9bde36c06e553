"""Imaging commands: simulate, deid, radiomics."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from ..errors import ScintimlError
from .base import app, cnn_app, console, parse_protocol as _parse_protocol

@app.command()
def simulate(
    out: Path = typer.Option(..., "--out", help="Folder for the DICOM files, masks and labels.csv."),
    n: int = typer.Option(20, "--n", help="Number of studies."),
    prevalence: float = typer.Option(0.4, "--prevalence", help="Fraction with pulmonary embolism."),
    counts: float = typer.Option(500_000, "--counts", help="Counts per view."),
    collimator_fwhm: float = typer.Option(7.0, "--collimator-fwhm", help="Resolution at the face, mm."),
    scatter: float = typer.Option(0.25, "--scatter", help="Scatter fraction."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Simulate planar 99mTc-MAA lung perfusion studies as NM DICOM (teaching data with a known truth)."""
    import numpy as np
    import pandas as pd
    from rich.progress import track

    from ..datasets.perfusion import simulate_perfusion_scans
    from ..imaging.planar import PlanarStudy, write_nm_dicom

    if out.exists() and any(out.iterdir()):
        raise ScintimlError(f"output folder {str(out)!r} is not empty; choose a new one")
    rows = []
    (out / "masks").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    for i in track(range(n), description="simulating", console=console):
        case = simulate_perfusion_scans(1, prevalence, counts, collimator_fwhm, scatter_fraction=scatter,
                                        random_state=seed * 100_003 + i, id_prefix=f"SIM{seed}")[0]
        case.case_id = f"SIM{seed}-{i + 1:05d}"
        study = PlanarStudy(views=case.views, pixel_spacing_mm=(case.acquisition["pixel_spacing_mm"],) * 2,
                            patient_id=case.case_id,
                            metadata={"radiopharmaceutical": "99mTc-MAA", "collimator": f"FWHM{collimator_fwhm:g}mm"})
        write_nm_dicom(study, out / "dicom" / f"{case.case_id}.dcm")
        # lung masks are inputs (ROIs for radiomics); defect masks are the answer and kept apart
        np.savez_compressed(out / "masks" / f"{case.case_id}.npz", **{f"{v}__lungs": m for v, m in case.lung_masks.items()})
        np.savez_compressed(out / "truth" / f"{case.case_id}.npz",
                            **{f"{v}__defects": m for v, m in case.defect_masks.items()})
        rows.append({"patient_id": case.case_id, "pe": case.label, "pattern": case.pattern})
    pd.DataFrame(rows).to_csv(out / "labels.csv", index=False)
    Console().print(f"{n} studies written to {out} (dicom/, masks/ lung ROIs, truth/ defect masks, labels.csv)")


@app.command()
def deid(
    in_dir: Path = typer.Argument(..., help="Folder of DICOM files (never modified)."),
    out_dir: Path = typer.Argument(..., help="New folder for the de-identified copies."),
    key: Path = typer.Option(..., "--key", help="The department's secret key file."),
    new_key: bool = typer.Option(False, "--new-key", help="Create the key file first (once)."),
    retain_dates: bool = typer.Option(False, "--retain-dates", help="Keep dates, shifted per patient."),
    keep_protocol: bool = typer.Option(False, "--keep-protocol", help="Keep acquisition-protocol attributes."),
) -> None:
    """De-identify DICOM files (PS3.15 Basic Profile) with stable keyed pseudonyms and an audit CSV."""
    from ..imaging import deid as deid_module

    if new_key:
        deid_module.new_key(key)
    report = deid_module.deidentify_folder(in_dir, out_dir, key, retain_dates, keep_protocol)
    for s in report.skipped:
        console.print(f"[yellow]skipped:[/] {s['file']}: {s['reason']}", highlight=False)
    Console().print(f"{len(report.written)} file(s) written to {out_dir}; {report.changes} changes in deid_audit.csv")


@app.command()
def radiomics(
    images: Path = typer.Argument(..., help="Folder of NM planar DICOM files."),
    masks: Path = typer.Option(..., "--masks", help="Folder of <PatientID>.npz masks with keys VIEW__ROI."),
    out: Path = typer.Option(..., "--out", help="Features CSV (one row per patient, view, ROI)."),
    settings: Optional[Path] = typer.Option(None, "--settings", help="pyradiomics YAML settings file."),
    wide: bool = typer.Option(False, "--wide", help="One row per patient (ready for scintiml study)."),
) -> None:
    """2-D radiomic features per view and ROI through pyradiomics."""
    import numpy as np

    from ..imaging.planar import scan_folder
    from ..imaging.radiomics import radiomic_features, wide_table

    studies, skipped = scan_folder(images)
    for s in skipped:
        console.print(f"[yellow]skipped:[/] {s['file']}: {s['reason']}", highlight=False)
    if not studies:
        raise ScintimlError(f"no readable NM DICOM file in {str(images)!r}")
    pairs = []
    for st in studies:
        path = masks / f"{st.patient_id}.npz"
        if not path.exists():
            console.print(f"[yellow]skipped:[/] {st.source}: no mask file {path.name}", highlight=False)
            continue
        with np.load(path, allow_pickle=False) as npz:
            pairs.append((st, {tuple(k.split("__", 1)): npz[k].astype(bool) for k in npz.files if "__" in k}))
    table = radiomic_features(pairs, settings=settings)
    if wide:
        table = wide_table(table)
    table.to_csv(out, index=False)
    Console().print(f"{len(table)} rows of radiomic features written to {out}")

