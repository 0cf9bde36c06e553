"""Imaging commands: simulate, deid, radiomics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from ..errors import ScintimlError
from .base import OVERWRITE_HELP, app, cnn_app, parse_protocol as _parse_protocol, progress_bar, require, require_seed


@app.command()
def simulate(
    out: Path = typer.Option(..., "--out", help="New folder: dicom/, masks/, truth/, labels.csv, clinical.csv, "
                                                "simulation.json (+ study.csv, groups.json with --study-table)."),
    n: int = typer.Option(20, "--n", help="Number of studies."),
    prevalence: float = typer.Option(0.4, "--prevalence", help="Fraction with pulmonary embolism."),
    counts: float = typer.Option(500_000, "--counts", help="Counts per view."),
    collimator_fwhm: float = typer.Option(7.0, "--collimator-fwhm", help="Resolution at the face, mm."),
    scatter: float = typer.Option(0.25, "--scatter", help="Scatter fraction."),
    mimic_share: float = typer.Option(0.4, "--mimic-share", help="Share of non-PE studies with a mimic."),
    layout: str = typer.Option("per_view", "--layout", help="NM files: per_view, dual_head or multiframe."),
    study_table: bool = typer.Option(False, "--study-table",
                                     help="Also write study.csv (radiomics + clinical + pe) and groups.json."),
    jobs: int = typer.Option(1, "--jobs", help="Processes that simulate and write studies (same output)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Simulate planar 99mTc-MAA lung perfusion studies as NM DICOM with a clinical context (teaching data)."""

    from ..datasets.perfusion import write_simulated_cohort
    # the simulator's own bounds (one source): finite, and far beyond any real acquisition
    from ..datasets.perfusion.simulate import MAX_COUNTS, MAX_FWHM_MM
    from ..io import check_output_path
    from ..io.atomic import SIMULATION_OUTPUT
    from .base import say

    if n < 1:
        raise ScintimlError(f"--n must be at least 1, got {n}")
    require_seed(seed)
    if not 0 <= prevalence <= 1 or not 0 <= mimic_share <= 1:
        raise ScintimlError("--prevalence and --mimic-share must lie between 0 and 1")
    if not 0 < counts <= MAX_COUNTS or not 0 < collimator_fwhm <= MAX_FWHM_MM or not 0 <= scatter < 1:
        # the bounds also keep NaN and infinity out; a planar view holds 1e5-1e6 counts, a collimator resolves
        # 5-15 mm at the face (a 1e9 mm kernel took 10 GB before it was refused)
        raise ScintimlError(f"--counts must lie in (0, {MAX_COUNTS:.0e}], --collimator-fwhm in (0, {MAX_FWHM_MM:g}] mm "
                            "and --scatter in [0, 1)")
    if layout not in ("per_view", "dual_head", "multiframe"):
        raise ScintimlError(f"--layout must be per_view, dual_head or multiframe, got {layout!r}")
    if jobs < 1:
        raise ScintimlError(f"--jobs must be at least 1, got {jobs}")
    jobs = min(jobs, n, os.cpu_count() or 1)  # more processes than studies or cores only cost start-up time
    check_output_path(out, overwrite=overwrite, output=SIMULATION_OUTPUT)
    with progress_bar() as bar:
        task = bar.add_task("simulating", total=n)
        summary = write_simulated_cohort(
            out, n, overwrite=overwrite, layout=layout, random_state=seed, study_table=study_table, n_jobs=jobs,
            prevalence=prevalence,
            counts_per_view=counts, collimator_fwhm_mm=collimator_fwhm, scatter_fraction=scatter,
            mimic_share=mimic_share, progress=lambda done, total: bar.update(task, completed=done))
    say(f"{summary['studies']} studies ({summary['positives']} with PE, {summary['mimics']} mimics) written to "
        f"{out}: dicom/ ({summary['files']} NM files), masks/ lung ROIs, truth/ defect masks, labels.csv, "
        "clinical.csv" + (", study.csv and groups.json" if study_table else ""))


