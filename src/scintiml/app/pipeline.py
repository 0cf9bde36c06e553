"""The one adapter between the app and the library's pipelines.

Everything the app asks of the study (:func:`check_study_options`, :func:`run_study_job` over
:func:`scintiml.study.write_study`), of external validation (:func:`run_validation_job` over
:func:`scintiml.external.write_validation`) and of the CNN worklist (:func:`run_triage_job` over
:func:`scintiml.cnn.triage_folder`) goes through this file, so when one of those APIs moves only this file changes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from ..cohort import Cohort
from ..stages import SELECTION_MODES  # one list of modes for the study, the CLI and the app

#: The validation report and the worklist images set matplotlib's global style while they draw: one at a time.
_DRAWING = threading.Lock()


def check_study_options(options: dict[str, Any]) -> None:
    """Refuse impossible study options before a job is made (the study's own check, one plain error).

    Examples
    --------
    >>> check_study_options({"ratios": (0.6, 0.4, 0.0)})
    Traceback (most recent call last):
    ...
    scintiml.errors.SplitError: split 60:40:0: the testing part must not be empty (or negative); use e.g. 60:20:20
    """
    from ..errors import ScintimlError
    from ..study import validate_study_options

    validate_study_options(tuple(options.get("ratios", (0.6, 0.2, 0.2))), options.get("inputs", "growing"),
                           options.get("max_inputs"), int(options.get("seed", 0)))
    if options.get("selection", "stable") not in SELECTION_MODES:
        raise ScintimlError(f"selection must be one of {', '.join(SELECTION_MODES)}, got {options.get('selection')!r}")


def run_study_job(cohort: Cohort, out: Path, options: dict[str, Any],
                  progress: Callable[[str, int], None], n_jobs: int = 1) -> dict[str, Any]:
    """Run the study on ``cohort`` and write its outputs (report, results.json, model bundle) into ``out``.

    Calls :func:`scintiml.study.write_study`, which publishes ``out`` atomically (it appears only when complete).

    Parameters
    ----------
    cohort : Cohort
        The validated cohort.
    out : Path
        The folder to publish (replaced if a restarted job had left one).
    options : dict
        ``ratios`` (three floats), ``inputs`` (selection method), ``selection`` (``cv`` or ``split``), ``seed``,
        ``max_inputs``, ``protocol``, ``readiness``, ``pdf``.
    progress : callable
        ``progress(stage, n_networks)``, as :func:`scintiml.run_study` calls it.
    n_jobs : int
        Processes for the resampled selections and the nested cross-validation (the app's ``--jobs``).

    Returns
    -------
    dict
        The study's ``results`` (the content of ``results.json``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from scintiml.datasets import make_mibg_cohort
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "study"
    >>> opts = {"inputs": "all", "selection": "split", "seed": 0, "readiness": False, "pdf": False}
    >>> r = run_study_job(cohort, out, opts, lambda s, n: None)
    >>> sorted(p.name for p in out.iterdir())
    ['.scintiml-output', 'figures', 'model', 'report.html', 'results.json', 'split.csv']
    """
    from ..study import write_study

    # no lock: the study's report draws standalone matplotlib Figures (no pyplot state), so studies may run
    # side by side in worker threads
    result = write_study(
        cohort, out, ratios=tuple(options.get("ratios", (0.6, 0.2, 0.2))),
        inputs=options.get("inputs", "growing"), max_inputs=options.get("max_inputs"),
        random_state=int(options.get("seed", 0)), protocol=options.get("protocol") or {},
        readiness=bool(options.get("readiness", True)), pdf=bool(options.get("pdf", True)), overwrite=True,
        progress=progress, selection=options.get("selection", "stable"), n_jobs=n_jobs,
    )
    return result.results


def run_validation_job(model: Path, data: Path, target: str, out: Path, options: dict[str, Any],
                       progress: Callable[[str, int], None]) -> dict[str, Any]:
    """Validate a model bundle on another site's patients and write the validation folder into ``out``.

    Calls :func:`scintiml.external.write_validation` (``validation.json``, ``predictions.csv``, the report).

    Parameters
    ----------
    model : Path
        The bundle folder.
    data : Path
        The other site's table, with the outcome.
    target : str
        The outcome column.
    out : Path
        The folder to publish.
    options : dict
        ``id_column``, ``max_missing_share`` (optional).
    progress : callable
        ``progress(stage, 0)`` at the start.

    Returns
    -------
    dict
        The content of ``validation.json``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> run_validation_job(folder / "no-model", folder / "x.csv", "y", folder / "v", {}, lambda s, n: None)
    Traceback (most recent call last):
    ...
    scintiml.errors.BundleError: ...
    """
    from ..external import write_validation

    progress("validating", 0)
    with _DRAWING:  # the validation report draws with pyplot too
        return write_validation(model, data, target, out, id_column=options.get("id_column"),
                                max_missing_share=options.get("max_missing_share"), pdf=True, overwrite=True)


def run_triage_job(model: Path, scans: Path, out: Path, progress: Callable[[str, int], None]) -> dict[str, Any]:
    """Rank the planar studies in ``scans`` with the CNN bundle ``model``: ``out/worklist.csv`` and a summary
    image (and DICOM Secondary Capture) per study in ``out/summaries`` (calls :func:`scintiml.cnn.triage_folder`).

    Parameters
    ----------
    model : Path
        The CNN bundle folder.
    scans : Path
        Folder of NM DICOM studies.
    out : Path
        The folder to publish.
    progress : callable
        ``progress("ranking studies", 1)`` per study drawn.

    Returns
    -------
    dict
        ``n_studies``, ``n_urgent``, ``n_not_triaged`` (outside the training protocol or unreadable: read them
        first) and ``n_skipped``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> run_triage_job(folder / "none", folder, folder / "out", lambda s, n: None)
    Traceback (most recent call last):
    ...
    scintiml.errors.ScintimlError: ...
    """
    from ..errors import ScintimlError
    from ..io import atomic_dir, write_json

    if not (Path(model) / "bundle.json").is_file() and not (Path(model) / "config.json").is_file():
        raise ScintimlError(f"{str(model)!r} is not a CNN model bundle (made by `scintiml cnn train`)")
    try:
        from ..cnn import triage_folder
    except ImportError as exc:
        raise ScintimlError(f"the CNN worklist needs the cnn extra ({exc}); pip install 'scintiml[cnn,imaging]'") from exc
    progress("ranking studies", 0)
    with _DRAWING, atomic_dir(out, overwrite=True) as tmp:
        table, skipped = triage_folder(model, scans, tmp / "worklist.csv", summaries=tmp / "summaries",
                                       progress=lambda k, n: progress("ranking studies", 1))
        # the page shows the ids as read: worklist.csv is made safe for a spreadsheet ("'=A1"), this copy is not
        write_json(tmp / "worklist.json", table.to_dict(orient="records"))
    priority = table["priority"].astype(str) if "priority" in table else []
    return {"n_studies": int(len(table)), "n_urgent": int(sum(p == "URGENT" for p in priority)),
            "n_not_triaged": int(sum(p == "not triaged" for p in priority)), "n_skipped": len(skipped)}
