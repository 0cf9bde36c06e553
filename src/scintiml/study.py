"""The whole tabular study: split → explore → select inputs → select order → fit → test → explain → readiness.

:func:`run_study` is a short sequence of the public stage functions of :mod:`scintiml.stages`; each takes and
returns plain data, so a user can rerun or replace one stage. It returns a :class:`StudyResult`: the JSON-able
``results`` dict (documented in ``docs/results.md``) plus the fitted objects a model bundle needs. Reports and
bundles are written from it; they never recompute, and the study never draws.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .ann import ANNClassifier
from .cohort import Cohort
from .errors import ScintimlError
from .split import PARTS, Split, predefined_split
from .stages.nested import nested_stage
from .stages.select import CV_FOLDS
from .stages import (INPUT_METHODS, RESAMPLED_MODES, SCHEMA_VERSION, SELECTION_MODES, Progress, StageClock,
                     assemble_results, explain_stage, explore_stage, fit_stage, readiness_applies, readiness_stage,
                     resolve_seed, select_inputs_stage, select_order_stage, split_stage, test_stage)

__all__ = ["run_study", "write_study", "StudyResult", "predefined_split", "validate_study_options", "demo_cohort",
           "DEMO_COHORTS", "INPUT_METHODS", "SCHEMA_VERSION", "Progress"]


@dataclass(repr=False)
class StudyResult:
    """What a study produced: JSON-able ``results``, the objects a bundle needs, and every stage's output
    (``stages``) for rerunning one stage by hand.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> result = run_study(cohort, inputs="all", readiness=False)
    >>> result.selected_inputs, sorted(result.stages)[:2]
    (['delta_lvef', 'planar_washout'], ['data', 'explored'])
    """

    results: dict[str, Any]
    model: ANNClassifier
    cohort: Cohort
    split: Split
    selected_inputs: list[str]
    medians: dict[str, float] = field(default_factory=dict)
    training_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    stages: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        # the dataclass repr printed every stage's output (87,000 characters at a notebook cell's end)
        r = self.results
        test = r.get("test") or {}
        text = f"StudyResult(inputs {self.selected_inputs}, network {r.get('architecture')}"
        ci = test.get("auc_ci95") or [None, None]
        if test.get("auc") is not None and None not in ci:
            text += f", testing AUC {test['auc']:.3f} ({ci[0]:.3f}-{ci[1]:.3f})"
        nested = r.get("nested") or {}
        if nested.get("auc") is not None and None not in (nested.get("auc_ci95") or [None]):
            text += f", nested AUC {nested['auc']:.3f} ({nested['auc_ci95'][0]:.3f}-{nested['auc_ci95'][1]:.3f})"
        return text + "; .results holds everything)"


def run_study(
    cohort: Cohort,
    ratios: Sequence[float] = (0.6, 0.2, 0.2),
    inputs: str = "growing",
    max_inputs: int | None = None,
    random_state: int | np.random.RandomState | None = 0,
    protocol: dict[str, str] | None = None,
    readiness: bool = True,
    progress: Progress | None = None,
    split: Split | None = None,
    selection: str = "stable",
    seed: int | None = None,
    sites: Sequence[Any] | None = None,
    n_jobs: int | None = None,
) -> StudyResult:
    """Run the published ANN workflow on a cohort, stage by stage (see :mod:`scintiml.stages`).

    Parameters
    ----------
    cohort : Cohort
    ratios : three floats
        Training / selection / testing fractions (default 60:20:20), stratified.
    inputs : {"growing", "pruning", "genetic", "all"}
        Input selection method (``all`` keeps every input).
    max_inputs : int, optional
    random_state : int, RandomState or None
        Seeds the split and every random start: same int, same study (recorded as ``results["seed"]``).
    protocol : dict, optional
        Acquisition protocol (``KEY=VALUE`` pairs) recorded in the results and model card.
    readiness : bool
        Run the "is deep learning warranted?" stage when the cohort has ``imaging`` and ``clinical`` groups.
    progress : callable, optional
        ``progress(stage, n_networks)`` for a progress display.
    split : Split, optional
        A predefined split (e.g. :func:`scintiml.split.predefined_split`); ``ratios`` is then ignored.
    selection : {"stable", "cv", "split"}
        How the select stages choose (see :mod:`scintiml.stages.select`): ``stable`` (default) keeps the inputs
        chosen in most of 20 resampled selections and judges the network by cross-validation; ``cv`` keeps the
        inputs of one cross-validated selection (one-SE rule). Both report the selection frequencies and add the
        headline nested cross-validation AUC of the same pipeline over all patients (``results["nested"]``; not
        with ``inputs="all"``, which selects no inputs); ``split`` is the published single-split workflow.
    seed : int, optional
        Older name of ``random_state`` (kept so existing scripts run).
    sites : array, optional
        The site of each patient: adds internal-external cross-validation (each site left out in turn, the whole
        pipeline — selection included — refit on the other sites, random-effects summary) as
        ``results["internal_external"]`` (:func:`scintiml.external.site_stage`).
    n_jobs : int, optional
        Processes for the resampled selections and the nested cross-validation's outer folds (joblib; ``-1``:
        every core). The result does not depend on it, only the wall time.

    Returns
    -------
    StudyResult

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout", "age"])
    >>> result = run_study(cohort, inputs="all", readiness=False, random_state=0)
    >>> result.results["inputs"]["selected"]
    ['delta_lvef', 'planar_washout', 'age']
    >>> 0.5 < result.results["test"]["auc"] <= 1
    True
    """
    _check_library_arguments(cohort, protocol, split)
    if isinstance(ratios, str):  # "60:20:20", as the command line takes it
        from .split import parse_ratios

        ratios = parse_ratios(ratios)
    validate_study_options(ratios if split is None else (1, 1, 1), inputs, max_inputs,
                           random_state if seed is None else seed, selection, n_jobs)
    seed = resolve_seed(random_state if seed is None else seed)
    if sites is not None:
        _check_sites(cohort, sites)  # before any work: an hour of study, then "no site could be validated"
    beyond = size_warning(cohort.n_patients, cohort.n_inputs)
    if beyond:  # said before the work, not in results: a long silent run reads as a hung one
        warnings.warn(beyond, UserWarning, stacklevel=2)
    clock = StageClock(progress)
    with clock("split"):
        data = split_stage(cohort, ratios, random_state=seed, split=split)
    with clock("explore"):
        explored = explore_stage(data)
    with clock("input_selection") as tick:
        chosen = select_inputs_stage(data, inputs, max_inputs, seed, selection=selection, progress=tick,
                                     n_jobs=n_jobs)
    with clock("order_selection") as tick:
        order = select_order_stage(data, chosen.selected, random_state=seed, selection=selection, progress=tick)
    with clock("final_training"):
        fitted = fit_stage(data, chosen.selected, order.hidden_layer_sizes, random_state=seed)
    with clock("testing_analysis"):
        testing = test_stage(data, fitted, random_state=seed)
    with clock("explain"):
        explained = explain_stage(data, fitted, explored.univariate_fit, random_state=seed)
    nested = {}
    if selection in RESAMPLED_MODES and inputs != "all":
        with clock("nested_cv") as tick:
            nested["nested"] = nested_stage(data, inputs, max_inputs, random_state=seed, progress=tick,
                                            stability=selection == "stable", n_jobs=n_jobs)
    readiness_result = None
    if readiness and readiness_applies(cohort):
        with clock("readiness"):
            readiness_result = readiness_stage(cohort, random_state=seed)
    extra = {}
    if sites is not None:
        from .external import site_stage

        with clock("internal_external") as tick:
            # the study's selection repeated on the development sites for each left-out site (with --selection
            # split by the pipeline's one-SE rule on one split, as the site stage's note says)
            extra["internal_external"] = site_stage(
                cohort.X, cohort.y, sites, method=inputs, max_inputs=max_inputs, stability=selection == "stable",
                cv="split" if selection == "split" else CV_FOLDS, random_state=seed, progress=tick)
        site_warnings = _site_warnings(extra["internal_external"])
    results = assemble_results(data, explored, chosen, order, fitted, testing, explained, readiness_result, seed,
                               protocol=protocol, timings=clock.timings, extra={**(extra or {}), **nested})
    if readiness_result is not None:
        results["warnings"] += _ungrouped_inputs_warning(cohort, fitted.inputs)
    if sites is not None:
        results["warnings"] += site_warnings
    stages = {"data": data, "explored": explored, "inputs": chosen, "order": order, "fitted": fitted,
              "testing": testing}
    # the cohort as the study used it: one-hot levels no training patient has are gone (split_stage), so the
    # bundle's categories are the levels training saw
    return StudyResult(results=results, model=fitted.model, cohort=data.cohort, split=data.split,
                       selected_inputs=fitted.inputs, medians=data.medians,
                       training_ranges=fitted.training_ranges, stages=stages)


def _check_sites(cohort: Cohort, sites: Sequence[Any]) -> None:
    """Refuse a site column under which fewer than two sites can be validated (each needs a few patients of
    both outcomes): the internal-external cross-validation asked for could give nothing."""
    from .external.sites import MIN_SITE_CLASS, site_is_validatable

    if pd.isna(pd.Series(sites, dtype=object)).any():
        raise ScintimlError("the site column is empty for some patients; every patient needs a site")
    sites = np.asarray(sites).astype(str)
    if len(sites) != cohort.n_patients:
        raise ScintimlError(f"{len(sites)} site labels for {cohort.n_patients} patients: give one site per patient")
    y = np.asarray(cohort.y).astype(int)
    names, codes = np.unique(sites, return_inverse=True)
    events = np.bincount(codes, weights=y, minlength=len(names))
    totals = np.bincount(codes, minlength=len(names))
    usable = sum(site_is_validatable(int(e), int(t)) for e, t in zip(events, totals))
    if usable < 2:
        raise ScintimlError(
            f"the site column gives {len(names)} site(s), of which {usable} hold at least {MIN_SITE_CLASS} events "
            f"and {MIN_SITE_CLASS} non-events: internal-external cross-validation needs 2 such sites — check the "
            "column (a measurement instead of a hospital?) or pool small sites")


def _site_warnings(internal_external: dict[str, Any]) -> list[str]:
    """Sites left out of the internal-external summary, and a summary on too few sites, said in words."""
    rows = internal_external.get("per_site", [])
    skipped = [r for r in rows if "skipped" in r]
    lines = []
    if skipped:
        shown = "; ".join(f"{r['site']}: {r['skipped']}" for r in skipped[:5])
        lines.append(f"{len(skipped)} of {len(rows)} sites could not be validated and are left out of the "
                     f"internal-external summary ({shown}{'; ...' if len(skipped) > 5 else ''})")
    k = (internal_external.get("summary") or {}).get("k", 0)
    if k == 2:
        lines.append("the internal-external summary rests on 2 sites: too few to judge heterogeneity (I2) or to "
                     "give a prediction interval for a new site")
    return lines


def _ungrouped_inputs_warning(cohort: Cohort, model_inputs: Sequence[str]) -> list[str]:
    """Inputs in neither group are outside the imaging-versus-clinical comparison: say so, louder when the
    study's own model uses them (a clinical input left out makes imaging look better than it is)."""
    # readiness compares these two groups only: an input in a third group ("lab") is left out as well
    grouped = {c for name in ("imaging", "clinical") for c in cohort.groups.get(name, [])}
    left = [c for c in cohort.inputs if c not in grouped]
    if not left:
        return []
    used = [c for c in model_inputs if c in left]
    shown = ", ".join(left[:8]) + (f" and {len(left) - 8} more" if len(left) > 8 else "")
    line = (f"{len(left)} input(s) are in neither the imaging nor the clinical group ({shown}): the "
            "imaging-versus-clinical comparison leaves them out")
    if used:
        line += (f"; the study's own model uses {', '.join(used)} — if clinical, add them to the clinical group, "
                 "or the imaging gain may be a clinical signal the comparison did not see")
    return [line]


