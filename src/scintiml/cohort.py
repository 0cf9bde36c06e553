"""Load and validate a cohort: one row per patient, numeric inputs, a binary outcome.

The boundary of the toolkit: everything a spreadsheet can get wrong is caught
here, with an error that names the problem and the fix. What is repaired
rather than refused (constant inputs dropped, few-level categories one-hot
encoded, excluded columns) is recorded in :attr:`Cohort.notes` so that the
report can say it.

Missing values are *kept* (as NaN) and counted in :attr:`Cohort.missing`; the
documented policy is median imputation fitted on the training instances only
(:func:`impute_median`), applied by the study after the split so that no
selection or testing value leaks into training.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import (
    CohortFileError,
    DuplicateIdError,
    GroupsError,
    InfiniteValueError,
    NonNumericInputError,
    PositiveClassError,
    TargetClassesError,
    TargetColumnError,
    TooFewEventsError,
)

#: A non-numeric column with at most this many distinct values is treated as a
#: category and one-hot encoded; more levels are taken as free text and refused.
MAX_CATEGORY_LEVELS = 10
#: The fewest events (and non-events) a study accepts.
MIN_EVENTS = 10


@dataclass
class Cohort:
    """A validated cohort.

    Attributes
    ----------
    X : pandas.DataFrame
        Numeric inputs, one row per patient, NaN where missing.
    y : numpy.ndarray of int
        Outcome, 1 for the event (``positive``), 0 otherwise.
    ids : numpy.ndarray
        Patient identifiers (row numbers when no id column is given).
    target : str
        Name of the outcome column.
    positive : object
        The outcome value counted as the event.
    groups : dict of str to list of str
        Named groups of inputs, e.g. ``{"imaging": [...], "clinical": [...]}``.
    notes : list of str
        What was changed on the way in (dropped, encoded, excluded columns).
    missing : dict of str to int
        Number of missing values per input (only inputs with any).
    name : str
        A short name for reports.
    citation : str
        Where the data come from (bundled cohorts).
    predefined_split : dict or None
        A published split (e.g. UCI's for SPECTF): ``{"training": idx, "testing": idx}``.
    truth : dict or None
        For simulated teaching cohorts: the known truth.
    """

    X: pd.DataFrame
    y: np.ndarray
    ids: np.ndarray
    target: str
    positive: Any
    groups: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)
    name: str = "cohort"
    citation: str = ""
    predefined_split: dict[str, np.ndarray] | None = None
    truth: dict[str, Any] | None = None

    @property
    def n_patients(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_events(self) -> int:
        return int(self.y.sum())

    @property
    def inputs(self) -> list[str]:
        return list(self.X.columns)

    @property
    def uci_split(self) -> dict[str, np.ndarray] | None:
        """Alias of :attr:`predefined_split` (the name used for SPECTF)."""
        return self.predefined_split

    def subset(self, columns: Sequence[str]) -> "Cohort":
        """The same patients restricted to ``columns`` (groups restricted alike)."""
        columns = list(columns)
        unknown = [c for c in columns if c not in self.X.columns]
        if unknown:
            raise GroupsError(f"unknown input(s) {unknown}; the cohort has {self.inputs}")
        groups = {g: [c for c in cols if c in columns] for g, cols in self.groups.items()}
        return Cohort(
            X=self.X[columns].copy(), y=self.y.copy(), ids=self.ids.copy(), target=self.target,
            positive=self.positive, groups={g: c for g, c in groups.items() if c},
            notes=list(self.notes), missing={c: n for c, n in self.missing.items() if c in columns},
            name=self.name, citation=self.citation, predefined_split=self.predefined_split,
            truth=self.truth,
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-able description of the cohort."""
        return {
            "name": self.name,
            "n_patients": self.n_patients,
            "n_inputs": self.n_inputs,
            "target": self.target,
            "positive": _jsonable(self.positive),
            "n_events": self.n_events,
            "groups": self.groups,
            "missing": self.missing,
            "notes": self.notes,
            "citation": self.citation,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_table(path: str | Path) -> pd.DataFrame:
    """Read CSV, TSV, XLSX or Parquet into a DataFrame, with a clear error."""
    path = Path(path)
    if not path.exists():
        raise CohortFileError(f"data file {str(path)!r} does not exist; check the path")
    if path.is_dir():
        raise CohortFileError(f"{str(path)!r} is a folder; give the path of a CSV, TSV, XLSX or Parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix in {".csv", ".txt"}:
            return pd.read_csv(path, sep=None, engine="python") if suffix == ".txt" else pd.read_csv(path)
        if suffix in {".tsv", ".tab"}:
            return pd.read_csv(path, sep="\t")
        if suffix in {".xlsx", ".xlsm", ".xls"}:
            return pd.read_excel(path)
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(path)
    except ImportError as exc:  # optional readers (openpyxl, pyarrow)
        raise CohortFileError(
            f"cannot read {str(path)!r}: {exc}; install the reader with "
            f"`pip install 'scintiml[excel]'` or `'scintiml[parquet]'`, or save the table as CSV"
        ) from exc
    except Exception as exc:  # any parser failure is the file's fault, say so
        raise CohortFileError(
            f"cannot read {str(path)!r} as a {suffix[1:].upper()} table ({type(exc).__name__}: {exc}); "
            "check the file is not corrupt or save it again as CSV"
        ) from exc
    raise CohortFileError(
        f"unknown file type {suffix!r} for {str(path)!r}; use .csv, .tsv, .xlsx or .parquet"
    )


def load_cohort(
    source: str | Path | pd.DataFrame,
    target: str,
    positive: Any = None,
    id_column: str | None = None,
    groups: Mapping[str, Sequence[str] | str] | str | Path | None = None,
    exclude: Sequence[str] = (),
    *,
    min_events: int = MIN_EVENTS,
    name: str | None = None,
) -> Cohort:
    """Load a table of patients and validate it as a binary-outcome cohort.

    Parameters
    ----------
    source : path or DataFrame
        CSV, TSV, XLSX or Parquet file, or a DataFrame (never modified).
    target : str
        Outcome column; must hold exactly two distinct values.
    positive : object, optional
        The outcome value that is the event. Default: ``1``/``True``/``"yes"``
        style values when present, else the less frequent class.
    id_column : str, optional
        Column of patient identifiers (must be unique); not used as an input.
    groups : dict, or path of a JSON/YAML file, optional
        Named groups of inputs. Each value is a list of column names or a glob
        pattern (``"img_*"``) matched against the input names.
    exclude : sequence of str
        Columns to drop before anything else (outcome leaks, irrelevant ids).
    min_events : int
        Fewest events and non-events accepted (default 10).
    name : str, optional
        Name of the cohort for reports.

    Returns
    -------
    Cohort

    Raises
    ------
    CohortFileError, TargetColumnError, TargetClassesError, PositiveClassError,
    NonNumericInputError, InfiniteValueError, DuplicateIdError, TooFewEventsError, GroupsError
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        default_name = "cohort"
    else:
        frame = read_table(source)
        default_name = Path(source).stem
    frame.columns = [str(c).strip() for c in frame.columns]
    notes: list[str] = []

    missing_excluded = [c for c in exclude if c not in frame.columns]
    if missing_excluded:
        raise TargetColumnError(
            f"cannot exclude {missing_excluded}: no such column(s); columns are {list(frame.columns)}"
        )
    if target in exclude:
        raise TargetColumnError(f"the target {target!r} is also listed in exclude; remove it from exclude")
    if exclude:
        frame = frame.drop(columns=list(exclude))
        notes.append(f"excluded on request: {', '.join(exclude)}")

    if target not in frame.columns:
        close = difflib.get_close_matches(target, list(frame.columns), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise TargetColumnError(
            f"target column {target!r} not found{hint} Columns are: {', '.join(map(str, frame.columns))}"
        )

    # Outcome: exactly two classes, no missing values.
    outcome = frame[target]
    if outcome.isna().any():
        rows = list(np.flatnonzero(outcome.isna().to_numpy())[:5] + 1)
        raise TargetClassesError(
            f"target {target!r} is missing for {int(outcome.isna().sum())} patient(s) (data rows {rows}...); "
            "remove those rows or fill in the outcome"
        )
    classes = pd.unique(outcome)
    if len(classes) != 2:
        shown = ", ".join(repr(_jsonable(c)) for c in classes[:8])
        raise TargetClassesError(
            f"target {target!r} must have exactly two classes (event / no event) but has {len(classes)}: "
            f"{shown}; recode it to two values (e.g. 0/1)"
        )
    positive = _resolve_positive(outcome, classes, positive, target)
    y = (outcome.to_numpy() == positive).astype(int)
    n_events, n_non = int(y.sum()), int(len(y) - y.sum())
    if min(n_events, n_non) < min_events:
        raise TooFewEventsError(
            f"only {n_events} event(s) ({target} = {_jsonable(positive)!r}) and {n_non} non-event(s); a study needs at "
            f"least {min_events} of each — collect more patients or pool sites"
        )

    # Patient ids.
    if id_column is not None:
        if id_column not in frame.columns:
            close = difflib.get_close_matches(id_column, list(frame.columns), n=3, cutoff=0.5)
            hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
            raise TargetColumnError(f"id column {id_column!r} not found{hint}; columns are {list(frame.columns)}")
        ids = frame[id_column].to_numpy()
        duplicated = pd.Series(ids)[pd.Series(ids).duplicated()].unique()
        if len(duplicated):
            raise DuplicateIdError(
                f"patient id column {id_column!r} has {len(duplicated)} duplicated id(s), e.g. "
                f"{[_jsonable(d) for d in duplicated[:5]]}; each patient must appear once — merge or remove repeats"
            )
        inputs = frame.drop(columns=[target, id_column])
    else:
        ids = np.arange(1, len(frame) + 1)
        inputs = frame.drop(columns=[target])

    X = _numeric_inputs(inputs, notes)

    values = X.to_numpy(dtype=float)
    infinite = [c for c, bad in zip(X.columns, np.isinf(values).any(axis=0)) if bad]
    if infinite:
        raise InfiniteValueError(
            f"input(s) {infinite} hold infinite values; replace them with a finite value or leave the cell "
            "empty (missing)"
        )

    constant = [c for c in X.columns if X[c].nunique(dropna=True) <= 1]
    if constant:
        X = X.drop(columns=constant)
        notes.append(f"dropped constant input(s): {', '.join(constant)}")
    if X.shape[1] == 0:
        raise NonNumericInputError("no usable input column is left; the table needs at least one numeric input")

    missing = {c: int(n) for c, n in X.isna().sum().items() if n > 0}
    if missing:
        notes.append(
            "missing values in " + ", ".join(f"{c} ({n})" for c, n in missing.items())
            + "; imputed by the training median"
        )

    resolved_groups = resolve_groups(groups, list(X.columns))
    return Cohort(
        X=X.reset_index(drop=True), y=y, ids=np.asarray(ids), target=target, positive=_jsonable(positive),
        groups=resolved_groups, notes=notes, missing=missing, name=name or default_name,
    )


_POSITIVE_WORDS = ("1", "true", "yes", "y", "positive", "pos", "abnormal", "event", "dead", "died", "death")


def _resolve_positive(outcome: pd.Series, classes: np.ndarray, positive: Any, target: str) -> Any:
    if positive is not None:
        for c in classes:
            if c == positive or str(c) == str(positive):
                return c
        raise PositiveClassError(
            f"positive class {positive!r} is not a value of {target!r}; its values are "
            f"{[_jsonable(c) for c in classes]} — pass one of them"
        )
    for word in _POSITIVE_WORDS:
        for c in classes:
            if str(c).strip().lower() == word:
                return c
    counts = outcome.value_counts()
    return counts.index[-1]


def _numeric_inputs(inputs: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    columns: dict[str, pd.Series] = {}
    free_text: list[str] = []
    for name in inputs.columns:
        column = inputs[name]
        if pd.api.types.is_bool_dtype(column):
            columns[name] = column.astype(float)
            continue
        if pd.api.types.is_numeric_dtype(column):
            columns[name] = column.astype(float)
            continue
        as_number = pd.to_numeric(column, errors="coerce")
        if as_number.notna().sum() == column.notna().sum():  # numbers stored as text
            columns[name] = as_number.astype(float)
            continue
        levels = sorted(column.dropna().astype(str).unique())
        if len(levels) <= MAX_CATEGORY_LEVELS and len(levels) < max(2, 0.5 * column.notna().sum()):
            # One-hot with the first level as reference, so the columns stay independent.
            for level in levels[1:]:
                encoded = (column.astype(str) == level).astype(float)
                encoded[column.isna()] = np.nan
                columns[f"{name}={level}"] = encoded
            notes.append(
                f"one-hot encoded categorical input {name!r} ({len(levels)} levels, reference {levels[0]!r})"
            )
        else:
            free_text.append(name)
    if free_text:
        id_like = [c for c in free_text if inputs[c].notna().all() and inputs[c].is_unique]
        hint = (
            f"; {id_like} look like patient ids: pass one as id_column=... (CLI: --id)" if id_like else ""
        )
        raise NonNumericInputError(
            f"input column(s) {free_text} hold free text (more than {MAX_CATEGORY_LEVELS} distinct non-numeric "
            f"values); drop them with exclude=[...] (CLI: --exclude) or recode them as numbers{hint}"
        )
    return pd.DataFrame(columns, index=inputs.index)


def resolve_groups(
    groups: Mapping[str, Sequence[str] | str] | str | Path | None, inputs: Sequence[str]
) -> dict[str, list[str]]:
    """Turn a groups specification (dict, JSON/YAML file) into name → input columns."""
    if groups is None:
        return {}
    if isinstance(groups, (str, Path)):
        path = Path(groups)
        if not path.exists():
            raise GroupsError(f"groups file {str(path)!r} does not exist")
        text = path.read_text()
        try:
            if path.suffix.lower() in {".yaml", ".yml"}:
                import yaml

                groups = yaml.safe_load(text)
            else:
                groups = json.loads(text)
        except Exception as exc:
            raise GroupsError(f"cannot parse groups file {str(path)!r}: {exc}") from exc
    if not isinstance(groups, Mapping) or not groups:
        raise GroupsError(
            'groups must map a group name to input columns, e.g. {"imaging": ["washout"], "clinical": ["age"]}'
        )
    resolved: dict[str, list[str]] = {}
    for group, spec in groups.items():
        patterns = [spec] if isinstance(spec, str) else list(spec)
        columns: list[str] = []
        for pattern in patterns:
            matched = [c for c in inputs if fnmatch.fnmatchcase(c, str(pattern))]
            if not matched:
                raise GroupsError(
                    f"group {group!r}: {pattern!r} matches no input; inputs are {list(inputs)}"
                )
            columns.extend(c for c in matched if c not in columns)
        resolved[str(group)] = columns
    return resolved


def impute_median(X: pd.DataFrame, fit_rows: np.ndarray) -> tuple[pd.DataFrame, dict[str, float]]:
    """Fill missing values with medians computed on ``fit_rows`` only.

    Parameters
    ----------
    X : DataFrame
        Inputs, NaN where missing. Not modified.
    fit_rows : array of int
        Positions of the training instances: the only rows the medians see.

    Returns
    -------
    X_filled : DataFrame
    medians : dict
        The value used for each column that had missing values.
    """
    medians = X.iloc[np.asarray(fit_rows)].median(numeric_only=True)
    needs = [c for c in X.columns if X[c].isna().any()]
    filled = X.copy()
    used: dict[str, float] = {}
    for c in needs:
        value = float(medians[c]) if np.isfinite(medians[c]) else float(X[c].median())
        filled[c] = filled[c].fillna(value)
        used[c] = value
    return filled, used
