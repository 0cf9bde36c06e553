"""CNN commands: cnn train, cnn triage, cnn drift — parse, validate, call one library function, print."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .base import OVERWRITE_HELP, cnn_app, progress_bar, require, require_seed, say, warn, warn_each, warnings_as_lines

ARCHITECTURES = ("alexnet", "monai-densenet")


def _views(text: str) -> list[str]:
    views = [v.strip().upper() for v in text.split(",") if v.strip()]
    require(bool(views) and len(set(views)) == len(views), f"--views needs distinct view names, got {text!r}")
    return views


@cnn_app.command("train")
def cnn_train(
    data: Path = typer.Argument(..., help="Folder of NM DICOM studies (or a simulate output: dicom/ + labels.csv)."),
    out: Path = typer.Option(..., "--out", help="Model bundle folder to write."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="CSV with patient_id, pe (default DATA/labels.csv)."),
    views: str = typer.Option("ANT,POST,RAO,LAO,RPO,LPO", "--views", help="Views of every study, in order."),
    architecture: str = typer.Option("alexnet", "--architecture", help="alexnet (entry level) or monai-densenet."),
    epochs: int = typer.Option(60, "--epochs", help="Epochs of the one-cycle schedule, 1 to 10000 (early stopping "
                               "may end it after 3/4 of them)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many steps (quick runs)."),
    seed: int = typer.Option(0, "--seed"),
    split_csv: Optional[Path] = typer.Option(None, "--split-csv", help="Also write which part (training, selection, "
                                             "testing) each study fell in, by PatientID, to this CSV; kept out of the "
                                             "bundle, which names no patient."),
    split_from: Optional[Path] = typer.Option(None, "--split-from", help="Take each study's part from this CSV "
                                              "(study_instance_uid, part: training, selection or testing), as "
                                              "--split-csv writes it: an earlier model's split, or one made by hand; "
                                              "refused where a patient or a copy of a study falls in two parts."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Train the per-view CNN (50:30:20 split by patient, early stopping, temperature scaling, a threshold whose
    sensitivity's one-sided 95 % lower bound reaches 0.95 on the selection studies)."""

    view_list = _views(views)
    require(epochs >= 1, f"--epochs must be at least 1, got {epochs}")
    require_seed(seed)
    require(max_steps is None or max_steps >= 1, f"--max-steps must be at least 1, got {max_steps}")
    require(architecture in ARCHITECTURES, f"--architecture must be one of {', '.join(ARCHITECTURES)}")
    from ..cnn.workflow import MAX_EPOCHS, train_from_folder
    from ..io import check_output_path

    if split_csv is not None:  # refused before the training, not after it
        split_csv = check_output_path(split_csv, overwrite=overwrite, inputs=(data, out), kind="file")
        require(split_csv.resolve() != out.resolve(), "--split-csv must name a file outside the --out bundle")

    # early stopping waits for 3/4 of the epochs: a mistyped huge number would train until killed
    require(epochs <= MAX_EPOCHS, f"--epochs must be at most {MAX_EPOCHS}, got {epochs}; the default is 60")

    with progress_bar() as bar:
        task = bar.add_task("reading the files", total=None)
        # the two steps before the first epoch each take minutes on thousands of studies: the bar shows them
        step_names = {"reading": "reading the files", "copies": "searching near copies"}

        def step(what: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=step_names.get(what, what))

        def show(epoch: int, total: int, m: dict) -> None:
            bar.update(task, completed=epoch, total=total,
                       description=f"epoch {epoch}: selection loss {m['smoothed_selection_loss']:.3f} (smoothed)")

        with warnings_as_lines():  # the split's small-part warnings, as our lines
            model, skipped = train_from_folder(data, out, labels=labels, views=view_list, overwrite=overwrite,
                                               progress=show, architecture=architecture, epochs=epochs,
                                               max_steps=max_steps, seed=seed, split_from=split_from, steps=step)
    if split_csv is not None:
        _write_split_csv(model.report.get("parts", []), split_csv, overwrite)
    warn_each(skipped)
    for note in model.report.get("notes", []):  # accepted, worth a word: repeated label rows, labels of no study
        warn(note, label="note")
    m = model.report.get("metrics", {})
    line = f"model written to {out}; threshold {model.threshold:.3f}, temperature {model.temperature:.2f}"
    if "auc" in m:
        ci = m.get("auc_ci95") or [None, None]
        interval = "no CI: one study of a class" if None in ci or ci[0] != ci[0] else f"{ci[0]:.3f}-{ci[1]:.3f}"
        # the URGENT share says what the threshold costs a worklist: it varied 0.42-0.72 between trainings of
        # the same studies (docs/cnn.md, "On a GPU")
        line += (f"; testing AUC {m['auc']:.3f} ({interval}), sensitivity {m['sensitivity']:.2f}, specificity "
                 f"{m['specificity']:.2f}, URGENT {100 * m['urgent_fraction']:.0f} % of the testing studies")
    say(line)
    if not model.spec["threshold_rule"]["promise_shown"]:
        warn(f"the selection studies held {model.spec['threshold_rule']['positives']} positives: too few to show "
             "sensitivity >= 0.95 at its one-sided 95 % lower confidence bound (52 needed); train on more studies")