#: The bundled cohorts ``scintiml demo`` can run (real records first).
DEMO_COHORTS = ("heart_failure", "spectf", "heart-disease", "mibg")


def demo_cohort_name(name: str) -> str:
    """A bundled cohort's name as :data:`DEMO_COHORTS` spells it, whichever of ``-`` and ``_`` it was given with
    (``heart-failure`` and ``heart_disease`` were refused).

    >>> demo_cohort_name("heart-failure"), demo_cohort_name("heart_disease"), demo_cohort_name("SPECTF")
    ('heart_failure', 'heart-disease', 'spectf')
    """
    folded = str(name).strip().lower().replace("-", "_")
    return next((known for known in DEMO_COHORTS if known.replace("-", "_") == folded), name)


def demo_cohort(name: str = "heart_failure") -> Cohort:
    """A bundled cohort by name: ``heart_failure``, ``spectf`` or ``heart-disease`` (Cleveland, thallium
    scintigraphy as the imaging group: real records) or ``mibg`` (teaching).

    Examples
    --------
    >>> demo_cohort("spectf").n_patients
    267
    """
    from . import datasets

    loaders = {"heart_failure": datasets.load_heart_failure, "spectf": datasets.load_spectf,
               "heart-disease": lambda: datasets.load_heart_disease("cleveland"), "mibg": datasets.make_mibg_cohort}
    name = demo_cohort_name(name)
    if name not in loaders:
        raise ScintimlError(f"--cohort must be one of {', '.join(DEMO_COHORTS)}, got {name!r}")
    return loaders[name]()


