"""The ``scintiml`` command line: a thin shell around the library.

Every failure the user can fix prints one ``error: ...`` line and exits with
status 2 — never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from .errors import ScintimlError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="scintiml: a nuclear-medicine department's first machine-learning study.")
console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """scintiml: a nuclear-medicine department's first machine-learning study."""


@app.command()
def describe(
    data: Path = typer.Argument(..., help="CSV, TSV, XLSX or Parquet file, one row per patient."),
    target: str = typer.Option(..., "--target", help="Outcome column (two classes)."),
    positive: Optional[str] = typer.Option(None, "--positive", help="Outcome value that is the event."),
    id_column: Optional[str] = typer.Option(None, "--id", help="Patient id column."),
    exclude: List[str] = typer.Option([], "--exclude", help="Column to drop (repeatable)."),
) -> None:
    """Validate a cohort file and summarise it (patients, events, inputs, missing values)."""
    from .cohort import load_cohort

    cohort = load_cohort(data, target, positive=positive, id_column=id_column, exclude=exclude)
    out = Console()
    out.print(f"[bold]{cohort.name}[/]: {cohort.n_patients} patients, {cohort.n_events} events "
              f"({target} = {cohort.positive!r}), {cohort.n_inputs} inputs")
    for note in cohort.notes:
        out.print(f"  note: {note}")


