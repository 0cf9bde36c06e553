"""Tabular study commands: describe, study, demo, predict. Each validates its options, calls one library
function (:func:`scintiml.study.write_study`, :func:`scintiml.bundle.predict_file` …) and prints."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import typer

from .base import OVERWRITE_HELP, app, parse_protocol, progress_bar, require, say, warn

SEED_HELP = "Random seed (split and every random start); same seed, same study."


@app.command()
def describe(
    data: Path = typer.Argument(..., help="CSV, TSV, XLSX or Parquet file, one row per patient."),
    target: str = typer.Option(..., "--target", help="Outcome column (two classes)."),
    positive: Optional[str] = typer.Option(None, "--positive", help="Outcome value that is the event."),
    id_column: Optional[str] = typer.Option(None, "--id", help="Patient id column."),
    exclude: List[str] = typer.Option([], "--exclude", help="Column to drop (repeatable)."),
    decimal_comma: bool = typer.Option(False, "--decimal-comma",
                                       help="Read 3,5 as 3.5 (numbers with a decimal comma)."),
    percent: bool = typer.Option(False, "--percent", help="Read 45% as 45."),
    missing: List[str] = typer.Option([], "--missing", help="A value meaning 'not measured', read as missing: "
                                                            "COLUMN=VALUE (chol=0) or VALUE for every input (-9); "
                                                            "repeatable; the model applies it to new patients."),
) -> None:
    """Validate a cohort file and summarise it (patients, events, inputs, missing values)."""
    from ..cohort import load_cohort
    from ..missing_codes import parse_missing_codes

    cohort = load_cohort(data, target, positive=positive, id_column=id_column, exclude=exclude,
                         decimal="," if decimal_comma else ".", percent=percent,
                         missing_codes=parse_missing_codes(missing, decimal="," if decimal_comma else ".",
                                                           percent=percent))
    say(f"{cohort.name}: {cohort.n_patients} patients, {cohort.n_events} events ({target} = {cohort.positive!r}), "
        f"{cohort.n_inputs} inputs")
    for note in cohort.notes:
        say(f"  note: {note}")
    for line in cohort.warnings:
        warn(line)


@contextmanager
def _progress_bar(stage_lines: bool = False) -> Iterator:
    """A rich progress bar on stderr; yields the ``progress(stage, n_networks)`` callback the study takes.

    Where stderr is no terminal (a log, a pipe) there is no bar; with ``stage_lines`` (a study larger than any
    measured, or the demo) each stage is then said on a line of its own with the time so far, so that a log of a
    long run does not look like a hung one."""
    import time

    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

    from .base import console

    with progress_bar(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                      TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task("study", total=None, detail="")
        counts: dict[str, int] = {}
        start = time.monotonic()
        say_stages = stage_lines and not console.is_terminal

        def progress(stage: str, n: int) -> None:
            if say_stages and stage not in counts:
                minutes, seconds = divmod(int(time.monotonic() - start), 60)
                warn(f"{stage} (after {minutes}:{seconds:02d})", label="stage")
            counts[stage] = counts.get(stage, 0) + n
            bar.update(task, description=stage, detail=f"{counts[stage]} networks trained" if counts[stage] else "")

        try:
            yield progress
        except BaseException:
            bar.live.transient = True  # an error or Ctrl-C ends with its one line, not a frozen bar above it
            raise
        bar.update(task, description="done", detail="")


#: What the headline's "deep learning: not assessed" says to do after ``scintiml demo``, which has no --groups.
DEMO_GROUPS_HINT = ("(the bundled cohort with them: scintiml demo --cohort heart-disease; your own table: "
                    "scintiml study TABLE --groups FILE)")


def _study(cohort_loader, out: Path, overwrite: bool, ratios, inputs: str, max_inputs, seed: int,
           protocol: dict[str, str], sites=None, selection: str = "stable", jobs: int = 1,
           stage_lines: bool = False, groups_hint: Optional[str] = None, pdf: bool = True) -> None:
    """Run and write the study, printing its headline; ``stage_lines`` says each stage off a terminal whatever
    the cohort's size, ``groups_hint`` replaces the headline's "(give them with --groups FILE)"."""
    from ..report import headline
    from ..study import write_study

    from ..study import size_warning

    cohort = cohort_loader()
    stage_lines = stage_lines or size_warning(cohort.n_patients, cohort.n_inputs) is not None
    with _progress_bar(stage_lines=stage_lines) as progress:
        result = write_study(cohort, out, ratios=ratios, inputs=inputs, max_inputs=max_inputs, random_state=seed,
                             protocol=protocol, overwrite=overwrite, progress=progress, sites=sites,
                             selection=selection, n_jobs=jobs, pdf=pdf)
    from ..stages.results import NO_SIGNAL

    signal = result.results.get("signal") or {}
    first = signal.get("message") if signal.get("verdict") == NO_SIGNAL else None
    if first:  # no signal the patients can support: said before any figure is read, as the report does
        warn(first)
    for line in headline(result.results):
        if groups_hint and line.startswith("deep learning: not assessed"):
            line = line.replace("(give them with --groups FILE)", groups_hint)
        say(line)
    for line in result.results.get("warnings", []):  # leaks, weak selections, small parts: also in the report
        if line != first:
            warn(line)
    for note in cohort.notes:  # what reading the table did (a dropped input, cells read as missing), after the
        warn(note, label="note")  # study's own lines: an error or an interrupt stays the one line said
    if result.results.get("internal_external"):
        auc = result.results["internal_external"]["summary"].get("auc")
        if auc and "auc" in auc:  # else a note: fewer than 2 sites with a usable AUC and SE
            say(f"internal-external cross-validation: summary AUC {auc['auc']:.3f} ({auc['auc_ci95'][0]:.3f}-"
                f"{auc['auc_ci95'][1]:.3f}), I2 {100 * auc['i2']:.0f} %" + (
                    f", 95 % prediction interval {auc['auc_prediction_interval95'][0]:.3f}-"
                    f"{auc['auc_prediction_interval95'][1]:.3f}" if auc["auc_prediction_interval95"] else ""))
    say(f"report: {out / 'report.html'}")


def _validated(split: str, inputs: str, max_inputs: Optional[int], seed: int, out: Path, overwrite: bool,
               jobs: int = 1):
    """Every option checked before the cohort is read or anything runs."""
    from ..io import check_output_path
    from ..io.atomic import STUDY_OUTPUT
    from ..split import parse_ratios
    from ..study import validate_study_options

    ratios = parse_ratios(split)
    validate_study_options(ratios, inputs, max_inputs, seed, n_jobs=jobs)
    check_output_path(out, overwrite=overwrite, kind="folder", output=STUDY_OUTPUT)
    return ratios


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
    max_inputs: Optional[int] = typer.Option(None, "--max-inputs", help="Most inputs to keep (at least 1)."),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
    protocol: List[str] = typer.Option([], "--protocol", help="Acquisition protocol KEY=VALUE (repeatable)."),
    site_column: Optional[str] = typer.Option(None, "--site-column",
                                              help="Column naming each patient's site: adds internal-external "
                                                   "cross-validation (never an input)."),
    selection: str = typer.Option("stable", "--selection",
                                  help="stable: keep the inputs chosen in most of 20 resampled selections, the "
                                       "network by 5-fold cross-validation (default); cv: inputs too by one 5-fold "
                                       "cross-validated selection; split: on the one selection part, as the "
                                       "published workflow."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    jobs: int = typer.Option(1, "--jobs", help="Processes for the resampled selections and the nested "
                                               "cross-validation (-1: every core); the result does not change."),
    decimal_comma: bool = typer.Option(False, "--decimal-comma",
                                       help="Read 3,5 as 3.5 (numbers with a decimal comma)."),
    percent: bool = typer.Option(False, "--percent", help="Read 45% as 45."),
    missing: List[str] = typer.Option([], "--missing", help="A value meaning 'not measured', read as missing: "
                                                            "COLUMN=VALUE (chol=0) or VALUE for every input (-9); "
                                                            "repeatable; the model applies it to new patients."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also write report.pdf (report.html is always written)."),
) -> None:
    """Run the whole study: select inputs and network, test, explain, judge the imaging, write everything."""
    from ..cohort import load_cohort
    from ..missing_codes import parse_missing_codes
    from ..stages import SELECTION_MODES

    require(selection in SELECTION_MODES, f"--selection must be one of {', '.join(SELECTION_MODES)}, got {selection!r}")
    from ..io import check_output_path
    from ..io.atomic import STUDY_OUTPUT

    # --out = the data file (or holding the groups file) names the real problem
    check_output_path(out, overwrite=overwrite, inputs=(data,) + ((groups,) if groups else ()), kind="folder",
                      output=STUDY_OUTPUT)
    ratios = _validated(split, inputs, max_inputs, seed, out, overwrite, jobs)
    codes = parse_missing_codes(missing, decimal="," if decimal_comma else ".", percent=percent)
    require(site_column is None or site_column not in codes,
            f"--missing names the site column {site_column!r}: a site's name is a label, never read as missing; give "
            "every patient a site")
    site_protocol = parse_protocol(protocol)
    sites = None
    if site_column is not None:
        from ..external import read_sites

        require(site_column != target, "--site-column must not be the outcome column")
        sites = read_sites(data, site_column)
        exclude = [*exclude, site_column]
    _study(lambda: load_cohort(data, target, positive=positive, id_column=id_column, groups=groups, exclude=exclude,
                               decimal="," if decimal_comma else ".", percent=percent, missing_codes=codes),
           out, overwrite, ratios, inputs, max_inputs, seed, site_protocol, sites=sites, selection=selection,
           jobs=jobs, pdf=pdf)


@app.command()
def demo(
    out: Path = typer.Option(Path("scintiml-demo"), "--out", help="Output folder."),
    cohort_name: str = typer.Option("heart_failure", "--cohort",
                                    help="heart_failure, spectf, heart-disease (thallium) or mibg (teaching)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
    jobs: int = typer.Option(1, "--jobs", help="Processes for the resampled selections and the nested "
                                               "cross-validation (-1: every core); the result does not change."),
) -> None:
    """Run the study on a bundled cohort (real heart-failure records by default)."""
    from ..study import DEMO_COHORTS, demo_cohort, demo_cohort_name

    cohort_name = demo_cohort_name(cohort_name)
    require(cohort_name in DEMO_COHORTS, f"--cohort must be one of {', '.join(DEMO_COHORTS)}, got {cohort_name!r}")
    ratios = _validated("60:20:20", "growing", None, seed, out, overwrite, jobs)
    # about 2 minutes on 2 cores, silent off a terminal (no bar) until the headline: said stage by stage there
    _study(lambda: demo_cohort(cohort_name), out, overwrite, ratios, "growing", None, seed, {}, jobs=jobs,
           stage_lines=True, groups_hint=DEMO_GROUPS_HINT)


@app.command()
def predict(
    model: Path = typer.Argument(..., help="Model bundle folder (the study's out/model)."),
    data: Path = typer.Argument(..., help="New patients: CSV, TSV, XLSX or Parquet."),
    out: Path = typer.Option(..., "--out", help="Predictions CSV to write."),
    id_column: Optional[str] = typer.Option(None, "--id", help="Patient id column to carry over."),
    protocol: List[str] = typer.Option([], "--protocol", help="This site's protocol KEY=VALUE (checked)."),
    strict_protocol: bool = typer.Option(False, "--strict-protocol", help="A protocol mismatch is an error."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    decimal_comma: bool = typer.Option(False, "--decimal-comma",
                                       help="Read 3,5 as 3.5 (numbers with a decimal comma)."),
    percent: bool = typer.Option(False, "--percent", help="Read 45% as 45."),
) -> None:
    """Apply a model bundle to new patients: probability, class, out-of-range inputs."""
    from ..bundle import predict_file

    site_protocol = parse_protocol(protocol)
    run = predict_file(model, data, out, id_column=id_column, protocol=site_protocol,
                       strict_protocol=strict_protocol, overwrite=overwrite,
                       decimal="," if decimal_comma else ".", percent=percent)
    for line in run.warnings:
        warn(line)
    say(f"{len(run.predictions)} predictions written to {run.out}")