def _check_library_arguments(cohort: Any, protocol: Any, split: Any) -> None:
    """What a notebook passes that the command line never does: a DataFrame or a path where a :class:`Cohort` is
    needed (it failed deep in the split with an IndexError), a protocol that is not a mapping, a split that is no
    :class:`Split`."""
    if not isinstance(cohort, Cohort):
        raise ScintimlError(f"run_study needs a Cohort, got {type(cohort).__name__}; read the table first with "
                            "scintiml.load_cohort(table_or_path, target=..., id_column=...)")
    if protocol is not None and not isinstance(protocol, Mapping):
        raise ScintimlError(f"protocol must be a mapping of KEY to VALUE (e.g. {{'collimator': 'LEHR'}}); got "
                            f"{type(protocol).__name__}")
    if split is not None and not isinstance(split, Split):
        raise ScintimlError(f"split must be a scintiml Split (scintiml.split_cohort or "
                            f"scintiml.split.predefined_split); got {type(split).__name__}")


#: The largest study shape measured (benchmarks/README.md: 3,000 patients x 400 inputs, 2-5 min on 2 cores).
MEASURED_PATIENTS, MEASURED_INPUTS = 3000, 400


def size_warning(n_patients: int, n_inputs: int) -> str | None:
    """What to expect of a cohort larger than any measured study, or ``None`` within the measured sizes.

    Figures are measurements on a 2-core machine, not a prediction: 3,000 x 400 took 170-180 s (110 s with
    ``--jobs 2``) with scintiml 0.4.0 (benchmarks/README.md, 2026-11-26); 50,000 x 10 and 300 x 5,000 ran past 8
    and 15 minutes with scintiml 0.6.1 (docs/robustness.md, session 12) — the first had printed nothing for 8
    minutes and looked hung.

    >>> size_warning(300, 84) is None
    True
    >>> print(size_warning(40, 2000)[:60])
    this cohort (40 patients x 2,000 inputs) is larger than the
    """
    if n_patients <= MEASURED_PATIENTS and n_inputs <= MEASURED_INPUTS:
        return None
    return (f"this cohort ({n_patients:,} patients x {n_inputs:,} inputs) is larger than the largest measured study "
            f"({MEASURED_PATIENTS:,} x {MEASURED_INPUTS}: about 3 minutes on 2 cores); expect a long run (measured on "
            "2 cores: 300 x 5,000 more than 15 minutes, 50,000 x 10 more than 8) — leave out the inputs you do not "
            "need (--exclude), use every core (--jobs -1), or try --selection split first")


