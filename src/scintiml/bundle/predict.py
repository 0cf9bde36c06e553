"""Apply a tabular bundle to a file of new patients and write the predictions (one call for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ScintimlError
from ..io import atomic_file, check_output_path, spreadsheet_safe
from ..io.atomic import OUTPUT_MARKER, output_kind
from .tabular import load_bundle


#: An input outside its training range for more than this share of a batch (of at least
#: :data:`SCALE_MIN_PATIENTS`) is more likely in another unit or scale than a batch of unusual patients.
SCALE_SHARE = 0.5
SCALE_MIN_PATIENTS = 5
#: A batch of fewer than :data:`SCALE_MIN_PATIENTS` is said to hold an input in another unit only when every value
#: lies more than this factor beyond the training range and one unit factor brings every one inside: one patient
#: predicted at a time with an EF of 0.35 was given a risk of 0.89 under "1 patient(s) have inputs outside the
#: training range", while a sick patient's creatinine of 9 mg/dl (range 0.6-6.1) is no unit change.
SCALE_FAR = 3.0


#: Factors that turn a batch's values into the training table's unit, with what they would mean: percent and
#: fraction, and the conventional-to-SI factors of the laboratory values clinical cohorts hold (Young 1987, Ann
#: Intern Med 106:114; the factors as the AMA Manual of Style lists them). Both directions of each.
#: Haemoglobin, not HbA1c (a glycated share in % or mmol/mol, of other factors).
_HAEMOGLOBIN = r"^(?!.*a1c).*(ha?emo|hgb|(^|_)hb(_|$))"
#: Creatinine, not creatine (phospho)kinase: a CPK of 25 000 U/l (rhabdomyolysis) was told "creatinine in µmol/l
#: where training had mg/dl?".
_CREATININE = r"^(?!.*(kinase|cpk|(^|_)ck(_|$))).*creat"
UNIT_FACTORS = (
    (100, "a fraction where training had percent (0.45 for 45 %)", ""),
    (0.01, "percent where training had a fraction", ""),
    (1000, "litres where training had millilitres (or g where mg)", ""),
    (0.001, "millilitres where training had litres (or mg where g)", ""),
    (1 / 88.4, "creatinine in µmol/l where training had mg/dl", _CREATININE),
    (88.4, "creatinine in mg/dl where training had µmol/l", _CREATININE),
    (18.0, "glucose in mmol/l where training had mg/dl", "gluc"),
    (1 / 18.0, "glucose in mg/dl where training had mmol/l", "gluc"),
    (38.67, "cholesterol in mmol/l where training had mg/dl", "chol"),
    (1 / 38.67, "cholesterol in mg/dl where training had mmol/l", "chol"),
    (88.57, "triglycerides in mmol/l where training had mg/dl", "trig"),
    (1 / 88.57, "triglycerides in mg/dl where training had mmol/l", "trig"),
    (1 / 17.1, "bilirubin in µmol/l where training had mg/dl", "bili"),
    (17.1, "bilirubin in mg/dl where training had µmol/l", "bili"),
    (0.1, "haemoglobin in g/l where training had g/dl", _HAEMOGLOBIN),
    (10, "haemoglobin in g/dl where training had g/l", _HAEMOGLOBIN),
)


def _plausible_factor(factor: float, values: pd.Series, lo: float, hi: float) -> bool:
    """Whether the percent/fraction factors can mean what they say here: x 100 only for a batch of fractions (nearly
    all within ±1) against a training range of percents (within ±100), x 0.01 only against a training range of
    fractions. A platelet count of 3 000 000 was told "percent where training had a fraction?" (training 25 100 to
    742 000). Every other factor is plausible as far as this goes.

    Examples
    --------
    >>> _plausible_factor(100, pd.Series([0.35]), 14, 65), _plausible_factor(0.01, pd.Series([3e6]), 25100, 742000)
    (True, False)
    """
    if factor == 100:
        return bool(values.abs().le(1).mean() >= 0.9) and -100 <= lo and hi <= 100
    if factor == 0.01:
        return -1 <= lo and hi <= 1
    return True


def _unit_hint(name: str, values: pd.Series, lo: float, hi: float, median: float | None,
               specific: bool = False) -> str:
    """``"; times 0.0113 it would fit: creatinine in µmol/l where training had mg/dl?"`` — of the factors that bring
    nearly all of the batch inside the training range (a laboratory value's own only where the input's name says
    which it is, and then before the general ones; percent and fraction only where both ranges read as such), the
    one whose rescaled median lies nearest the training median. ``specific``: the general x 1000 and x 0.001 ("or g
    where mg") are left out — what a batch of one or two patients may be told (a CPK of 60 000 is no litre).

    Examples
    --------
    >>> _unit_hint("creatinine", pd.Series([70.0, 100, 130, 160]), 0.4, 4.0, 1.0)  # sicker than training: still
    '; times 0.0113 it would fit: creatinine in µmol/l where training had mg/dl?'
    >>> _unit_hint("hba1c", pd.Series([6.0, 7.0, 8.0]), 30, 90, 50)[:25]  # no haemoglobin factor for HbA1c
    ''
    """
    import re

    fitting = [(f, what, bool(word)) for f, what, word in UNIT_FACTORS
               if (not word or re.search(word, name, re.I)) and (values * f).between(lo, hi).mean() >= 0.9
               and _plausible_factor(f, values, lo, hi) and not (specific and f in (1000, 0.001))]
    if not fitting:
        return ""
    here = float(values.median())
    # the input's own laboratory factor first (a batch of sicker patients may sit nearer the training median
    # under x 0.01 than under / 88.4), then the one landing nearest the training median
    near = (lambda f: abs(np.log(here * f / median))) if median is not None and median > 0 and here > 0 \
        else (lambda f: 0.0)
    fitting.sort(key=lambda fw: (not fw[2], near(fw[0])))
    factor, what, _ = fitting[0]
    return f"; times {factor:.3g} it would fit: {what}?"


def scale_mismatches(bundle, frame: pd.DataFrame, with_factor: bool = False) -> list[str]:
    """Per input that lies outside its training range for most of this batch, what is seen: ``"input 'ef' lies
    outside its training range for 299 of 299 patients (training 14 to 65, here 0.14 to 0.8): another unit or
    scale; times 100 it would fit: ...?"``. A batch of fewer than :data:`SCALE_MIN_PATIENTS` patients is judged
    stricter (:data:`SCALE_FAR`): there it takes a unit factor that fits every value. ``with_factor``: only the
    inputs a unit factor brings inside (a site of sicker patients, washout 39-66 % against 7-47 % in training, is
    out of range but in the same unit: nothing to convert)."""
    from ..cohort import model_inputs
    from ..errors import ScintimlError

    try:
        X = model_inputs(frame, bundle.inputs, categories=bundle.categories)
    except ScintimlError:
        return []
    lines = []
    ranges = bundle.spec.get("training_ranges") or {}
    for name in bundle.inputs:
        values = X[name].dropna()
        if not len(values) or "=" in name or name not in ranges:
            continue
        lo, hi = ranges[name]
        outside = int((~values.between(lo, hi)).sum())
        summary = (bundle.spec.get("training_summary") or {}).get(name) or {}
        median = (summary.get("quantiles") or {}).get("0.5")
        small = len(values) < SCALE_MIN_PATIENTS
        hint = _unit_hint(name, values, lo, hi, median if isinstance(median, (int, float)) else None, specific=small)
        if small:
            # one unusual patient is no unit change: only every value far beyond a positive range, and a factor
            # that names a unit and brings each inside, is said (else these patients are flagged in out_of_range)
            far = lo > 0 and bool(((values < lo / SCALE_FAR) | (values > hi * SCALE_FAR)).all())
            if not (far and hint):
                continue
        elif outside / len(values) <= SCALE_SHARE or (with_factor and not hint):
            continue
        here_lo, here_hi = float(values.min()), float(values.max())
        here = f"{here_lo:g}" if here_lo == here_hi else f"{here_lo:g} to {here_hi:g}"  # one patient: "here 0.35"
        lines.append(f"input {name!r} lies outside its training range for {outside} of {len(values)} patients "
                     f"(training {lo:g} to {hi:g}, here {here}): another unit or scale{hint}")
    return lines


def scale_mismatch_lines(bundle, frame: pd.DataFrame) -> list[str]:
    """A warning per input that lies outside its training range for most of this batch, with the two ranges: a
    spreadsheet's percent cell holds 0.45 where the training CSV said 45, a lab reports mmol/l where training had
    mg/dl (:func:`scale_mismatches`). Every patient is still predicted (and flagged in ``out_of_range``); the
    warning says why it matters."""
    return [f"{line} — these predictions extrapolate; convert the column as the training table had it"
            for line in scale_mismatches(bundle, frame)]


def unseen_level_lines(unseen: dict[str, dict[str, int]]) -> list[str]:
    """A warning per categorical input holding levels training never saw (those patients' input imputed).

    Examples
    --------
    >>> unseen_level_lines({"grade": {"very high": 3, "Hgih": 1}})
    ["input 'grade' holds level(s) the model never saw ('very high' x3, 'Hgih' x1): those patients' grade was imputed (see the imputed column) — check the spelling, or retrain with these patients"]
    """
    return [f"input {column!r} holds level(s) the model never saw ("
            + ", ".join(f"{level!r} x{n}" for level, n in found.items())
            + f"): those patients' {column} was imputed (see the imputed column) — check the spelling, or retrain "
            "with these patients" for column, found in unseen.items()]


@dataclass
class PredictionRun:
    """What :func:`predict_file` did: the predictions, the file written, and warnings for the reader.

    Examples
    --------
    >>> import pandas as pd
    >>> PredictionRun(pd.DataFrame({"probability": [0.2]}), "p.csv").warnings
    []
    """

    predictions: pd.DataFrame
    out: Path
    warnings: list[str] = field(default_factory=list)
    drift: pd.DataFrame | None = None  # per-input shift of this batch (scintiml.external.batch_drift)


#: Output names whose suffix says another format than the CSV ``predict`` writes.
NOT_CSV = {".xlsx", ".xlsm", ".xls", ".ods", ".parquet", ".pq", ".json", ".html", ".pdf", ".dcm", ".npz", ".npy",
           ".safetensors", ".md", ".yaml", ".yml", ".png", ".jpg", ".docx", ".zip", ".gz", ".xml"}
#: Output names read as tab-separated: written so.
TAB_SEPARATED = {".tsv", ".tab"}


def batch_warnings(bundle, frame: pd.DataFrame, predictions: pd.DataFrame, id_column: str | None = None) -> list[str]:
    """What a reader of these predictions must know about the batch (one line each): an input missing for every
    patient, levels the model never saw, an input in another unit, patients with none of the inputs, repeated ids,
    inputs outside the training range. ``frame`` as the bundle read it; ``predictions`` from
    :meth:`Bundle.predict`. The command line, the web app and :meth:`Bundle.predict` (as Python warnings) say the
    same lines."""
    lines = []
    for name in bundle.inputs:
        if name in frame.columns and len(frame) and frame[name].isna().all():
            lines.append(f"input {name!r} is missing for every patient of this table: each was given the "
                         "training median, so these predictions do not use it — check the column")
    lines += unseen_level_lines(predictions.attrs.get("unseen_levels", {}))
    lines += scale_mismatch_lines(bundle, frame)
    no_input = int((predictions["imputed"] == ";".join(bundle.inputs)).sum()) if bundle.inputs else 0
    if no_input:
        lines.append(f"{no_input} patient(s) have none of the model's inputs: each was given the training "
                     "medians, so their prediction says nothing about them (see the imputed column)")
    if id_column is not None:
        ids = frame[id_column].dropna()
        repeated = ids[ids.duplicated()].unique()
        if len(repeated):
            lines.append(f"id column {id_column!r} repeats {len(repeated)} id(s), e.g. "
                         f"{[str(v) for v in repeated[:3]]}: each row is predicted, but check the table holds "
                         "each patient once")
    n_out = int((predictions["out_of_range"] != "").sum())
    if n_out:
        lines.append(f"{n_out} patient(s) have inputs outside the training range (see out_of_range)")
    return lines


def predict_file(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    id_column: str | None = None,
    protocol: dict[str, str] | None = None,
    strict_protocol: bool = False,
    overwrite: bool = False,
    decimal: str = ".",
    percent: bool = False,
) -> PredictionRun:
    """Predict every patient of ``data`` with the bundle ``model`` and write ``out`` (CSV, atomically).

    The output is checked first (never the input file, never an existing file unless ``overwrite``); a site
    protocol that differs from the training one is a warning, or an error with ``strict_protocol``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.study import write_study
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> _ = write_study(cohort, folder / "study", inputs="all", readiness=False, pdf=False)
    >>> cohort.X.to_csv(folder / "new.csv", index=False)
    >>> run = predict_file(folder / "study" / "model", folder / "new.csv", folder / "p.csv", protocol={"isotope": "I"})
    >>> len(run.predictions), run.warnings
    (200, ["protocol isotope=I: the model card does not record 'isotope'"])
    """
    from ..cohort import check_number_formats, read_table

    from ..cohort import column_name

    bundle = load_bundle(model)  # first: a folder that is no bundle is the problem to name
    id_column = column_name(id_column) if id_column is not None else None  # as the header is read (NFC)
    out = check_output_path(out, overwrite=overwrite, inputs=(data, model), kind="file")
    if Path(out).suffix.lower() in NOT_CSV:  # CSV text in a file named .xlsx: Excel refuses to open it
        raise ScintimlError(f"predictions are written as CSV, but {str(out)!r} names a {Path(out).suffix} file; give "
                            "the output a .csv name (Excel opens it), or .tsv for tab-separated")
    inside = next((folder for folder in Path(out).resolve().parents if (folder / OUTPUT_MARKER).is_file()), None)
    if inside is not None:
        # --overwrite on a file of a study or a bundle (model/weights.npz) broke that output for good; a new file
        # there is refused too, so that a rerun with --overwrite is not refused where the first run was not
        raise ScintimlError(f"{str(out)!r} lies in the scintiml {output_kind(inside) or 'output'} folder "
                            f"{str(inside)!r}; writing into it could break that output (and --overwrite replaces it "
                            "whole) — write the predictions to a file outside it")
    # read exactly as study read its data; the id column as text (leading zeros kept)
    frame = read_table(data, decimal=decimal, percent=percent, text_columns=(id_column,) if id_column else ())
    # what read_table could not read one way, refused by name (the model's own "not measured" codes are no fault)
    check_number_formats(frame, bundle.inputs, decimal, bundle.missing_codes)
    frame = bundle.read_as_trained(frame, id_column)  # the training table's codes for "not measured" (drift too)
    warnings = bundle.check_protocol(protocol)
    if warnings and strict_protocol:
        raise ScintimlError("; ".join(warnings))
    predictions = bundle.predict(frame, id_column=id_column, warn=False)
    if frame.attrs.get("empty_rows"):
        warnings.append(f"left out {frame.attrs['empty_rows']} empty row(s) of the table (every cell blank)")
    warnings += predictions.attrs["warnings"]
    from ..external import batch_drift  # imported here: scintiml.external itself reads bundles

    drift, drift_lines = batch_drift(bundle, frame)
    warnings += drift_lines
    with atomic_file(out, overwrite=overwrite) as tmp:
        # a patient id "=HYPERLINK(...)" stays text; a .tsv name is read tab-separated, so it is written so
        spreadsheet_safe(predictions).to_csv(tmp, index=False,
                                             sep="\t" if Path(out).suffix.lower() in TAB_SEPARATED else ",")
    return PredictionRun(predictions, out, warnings, drift)
