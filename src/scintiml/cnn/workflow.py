"""What the ``scintiml cnn`` commands do, as library functions: train from a folder of studies, triage a folder,
write the drift table. Each checks its outputs before any work and writes them atomically."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..cohort import EVENT_CODINGS, read_table
from ..errors import ScintimlError
from ..imaging.planar import ImagingError
from ..io import atomic_dir, atomic_file, check_output_path, safe_file_stem, spreadsheet_safe
from ..io.atomic import BUNDLE_OUTPUT, SUMMARIES_OUTPUT
from ..split import PARTS, Split
from .copies import find_copies
from .guard import valid_energy_window
from .train import CNNModel, _check_split, train_cnn, training_split

#: The six views of a planar lung perfusion study.
DEFAULT_VIEWS = ("ANT", "POST", "RAO", "LAO", "RPO", "LPO")

#: The most epochs a training may ask for. The default is 60 and no measured run needed more; early stopping cannot
#: end a run before three quarters of its epochs, so a mistyped 1000000000 would train until killed. 10,000 is two
#: orders of magnitude above any useful run and still ends.
MAX_EPOCHS = 10_000

#: How the labels' pe column may be written (trimmed, any case), the tabular study's event codings: event first.
_PE_CODES = {word: code for event, other in EVENT_CODINGS for word, code in ((event, 1), (other, 0))}
_PE_CODINGS = ", ".join(f"{event}/{other}" for event, other in EVENT_CODINGS)
_LABELS_HELP = "give --labels CSV with columns patient_id, pe"


def _input_paths(data: str | Path, labels: str | Path | None) -> tuple[Path, Path]:
    """The data folder and the labels file (default ``data/labels.csv``), checked before any work, so that a
    refusal names the path that is wrong rather than the labels file the data folder would have held."""
    data = Path(data)
    if not data.is_dir():
        what = f"{str(data)!r} is not a folder" if data.exists() else f"data folder {str(data)!r} does not exist"
        raise ScintimlError(f"{what}: give the folder of NM DICOM studies (or a simulate output: dicom/ + "
                            "labels.csv)")
    labels = Path(labels) if labels is not None else data / "labels.csv"
    if labels.is_dir():
        raise ScintimlError(f"labels file {str(labels)!r} is a folder, give the labels CSV file (--labels FILE.csv, "
                            "columns patient_id, pe)")
    if not labels.exists():
        raise ScintimlError(f"labels file {str(labels)!r} not found; {_LABELS_HELP}")
    if not labels.is_file():  # a device or a pipe: /dev/null reads as an empty file, a pipe can be read only once
        raise ScintimlError(f"labels file {str(labels)!r} is not a regular file; {_LABELS_HELP}")
    return data, labels


def _pe_code(value: Any) -> int | None:
    """1 (PE), 0 (no PE) or None (not a label) for one cell of the pe column."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in _PE_CODES:
        return _PE_CODES[value.strip().lower()]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number in (0.0, 1.0) else None


def _read_labels(labels: Path) -> tuple[dict[str, int], list[str]]:
    """``{patient_id: 0 or 1}`` from the labels CSV, and notes on what was accepted but is worth a word."""
    # the cohort reader: delimiter sniffed, cells trimmed, ids kept as text (a DICOM PatientID "007" is not 7)
    table = read_table(labels, text_columns=("patient_id",))
    where = f"labels file {str(labels)!r}"
    missing = {"patient_id", "pe"} - set(table.columns)
    if missing:
        raise ScintimlError(f"{where} lacks column(s) {sorted(missing)}; its columns are {list(table.columns)}")
    if table.empty:
        raise ScintimlError(f"{where} has a header but no rows; add one row per patient: its DICOM PatientID and pe "
                            "(1 PE, 0 no PE)")
    codes = table["pe"].map(_pe_code)
    bad = table["pe"][codes.isna()]
    if len(bad):
        shown = sorted({"(blank)" if pd.isna(v) else str(v) for v in bad})[:6]
        raise ScintimlError(f"{where}: column pe must hold 0 (no PE) or 1 (PE) in every row (accepted codings: "
                            f"{_PE_CODINGS}, any case); {len(bad)} row(s) hold something else: {shown}")
    if table["patient_id"].isna().any():
        raise ScintimlError(f"{where}: {int(table['patient_id'].isna().sum())} row(s) have no patient_id")
    pairs = pd.DataFrame({"patient_id": table["patient_id"].astype(str), "pe": codes.astype(int)})
    conflicting = pairs.groupby("patient_id")["pe"].nunique()
    conflicting = list(conflicting[conflicting > 1].index[:5])
    if conflicting:
        raise ScintimlError(f"{where}: patient_id {conflicting} have both pe = 0 and pe = 1; give one label per "
                            "patient")
    repeated = int(pairs.duplicated().sum())
    notes = [f"{where}: {repeated} repeated row(s) (the same patient_id and pe) counted once"] if repeated else []
    return dict(zip(pairs["patient_id"], pairs["pe"])), notes


