"""External validation commands: validate (a bundle on another site's patients) and recalibrate."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .base import OVERWRITE_HELP, app, parse_protocol, require, say, warn


@app.command()
def validate(
    model: Path = typer.Argument(..., help="Model bundle folder (a study's out/model)."),
    data: Path = typer.Argument(..., help="The other site's patients, with the outcome: CSV, TSV, XLSX or Parquet."),
    target: str = typer.Option(..., "--target", help="Outcome column (coded like the model's)."),
    out: Path = typer.Option(..., "--out", help="Output folder (validation.json, predictions.csv, report)."),
    id_column: Optional[str] = typer.Option(None, "--id", help="Patient id column to carry over."),
    protocol: List[str] = typer.Option([], "--protocol", help="This site's acquisition protocol KEY=VALUE (repeatable)."),
    reference: Optional[Path] = typer.Option(None, "--reference",
                                             help="The development patients' file: enables the site-membership model."),
    max_missing: float = typer.Option(0.3, "--max-missing", help="Largest share missing per input that is imputed."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also write report.pdf."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    decimal_comma: bool = typer.Option(False, "--decimal-comma",
                                       help="Read 3,5 as 3.5 (numbers with a decimal comma)."),
    percent: bool = typer.Option(False, "--percent", help="Read 45% as 45."),
) -> None:
    """Apply a model to another site's patients: AUC, calibration, Brier, tests, decision curve (95 % CIs),
    what moved, and a verdict: transportable / recalibrate / retrain."""
    from ..external import write_validation
    from ..external.metrics import slope_text
    from ..io import check_output_path
    from ..io.atomic import BUNDLE_OUTPUT, VALIDATION_OUTPUT

    require(0 < max_missing <= 1, f"--max-missing must be in (0, 1], got {max_missing}")
    require(out.resolve() != data.resolve(), "--out must not be the data file")
    check_output_path(out, overwrite=overwrite, inputs=(model, data), kind="folder", output=VALIDATION_OUTPUT)
    site_protocol = parse_protocol(protocol)
    v = write_validation(model, data, target, out, protocol=site_protocol or None, reference=reference,
                         id_column=id_column, max_missing_share=max_missing, pdf=pdf, overwrite=overwrite,
                         decimal="," if decimal_comma else ".", percent=percent)
    p = v["performance"]
    cal = p["calibration"]
    say(f"{p['n']} patients, {p['n_events']} events: AUC {p['auc']:.3f} ({p['auc_ci95'][0]:.3f}-{p['auc_ci95'][1]:.3f}); "
        f"calibration-in-the-large {cal['intercept']:+.2f} ({cal['intercept_ci95'][0]:+.2f} to "
        f"{cal['intercept_ci95'][1]:+.2f}), slope {slope_text(cal, interval=True)}; Brier {p['brier']:.3f}")
    say(f"verdict: {v['verdict']}")
    for reason in v["reasons"]:
        say(f"  {reason}")
    for note in v["notes"]:
        warn(note, label="note")
    if v["n_imputed_patients"]:
        warn(f"{v['n_imputed_patients']} patient(s) had inputs imputed with the training medians (see predictions.csv)")
    say(f"report: {out / 'report.html'}")


@app.command()
def recalibrate(
    model: Path = typer.Argument(..., help="Model bundle folder to recalibrate (never modified)."),
    data: Path = typer.Argument(..., help="The site's patients, with the outcome."),
    target: str = typer.Option(..., "--target", help="Outcome column (coded like the model's)."),
    out: Path = typer.Option(..., "--out", help="The new bundle folder."),
    method: str = typer.Option("logistic", "--method", help="intercept or logistic."),
    max_missing: float = typer.Option(0.3, "--max-missing", help="Largest share missing per input that is imputed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output bundle."),
    decimal_comma: bool = typer.Option(False, "--decimal-comma",
                                       help="Read 3,5 as 3.5 (numbers with a decimal comma)."),
    percent: bool = typer.Option(False, "--percent", help="Read 45% as 45."),
) -> None:
    """Write a recalibrated version of a model bundle for a site (intercept or logistic recalibration)."""
    from ..cohort import read_table
    from ..external import RECALIBRATION_METHODS, recalibrate_bundle
    from ..external.metrics import slope_text
    from ..io import check_output_path
    from ..io.atomic import BUNDLE_OUTPUT, VALIDATION_OUTPUT

    require(method in RECALIBRATION_METHODS, f"--method must be one of {', '.join(RECALIBRATION_METHODS)}, got {method!r}")
    require(0 < max_missing <= 1, f"--max-missing must be in (0, 1], got {max_missing}")
    require(out.resolve() != model.resolve(), "--out must be a new folder: the original bundle is never overwritten")
    check_output_path(out, overwrite=overwrite, inputs=(model, data), kind="folder", output=BUNDLE_OUTPUT)
    table = read_table(data, decimal="," if decimal_comma else ".", percent=percent)
    from ..bundle import load_bundle
    from ..cohort import check_number_formats

    # what read_table could not read one way
    bundle = load_bundle(model)
    check_number_formats(table, bundle.inputs, "," if decimal_comma else ".", bundle.missing_codes)
    record = recalibrate_bundle(model, table, target, out, method=method, data_name=data.name,
                                max_missing_share=max_missing, overwrite=overwrite)
    cb, ca = record["before"]["calibration"], record["after"]["calibration"]
    say(f"{record['formula']} from {record['n']} patients ({record['n_events']} events)")
    say(f"on these patients: calibration-in-the-large {cb['intercept']:+.2f} -> {ca['intercept']:+.2f}, slope "
        f"{slope_text(cb)} -> {slope_text(ca)}, Brier {record['before']['brier']:.3f} -> "
        f"{record['after']['brier']:.3f}")
    warn("these figures are on the patients the recalibration was fitted on: validate the new bundle on others",
         label="note")
    say(f"new bundle: {out}")
