"""What every stage shares: the study's data after the split, the options, and the stage clock."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ..cohort import Cohort
from ..split import Split

#: Progress callback: ``progress(stage, advance_networks)``; ``advance_networks`` is 0 when a stage starts.
Progress = Callable[[str, int], None]

#: Input selection methods (``all`` keeps every input).
INPUT_METHODS = ("growing", "pruning", "genetic", "all")

#: How the select stages choose: ``"stable"`` (the default: the inputs chosen in most of 20 resampled selections,
#: the network by stratified 5-fold cross-validation over the training and selection patients), ``"cv"`` (one
#: cross-validated input selection, one-SE rule) or ``"split"`` (the one selection part, the published workflow).
SELECTION_MODES = ("stable", "cv", "split")
#: The modes that judge by resampling (selection frequencies and the nested headline come with them).
RESAMPLED_MODES = ("stable", "cv")


def resolve_seed(random_state: int | np.random.RandomState | None) -> int:
    """One integer seed for every random start of a study, from sklearn's ``random_state`` convention.

    An int is kept as it is (the same seed gives the same study and is recorded in ``results.json``);
    a ``RandomState`` or ``None`` draws one.

    Examples
    --------
    >>> resolve_seed(7)
    7
    >>> import numpy as np
    >>> resolve_seed(np.random.RandomState(0)) == resolve_seed(np.random.RandomState(0))
    True
    """
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@dataclass
class StudyData:
    """A cohort after the split stage: imputed inputs, outcome, the three parts, and what the split noted.

    ``X`` is imputed with medians of the training part only (``medians``); ``raw`` keeps the unimputed
    inputs for the descriptive statistics.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage
    >>> data = split_stage(make_mibg_cohort(n_patients=200, random_state=0))
    >>> X_te, y_te = data.part("testing", ["delta_lvef"])
    >>> X_te.shape, int(y_te.sum()) == data.split.counts(data.y)["testing"]["events"]
    ((40, 1), True)
    """

    cohort: Cohort
    split: Split
    X: pd.DataFrame
    y: np.ndarray
    medians: dict[str, float]
    ratios: list[float]
    warnings: list[str] = field(default_factory=list)

    @property
    def raw(self) -> pd.DataFrame:
        return self.cohort.X

    def part(self, name: str, inputs: Sequence[str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
        """``(X, y)`` of one part (``"training"``, ``"selection"``, ``"testing"``), optionally some inputs only."""
        rows = getattr(self.split, name)
        X = self.X.iloc[rows]
        return (X if inputs is None else X[list(inputs)]), self.y[rows]

    @property
    def fit_rows(self) -> np.ndarray:
        """Training and selection rows: what the model may learn from (never the testing part)."""
        return np.r_[self.split.training, self.split.selection]


class StageClock:
    """Times each stage into ``timings`` and tells the progress callback which stage runs.

    Examples
    --------
    >>> clock = StageClock()
    >>> with clock("explore"):
    ...     pass
    >>> list(clock.timings)
    ['explore']
    """

    def __init__(self, progress: Progress | None = None):
        self.progress = progress or (lambda stage, n: None)
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, key: str) -> Iterator[Callable[[int], None]]:
        label = key.replace("_", " ")
        self.progress(label, 0)
        start = time.perf_counter()
        yield lambda n: self.progress(label, n)
        self.timings[key] = round(time.perf_counter() - start, 3)