def _study_name(study: Any) -> str:
    """A study as a skipped line names it: its PatientID and first file. The folder alone names none: in a
    simulate output every file of every study lies in one folder."""
    files = sorted(str(i["file"]) for i in study.metadata.get("source_instances") or [] if i.get("file"))
    who = f"PatientID {study.patient_id!r}" if study.patient_id else f"study {study.study_instance_uid}"
    if not files:
        return f"{who} ({study.source})" if study.source else who
    more = f" and {len(files) - 1} more file(s)" if len(files) > 1 else ""
    return f"{who} ({files[0]}{more})"


def _one_skip(entry: dict[str, str]) -> str:
    """A skipped entry as one phrase, its file named once (the reader's reasons mostly name it already)."""
    where, reason = str(entry.get("file", "")), str(entry.get("reason", ""))
    return reason if not where or where in reason else f"{where}: {reason}"


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a name no file system holds
        return False


def _load(data: str | Path, labels: str | Path | None, views: Sequence[str],
          progress: Callable[[int, int], None] | None = None
          ) -> tuple[list, list[int], list[dict[str, str]], list[str]]:
    """:func:`load_labelled_studies`, with its notes returned instead of warned."""
    from ..imaging.planar import scan_folder

    data, labels = _input_paths(data, labels)
    folder = data / "dicom" if (data / "dicom").is_dir() else data
    by_id, notes = _read_labels(labels)
    studies, skipped = scan_folder(folder, views=list(views), progress=progress)
    # the labels file inside the folder of studies (no dicom/ subfolder) is not an unreadable DICOM file
    skipped = [e for e in skipped if not _same_file(e.get("file", ""), labels)]
    if not studies:
        first = f"; the first: {_one_skip(skipped[0])}" if skipped else ""
        raise ScintimlError(f"no NM study with views {', '.join(views)} found in {str(folder)!r} ({len(skipped)} "
                            f"file(s) or studies skipped{first})")
    kept = [s for s in studies if s.patient_id in by_id]
    if not kept:
        n = len(studies)
        raise ScintimlError(f"{n} complete stud{'y' if n == 1 else 'ies'} found in {str(folder)!r}, none of their "
                            f"PatientIDs (e.g. {studies[0].patient_id!r}) is in the labels file {str(labels)!r} "
                            f"(e.g. {next(iter(by_id))!r}); its patient_id must be the DICOM PatientID, written the "
                            "same way")
    skipped += [{"file": _study_name(s), "reason": "no label: its PatientID is not in the labels file"}
                for s in studies if s.patient_id not in by_id]
    found = {s.patient_id for s in studies}
    unused = [i for i in by_id if i not in found]
    if unused:  # a typo, or patients whose studies are elsewhere: worth a word, not a refusal
        notes.append(f"{len(unused)} patient_id(s) of the labels file name no complete study in {str(folder)!r} "
                     f"(e.g. {unused[0]!r}); not used")
    return kept, [by_id[s.patient_id] for s in kept], skipped, notes


def load_labelled_studies(data: str | Path, labels: str | Path | None = None,
                          views: Sequence[str] = DEFAULT_VIEWS) -> tuple[list, list[int], list[dict[str, str]]]:
    """NM studies below ``data`` (or ``data/dicom``) with their labels (CSV: ``patient_id, pe``).

    ``pe`` is 1 (PE) or 0 (no PE), also written true/false or yes/no (trimmed, any case). Repeated identical rows
    and rows naming no study found are accepted, each with a ``UserWarning``.

    Returns
    -------
    studies, labels, skipped
        ``skipped`` lists ``{"file", "reason"}`` for unreadable files, incomplete studies and unlabelled ones (a
        study named by its PatientID and first file).

    Examples
    --------
    >>> import tempfile
    >>> load_labelled_studies(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    scintiml.errors.ScintimlError: labels file ... not found; give --labels CSV with columns patient_id, pe
    """
    studies, y, skipped, notes = _load(data, labels, views)
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return studies, y, skipped


