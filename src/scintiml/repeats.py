"""Chance agreement between patients' rows: how many pairs of different patients agree in every column by chance.

Shared by the study's check of repeated rows (:func:`scintiml.cohort._repeated_rows`) and the external validation's
(:func:`scintiml.external.validate.repeated_rows`, :func:`scintiml.external.validate.development_overlap`), so that
both warn on the same chance model: the columns of fewest values taken together, the others as independent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Warn of repeated rows when chance explains this few at most: the probability of seeing as many repeats as the
#: table holds, if every patient were drawn independently, is below this.
REPEATED_ROW_P = 0.001
#: Columns checked as possible determiners of a later column in :func:`chance_pairs` (a bound on its cost).
MAX_DETERMINING = 200
#: Rows compared in all the dependence checks of one table (about a second); past it columns count as independent.
MAX_DEPENDENCE_CELLS = 20_000_000


def _row_codes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each column as integer codes of its values (missing as one code of its own), and where cells are missing.

    Examples
    --------
    >>> codes, absent = _row_codes(pd.DataFrame({"a": [2.0, np.nan, 2.0, 1.0], "b": [5, 5, 7, 5]}))  # numbers
    >>> codes.T.tolist(), absent.sum(axis=0).tolist()
    ([[1, 2, 1, 0], [0, 0, 1, 0]], [1, 0])
    >>> _row_codes(pd.DataFrame({"a": [2.0, np.nan, 2.0], "b": ["x", None, "1"]}))[0].T.tolist()  # text: as written
    [[0, 1, 0], [0, 1, 2]]
    """
    n, m = frame.shape
    if not m:
        return np.zeros((n, 0), np.int64), np.zeros((n, 0), bool)
    absent = frame.isna().to_numpy()
    if not all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes):
        # text (or mixed) columns: a value's own equality, as pandas compares it ("1" is not 1.0)
        codes = np.column_stack([pd.factorize(frame.iloc[:, j], use_na_sentinel=False)[0] for j in range(m)])
        return codes.astype(np.int64), absent
    # numbers: codes from one sort of the whole matrix (rank among the column's distinct values, missing last as a
    # value of its own) — a factorize per column over 20,000 radiomic columns took about a second
    values = frame.to_numpy(dtype=float, na_value=np.nan)
    order = np.argsort(values, axis=0, kind="stable")
    ranked = np.take_along_axis(values, order, axis=0)
    new = np.ones(ranked.shape, bool)
    # != rather than a difference: inf - inf is NaN; two missing cells are one value
    new[1:] = (ranked[1:] != ranked[:-1]) & ~(np.isnan(ranked[1:]) & np.isnan(ranked[:-1]))
    codes = np.empty(values.shape, np.int64)
    np.put_along_axis(codes, order, np.cumsum(new, axis=0) - 1, axis=0)
    return codes, absent


def _row_keys(matrix: np.ndarray) -> np.ndarray:
    """Which rows of ``matrix`` are equal in every column: a number per row, from 0 (rows compared as bytes, one
    sort; ``np.unique(axis=0)`` over 300 columns of 60,000 rows took seconds, ``DataFrame.duplicated`` over 20,000
    columns four)."""
    n = len(matrix)
    if not matrix.size:
        return np.zeros(n, np.int64)
    data = np.ascontiguousarray(matrix)
    rows = data.view(np.dtype((np.void, data.dtype.itemsize * data.shape[1]))).ravel()
    return np.unique(rows, return_inverse=True)[1].reshape(n).astype(np.int64)


def _repeats(codes: np.ndarray) -> np.ndarray:
    """Which rows repeat an earlier row in every column (as ``DataFrame.duplicated``, the first one kept).

    Examples
    --------
    >>> _repeats(np.array([[1, 2], [1, 3], [1, 2], [1, 3], [0, 0]])).tolist()
    [False, False, True, True, False]
    """
    key = _row_keys(codes)
    first = np.full(int(key.max()) + 1 if len(key) else 0, len(key))
    np.minimum.at(first, key, np.arange(len(key)))
    return first[key] != np.arange(len(key))


