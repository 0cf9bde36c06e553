"""CNN commands: cnn train, cnn triage, cnn drift."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from ..errors import ScintimlError
from .base import app, cnn_app, console, parse_protocol as _parse_protocol

def _load_labelled_studies(data: Path, labels: Optional[Path]):
    """DICOM studies below ``data`` (or ``data/dicom``) and their labels (``patient_id, pe``)."""
    import pandas as pd

    from ..imaging.planar import scan_folder

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

    from ..cnn import train_cnn

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

    from ..cnn import CNNModel, grad_cam, secondary_capture, summary_image, worklist
    from ..imaging.planar import scan_folder

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

    from ..cnn import CNNModel, drift_check

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

