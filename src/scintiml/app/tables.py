"""What the New-study page shows about an uploaded table before anything runs.

The column pickers need, per column: its missing share, its univariate AUC for the chosen outcome, and
whether it looks like a leak (known only after the outcome, e.g. follow-up time). The outcome, event value
and id are validated by :func:`scintiml.load_cohort` itself, so the page shows the same plain-words errors
as the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd

from .. import cohort as cohort_module
from ..cohort import MAX_CATEGORY_LEVELS, load_cohort
from ..stages.explore import leak_kind  # the study warns on the same inputs the page ticks
#: Cell texts that mean "missing" (the cohort reader's list when it has one).
_MISSING = tuple(getattr(cohort_module, "MISSING_MARKERS", ("", "NA", "N/A", "na", "NaN", "nan", "?", "-")))


@dataclass
class ColumnInfo:
    """One input column as the pickers show it."""

    name: str
    missing_share: float
    auc: float | None = None
    direction: str = ""
    leak_reason: str = ""


@dataclass
class ColumnReport:
    """The outcome's values and every input's :class:`ColumnInfo` for one choice of outcome and id."""

    target: str
    positive: Any
    outcome_values: list[Any]
    n_patients: int
    n_events: int
    columns: list[ColumnInfo]
    text_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # values that look like a code for "not measured" …

    @property
    def suggested_exclusions(self) -> list[str]:
        return [c.name for c in self.columns if c.leak_reason]


def outcome_candidates(frame: pd.DataFrame) -> list[str]:
    """Columns with exactly two distinct values (possible outcomes), last column first when it is one.

    Examples
    --------
    >>> import pandas as pd
    >>> outcome_candidates(pd.DataFrame({"age": [60, 70, 80], "sex": [0, 1, 1], "died": ["no", "yes", "no"]}))
    ['died', 'sex']
    """
    two = [c for c in frame.columns if frame[c].nunique(dropna=True) == 2]
    # spreadsheets usually put the outcome last
    return sorted(two, key=lambda c: -list(frame.columns).index(c))


def text_columns(frame: pd.DataFrame, skip: Sequence[str] = ()) -> list[str]:
    """Columns of free text (too many non-numeric values to be a category) or dates; the study cannot use them.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"name": [f"p{i}" for i in range(20)], "x": range(20)})
    >>> text_columns(frame)
    ['name']
    """
    from ..cohort import holds_dates

    out = []
    for c in frame.columns:
        if c not in skip and holds_dates(frame[c]):  # a date is no input either: set aside, named, not refused
            out.append(str(c))
            continue
        if c in skip or pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]):
            continue
        values = frame[c].dropna().astype(str).str.strip()
        values = values[~values.isin(_MISSING)]  # blank cells and "NA"-like markers are missing, not text
        if pd.to_numeric(values, errors="coerce").notna().all():
            continue
        levels = values.astype(str).nunique()
        if levels > MAX_CATEGORY_LEVELS or levels >= max(2, 0.5 * len(values)):
            out.append(str(c))
    return out


def column_report(frame: pd.DataFrame, target: str, positive: Any = None, id_column: str | None = None
                  ) -> ColumnReport:
    """Validate the outcome/id choice and describe every input for the pickers.

    Free-text columns are set aside (listed in ``text_columns``) rather than refused, so the page can still
    show the rest; any other problem raises the same :class:`~scintiml.errors.ScintimlError` as
    :func:`scintiml.load_cohort`.

    Examples
    --------
    >>> from importlib.resources import files
    >>> frame = pd.read_csv(files("scintiml.datasets").joinpath("data", "heart_failure.csv"))
    >>> report = column_report(frame, "DEATH_EVENT")
    >>> report.n_patients, report.n_events, report.suggested_exclusions
    (299, 96, ['time'])
    """
    from ..explore import univariate_tests

    id_column = id_column or None
    skip = [target] + ([id_column] if id_column else [])
    free = text_columns(frame, skip=skip)
    # events are not counted here (min_events=1): the page shows the counts; the run checks the minimum
    cohort = load_cohort(frame, target, positive=positive if positive not in ("", None) else None,
                         id_column=id_column, exclude=free, min_events=1)
    tests = univariate_tests(cohort.X, cohort.y).set_index("input") if cohort.n_inputs else pd.DataFrame()
    columns = []
    for name in cohort.inputs:
        info = ColumnInfo(name=name, missing_share=float(cohort.X[name].isna().mean()))
        if name in tests.index:
            info.auc = float(tests.loc[name, "auc_oriented"])
            info.direction = str(tests.loc[name, "direction"])
        kind = leak_kind(name, info.auc)
        if kind == "name":
            info.leak_reason = "its name suggests it is known only after the outcome (e.g. follow-up time)"
        elif kind == "auc":
            info.leak_reason = f"AUC {info.auc:.2f} on its own: check it is known before the outcome"
        columns.append(info)
    values = [v.item() if hasattr(v, "item") else v for v in pd.unique(frame[target].dropna())]
    return ColumnReport(
        target=target, positive=cohort.positive, outcome_values=values, n_patients=cohort.n_patients,
        n_events=cohort.n_events, columns=columns, text_columns=free, notes=list(cohort.notes),
        warnings=list(cohort.warnings),
    )