def validate_study_options(ratios: Sequence[float], inputs: str = "growing", max_inputs: int | None = None,
                           random_state: Any = 0, selection: str = "stable", n_jobs: int | None = None) -> None:
    """Refuse impossible study options before any work (one :class:`ScintimlError` saying how to fix it).

    Examples
    --------
    >>> validate_study_options((0.8, 0.2, 0.0))
    Traceback (most recent call last):
    ...
    scintiml.errors.SplitError: split 80:20:0: the testing part must not be empty (or negative); use e.g. 60:20:20
    """
    from .errors import SplitError

    if inputs not in INPUT_METHODS:
        raise ScintimlError(f"--inputs must be one of {', '.join(INPUT_METHODS)}, got {inputs!r}")
    if selection not in SELECTION_MODES:
        raise ScintimlError(f"--selection must be one of {', '.join(SELECTION_MODES)}, got {selection!r}")
    if max_inputs is not None and (isinstance(max_inputs, bool) or not isinstance(max_inputs, (int, np.integer))
                                   or max_inputs < 1):
        raise ScintimlError(f"--max-inputs must be a whole number of at least 1, got {max_inputs!r}")
    if not (random_state is None or isinstance(random_state, np.random.RandomState)
            or (isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool))):
        raise ScintimlError(f"--seed must be a whole number (or, in Python, a numpy RandomState or None), got "
                            f"{random_state!r}")
    if isinstance(random_state, (int, np.integer)) and random_state < 0:
        raise ScintimlError(f"--seed must be 0 or more, got {random_state}")
    if isinstance(random_state, (int, np.integer)) and random_state > 2**32 - 1:  # numpy's seeds are 32-bit
        raise ScintimlError(f"--seed must be at most {2**32 - 1}, got {random_state}")
    if n_jobs is not None and (not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1):
        raise ScintimlError(f"--jobs must be a number of processes (1 or more) or -1 for every core, got {n_jobs!r}")
    if isinstance(ratios, str):  # "60:20:20", as the command line takes it
        from .split import parse_ratios

        ratios = parse_ratios(ratios)
    try:
        r = np.asarray(ratios, dtype=float)
    except (TypeError, ValueError):
        raise SplitError(f"a split has three numbers (training, selection, testing), got {ratios!r}; use e.g. "
                         "(0.6, 0.2, 0.2)") from None
    if r.shape != (3,):
        raise SplitError(f"a split has three parts (training, selection, testing), got {r.tolist()}; use e.g. "
                         "60:20:20")
    if not np.all(np.isfinite(r)) or not np.isfinite(r.sum()):
        raise SplitError(f"a split has three finite shares, got {r.tolist()}; use e.g. 60:20:20")
    if np.any(r <= 0):
        shown = ":".join(f"{100 * v / r.sum():g}" for v in r) if r.sum() > 0 else ":".join(f"{v:g}" for v in r)
        empty = [name for name, v in zip(PARTS, r) if v <= 0]
        raise SplitError(f"split {shown}: the {' and '.join(empty)} part{'s' if len(empty) > 1 else ''} must not be "
                         "empty (or negative); use e.g. 60:20:20")