def _groups(columns: list[np.ndarray], n: int) -> np.ndarray:
    """Which rows hold the same values in every one of ``columns``: a group number per row, from 0 (a column at a
    time, for the few coarse columns)."""
    key = np.zeros(n, np.int64)
    for column in columns:
        key = pd.factorize(key * (int(column.max()) + 1 if len(column) else 1) + column.astype(np.int64))[0]
    return key


def chance_pairs(codes: np.ndarray, absent: np.ndarray, first: np.ndarray | None = None) -> tuple[float, bool]:
    """How many pairs of different patients agree in every column by chance (:func:`_chance`), and whether the count
    stopped early: then chance explains at most that many (each further column could only lower it)."""
    n, m = codes.shape
    side_a = np.ones(n, bool) if first is None else np.asarray(first, bool)
    side_b = side_a if first is None else ~side_a
    levels = codes.max(axis=0) + 1
    distinct = np.flatnonzero(~_repeats(codes))  # each distinct row once
    block: list[int] = []
    implied: list[int] = []
    for j in np.argsort(levels, kind="stable"):
        own = codes[distinct, j]
        values = np.unique(own).size
        # a coarse column that is a function of this one (flags "grade > 0" and "grade >= 2" beside the grade) adds
        # nothing once this one is in: without dropping it the grade fell outside the block, counted as independent
        # of its own flags, and 139 rows of 250 different patients were called copies (judged on the distinct rows, only
        # where this column's values repeat in 10 of them, as below)
        functions = [b for b in block if len(distinct) - values >= 10
                     and np.unique(own * int(levels[b]) + codes[distinct, b]).size == values]
        trial = [b for b in block if b not in functions] + [int(j)]
        if np.prod(levels[trial].astype(float)) > n:
            break
        block, implied = trial, implied + functions
    in_block = np.zeros(m, bool)
    in_block[block + implied] = True  # an implied column is neither in the block nor independent: it adds nothing
    rest = np.flatnonzero(~in_block)
    # the missingness pattern of the other columns, as one more column of the block (one key for all of them: a
    # column at a time over 20,000 radiomic columns took a second)
    pattern = _row_keys(np.packbits(absent[:, rest], axis=1))
    key = _groups([codes[:, j] for j in block] + [pattern], n)
    first_row = np.unique(key, return_index=True)[1]
    count_a = np.bincount(key[side_a], minlength=len(first_row)).astype(float)
    # pairs of two different patients per combination: c (c - 1) / 2 within a table, c_a c_b between two
    pairs = count_a * (count_a - 1) / 2 if first is None \
        else count_a * np.bincount(key[side_b], minlength=len(first_row))
    seen = ~absent[first_row][:, rest]  # per combination: which other columns hold a value
    log_q = np.zeros(len(first_row))
    determining: list[tuple[np.ndarray, int]] = []
    budget = MAX_DEPENDENCE_CELLS  # rows compared in dependence checks: a bound on the time this may take
    with np.errstate(divide="ignore"):
        for i in np.argsort(-levels[rest], kind="stable"):
            j = rest[i]
            own, size = codes[distinct, j], int(levels[j])
            checks = determining[:max(0, min(MAX_DETERMINING, budget // len(distinct)))]
            budget -= len(checks) * len(distinct)
            # a function of a column already counted (a flag "grade >= 2" beside the grade, creatinine in two
            # units) adds no chance: judged on the distinct rows, since the copies themselves make every column a
            # function of any measured one
            if any(np.unique(d * size + own).size == nd for d, nd in checks):
                continue
            held = ~absent[:, j]
            a, b = codes[side_a & held, j], codes[side_b & held, j]
            if len(a) and len(b):
                agree = np.sum(np.bincount(a, minlength=size) / len(a) * np.bincount(b, minlength=size) / len(b))
                log_q += np.where(seen[:, i], np.log(agree), 0.0)
            values = np.unique(own).size
            # only a column whose values repeat in 10 distinct rows determines: one of all-distinct values
            # "determines" any other trivially, and with 10 repeats one agreeing by chance is unlikely
            if len(distinct) - values >= 10:
                determining.append((own, values))
            if np.sum(pairs * np.exp(log_q)) < REPEATED_ROW_P / 10:
                # chance explains (almost) no repeat already: 20,000 radiomic columns need not all count
                return float(np.sum(pairs * np.exp(log_q))), True
    return float(np.sum(pairs * np.exp(log_q))), False


def _chance(codes: np.ndarray, absent: np.ndarray, first: np.ndarray | None = None) -> float:
    """How many pairs of different patients agree in every column by chance: within one table (``first`` None) or
    between the rows ``first`` marks and the others (a site's patients against the reference). ``codes`` and
    ``absent`` from :func:`_row_codes`.

    The columns of fewest values (yes/no flags, a grade, the outcome) are taken together, by the shares of their
    combinations, while there are no more combinations than rows, and with them which of the other columns are
    missing. Only those other columns count as independent (of those and of each other), each by its share of
    agreeing pairs among the patients with a value; one that is a function of a column already counted (creatinine
    in two units) is left out. Every column taken as independent had understated chance many times over where
    coarse columns go together (chest pain, slope, thallium scan and the disease): 49 of 303 Cleveland patients
    "repeated an earlier row" in age, sex, chest pain, slope, thal and the outcome, and 35 of them "matched a
    patient" of the Swiss table — all of them different patients. The count stops once chance explains far less
    than one pair (each further column can only lower it).

    Examples
    --------
    >>> flags = np.array([[0, 0], [1, 1], [0, 0], [1, 1]])  # two flags that always agree: half the pairs do
    >>> _chance(flags, np.zeros(flags.shape, bool))  # of 6 pairs, 2 agree (independent flags: 1.5)
    2.0
    """
    return chance_pairs(codes, absent, first)[0]


def _beyond_chance(found: int, expected: float) -> bool:
    """Whether ``found`` repeats (or matches) are more than ``expected`` by chance (:func:`_chance`) explain: a
    Poisson tail below :data:`REPEATED_ROW_P`.

    Examples
    --------
    >>> _beyond_chance(3, 2.0), _beyond_chance(30, 2.0), _beyond_chance(0, 0.0)
    (False, True, False)
    """
    from scipy import stats

    return found > 0 and bool(stats.poisson.sf(found - 1, expected) < REPEATED_ROW_P)


def repeats_beyond_chance(inputs: pd.DataFrame, y) -> tuple[pd.Index, float, bool] | None:
    """The rows of ``inputs`` (with the outcome ``y``) that repeat an earlier row in every column, where more of them
    do than chance explains: ``(their positions, the pairs chance explains, whether that count stopped early)``, or
    ``None``. Rows missing every input are left out (they agree trivially). The study's and the external
    validation's checks of repeated rows both ask this, each in its own words.

    Examples
    --------
    >>> rng = np.random.RandomState(0)
    >>> once = pd.DataFrame({"chol": rng.normal(230, 40, 20).round(), "age": rng.randint(40, 80, 20)})
    >>> found = repeats_beyond_chance(pd.concat([once, once]), np.r_[[0, 1] * 10, [0, 1] * 10])
    >>> len(found[0]), list(found[0][:3])  # the second copy of each row
    (20, [20, 21, 22])
    >>> repeats_beyond_chance(once, [0, 1] * 10) is None
    True
    """
    if inputs.shape[1] == 0 or len(inputs) < 2:
        return None
    plain = inputs.reset_index(drop=True)
    rows = pd.concat([plain, pd.Series(np.asarray(y), name="__outcome__")], axis=1)
    rows = rows[~plain.isna().all(axis=1).to_numpy()]
    codes, absent = _row_codes(rows)
    # repeats found on the codes (one sort of the rows as bytes): DataFrame.duplicated over 20,000 radiomic columns
    # took four seconds
    repeated = _repeats(codes)
    if not repeated.any():
        return None
    expected, stopped = chance_pairs(codes, absent)
    if not _beyond_chance(int(repeated.sum()), expected):
        return None
    return rows.index[repeated], expected, stopped
