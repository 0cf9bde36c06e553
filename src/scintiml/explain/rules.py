"""Clinical rules: thresholds on one to three inputs, joined by AND or OR.

A rule such as ``delta_lvef <= -10 and planar_washout >= 30`` is what a
clinician can apply at the bedside and check against the network. Thresholds
and directions are searched exhaustively over a grid of candidate cut-offs
(between neighbouring observed values, at most ``max_thresholds`` per input,
evenly spaced by rank, each the shortest decimal between its two neighbours),
counting true and false positives for every pair of cut-offs at once with two
matrix products.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..evaluate.binary_tests import wilson_interval
from ..explore.describe import check_frame, check_outcome, input_names


@dataclass
class Condition:
    """One threshold on one input: ``input op value`` with ``op`` in ``<=``, ``>=``.

    Examples
    --------
    >>> import pandas as pd
    >>> c = Condition("washout", ">=", 30.0)
    >>> c.text(), c.holds(pd.DataFrame({"washout": [25.0, 30.0, 41.0]})).tolist()
    ('washout >= 30', [False, True, True])
    """

    input: str
    op: str  # "<=" or ">="
    value: float
    #: ``(column, level)`` when the input is the one-hot indicator of a text column's level ("grade=low"): the
    #: condition then reads ``grade is low`` / ``grade is not low``, not ``grade=low >= 0.5``
    level: tuple[str, str] | None = None

    def holds(self, X: pd.DataFrame) -> np.ndarray:
        v = X[self.input].to_numpy(dtype=float)
        return v <= self.value if self.op == "<=" else v >= self.value

    def text(self) -> str:
        """The condition as a clinician reads it.

        >>> Condition("grade=low", "<=", 0.5, level=("grade", "low")).text(), Condition("a", "<=", 0.5).text()
        ('grade is not low', 'a <= 0.5')
        """
        if self.level is not None and 0 < self.value < 1:  # an indicator (0/1) cut between its two values
            column, level = self.level
            return f"{column} is {level}" if self.op == ">=" else f"{column} is not {level}"
        return f"{self.input} {self.op} {_fmt(self.value)}"


def _fmt(value: float) -> str:
    """A threshold as a clinician reads it: the shortest decimal that is exactly the threshold the rule was
    evaluated with (thresholds are chosen short: :func:`_candidates`), every digit of a large number (a platelet
    count's ``263358``, not ``2.634e+05``), never a rounded value that reads a patient at it the other way.

    Examples
    --------
    >>> _fmt(1.815), _fmt(32.5), _fmt(263358.0), _fmt(-12000.0), _fmt(0.000123), _fmt(1050.3), _fmt(2.5e-07)
    ('1.815', '32.5', '263358', '-12000', '0.000123', '1050.3', '2.5e-07')
    """
    if value != 0 and abs(value) < 1e-4:
        return np.format_float_scientific(value, trim="-", exp_digits=2)
    return np.format_float_positional(value, trim="-")


@dataclass
class Rule:
    """A rule ``c1 and c2`` (or ``or``) and how well it did where it was found.

    Examples
    --------
    >>> import pandas as pd
    >>> rule = Rule([Condition("a", ">=", 2.0), Condition("b", "<=", 0.0)], "and", 1.0, 1.0, 4)
    >>> rule.text, rule.predict(pd.DataFrame({"a": [1, 2, 3, 3], "b": [0, 0, 1, -1]})).tolist()
    ('a >= 2 and b <= 0', [0, 1, 0, 1])
    """

    conditions: list[Condition]
    join: str  # "and" | "or"
    sensitivity: float
    specificity: float
    n: int
    test: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return f" {self.join} ".join(c.text() for c in self.conditions)

    @property
    def youden(self) -> float:
        return self.sensitivity + self.specificity - 1

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        parts = np.array([c.holds(X) for c in self.conditions])
        return (parts.all(axis=0) if self.join == "and" else parts.any(axis=0)).astype(int)

    def evaluate(self, X: pd.DataFrame, y: np.ndarray) -> dict:
        """Sensitivity and specificity (with Wilson 95 % CIs) on other patients.

        One outcome class is allowed: the figure of the absent class is then None (its interval NaN).

        Raises
        ------
        TypeError
            ``X`` is not a DataFrame.
        ValueError
            ``y`` of another length than ``X``.
        TargetClassesError
            ``y`` not coded 0/1 (1 = event).
        """
        X = check_frame(X)
        y = check_outcome(y, len(X))
        called = self.predict(X)
        tp, fn = int(((called == 1) & (y == 1)).sum()), int(((called == 0) & (y == 1)).sum())
        tn, fp = int(((called == 0) & (y == 0)).sum()), int(((called == 1) & (y == 0)).sum())
        self.test = {
            "sensitivity": tp / (tp + fn) if tp + fn else None, "sensitivity_ci95": list(wilson_interval(tp, tp + fn)),
            "specificity": tn / (tn + fp) if tn + fp else None, "specificity_ci95": list(wilson_interval(tn, tn + fp)),
            "confusion_matrix": {"tp": tp, "fn": fn, "fp": fp, "tn": tn},
        }
        return self.test

    def to_dict(self) -> dict:
        return {
            "text": self.text, "join": self.join,
            "conditions": [{"input": c.input, "op": c.op, "value": c.value} for c in self.conditions],
            "found_on": {"n": self.n, "sensitivity": self.sensitivity, "specificity": self.specificity},
            "test": self.test,
        }


def _candidates(v: np.ndarray, max_thresholds: int) -> np.ndarray:
    """Candidate cut-offs of one input: between each pair of neighbouring observed values (at most
    ``max_thresholds``, evenly spaced by rank), each the shortest decimal strictly between its two neighbours.

    The printed rule is the evaluated rule: a midpoint such as 1050.3125 printed to 4 digits as "1050" read a
    patient at 1050 the other way round (5 of 300 patients of a 1000-1100 score classified differently).

    Examples
    --------
    >>> _candidates(np.array([1050.0, 1051.0, 1090.0, 1200.0]), 10).tolist()
    [1050.5, 1070.0, 1100.0]
    """
    u = np.unique(v[np.isfinite(v)])
    if len(u) < 2:
        return u
    mids = (u[:-1] + u[1:]) / 2.0
    if len(mids) > max_thresholds:
        # evenly spaced midpoints by rank (an interpolated quantile of the midpoints could land on a patient's
        # own value, who then met both "<=" and ">=")
        mids = mids[np.unique(np.round(np.linspace(0, len(mids) - 1, max_thresholds)).astype(int))]
    upper = np.searchsorted(u, mids, side="right")  # u[upper - 1] < t < u[upper]: every midpoint lies between
    return np.unique([_shortest_between(t, u[k - 1], u[k]) for t, k in zip(mids, upper)])


def _shortest_between(t: float, low: float, high: float) -> float:
    """The decimal of fewest significant digits, nearest ``t``, strictly between ``low`` and ``high``."""
    for digits in range(1, 18):
        d = float(f"{t:.{digits}g}")
        if low < d < high:
            return d
    return float(t)


def _masks(v: np.ndarray, thresholds: np.ndarray, op: str) -> np.ndarray:
    return (v[None, :] <= thresholds[:, None]) if op == "<=" else (v[None, :] >= thresholds[:, None])


def _score(tp, fp, n_pos, n_neg, min_sensitivity):
    sens, spec = tp / n_pos, 1.0 - fp / n_neg
    if min_sensitivity is None:
        return sens + spec - 1.0, sens, spec
    return np.where(sens >= min_sensitivity - 1e-12, spec, -np.inf), sens, spec


def extract_rule(
    X: pd.DataFrame,
    y: np.ndarray,
    inputs: str | list[str],
    max_conditions: int = 2,
    min_sensitivity: float | None = None,
    max_thresholds: int = 60,
    simplicity: float = 0.02,
    categories: dict[str, list[str]] | None = None,
) -> Rule:
    """Find the best AND/OR threshold rule on up to ``max_conditions`` of ``inputs``.

    Maximises Youden's J (or, with ``min_sensitivity``, the specificity among
    rules reaching that sensitivity). A rule with more conditions is preferred
    only if it beats the best simpler rule by more than ``simplicity`` in the
    criterion. Missing values never satisfy a condition. ``inputs``: column names of ``X`` (one name alone is
    taken as a list of one). ``categories`` (a text column's levels, ``Cohort.categories``) makes a condition on a
    one-hot input read ``grade is low`` / ``grade is not low``.

    Raises
    ------
    TypeError
        ``X`` is not a DataFrame.
    TargetClassesError
        ``y`` not coded 0/1 (1 = event), or of one class only.
    ValueError
        ``y`` of another length than ``X``, ``inputs`` empty, naming a column ``X`` does not have or none with a
        measured value, or no rule reaching ``min_sensitivity``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"a": [1, 2, 3, 4, 5, 6], "b": [0, 0, 1, 1, 0, 1]})
    >>> extract_rule(X, np.array([0, 0, 0, 1, 1, 1]), ["a"], max_conditions=1).text
    'a >= 3.5'
    >>> extract_rule(X, np.array([0, 0, 0, 1, 1, 1]), "a", max_conditions=1).text
    'a >= 3.5'
    """
    X = check_frame(X)
    y = check_outcome(y, len(X), both_classes="rule extraction")
    inputs = input_names(inputs, X)
    if not inputs:
        raise ValueError("inputs is empty; name at least one column of X for the rule")
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    pos, neg = (y == 1).astype(float), (y == 0).astype(float)
    grids = {c: _candidates(X[c].to_numpy(float), max_thresholds) for c in inputs}
    # an input that no patient has measured gives no cut-off (np.argmax of its empty scores raised): a condition on
    # it would hold for nobody, so it adds nothing to an OR and empties an AND — it is left out of the search
    measured = [c for c in inputs if len(grids[c])]
    if not measured:
        raise ValueError(f"inputs {inputs} have no measured value in X; choose inputs that some patients have")
    best_by_size: dict[int, tuple] = {}

    def consider(size, score, conds, join, sens, spec):
        if size not in best_by_size or score > best_by_size[size][0]:
            best_by_size[size] = (score, conds, join, sens, spec)

    for c in measured:
        v = X[c].to_numpy(float)
        for op in ("<=", ">="):
            m = _masks(v, grids[c], op).astype(float)
            score, sens, spec = _score(m @ pos, m @ neg, n_pos, n_neg, min_sensitivity)
            i = int(np.argmax(score))
            consider(1, score[i], [Condition(c, op, float(grids[c][i]))], "and", sens[i], spec[i])
    if max_conditions >= 2:
        for a, b in itertools.combinations(measured, 2):
            va, vb = X[a].to_numpy(float), X[b].to_numpy(float)
            for opa, opb in itertools.product(("<=", ">="), repeat=2):
                ma, mb = _masks(va, grids[a], opa).astype(float), _masks(vb, grids[b], opb).astype(float)
                tp_and, fp_and = (ma * pos) @ mb.T, (ma * neg) @ mb.T
                tpa, fpa, tpb, fpb = ma @ pos, ma @ neg, mb @ pos, mb @ neg
                for join, tp, fp in (
                    ("and", tp_and, fp_and),
                    ("or", tpa[:, None] + tpb[None, :] - tp_and, fpa[:, None] + fpb[None, :] - fp_and),
                ):
                    score, sens, spec = _score(tp, fp, n_pos, n_neg, min_sensitivity)
                    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
                    consider(2, score[i, j], [Condition(a, opa, float(grids[a][i])), Condition(b, opb, float(grids[b][j]))],
                             join, sens[i, j], spec[i, j])
    if max_conditions >= 3 and len(measured) >= 3:
        for trio in itertools.combinations(measured, 3):
            small = {c: _candidates(X[c].to_numpy(float), 15) for c in trio}
            for ops in itertools.product(("<=", ">="), repeat=3):
                ms = [_masks(X[c].to_numpy(float), small[c], op).astype(float) for c, op in zip(trio, ops)]
                for k in range(len(small[trio[2]])):
                    mc = ms[2][k]
                    tp = (ms[0] * pos * mc) @ ms[1].T
                    fp = (ms[0] * neg * mc) @ ms[1].T
                    score, sens, spec = _score(tp, fp, n_pos, n_neg, min_sensitivity)
                    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
                    consider(3, score[i, j], [Condition(trio[0], ops[0], float(small[trio[0]][i])),
                                              Condition(trio[1], ops[1], float(small[trio[1]][j])),
                                              Condition(trio[2], ops[2], float(small[trio[2]][k]))],
                             "and", sens[i, j], spec[i, j])
    chosen = best_by_size[1]
    for size in sorted(best_by_size)[1:]:
        if best_by_size[size][0] > chosen[0] + simplicity:
            chosen = best_by_size[size]
    score, conds, join, sens, spec = chosen
    if not np.isfinite(score):
        raise ValueError(f"no rule on {inputs} reaches sensitivity {min_sensitivity}")
    # one-hot inputs of a text column (categories: column -> its levels, as Cohort.categories holds them)
    levels = {f"{column}={level}": (column, str(level)) for column, found in (categories or {}).items()
              for level in found}
    conds = [Condition(c.input, c.op, c.value, levels.get(c.input)) for c in conds]
    return Rule(conds, join, float(sens), float(spec), len(y))