def write_study(
    cohort: Cohort,
    out: str | Path,
    ratios: Sequence[float] = (0.6, 0.2, 0.2),
    inputs: str = "growing",
    max_inputs: int | None = None,
    random_state: int | np.random.RandomState | None = 0,
    protocol: dict[str, str] | None = None,
    readiness: bool = True,
    pdf: bool = True,
    overwrite: bool = False,
    progress: Progress | None = None,
    split: Split | None = None,
    selection: str = "stable",
    sites: Sequence[Any] | None = None,
    n_jobs: int | None = None,
) -> StudyResult:
    """Run the study and write ``out/``: ``results.json``, the report (HTML, PDF, figures) and ``model/``.

    Everything is written into a temporary sibling folder renamed into place at the end
    (:func:`scintiml.io.atomic_dir`), so an error or Ctrl-C leaves no partial output. The output path is
    checked before the study starts. The parameters are those of :func:`run_study`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from scintiml.datasets import make_mibg_cohort
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "study"
    >>> _ = write_study(cohort, out, inputs="all", readiness=False, pdf=False)
    >>> sorted(p.name for p in out.iterdir())
    ['.scintiml-output', 'figures', 'model', 'report.html', 'results.json', 'split.csv']
    """
    from .bundle import save_bundle
    from .io import atomic_dir, check_output_path, write_json
    from .io.atomic import STUDY_OUTPUT
    from .report import write_report

    _check_library_arguments(cohort, protocol, split)
    if not isinstance(out, (str, os.PathLike)):
        raise ScintimlError(f"out must be the path of the output folder (a str or pathlib.Path); got "
                            f"{type(out).__name__}")
    validate_study_options(ratios if split is None else (1, 1, 1), inputs, max_inputs, random_state, selection,
                           n_jobs)
    check_output_path(out, overwrite=overwrite, kind="folder", output=STUDY_OUTPUT)
    result = run_study(cohort, ratios=ratios, inputs=inputs, max_inputs=max_inputs, random_state=random_state,
                       protocol=protocol, readiness=readiness, progress=progress, split=split, selection=selection,
                       sites=sites, n_jobs=n_jobs)
    if progress is not None:
        progress("report", 0)
    with atomic_dir(out, overwrite=overwrite, output=STUDY_OUTPUT) as tmp:
        write_json(tmp / "results.json", result.results)
        write_report(result.results, tmp, pdf=pdf)
        save_bundle(result, tmp / "model")
        split_table(result).to_csv(tmp / "split.csv", index=False)
    return result


def split_table(result: StudyResult) -> pd.DataFrame:
    """Which part each patient was in (``id``, ``part``), in the table's order: the record that lets the testing
    patients be checked, or the study rerun on the same parts (``run_study(..., split=Split(training, selection,
    testing))`` with the rows of each part). Patients are assigned
    by their row's position (seeded), so a table re-exported in another row order is split otherwise. Kept out of
    the model bundle, which holds no patient-level data; ids are written spreadsheet-safe.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> table = split_table(run_study(cohort, inputs="all", readiness=False))
    >>> table["part"].value_counts().to_dict()
    {'training': 120, 'selection': 40, 'testing': 40}
    """
    from .io import spreadsheet_safe

    part = np.empty(len(result.cohort.y), dtype=object)
    for name, positions in result.split.parts().items():
        part[positions] = name
    ids = pd.Series(result.cohort.ids)
    return spreadsheet_safe(pd.DataFrame({"id": ids.astype(str) if ids.dtype == object else ids, "part": part}))
