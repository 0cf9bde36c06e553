"""Stratified training / selection / testing split (Neural Designer's 60:20:20)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.utils import check_random_state

from .cohort import Cohort
from .errors import SplitError
from .explore.describe import check_outcome

#: A part with fewer events than this gets a warning: its metrics are fragile.
MIN_EVENTS_PER_PART = 5

#: The names of a split's three parts, in order: the one list every stage (tabular and CNN) names them by.
PARTS: tuple[str, str, str] = ("training", "selection", "testing")


@dataclass
class Split:
    """Positions (0-based row indices) of the three parts of a cohort.

    Examples
    --------
    >>> import numpy as np
    >>> s = Split(np.array([0, 1, 2]), np.array([3]), np.array([4]))
    >>> s.counts(np.array([1, 0, 0, 1, 1]))["training"]
    {'n': 3, 'events': 1}
    """

    training: np.ndarray
    selection: np.ndarray
    testing: np.ndarray

    def parts(self) -> dict[str, np.ndarray]:
        """The three parts by name, in :data:`PARTS` order.

        Examples
        --------
        >>> import numpy as np
        >>> list(Split(np.array([0, 1]), np.array([2]), np.array([3])).parts())
        ['training', 'selection', 'testing']
        """
        return {name: getattr(self, name) for name in PARTS}

    def counts(self, y: np.ndarray | None = None) -> dict[str, dict[str, int] | int]:
        """Sizes of each part; with ``y``, also the number of events in each."""
        parts = self.parts()
        if y is None:
            return {k: int(len(v)) for k, v in parts.items()}
        return {k: {"n": int(len(v)), "events": int(np.asarray(y)[v].sum())} for k, v in parts.items()}


def parse_ratios(text: str) -> tuple[float, float, float]:
    """Parse ``"60:20:20"`` (or ``"0.6,0.2,0.2"``) into three fractions summing to 1.

    Examples
    --------
    >>> parse_ratios("60:20:20")
    (0.6, 0.2, 0.2)
    >>> parse_ratios("60:x:20")
    Traceback (most recent call last):
    ...
    scintiml.errors.SplitError: cannot read split '60:x:20'; write it as training:selection:testing, e.g. 60:20:20
    >>> parse_ratios("nan:20:20")
    Traceback (most recent call last):
    ...
    scintiml.errors.SplitError: split 'nan:20:20' needs three finite numbers, e.g. 60:20:20
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as said:
    ...     warnings.simplefilter("always")
    ...     shares = parse_ratios("60:20:30"), parse_ratios("3:1:1")
    >>> [str(w.message) for w in said]
    ["split '60:20:30' adds up to 110, not 100: read as the proportions 54.5:18.2:27.3; check for a typo"]
    """
    parts = text.replace(",", ":").split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise SplitError(f"cannot read split {text!r}; write it as training:selection:testing, e.g. 60:20:20") from None
    if len(values) == 3 and not all(np.isfinite(values)):  # float() reads "nan" and "inf"; no share is either
        raise SplitError(f"split {text!r} needs three finite numbers, e.g. 60:20:20")
    if len(values) != 3 or any(v < 0 for v in values):
        raise SplitError(f"split {text!r} needs three non-negative parts, e.g. 60:20:20")
    if not np.isfinite(sum(values)):  # 1e308 each: the total overflows
        raise SplitError(f"split {text!r} is too large to add up; write shares such as 60:20:20")
    if sum(values) <= 0:
        raise SplitError(f"split {text!r} gives every part a share of 0; e.g. 60:20:20")
    total = sum(values)
    # shares meant as percentages (or fractions) that miss 100 (or 1): a typo, 60:20:30, changes the design
    # silently when rescaled; proportions such as 3:1:1 are not warned of
    for whole, low, high in ((100.0, 50.0, 200.0), (1.0, 0.5, 2.0)):
        if low < total < high and abs(total - whole) > 0.005 * whole:  # 1:1:0 (2) is a proportion
            shown = ":".join(f"{100 * v / total:.1f}" for v in values)
            warnings.warn(f"split {text!r} adds up to {total:g}, not {whole:g}: read as the proportions {shown}; "
                          "check for a typo", UserWarning, stacklevel=2)
            break
    return tuple(v / total for v in values)  # type: ignore[return-value]


def split_cohort(
    cohort: Cohort | np.ndarray,
    ratios: Sequence[float] | str = (0.6, 0.2, 0.2),
    random_state: int | np.random.RandomState | None = None,
) -> Split:
    """Split patients into training, selection and testing parts, stratified by outcome.

    Each class is shuffled and cut in the given proportions separately, so the
    event rate is (to within one patient) the same in every part. A warning is
    issued when a part holds fewer than 5 events: its AUC and sensitivity will
    have very wide confidence intervals.

    Parameters
    ----------
    cohort : Cohort or array of 0/1
        The cohort (or its outcome vector).
    ratios : three floats, or str
        Fractions for training, selection, testing (normalised to sum to 1), or the same as text such as
        ``"60:20:20"`` (read by :func:`parse_ratios`). A zero selection or testing fraction gives an empty part.
    random_state : int, RandomState or None

    Returns
    -------
    Split

    Raises
    ------
    TargetClassesError
        The outcome is not coded 0/1 (1 = event): a third class, 1/2 coding, text or missing values.
    ValueError
        The outcome is not one value per patient (1-D).
    SplitError
        ``ratios`` not three finite non-negative numbers (or unreadable text), an empty training part, an
        outcome class without patients or without a patient in the training part, or a ``random_state`` that
        cannot seed numpy.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.r_[np.ones(25), np.zeros(75)].astype(int)
    >>> s = split_cohort(y, random_state=0)
    >>> {k: v["events"] for k, v in s.counts(y).items()}
    {'training': 15, 'selection': 5, 'testing': 5}
    """
    y = check_outcome(cohort.y if isinstance(cohort, Cohort) else cohort)  # a third class or 1/2 coding: refused
    given = ratios
    if isinstance(ratios, str):
        ratios = parse_ratios(ratios)
    try:
        ratios = np.asarray(ratios, dtype=float)
    except (TypeError, ValueError):
        ratios = np.full(0, np.nan)  # unreadable: refused below with the others
    if (ratios.shape != (3,) or not np.all(np.isfinite(ratios)) or np.any(ratios < 0)
            or not np.isfinite(ratios.sum()) or ratios.sum() <= 0):
        raise SplitError(f"ratios must be three non-negative numbers (finite, not all 0), got {given!r}; use e.g. "
                         "(0.6, 0.2, 0.2) or '60:20:20'")
    ratios = ratios / ratios.sum()
    if ratios[0] == 0:
        raise SplitError("the training part cannot be empty")
    try:
        rng = check_random_state(random_state)
    except ValueError:
        raise SplitError(f"random_state must be a whole number from 0 to 2**32 - 1, a numpy RandomState or None, got "
                         f"{random_state!r}") from None
    parts: list[list[int]] = [[], [], []]
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        members = members[rng.permutation(len(members))]
        n = len(members)
        n_sel = int(round(ratios[1] * n))
        n_test = int(round(ratios[2] * n))
        n_train = n - n_sel - n_test
        if n == 0:
            raise SplitError(f"no patient has outcome class {label}: a split (and a model) needs patients of both "
                             "outcomes")
        if n_train < 1:
            shown = ":".join(f"{100 * r:.3g}" for r in ratios)
            raise SplitError(f"split {shown} leaves the training part no patient of outcome class {label} (of {n}); "
                             "give the training part a larger share, e.g. 60:20:20")
        parts[0].extend(members[:n_train])
        parts[1].extend(members[n_train:n_train + n_sel])
        parts[2].extend(members[n_train + n_sel:])
    split = Split(*(np.sort(np.asarray(p, dtype=int)) for p in parts))
    for name, idx, share in zip(PARTS, parts, ratios):
        if share == 0:
            continue
        events = int(y[np.asarray(idx, dtype=int)].sum())
        if events < MIN_EVENTS_PER_PART:
            warnings.warn(
                f"the {name} part has only {events} event(s); its metrics will have very wide confidence "
                "intervals — collect more patients or use cross-validation",
                UserWarning,
                stacklevel=2,
            )
    return split


def predefined_split(
    cohort: Cohort, selection_fraction: float = 0.25, random_state: int | np.random.RandomState | None = 0
) -> Split:
    """A published training/testing split (``cohort.predefined_split``) with a selection part carved,
    stratified, out of its training part (the published splits have none).

    Examples
    --------
    >>> from scintiml.datasets import load_spectf
    >>> s = predefined_split(load_spectf())
    >>> s.counts()
    {'training': 60, 'selection': 20, 'testing': 187}
    """
    if not cohort.predefined_split:
        raise SplitError(f"cohort {cohort.name!r} has no predefined split; use split_cohort for a random one")
    train = np.asarray(cohort.predefined_split["training"])
    inner = split_cohort(cohort.y[train], (1 - selection_fraction, selection_fraction, 0.0), random_state)
    return Split(np.sort(train[inner.training]), np.sort(train[inner.selection]),
                 np.asarray(cohort.predefined_split["testing"]))