def _check_split_size(ids: Sequence[str], y: Sequence[int], skipped: Sequence[dict[str, str]]) -> None:
    """Refuse, in one line, studies too few for the 50:30:20 split by patient to put patients of both classes in
    each part: checked before the training, whose split would first warn about its small parts."""
    from ..errors import SplitError
    from .train import CNN_SPLIT, patient_split

    def workable(labels: Sequence[int], patients: Sequence[str]) -> bool:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the small-part warnings: the training gives them again
            try:
                split = patient_split(np.asarray(labels), list(patients), random_state=0)
            except SplitError:
                return False
        # the sizes of the parts of each class do not depend on the seed, only on the counts
        y_all = np.asarray(labels)
        # training and selection (the threshold and the stopping epoch) need both classes; a testing part of one
        # class only costs the testing AUC, which the training warns of, as it did before this check
        return all(0 < y_all[part].sum() < len(part) for part in (split.training, split.selection))

    if workable(y, ids):
        return
    # the smallest number of patients of each class that works (found, not assumed, for any CNN_SPLIT)
    need = next(n for n in range(1, 1000) if workable([1] * n + [0] * n, [str(i) for i in range(2 * n)]))
    patient_label: dict[str, int] = {}
    for i, label in zip(ids, y):  # a patient is positive if any of their studies is, as the split counts them
        patient_label[i] = max(patient_label.get(i, 0), int(label))
    positive = sum(patient_label.values())
    shown = ":".join(f"{round(100 * r)}" for r in CNN_SPLIT)
    other = f" ({len(skipped)} other file(s) or studies skipped)" if skipped else ""
    raise ScintimlError(f"{len(y)} labelled stud{'y' if len(y) == 1 else 'ies'} to train on, from {positive} "
                        f"patient(s) with PE and {len(patient_label) - positive} without{other}; the {shown} split by "
                        f"patient needs at least {need} with PE and {need} without, so that its training and selection "
                        "parts each hold both: label more studies")


def training_protocol(studies: Sequence) -> dict[str, Any]:
    """The acquisition values of the training studies, for the protocol guard and the model card (energy windows
    a header leaves unrecorded, [0, 0], left out)."""
    spacing = [float(v) for s in studies for v in np.ravel(s.pixel_spacing_mm) if np.isfinite(v)]
    return {
        "pixel_spacing_mm": spacing,
        "collimators": sorted({str(s.metadata["collimator"]) for s in studies if s.metadata.get("collimator")}),
        "energy_windows_kev": sorted({tuple(map(float, w)) for s in studies
                                      for w in s.metadata.get("energy_windows_kev") or []
                                      if valid_energy_window(w)}),
        "radiopharmaceuticals": sorted({str(s.metadata["radiopharmaceutical"]) for s in studies
                                        if s.metadata.get("radiopharmaceutical")}),
    }


def read_split_file(path: str | Path) -> dict[str, str]:
    r"""The part of each study named in a split file: Study Instance UID → ``"training"``, ``"selection"`` or
    ``"testing"``.

    The file is what ``cnn train --split-csv`` writes (columns ``study_instance_uid`` and ``part``; ``patient_id``
    and any other column are not read), so that a split can be given again — an earlier model's, or one made by
    hand (by date, by camera). Parts are read without regard to case or surrounding spaces.

    Raises
    ------
    ScintimlError
        A missing column, an empty UID, a part that is none of the three, or one study named twice with two parts.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "split.csv")
    >>> _ = open(path, "w").write("patient_id,study_instance_uid,part\nP1,1.2.3,training\nP2,1.2.4, Testing\n")
    >>> read_split_file(path)
    {'1.2.3': 'training', '1.2.4': 'testing'}
    """
    # the UIDs as text: "1.20" read as a number would become "1.2", another study
    table = read_table(path, text_columns=("study_instance_uid", "part", "patient_id"))
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in ("study_instance_uid", "part") if c not in table.columns]
    if missing:
        raise ScintimlError(f"split file {Path(path).name}: no column {' or '.join(repr(c) for c in missing)}; it "
                            "needs study_instance_uid and part (training, selection or testing), as cnn train --split-csv "
                            f"writes them; found {list(table.columns)[:6]}")
    parts: dict[str, str] = {}
    for row, (uid, part) in enumerate(zip(table["study_instance_uid"], table["part"]), start=2):
        uid, part = ("" if pd.isna(v) else str(v).strip() for v in (uid, part))
        part = part.lower()
        if not uid:
            raise ScintimlError(f"split file {Path(path).name}, line {row}: no study_instance_uid")
        if part not in PARTS:
            raise ScintimlError(f"split file {Path(path).name}, line {row}: part {part!r} for study {uid!r}; it must "
                                f"be one of {', '.join(PARTS)}")
        if parts.get(uid, part) != part:
            raise ScintimlError(f"split file {Path(path).name}, line {row}: study {uid!r} is named twice, in the "
                                f"{parts[uid]} and the {part} part; give each study one part")
        parts[uid] = part
    return parts


