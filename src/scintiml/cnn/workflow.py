"""What the ``scintiml cnn`` commands do, as library functions: train from a folder of studies, triage a folder,
write the drift table. Each checks its outputs before any work and writes them atomically."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..cohort import read_table
from ..errors import ScintimlError
from ..imaging.planar import ImagingError
from ..io import atomic_dir, atomic_file, check_output_path, safe_file_stem
from .train import CNNModel, train_cnn

#: The six views of a planar lung perfusion study.
DEFAULT_VIEWS = ("ANT", "POST", "RAO", "LAO", "RPO", "LPO")


def load_labelled_studies(data: str | Path, labels: str | Path | None = None,
                          views: Sequence[str] = DEFAULT_VIEWS) -> tuple[list, list[int], list[dict[str, str]]]:
    """NM studies below ``data`` (or ``data/dicom``) with their labels (CSV: ``patient_id, pe``).

    Returns
    -------
    studies, labels, skipped
        ``skipped`` lists ``{"file", "reason"}`` for unreadable files, incomplete studies and unlabelled ones.

    Examples
    --------
    >>> import tempfile
    >>> load_labelled_studies(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    scintiml.errors.ScintimlError: labels file ... not found; give --labels CSV with columns patient_id, pe
    """
    from ..imaging.planar import scan_folder

    data = Path(data)
    folder = data / "dicom" if (data / "dicom").is_dir() else data
    labels = Path(labels) if labels is not None else data / "labels.csv"
    if not labels.is_file():
        raise ScintimlError(f"labels file {str(labels)!r} not found; give --labels CSV with columns patient_id, pe")
    # the cohort reader: delimiter sniffed, cells trimmed, ids kept as text (a DICOM PatientID "007" is not 7)
    table = read_table(labels, text_columns=("patient_id",))
    missing = {"patient_id", "pe"} - set(table.columns)
    if missing:
        raise ScintimlError(f"labels file {str(labels)!r} lacks column(s) {sorted(missing)}; "
                            f"its columns are {list(table.columns)}")
    values = pd.unique(table["pe"])
    if table["pe"].isna().any() or not set(values) <= {0, 1}:
        raise ScintimlError(f"labels file {str(labels)!r}: column pe must hold 0 (no PE) or 1 (PE) in every row; "
                            f"found {sorted(map(str, values))[:6]}")
    if table["patient_id"].isna().any():
        raise ScintimlError(f"labels file {str(labels)!r}: {int(table['patient_id'].isna().sum())} row(s) have no "
                            "patient_id")
    conflicting = table.groupby("patient_id")["pe"].nunique()
    conflicting = list(conflicting[conflicting > 1].index[:5])
    if conflicting:
        raise ScintimlError(f"labels file {str(labels)!r}: patient_id {conflicting} have both pe = 0 and pe = 1; "
                            "give one label per patient")
    studies, skipped = scan_folder(folder, views=list(views))
    by_id = dict(zip(table["patient_id"].astype(str), table["pe"].astype(int)))
    kept = [s for s in studies if s.patient_id in by_id]
    skipped = list(skipped) + [{"file": s.source or s.study_instance_uid, "reason": "no label"}
                               for s in studies if s.patient_id not in by_id]
    if not kept:
        raise ScintimlError(f"no labelled NM study with views {list(views)} found in {str(folder)!r}")
    return kept, [by_id[s.patient_id] for s in kept], skipped


def training_protocol(studies: Sequence) -> dict[str, Any]:
    """The acquisition values of the training studies, for the protocol guard and the model card."""
    spacing = [float(v) for s in studies for v in np.ravel(s.pixel_spacing_mm) if np.isfinite(v)]
    return {
        "pixel_spacing_mm": spacing,
        "collimators": sorted({str(s.metadata["collimator"]) for s in studies if s.metadata.get("collimator")}),
        "energy_windows_kev": sorted({tuple(map(float, w)) for s in studies
                                      for w in s.metadata.get("energy_windows_kev") or []}),
        "radiopharmaceuticals": sorted({str(s.metadata["radiopharmaceutical"]) for s in studies
                                        if s.metadata.get("radiopharmaceutical")}),
    }


def train_from_folder(data: str | Path, out: str | Path, labels: str | Path | None = None,
                      views: Sequence[str] = DEFAULT_VIEWS, overwrite: bool = False,
                      progress: Callable[[int, int, dict], None] | None = None,
                      **train_kwargs: Any) -> tuple[CNNModel, list[dict[str, str]]]:
    """Read labelled studies, train (:func:`~scintiml.cnn.train_cnn`), write the bundle to ``out``.

    Returns the model and the skipped files. The bundle holds the training report (``training_report.json``).
    """
    from .train import MATRIX

    # the labels file is an input too: an --out folder holding it must not be replaced
    out = check_output_path(out, overwrite=overwrite, inputs=(data,) if labels is None else (data, labels))
    studies, y, skipped = load_labelled_studies(data, labels, views)
    stacks, kept, labels_kept = [], [], []
    for study, label in zip(studies, y):
        stack = study.stack(list(views))
        if stack.shape[1:] != MATRIX:  # one study on another matrix is named, not a crash of the whole run
            skipped.append({"file": study.source or study.study_instance_uid,
                            "reason": f"matrix {stack.shape[1]} x {stack.shape[2]}; the network takes "
                                      f"{MATRIX[0]} x {MATRIX[1]}: acquire or resample to it"})
            continue
        blank = [v for v, image in zip(views, stack) if np.ptp(image) == 0]
        if blank:  # a failed acquisition teaches the network nothing and widens the guard's counts range to 0
            skipped.append({"file": study.source or study.study_instance_uid,
                            "reason": f"view(s) {', '.join(blank)} blank (one value everywhere): not trained on"})
            continue
        stacks.append(stack)
        kept.append(study)
        labels_kept.append(label)
    if not kept:
        raise ScintimlError(f"none of the {len(studies)} labelled studies can be trained on (each is blank or not "
                            f"{MATRIX[0]} x {MATRIX[1]}, the matrix the network takes); the last: "
                            f"{skipped[-1]['file']}: {skipped[-1]['reason']}")
    studies, y, counts = kept, labels_kept, np.stack(stacks)
    model = train_cnn(counts, np.asarray(y), list(views), ids=[s.patient_id for s in studies],
                      protocol=training_protocol(studies), progress=progress,
                      data_description=f"{len(y)} studies ({int(np.sum(y))} with PE) from {Path(data).name}",
                      **train_kwargs)
    model.save(out, overwrite=overwrite)
    return model, skipped


def triage_folder(model_dir: str | Path, data: str | Path, out: str | Path, summaries: str | Path | None = None,
                  overwrite: bool = False, progress: Callable[[int, int], None] | None = None
                  ) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Rank every study below ``data`` into the worklist CSV ``out``; a summary PNG and a DICOM Secondary
    Capture per study in ``summaries`` (default: ``<out stem>_summaries``), saliency outlined per view.

    A study whose NM files cannot be read or put together (an RGB image, views of different sizes, two files
    for one view, ...) is listed first as ``"not triaged"``, its ``protocol_check`` saying why, with no summary:
    it must be read by a person, not dropped. Returns the worklist and the skipped files.
    """
    from PIL import Image
    from pydicom.uid import generate_uid

    from ..imaging import secondary_capture, unread_studies
    from ..imaging.planar import scan_folder
    from .display import summary_image
    from .glyphs import undrawable_note
    from .saliency import grad_cam
    from .triage import with_unread, worklist

    out = check_output_path(out, overwrite=overwrite, inputs=(data, model_dir))
    summaries = Path(summaries) if summaries is not None else out.with_name(out.stem + "_summaries")
    check_output_path(summaries, overwrite=overwrite, inputs=(data, model_dir))
    model = CNNModel.load(model_dir)
    data = Path(data)
    if not data.is_dir():
        raise ScintimlError(f"{str(data)!r} is {'not a folder' if data.exists() else 'missing'}: give the folder of "
                            "NM DICOM studies to rank")
    folder = data / "dicom" if (data / "dicom").is_dir() else data
    studies, skipped = scan_folder(folder)
    unread = unread_studies(skipped, read=[s.study_instance_uid for s in studies])
    if not studies and not unread:
        raise ScintimlError(f"no NM study in {str(folder)!r} ({len(skipped)} file(s) skipped, none of them NM)")
    table, order = worklist(model, studies)
    # A study whose files cannot be read is still on the list: unknown risk is not low risk, someone reads it.
    table = with_unread(table, unread)
    # a study read without one of its files (a refused view: RGB, a bad spacing ...) says why on its own row, not
    # only on a 'skipped:' line of the terminal
    refused: dict[str, list[str]] = {}
    for entry in skipped:
        if entry.get("study_instance_uid"):
            refused.setdefault(entry["study_instance_uid"], []).append(
                str(entry["reason"]).removeprefix(f"{entry['file']}: "))
    for k, row in table.iterrows():
        reasons = refused.get(str(row["study_instance_uid"]))
        if row["study_row"] >= 0 and row["protocol_check"] != "ok" and reasons:
            table.loc[k, "protocol_check"] = f"{row['protocol_check']} (refused file: {'; '.join(reasons[:3])})"
    series_uid = generate_uid()
    png_paths, sc_paths = [], []
    with atomic_dir(summaries, overwrite=overwrite) as tmp:
        for k, row in table.iterrows():
            if row["study_row"] < 0:  # unread: nothing to show
                png_paths.append("")
                sc_paths.append("")
                if progress is not None:
                    progress(k + 1, len(table))
                continue
            study = studies[order[row["study_row"]]]
            complete = all(v in study.views for v in model.views)
            maps = grad_cam(model, study.stack(model.views)[None])[0] if row["protocol_check"] == "ok" else None
            rgb = summary_image(study, model.views if complete else list(study.views),
                                float(row["probability"]), model.threshold, maps, rank=int(row["rank"]),
                                protocol_check=row["protocol_check"])
            # triaged all the same: a warning, not a skipped file (and the ID itself is not repeated in it)
            note = undrawable_note(f"the patient ID of the study in {str(study.source or 'the folder')!r}",
                                   study.patient_id)
            if note:
                warnings.warn(note, UserWarning, stacklevel=2)
            name = f"{int(row['rank']):04d}_{safe_file_stem(study.patient_id)}"  # a PatientID is never a path
            Image.fromarray(rgb).save(tmp / f"{name}.png")
            png_paths.append(str(summaries / f"{name}.png"))
            try:
                sc = secondary_capture(rgb, study, views_shown=model.views, series_instance_uid=series_uid,
                                       instance_number=int(row["rank"]))
            except ImagingError as exc:  # one study's DICOM result, not the worklist of all the others
                where = str(study.source or study.patient_id)
                why = str(exc).removeprefix(f"{where}: ")
                skipped.append({"file": where, "reason": f"no Secondary Capture written: {why}"})
                sc_paths.append("")
            else:
                sc.save_as(tmp / f"{name}_SC.dcm")
                sc_paths.append(str(summaries / f"{name}_SC.dcm"))
            if progress is not None:
                progress(k + 1, len(table))
    table = table.drop(columns="study_row")
    table["summary_png"] = png_paths
    table["secondary_capture"] = sc_paths
    with atomic_file(out, overwrite=overwrite) as tmp:
        table.to_csv(tmp, index=False)
    return table, skipped


def write_drift_table(model_dir: str | Path, out: str | Path | None = None, n_cases: int = 200,
                      random_state: int = 12345, overwrite: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """:func:`~scintiml.cnn.drift.drift_table` of a bundle, written as CSV (plain numbers) when ``out`` is given."""
    from .drift import drift_table

    if out is not None:
        out = check_output_path(out, overwrite=overwrite, inputs=(model_dir,))
    table = drift_table(CNNModel.load(model_dir), n_cases=n_cases, random_state=random_state, progress=progress)
    if out is not None:
        with atomic_file(out, overwrite=overwrite) as tmp:
            table.to_csv(tmp, index=False)
    return table