@app.command()
def deid(
    in_dir: Path = typer.Argument(..., help="Folder of DICOM files (never modified)."),
    out_dir: Path = typer.Argument(..., help="New folder for the de-identified copies."),
    key: Path = typer.Option(..., "--key", help="The department's secret key file."),
    new_key: bool = typer.Option(False, "--new-key", help="Create the key file first (once)."),
    retain_dates: bool = typer.Option(False, "--retain-dates", help="Keep dates, shifted per patient (PS3.15 "
                                      "Retain Longitudinal Temporal Information with Modified Dates)."),
    keep_protocol: bool = typer.Option(False, "--keep-protocol", help="Keep protocol names and descriptions that "
                                       "hold no identifier (Clean Descriptors); never dates or times."),
    retain_device: bool = typer.Option(False, "--retain-device", help="Keep device identity (serial numbers, "
                                       "station names)."),
    retain_patient_characteristics: bool = typer.Option(False, "--retain-patient-characteristics",
                                                        help="Keep age, sex, size, weight."),
    retain_institution: bool = typer.Option(False, "--retain-institution", help="Keep institution identity."),
    keep_unknown: bool = typer.Option(False, "--keep-unknown", help="Keep attributes outside the table and the "
                                      "allow-list (not recommended)."),
) -> None:
    """De-identify DICOM files (PS3.15 Annex E Basic Profile, complete table) with keyed pseudonyms and an audit."""

    from collections import Counter

    from ..imaging import deid as deid_module
    from .base import say, warn

    # before the key is made: a refused run leaves nothing behind
    deid_module.check_folders(in_dir, out_dir, key, new_key=new_key)
    made_key = False  # only a key this run made is ever taken back: "the key exists" must not remove the user's
    try:
        if new_key:
            deid_module.new_key(key)
            made_key = True
        with progress_bar() as bar:
            task = bar.add_task("de-identifying", total=None)
            report = deid_module.deidentify_folder(
                in_dir, out_dir, key, retain_dates, keep_protocol, retain_device=retain_device,
                retain_patient_characteristics=retain_patient_characteristics,
                retain_institution=retain_institution, keep_unknown=keep_unknown,
                progress=lambda done, total: bar.update(task, completed=done, total=total))
    except BaseException as exc:
        # the key made by this run is taken back only while no output was published with it (an interrupt can
        # land after the folder is in place: then the key is the only way to link those pseudonyms again)
        published = out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()) or \
            (out_dir.is_dir() and any(out_dir.iterdir()))
        if made_key and not published:
            key.unlink(missing_ok=True)
        if published and isinstance(exc, KeyboardInterrupt):  # "nothing was written" would be untrue here
            from rich.text import Text

            from .base import InterruptSaid, console, visible

            console.print(Text(visible(f"interrupted after {out_dir} was written in full; keep the key {key}")),
                          soft_wrap=True)  # a path is no markup: "[/]" in it crashed this very message
            raise InterruptSaid from None
        raise
    # a count per reason, never the input names: they often hold a patient's name or record number (the audit
    # names each skipped file by its keyed hash)
    reasons = Counter(s["reason"] for s in report.skipped)
    for reason, n in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
        warn(f"{n} file(s): {reason} (named by keyed hash in {deid_module.AUDIT_NAME})", label="skipped")
    say(f"{len(report.written)} file(s) written to {out_dir}; {len(report.skipped)} skipped"
        f"{f' ({report.collisions} UID collision(s))' if report.collisions else ''}; "
        f"{report.changes} changes in {deid_module.AUDIT_NAME}")


@app.command()
def radiomics(
    images: Path = typer.Argument(..., help="Folder of NM planar DICOM files."),
    masks: Path = typer.Option(..., "--masks", help="Folder of <PatientID>.npz masks with keys VIEW__ROI."),
    out: Path = typer.Option(..., "--out", help="Features CSV (one row per study, view, ROI)."),
    settings: Optional[Path] = typer.Option(None, "--settings", help="pyradiomics YAML settings file."),
    wide: bool = typer.Option(False, "--wide", help="One row per patient (patient_id, then VIEW_ROI_FEATURE "
                                                   "columns); it holds no outcome: join one (e.g. labels.csv) on "
                                                   "patient_id before scintiml study."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """2-D radiomic features per view and ROI through pyradiomics."""
    from ..imaging.radiomics import features_from_folders
    from ..io import atomic_file, check_output_path, spreadsheet_safe
    from .base import say, warn

    check_output_path(out, overwrite=overwrite, inputs=(images, masks) + ((settings,) if settings else ()))
    require(settings is None or settings.is_file(), f"--settings {str(settings)!r} is not a file")
    table, skipped = features_from_folders(images, masks, settings=settings, wide=wide)
    for s in skipped:  # a reason read from the file already starts with its path: say it once
        warn(f"{s['file']}: {str(s['reason']).removeprefix(str(s['file']) + ': ')}", label="skipped")
    with atomic_file(out, overwrite=overwrite) as tmp:
        spreadsheet_safe(table).to_csv(tmp, index=False)
    say(f"{len(table)} rows of radiomic features written to {out}")