def _split_from_parts(parts: dict[str, str], studies: Sequence[Any], source: str) -> Split:
    """The split of ``studies`` that ``parts`` (:func:`read_split_file`) gives, refused where it leaves one out."""
    unnamed = [str(s.study_instance_uid) for s in studies if str(s.study_instance_uid).strip() not in parts]
    if unnamed:
        more = f" and {len(unnamed) - 3} more" if len(unnamed) > 3 else ""
        raise ScintimlError(f"{source} names no part for {len(unnamed)} of the {len(studies)} studies to train on "
                            f"(Study Instance UID {', '.join(repr(u) for u in unnamed[:3])}{more}); give every study "
                            "a part, or leave out --split-from for the default split by patient")
    where = [parts[str(s.study_instance_uid).strip()] for s in studies]
    return Split(*(np.flatnonzero([w == name for w in where]) for name in PARTS))


def train_from_folder(data: str | Path, out: str | Path, labels: str | Path | None = None,
                      views: Sequence[str] = DEFAULT_VIEWS, overwrite: bool = False,
                      progress: Callable[[int, int, dict], None] | None = None,
                      split_from: str | Path | None = None,
                      steps: Callable[[str, int, int], None] | None = None,
                      **train_kwargs: Any) -> tuple[CNNModel, list[dict[str, str]]]:
    """Read labelled studies, train (:func:`~scintiml.cnn.train_cnn`), write the bundle to ``out``.

    ``split_from`` names a split file (:func:`read_split_file`: what ``cnn train --split-csv`` writes) giving each
    study's part instead of the default split; it is checked as a split given by hand is (no patient, study or copy
    in two parts). Studies it names that are not trained on (skipped, unlabelled, absent) are not an error.

    ``progress(epoch, epochs, metrics)`` is called after each epoch (:func:`~scintiml.cnn.train_cnn`);
    ``steps(what, done, total)`` during the two long steps before the first epoch: ``"reading"`` (files read, of
    the files found) and ``"copies"`` (studies searched for near copies, of the studies kept), each minutes long on
    a department's archive.

    ``epochs`` may be at most :data:`MAX_EPOCHS`. The split (:func:`~scintiml.cnn.train.training_split`, by PatientID)
    is made before the training, so that the protocol guard's spacing, collimators and energy windows come from the
    training part's studies alone; the copies of a study (:func:`~scintiml.cnn.copies.find_copies`) are found once,
    for that split and the training. Returns the model and the skipped files. ``model.report`` holds the skipped
    files (``"skipped"``) and the notes on the labels file (``"notes"``: repeated rows, rows naming no study); the
    bundle's ``training_report.json`` holds their number and the notes without names
    (:func:`~scintiml.cnn.bundle.shareable_report`: a bundle travels).
    """
    from .train import MATRIX

    epochs = train_kwargs.get("epochs")
    if epochs is not None and not 1 <= epochs <= MAX_EPOCHS:
        raise ScintimlError(f"epochs must be between 1 and {MAX_EPOCHS}, got {epochs}")
    data, labels_path = _input_paths(data, labels)
    # the labels file is an input too: an --out folder holding it must not be replaced
    out = check_output_path(out, overwrite=overwrite, output=BUNDLE_OUTPUT,
                            inputs=(data, labels_path) + ((Path(split_from),) if split_from is not None else ()))
    if split_from is not None:
        if "split" in train_kwargs:
            raise ScintimlError("give a split file or a split, not both")
        parts = read_split_file(split_from)  # read before the studies: a bad file is refused at once
    studies, y, skipped, notes = _load(data, labels_path, views,
                                       None if steps is None else lambda k, n: steps("reading", k, n))
    stacks, kept, labels_kept = [], [], []
    for study, label in zip(studies, y):
        stack = study.stack(list(views))
        if stack.shape[1:] != MATRIX:  # one study on another matrix is named, not a crash of the whole run
            skipped.append({"file": _study_name(study),
                            "reason": f"matrix {stack.shape[1]} x {stack.shape[2]}; the network takes "
                                      f"{MATRIX[0]} x {MATRIX[1]}: acquire or resample to it"})
            continue
        blank = [v for v, image in zip(views, stack) if np.ptp(image) == 0]
        if blank:  # a failed acquisition teaches the network nothing and widens the guard's counts range to 0
            skipped.append({"file": _study_name(study),
                            "reason": f"view(s) {', '.join(blank)} blank (one value everywhere): not trained on"})
            continue
        stacks.append(stack)
        kept.append(study)
        labels_kept.append(label)
    if not kept:
        raise ScintimlError(f"none of the {len(studies)} labelled studies can be trained on (each is blank or not "
                            f"{MATRIX[0]} x {MATRIX[1]}, the matrix the network takes); the last: "
                            f"{skipped[-1]['file']}: {skipped[-1]['reason']}")
    if split_from is not None:
        train_kwargs["split"] = _split_from_parts(parts, kept, f"split file {Path(split_from).name}")
    if "split" not in train_kwargs:  # an explicit split is the caller's to size
        _check_split_size([s.patient_id for s in kept], labels_kept, skipped)
    studies, y, counts = kept, labels_kept, np.stack(stacks)
    ids = [s.patient_id for s in studies]
    # the split is made here, as train_cnn would make it (same function, same seed), so that the protocol guard's
    # spacing, collimators and energy windows are the training studies' only: read from every study, a collimator
    # or spacing seen only in testing or selection patients was accepted at triage, though never trained on
    split = train_kwargs.pop("split", None)
    # the copies are searched once, here, and handed to train_cnn: its own check of this split searched them again
    # (the near-copy search multiplies the fingerprints of every pair of studies, 25 shifts each)
    copies = train_kwargs.pop("copies", None)
    if copies is None:
        copies = find_copies(counts, ids, progress=None if steps is None else lambda k, n: steps("copies", k, n))
    if split is None:
        # train_cnn's default seed, passed on to it: the split and the training read one seed
        split = training_split(counts, np.asarray(y), ids, train_kwargs.setdefault("seed", 0), copies=copies)
    else:  # refused here as train_cnn would refuse it, before its training part is read
        split = _check_split(split, len(counts), ids, counts, copies)
    protocol = training_protocol([studies[int(i)] for i in np.asarray(split.training)])
    model = train_cnn(counts, np.asarray(y), list(views), ids=ids, split=split, copies=copies, protocol=protocol,
                      progress=progress,
                      data_description=f"{len(y)} studies ({int(np.sum(y))} with PE) from {Path(data).name}",
                      **train_kwargs)
    # which part each study fell in, for the caller (cnn train --split-csv): never into the bundle, it names patients
    model.report["parts"] = [{"patient_id": str(studies[int(i)].patient_id),
                              "study_instance_uid": str(studies[int(i)].study_instance_uid), "part": name}
                             for name, part in split.parts().items()
                             for i in np.asarray(part)]
    # what was left out, recorded with the model: the terminal's lines are gone once the run is over
    # (studies without a label are counted, not named: they are patients outside the study, and a bundle travels)
    unlabelled = sum(str(e.get("reason", "")).startswith("no label") for e in skipped)
    model.report["skipped"] = [{"file": str(e.get("file", "")), "reason": str(e.get("reason", ""))}
                               for e in skipped if not str(e.get("reason", "")).startswith("no label")]
    model.report["notes"] = list(notes) + ([f"{unlabelled} stud{'y' if unlabelled == 1 else 'ies'} without a label "
                                            "left out"] if unlabelled else [])
    model.save(out, overwrite=overwrite)
    return model, skipped


