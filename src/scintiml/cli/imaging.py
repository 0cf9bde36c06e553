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
    out: Path = typer.Option(..., "--out", help="New folder: dicom/, masks/, truth/, labels.csv, clinical.csv."),
    n: int = typer.Option(20, "--n", help="Number of studies."),
    prevalence: float = typer.Option(0.4, "--prevalence", help="Fraction with pulmonary embolism."),
    counts: float = typer.Option(500_000, "--counts", help="Counts per view."),
    collimator_fwhm: float = typer.Option(7.0, "--collimator-fwhm", help="Resolution at the face, mm."),
    scatter: float = typer.Option(0.25, "--scatter", help="Scatter fraction."),
    mimic_share: float = typer.Option(0.4, "--mimic-share", help="Share of non-PE studies with a mimic."),
    layout: str = typer.Option("per_view", "--layout", help="NM files: per_view, dual_head or multiframe."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Simulate planar 99mTc-MAA lung perfusion studies as NM DICOM with a clinical context (teaching data)."""
    from rich.progress import Progress

    from ..datasets.perfusion import write_simulated_cohort
    from ..io import check_output_path
    from .base import say

    if n < 1:
        raise ScintimlError(f"--n must be at least 1, got {n}")
    if not 0 <= prevalence <= 1 or not 0 <= mimic_share <= 1:
        raise ScintimlError("--prevalence and --mimic-share must lie between 0 and 1")
    if counts <= 0 or collimator_fwhm <= 0 or not 0 <= scatter < 1:
        raise ScintimlError("--counts and --collimator-fwhm must be positive and --scatter in [0, 1)")
    if layout not in ("per_view", "dual_head", "multiframe"):
        raise ScintimlError(f"--layout must be per_view, dual_head or multiframe, got {layout!r}")
    check_output_path(out, overwrite=overwrite)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("simulating", total=n)
        summary = write_simulated_cohort(
            out, n, overwrite=overwrite, layout=layout, random_state=seed, prevalence=prevalence,
            counts_per_view=counts, collimator_fwhm_mm=collimator_fwhm, scatter_fraction=scatter,
            mimic_share=mimic_share, progress=lambda done, total: bar.update(task, completed=done))
    say(f"{summary['studies']} studies ({summary['positives']} with PE, {summary['mimics']} mimics) written to "
        f"{out}: dicom/ ({summary['files']} NM files), masks/ lung ROIs, truth/ defect masks, labels.csv, "
        "clinical.csv")


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

