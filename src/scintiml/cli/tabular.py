"""Tabular study commands: describe, study, demo, predict."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from ..errors import ScintimlError
from .base import app, cnn_app, console, parse_protocol as _parse_protocol

@app.command()
def describe(
    data: Path = typer.Argument(..., help="CSV, TSV, XLSX or Parquet file, one row per patient."),
    target: str = typer.Option(..., "--target", help="Outcome column (two classes)."),
    positive: Optional[str] = typer.Option(None, "--positive", help="Outcome value that is the event."),
    id_column: Optional[str] = typer.Option(None, "--id", help="Patient id column."),
    exclude: List[str] = typer.Option([], "--exclude", help="Column to drop (repeatable)."),
) -> None:
    """Validate a cohort file and summarise it (patients, events, inputs, missing values)."""
    from ..cohort import load_cohort

    cohort = load_cohort(data, target, positive=positive, id_column=id_column, exclude=exclude)
    out = Console()
    out.print(f"[bold]{cohort.name}[/]: {cohort.n_patients} patients, {cohort.n_events} events "
              f"({target} = {cohort.positive!r}), {cohort.n_inputs} inputs")
    for note in cohort.notes:
        out.print(f"  note: {note}")



def _run_and_write(cohort, out: Path, overwrite: bool, split: str, inputs: str, max_inputs, seed: int,
                   protocol: dict[str, str], pdf: bool = True) -> None:


    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..bundle import save_bundle
    from ..io import atomic_dir, check_output_path, write_json
    from ..report import write_report
    from ..split import parse_ratios
    from ..study import run_study

    check_output_path(out, overwrite=overwrite)
    ratios = parse_ratios(split)
    if min(ratios) == 0:
        from ..errors import SplitError

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
        with atomic_dir(out, overwrite=overwrite) as tmp:
            write_json(tmp / "results.json", result.results)
            write_report(result.results, tmp, pdf=pdf)
            save_bundle(result, tmp / "model")
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
    from ..cohort import load_cohort
    from ..study import INPUT_METHODS

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
    from ..datasets import load_heart_failure, load_spectf, make_mibg_cohort

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

    from ..bundle import load_bundle
    from ..cohort import read_table
    from ..errors import OutputDirectoryError

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