def same_images_other_patients(studies: Sequence[Any]) -> list[list[int]]:
    """Groups (positions in ``studies``) of studies whose views are the same pixel for pixel but filed under more
    than one PatientID: a study sent again under another patient's ID, whose result would be filed to both.

    Examples
    --------
    >>> from scintiml.imaging import PlanarStudy
    >>> a = np.arange(64.0).reshape(8, 8)
    >>> studies = [PlanarStudy(views={"ANT": a}, patient_id=p) for p in ("P1", "P2", "P1")]
    >>> same_images_other_patients(studies)
    [[0, 1, 2]]
    >>> same_images_other_patients(studies[::2])  # one patient's study twice: a copy, not a mix-up
    []
    """
    by_digest: dict[str, list[int]] = {}
    for k, study in enumerate(studies):
        digest = hashlib.sha256()
        for view in sorted(study.views):
            pixels = np.ascontiguousarray(study.views[view], dtype=float)
            digest.update(f"{view}{pixels.shape}".encode())
            digest.update(pixels.tobytes())
        by_digest.setdefault(digest.hexdigest(), []).append(k)
    return [group for group in by_digest.values()
            if len({str(studies[k].patient_id) for k in group}) > 1]


def triage_folder(model_dir: str | Path, data: str | Path, out: str | Path, summaries: str | Path | None = None,
                  overwrite: bool = False, progress: Callable[[int, int], None] | None = None,
                  steps: Callable[[str, int, int], None] | None = None
                  ) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Rank every study below ``data`` into the worklist CSV ``out``; a summary PNG and a DICOM Secondary
    Capture per study in ``summaries`` (default: ``<out stem>_summaries``), saliency outlined per view.

    A study whose NM files cannot be read or put together (an RGB image, views of different sizes, two files
    for one view, ...) is listed first as ``"not triaged"``, its ``protocol_check`` saying why, with no summary:
    it must be read by a person, not dropped. Returns the worklist and the skipped files.

    ``progress(done, studies)`` after each study's summary; ``steps("reading", files_read, files)`` while the folder
    is read, before.
    """
    from PIL import Image
    from pydicom.uid import generate_uid

    from ..imaging import secondary_capture, unread_studies
    from ..imaging.planar import scan_folder
    from .display import summary_image
    from .glyphs import undrawable_note
    from .saliency import grad_cam
    from .triage import has_patient_id, with_unread, worklist

    out = check_output_path(out, overwrite=overwrite, inputs=(data, model_dir))
    summaries = Path(summaries) if summaries is not None else out.with_name(out.stem + "_summaries")
    check_output_path(summaries, overwrite=overwrite, inputs=(data, model_dir), output=SUMMARIES_OUTPUT)
    model = CNNModel.load(model_dir)
    data = Path(data)
    if not data.is_dir():
        raise ScintimlError(f"{str(data)!r} is {'not a folder' if data.exists() else 'missing'}: give the folder of "
                            "NM DICOM studies to rank")
    folder = data / "dicom" if (data / "dicom").is_dir() else data
    studies, skipped = scan_folder(folder, progress=None if steps is None else lambda k, n: steps("reading", k, n))
    unread = unread_studies(skipped, read=[s.study_instance_uid for s in studies])
    if not studies and not unread:
        raise ScintimlError(f"no NM study in {str(folder)!r} ({len(skipped)} file(s) skipped, none of them NM)")
    for group in same_images_other_patients(studies):
        # ranked all the same (each row is a study that was sent), but the mix-up is said: cnn train refuses
        # such copies across its split, and triage would file one result under two patients without a word
        where = ", ".join(repr(str(studies[k].source or studies[k].study_instance_uid)) for k in group[:4])
        warnings.warn(f"{len(group)} studies hold the same images under different PatientIDs ({where}"
                      f"{', ...' if len(group) > 4 else ''}): one is likely filed under the wrong patient; check "
                      "which before their results are read", UserWarning, stacklevel=2)
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
    with atomic_dir(summaries, overwrite=overwrite, output=SUMMARIES_OUTPUT) as tmp:
        for k, row in table.iterrows():
            if row["study_row"] < 0:  # unread: nothing to show
                png_paths.append("")
                sc_paths.append("")
                if progress is not None:
                    progress(k + 1, len(table))
                continue
            study = studies[order[row["study_row"]]]
            complete = all(v in study.views for v in model.views)
            # saliency for every scored study: "ok; pixel spacing not recorded ..." is scored too
            scored = pd.notna(row["probability"])
            maps = grad_cam(model, study.stack(model.views)[None])[0] if scored else None
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
                if not has_patient_id(study):  # a DICOM result nobody could file to a patient
                    raise ImagingError("the study has no PatientID")
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
        spreadsheet_safe(table).to_csv(tmp, index=False)  # PatientID comes from the DICOM files
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
