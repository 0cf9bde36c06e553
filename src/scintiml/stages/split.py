"""Stage 1: split the patients and impute with training-part medians."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ..cohort import Cohort, impute_median
from ..errors import SplitError
from ..split import Split, split_cohort
from .base import StudyData


#: The fewest training patients a study accepts (and at least 2 of each outcome among them).
MIN_TRAINING_PATIENTS = 10


def split_stage(
    cohort: Cohort,
    ratios: Sequence[float] = (0.6, 0.2, 0.2),
    random_state: int | np.random.RandomState | None = 0,
    split: Split | None = None,
) -> StudyData:
    """Split a cohort (stratified) into training / selection / testing and impute missing inputs.

    Parameters
    ----------
    cohort : Cohort
    ratios : three floats
        Training / selection / testing fractions; ignored when ``split`` is given.
    random_state : int, RandomState or None
    split : Split, optional
        A predefined split (e.g. :func:`scintiml.split.predefined_split`).

    Returns
    -------
    StudyData
        Imputed inputs (medians of the training part only), outcome, parts, and the split's warnings
        (e.g. a part with fewer than 5 events).

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> data = split_stage(make_mibg_cohort(n_patients=200, random_state=0), random_state=0)
    >>> data.split.counts()
    {'training': 120, 'selection': 40, 'testing': 40}
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if split is None:
            split = split_cohort(cohort, ratios, random_state=random_state)
        else:
            ratios = [len(split.training), len(split.selection), len(split.testing)]
    if len(split.selection) == 0 or len(split.testing) == 0:
        raise SplitError("the selection and testing parts must not be empty; use e.g. --split 60:20:20")
    y_train = np.asarray(cohort.y)[split.training]
    n_events = int((y_train == 1).sum())
    if len(y_train) < MIN_TRAINING_PATIENTS or min(n_events, len(y_train) - n_events) < 2:
        # a network (and scikit-learn's partial dependence) cannot be fitted on a handful of patients
        raise SplitError(f"the training part would hold {len(y_train)} patients ({n_events} with the event): too "
                         f"few to train a network (at least {MIN_TRAINING_PATIENTS}, 2 of each outcome); give it a "
                         "larger share, e.g. --split 60:20:20")
    y_test = np.asarray(cohort.y)[split.testing]
    test_events = int((y_test == 1).sum())
    if min(test_events, len(y_test) - test_events) < 2:
        # one patient of a class: the testing AUC's DeLong interval (and most tests' intervals) are undefined
        raise SplitError(f"the testing part would hold {len(y_test)} patients ({test_events} with the event): too "
                         "few to test on (at least 2 of each outcome); give it a larger share, e.g. --split 60:20:20")
    cohort = training_categories(cohort, split.training)
    X, medians = impute_median(cohort.X, split.training)
    total = float(np.sum(ratios))
    return StudyData(
        cohort=cohort, split=split, X=X, y=np.asarray(cohort.y), medians=medians,
        ratios=[float(r) / total for r in ratios],
        # the cohort's own (values that look like a code for "not measured") first: they concern every figure
        warnings=list(cohort.warnings) + [str(w.message) for w in caught],
    )


def training_categories(cohort: Cohort, training: np.ndarray) -> Cohort:
    """The cohort with its one-hot inputs as the training part alone would have made them.

    :func:`~scintiml.cohort.load_cohort` encodes a text column's levels over every patient, before the split: a
    level only selection or testing patients have added a column that is all 0 for the training patients, and a
    level sorting first became the reference, so every training level got a column. Either way the values of
    held-out patients changed the training inputs (and the network fitted on them). Here the one-hot columns of
    levels no training patient has are left out, and where the reference level has no training patient the first
    level that has one becomes the reference (its column is left out). A held-out patient with a level training
    never saw has that input's remaining columns made missing, so they are imputed with the training medians —
    as ``predict`` reads a level the bundle never saw (flagged, then imputed) — and the categories the bundle
    records are the levels training saw, reference first.
    """
    drop: list[str] = []
    said: list[str] = []
    levels_seen: dict[str, list[str]] = {}
    unseen_rows: dict[str, np.ndarray] = {}
    X = cohort.X
    in_training = np.zeros(len(X), dtype=bool)
    in_training[np.asarray(training)] = True
    for source, levels in (getattr(cohort, "categories", None) or {}).items():
        # a level's name is what follows "source=" (a column named "stage=T" has columns "stage=T=a", ...)
        column = {level: f"{source}={level}" for level in levels[1:] if f"{source}={level}" in X.columns}
        if not column:
            continue
        cells = X[list(column.values())]
        seen = [level for level, c in column.items() if (cells.loc[in_training, c] == 1).any()]
        is_reference = (cells == 0).all(axis=1).to_numpy()  # every column 0 (a missing cell is no level)
        unseen = [level for level in column if level not in seen]
        reference = levels[0]
        if not (is_reference & in_training).any() and seen:
            unseen = [levels[0]] + unseen
            reference = seen.pop(0)
        if not unseen:
            continue
        drop += [c for level, c in column.items() if level not in seen]
        rows = cells[[column[level] for level in unseen if level in column]].eq(1).any(axis=1).to_numpy()
        if levels[0] in unseen:
            rows = rows | is_reference
        unseen_rows[source] = rows
        said.append(f"{source}: level(s) {', '.join(map(repr, unseen))} occur only among the selection and testing "
                    f"patients ({int(rows.sum())}); no training patient has them, so they are read as a missing "
                    f"value of {source!r} (imputed with the training medians, as predict reads a level it never "
                    "saw)")
        levels_seen[source] = [reference] + seen
    if not drop:
        return cohort
    kept = cohort.subset([c for c in X.columns if c not in drop])
    for source, rows in unseen_rows.items():
        remaining = [f"{source}={level}" for level in levels_seen[source][1:]]
        if remaining:
            kept.X.loc[rows, remaining] = np.nan
    kept.warnings = list(kept.warnings) + said
    kept.categories = {**kept.categories, **{k: v for k, v in levels_seen.items() if k in kept.categories}}
    # the load's note on each changed input counted its levels over every patient
    kept.notes = [_training_levels_note(note, levels_seen) for note in kept.notes]
    return kept


def _training_levels_note(note: str, levels_seen: dict[str, list[str]]) -> str:
    """``note`` with the levels of a one-hot input as the training part has them, where it is that input's note."""
    for source, levels in levels_seen.items():
        if note.startswith(f"one-hot encoded categorical input {source!r} (") and len(levels) == 1:
            return f"categorical input {source!r} left out: the training part has one level of it ({levels[0]!r})"
        if note.startswith(f"one-hot encoded categorical input {source!r} ("):
            return (f"one-hot encoded categorical input {source!r} ({len(levels)} levels in the training part, "
                    f"reference {levels[0]!r})")
    return note