def _write_split_csv(parts: list[dict], path: Path, overwrite: bool) -> None:
    """Each study's part of the split, by PatientID and Study Instance UID (spreadsheet-safe cells), atomically."""
    import pandas as pd

    from ..io import atomic_file, spreadsheet_safe

    table = spreadsheet_safe(pd.DataFrame(parts, columns=["patient_id", "study_instance_uid", "part"]))
    with atomic_file(path, overwrite=overwrite) as tmp:
        table.to_csv(tmp, index=False)


@cnn_app.command("triage")
def cnn_triage(
    model_dir: Path = typer.Argument(..., help="CNN model bundle."),
    data: Path = typer.Argument(..., help="Folder of NM DICOM studies to rank."),
    out: Path = typer.Option(..., "--out", help="Worklist CSV to write."),
    summaries: Optional[Path] = typer.Option(
        None, "--summaries", help="Folder for summary PNG + Secondary Capture (default: OUT's name + _summaries, "
                                  "beside it)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the worklist and its summaries folder (a "
                                   "summaries folder holding files scintiml did not write is refused)."),
) -> None:
    """Rank studies by probability of PE; studies outside the training protocol are flagged, not scored."""

    from ..cnn.workflow import triage_folder

    with warnings_as_lines(), progress_bar() as bar:  # e.g. a patient ID the summary image cannot draw
        task = bar.add_task("reading the files", total=None)
        table, skipped = triage_folder(
            model_dir, data, out, summaries=summaries, overwrite=overwrite,
            progress=lambda k, n: bar.update(task, completed=k, total=n, description="summaries"),
            steps=lambda what, k, n: bar.update(task, completed=k, total=n, description="reading the files"))
    warn_each(skipped)
    counts = table["priority"].value_counts()
    say(f"{len(table)} studies ranked ({counts.get('URGENT', 0)} URGENT, {counts.get('not triaged', 0)} not "
        f"triaged: outside the training protocol or unreadable, read them first) -> {out}")


@cnn_app.command("drift")
def cnn_drift(
    model_dir: Path = typer.Argument(..., help="CNN model bundle."),
    n: int = typer.Option(200, "--n", help="Simulated studies per protocol."),
    seed: int = typer.Option(12345, "--seed", help="Simulator seed (use one the model never saw)."),
    out: Optional[Path] = typer.Option(None, "--out", help="CSV to write the table to."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
) -> None:
    """The model on the same simulated patients under other protocols: AUC, calibration, sensitivity and
    specificity at the fixed threshold, DeLong against the reference protocol; broken promises flagged."""
    from rich.table import Table

    require(n >= 10, f"--n must be at least 10 (studies per protocol), got {n}")
    require_seed(seed)
    from ..cnn.workflow import write_drift_table

    with progress_bar() as bar:
        task = bar.add_task("protocols", total=None)
        table = write_drift_table(model_dir, out, n_cases=n, random_state=seed, overwrite=overwrite,
                                  progress=lambda k, total: bar.update(task, completed=k, total=total))
    from .base import print_table

    view = Table(title=f"protocol drift ({n} simulated studies each, seed {seed})")
    for col in ("protocol", "AUC (95 % CI)", "DeLong p", "cal. intercept", "cal. slope", "sensitivity",
                "specificity", "promise"):
        view.add_column(col)
    for r in table.itertuples():
        view.add_row(r.protocol, f"{r.auc:.3f} ({r.auc_ci_low:.3f}-{r.auc_ci_high:.3f})",
                     f"{r.delong_p_vs_reference:.3f}", f"{r.calibration_in_the_large:.2f}",
                     # NaN where the slope has no estimate (the probabilities separate the outcomes)
                     f"{r.calibration_slope:.2f}" if r.calibration_slope == r.calibration_slope else "none (separated)",
                     f"{r.sensitivity:.2f} ({r.sensitivity_ci_low:.2f}-{r.sensitivity_ci_high:.2f})",
                     f"{r.specificity:.2f} ({r.specificity_ci_low:.2f}-{r.specificity_ci_high:.2f})",
                     "BROKEN" if r.breaks_promise else ("kept, specificity down" if r.specificity_drop else "kept"))
    print_table(view)  # whole off a terminal too, where rich cut it to 80 columns ("protoc…")