def _parse_protocol(items: List[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ScintimlError(f"--protocol takes KEY=VALUE (e.g. collimator=LEHR), got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _run_and_write(cohort, out: Path, overwrite: bool, split: str, inputs: str, max_inputs, seed: int,
                   protocol: dict[str, str], pdf: bool = True) -> None:
    import json

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .bundle import _atomic_dir, publish, save_bundle
    from .errors import OutputDirectoryError
    from .report import write_report
    from .split import parse_ratios
    from .study import run_study

    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise OutputDirectoryError(f"output folder {str(out)!r} exists and is not empty; choose another or pass --overwrite")
    ratios = parse_ratios(split)
    if min(ratios) == 0:
        from .errors import SplitError

        raise SplitError(f"split {split!r}: the selection and testing parts must not be empty; use e.g. 60:20:20")
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("study", total=None, detail="")
        counts: dict[str, int] = {}

        def progress(stage: str, n: int) -> None:
            counts[stage] = counts.get(stage, 0) + n
            detail = f"{counts[stage]} networks trained" if counts[stage] else ""
            bar.update(task, description=stage, detail=detail)

        result = run_study(cohort, ratios=ratios, inputs=inputs, max_inputs=max_inputs, seed=seed,
                           protocol=protocol, progress=progress)
        bar.update(task, description="report", detail="")
        tmp = _atomic_dir(out)
        try:
            (tmp / "results.json").write_text(json.dumps(result.results, indent=1))
            write_report(result.results, tmp, pdf=pdf)
            save_bundle(result, tmp / "model")
        except Exception:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if out.exists() and not any(out.iterdir()):
            out.rmdir()
        publish(tmp, out, overwrite=True)
        bar.update(task, description="done", detail=str(out))
    r = result.results
    t = r["test"]
    summary = Console()
    summary.print(f"[bold]{r['dataset']['name']}[/]: inputs {', '.join(r['inputs']['selected'])}; "
                  f"network {r['architecture']}; testing AUC {t['auc']:.3f} "
                  f"({t['auc_ci95'][0]:.3f}-{t['auc_ci95'][1]:.3f})")
    summary.print(f"rule: {r['rule']['text']}")
    if r.get("readiness"):
        summary.print(f"deep learning: {r['readiness']['message']}")
    summary.print(f"report: {out / 'report.html'}")


@app.command()
def study(
    data: Path = typer.Argument(..., help="CSV, TSV, XLSX or Parquet file, one row per patient."),
    target: str = typer.Option(..., "--target", help="Outcome column (two classes)."),
    out: Path = typer.Option(..., "--out", help="Output folder (results.json, report, model)."),
    positive: Optional[str] = typer.Option(None, "--positive", help="Outcome value that is the event."),
    id_column: Optional[str] = typer.Option(None, "--id", help="Patient id column."),
    groups: Optional[Path] = typer.Option(None, "--groups", help="JSON/YAML file: group name -> input columns."),
    split: str = typer.Option("60:20:20", "--split", help="Training:selection:testing."),
    exclude: List[str] = typer.Option([], "--exclude", help="Column to drop (repeatable)."),
    inputs: str = typer.Option("growing", "--inputs", help="growing, pruning, genetic or all."),
    max_inputs: Optional[int] = typer.Option(None, "--max-inputs", help="Most inputs to keep."),
    seed: int = typer.Option(0, "--seed", help="Random seed (split and training)."),
    protocol: List[str] = typer.Option([], "--protocol", help="Acquisition protocol KEY=VALUE (repeatable)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
) -> None:
    """Run the whole study: select inputs and network, test, explain, judge the imaging, write everything."""
    from .cohort import load_cohort
    from .study import INPUT_METHODS

    if inputs not in INPUT_METHODS:
        raise ScintimlError(f"--inputs must be one of {', '.join(INPUT_METHODS)}, got {inputs!r}")
    cohort = load_cohort(data, target, positive=positive, id_column=id_column, groups=groups, exclude=exclude)
    _run_and_write(cohort, out, overwrite, split, inputs, max_inputs, seed, _parse_protocol(protocol))


@app.command()
def demo(
    out: Path = typer.Option(Path("scintiml-demo"), "--out", help="Output folder."),
    cohort_name: str = typer.Option("heart_failure", "--cohort", help="heart_failure, spectf or mibg (teaching)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Run the study on a bundled cohort (real heart-failure records by default)."""
    from .datasets import load_heart_failure, load_spectf, make_mibg_cohort

    loaders = {"heart_failure": load_heart_failure, "spectf": load_spectf, "mibg": make_mibg_cohort}
    if cohort_name not in loaders:
        raise ScintimlError(f"--cohort must be one of {', '.join(loaders)}, got {cohort_name!r}")
    _run_and_write(loaders[cohort_name](), out, overwrite, "60:20:20", "growing", None, seed, {})


@app.command()
def predict(
    model: Path = typer.Argument(..., help="Model bundle folder (the study's out/model)."),
    data: Path = typer.Argument(..., help="New patients: CSV, TSV, XLSX or Parquet."),
    out: Path = typer.Option(..., "--out", help="Predictions CSV to write."),
    id_column: Optional[str] = typer.Option(None, "--id", help="Patient id column to carry over."),
    protocol: List[str] = typer.Option([], "--protocol", help="This site's protocol KEY=VALUE (checked)."),
    strict_protocol: bool = typer.Option(False, "--strict-protocol", help="A protocol mismatch is an error."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Apply a model bundle to new patients: probability, class, out-of-range inputs."""
    import os
    import tempfile

    from .bundle import load_bundle
    from .cohort import read_table
    from .errors import OutputDirectoryError

    bundle = load_bundle(model)
    frame = read_table(data)
    if out.exists() and not overwrite:
        raise OutputDirectoryError(f"{str(out)!r} exists; choose another name or pass --overwrite")
    if out.resolve() == data.resolve():
        raise OutputDirectoryError("--out must not be the input file")
    mismatches = bundle.check_protocol(_parse_protocol(protocol))
    if mismatches and strict_protocol:
        raise ScintimlError("; ".join(mismatches))
    for m in mismatches:
        console.print(f"[yellow]warning:[/] {m}", highlight=False)
    pred = bundle.predict(frame, id_column=id_column)
    n_out = int((pred["out_of_range"] != "").sum())
    if n_out:
        console.print(f"[yellow]warning:[/] {n_out} patient(s) have inputs outside the training range "
                      "(see out_of_range)", highlight=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent if str(out.parent) else ".")
    os.close(fd)
    pred.to_csv(tmp, index=False)
    os.replace(tmp, out)
    Console().print(f"{len(pred)} predictions written to {out}")


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

    from .datasets.perfusion import simulate_perfusion_scans
    from .imaging.planar import PlanarStudy, write_nm_dicom

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
    from .imaging import deid as deid_module

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

    from .imaging.planar import scan_folder
    from .imaging.radiomics import radiomic_features, wide_table

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


cnn_app = typer.Typer(no_args_is_help=True, help="Entry-level CNN on planar perfusion scans (extra: cnn).")
app.add_typer(cnn_app, name="cnn")


def _load_labelled_studies(data: Path, labels: Optional[Path]):
    """DICOM studies below ``data`` (or ``data/dicom``) and their labels (``patient_id, pe``)."""
    import pandas as pd

    from .imaging.planar import scan_folder

    folder = data / "dicom" if (data / "dicom").is_dir() else data
    labels = labels or (data / "labels.csv")
    if not labels.exists():
        raise ScintimlError(f"labels file {str(labels)!r} not found; give --labels CSV with columns patient_id, pe")
    table = pd.read_csv(labels)
    missing = {"patient_id", "pe"} - set(table.columns)
    if missing:
        raise ScintimlError(f"labels file {str(labels)!r} lacks column(s) {sorted(missing)}")
    studies, skipped = scan_folder(folder)
    for s in skipped:
        console.print(f"[yellow]skipped:[/] {s['file']}: {s['reason']}", highlight=False)
    by_id = dict(zip(table["patient_id"].astype(str), table["pe"].astype(int)))
    kept = [s for s in studies if s.patient_id in by_id]
    if len(kept) < len(studies):
        console.print(f"[yellow]note:[/] {len(studies) - len(kept)} studies have no label and are left out")
    if not kept:
        raise ScintimlError(f"no labelled NM study found in {str(folder)!r}")
    return kept, [by_id[s.patient_id] for s in kept]


@cnn_app.command("train")
def cnn_train(
    data: Path = typer.Argument(..., help="Folder of NM DICOM studies (or a simulate output: dicom/ + labels.csv)."),
    out: Path = typer.Option(..., "--out", help="Model bundle folder to write."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="CSV with patient_id, pe (default DATA/labels.csv)."),
    views: str = typer.Option("ANT,POST,RAO,LAO,RPO,LPO", "--views", help="Views used as channels."),
    epochs: int = typer.Option(40, "--epochs"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many steps (quick runs)."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite"),
) -> None:
    """Train the planar CNN (60:20:20 by patient, class weighting, early stopping on the selection split)."""
    import json

    import numpy as np
    from rich.progress import Progress

    from .cnn import train_cnn

    view_list = [v.strip() for v in views.split(",") if v.strip()]
    studies, y = _load_labelled_studies(data, labels)
    counts = np.stack([s.stack(view_list) for s in studies])
    with Progress(console=console) as bar:
        task = bar.add_task("training", total=epochs)
        model, report = train_cnn(
            counts, np.asarray(y), view_list, ids=[s.patient_id for s in studies], epochs=epochs,
            max_steps=max_steps, seed=seed, data_description=f"{len(y)} studies from {data}",
            progress=lambda e, total, m: bar.update(task, completed=e,
                                                    description=f"epoch {e}: selection loss {m['selection_loss']:.3f}"),
        )
    model.save(out, overwrite=overwrite)
    (out / "training_report.json").write_text(json.dumps(report, indent=1, default=float))
    test = report.get("test")
    msg = f"model written to {out}; threshold {model.threshold:.3f} (>= 95 % sensitivity on the selection split)"
    if test:
        msg += f"; testing AUC {test['auc']:.3f} ({test['auc_ci95'][0]:.3f}-{test['auc_ci95'][1]:.3f})"
    Console().print(msg)


@cnn_app.command("triage")
def cnn_triage(
    model_dir: Path = typer.Argument(..., help="CNN model bundle."),
    data: Path = typer.Argument(..., help="Folder of NM DICOM studies to rank."),
    out: Path = typer.Option(..., "--out", help="Worklist CSV to write."),
    summaries: Optional[Path] = typer.Option(None, "--summaries", help="Folder for summary PNG + Secondary Capture."),
    overwrite: bool = typer.Option(False, "--overwrite"),
) -> None:
    """Rank studies by probability of PE, with a priority, a summary image and a DICOM Secondary Capture each."""
    import os
    import tempfile

    import numpy as np
    from PIL import Image
    from pydicom.uid import generate_uid

    from .cnn import CNNModel, grad_cam, secondary_capture, summary_image, worklist
    from .imaging.planar import scan_folder

    if out.exists() and not overwrite:
        raise ScintimlError(f"{str(out)!r} exists; choose another name or pass --overwrite")
    model = CNNModel.load(model_dir)
    folder = data / "dicom" if (data / "dicom").is_dir() else data
    studies, skipped = scan_folder(folder)
    for s in skipped:
        console.print(f"[yellow]skipped:[/] {s['file']}: {s['reason']}", highlight=False)
    if not studies:
        raise ScintimlError(f"no readable NM DICOM study in {str(folder)!r}")
    counts = np.stack([s.stack(model.views) for s in studies])
    table, order = worklist(model, studies, counts)
    summaries = summaries or out.with_name(out.stem + "_summaries")
    summaries.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    png_paths, sc_paths = [], []
    maps = grad_cam(model, counts)
    for rank, i in enumerate(order, start=1):
        study = studies[i]
        rgb = summary_image(study, model.views, float(table.loc[rank - 1, "probability"]), model.threshold,
                            maps[i], rank=rank)
        png = summaries / f"{rank:04d}_{study.patient_id}.png"
        Image.fromarray(rgb).save(png)
        sc = secondary_capture(rgb, study, series_instance_uid=series_uid, instance_number=rank)
        dcm = summaries / f"{rank:04d}_{study.patient_id}_SC.dcm"
        sc.save_as(dcm)
        png_paths.append(str(png))
        sc_paths.append(str(dcm))
    table["summary_png"] = png_paths
    table["secondary_capture"] = sc_paths
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent if str(out.parent) else ".")
    os.close(fd)
    table.to_csv(tmp, index=False)
    os.replace(tmp, out)
    n_urgent = int((table["priority"] == "URGENT").sum())
    Console().print(f"{len(table)} studies ranked ({n_urgent} URGENT) -> {out}; summaries in {summaries}")


@cnn_app.command("drift")
def cnn_drift(
    model_dir: Path = typer.Argument(..., help="CNN model bundle."),
    n: int = typer.Option(200, "--n", help="Simulated studies per protocol."),
    seed: int = typer.Option(12345, "--seed", help="Simulator seed (use one the model never saw)."),
    out: Optional[Path] = typer.Option(None, "--out", help="CSV to write the table to."),
) -> None:
    """Score the model on simulated studies under other protocols (counts, collimator, scatter)."""
    from rich.table import Table

    from .cnn import CNNModel, drift_check

    table = drift_check(CNNModel.load(model_dir), n_cases=n, random_state=seed)
    view = Table(title=f"protocol drift ({n} simulated studies each, seed {seed})")
    for col in ("protocol", "AUC (95 % CI)", "sensitivity", "specificity"):
        view.add_column(col)
    for r in table.itertuples():
        view.add_row(r.protocol, f"{r.auc:.3f} ({r.auc_ci_low:.3f}-{r.auc_ci_high:.3f})", f"{r.sensitivity:.2f}",
                     f"{r.specificity:.2f}")
    Console().print(view)
    if out is not None:
        table.to_csv(out, index=False)


def main() -> None:
    """Entry point: run the app, turning scintiml's own errors into one line."""
    try:
        app(standalone_mode=False)
    except ScintimlError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        console.print("error: interrupted")
        sys.exit(130)
    except Exception as exc:
        # Usage errors (unknown option, missing argument) from typer's click layer carry
        # format_message(); they are the user's to fix, so one line as well.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            console.print(f"[bold red]error:[/] {exc.format_message()}", highlight=False, soft_wrap=True)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
