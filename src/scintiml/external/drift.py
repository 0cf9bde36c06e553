"""What moved between the training patients and a new batch: the tabular drift guard.

Per input: standardised mean difference (SMD; |SMD| ≥ 0.1 is the usual mark of a meaningful imbalance,
Austin 2009, Stat Med 28:3083) with its standard error for this batch size, the Kolmogorov-Smirnov test, the share
of values outside the training range, and the change in the share of missing values. The training side is the
bundle's training summary (:func:`scintiml.bundle.tabular.training_summary` plus the training range: no
patient-level data leave the training site); when the training patients themselves are at hand,
:func:`input_shift` uses them (two-sample KS) and :func:`membership_auc` asks how well a model can tell the
two sites apart.

An input is reported *shifted* only when the difference is both meaningful (the SMD, outside-range and missing
thresholds below) and larger than sampling noise explains for a batch of this size drawn from the training
patients' own population: each of the three checks of every input is a test of that hypothesis, Bonferroni-
corrected over all the checks of the batch (Dunn 1961, J Am Stat Assoc 56:52), so a batch from the training
population reports any input shifted with a chance of at most about :data:`ALPHA` (5 %). A small batch therefore
needs a larger difference to be reported: against 200 training patients and 3 to 13 inputs, a mean must move by
about 1.3-1.5 training SDs in a batch of 5, 0.45-0.5 in a batch of 48 and 0.35-0.4 in a batch of 100; smaller moves
are not reported, however real. An input whose share beyond the training range or of missing values rises sharply
is reported on the same terms. The mean's test takes the batch mean as normal: for batches of fewer than about 10
patients with strongly skewed inputs (creatinine kinase, creatinine) the false-alarm rate can exceed 5 %: with the
heart-failure table (299 x 11) as the training patients, batches of 2, 3, 4 and 5 of its patients had an input
reported shifted in 9.5, 8.7, 6.0 and 4.8 % (400 batches per size drawn without replacement, numpy seed 0,
:func:`batch_drift`; measured 2026-11-27).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from ..errors import ScintimlError
from ..evaluate import auc_ci
from ..io import jsonable

__all__ = ["input_shift", "membership_auc", "ks_against_summary", "batch_drift", "SMD_FLAG", "OUTSIDE_FLAG",
           "MISSING_FLAG", "ALPHA"]

#: |SMD| at or above which a difference counts as meaningful (Austin 2009); it is reported only when it also
#: exceeds the batch's sampling noise (see :data:`ALPHA`).
SMD_FLAG = 0.1
#: Share of a batch outside the training range above which that counts as meaningful. A few patients beyond the
#: training extremes are expected even from the same population (the range is the training split's); 5 % is not —
#: unless the batch is so small that one patient is 5 %, hence the test against sampling noise as well.
OUTSIDE_FLAG = 0.05
#: Rise of the missing share (in share points) from which it counts as meaningful.
MISSING_FLAG = 0.10
#: Family-wise false-alarm rate of a batch: the chance that a batch drawn from the training patients' population
#: has any input reported shifted is at most about this (Bonferroni over every check of every input).
ALPHA = 0.05


def _stat(summary: Mapping[str, Any], *names: str):
    for name in names:
        if name in summary and summary[name] is not None:
            return summary[name]
    return None


def _training_n(summary: Mapping[str, Any]) -> float:
    """Training patients with a value of the input (the summary's ``n``); infinity when the summary does not
    record it (hand-made summaries): the training figures are then taken as exact."""
    n = _stat(summary, "n")
    try:
        n = float(n)
    except (TypeError, ValueError):
        return float("inf")
    return n if np.isfinite(n) and n >= 2 else float("inf")


def _mean_p_value(diff: float, sd_t: float, n: int, n_train: float) -> tuple[float, float]:
    """Standard error of the mean difference (in training SDs) and its two-sided p-value under the hypothesis
    that the batch comes from the training population: ``z = diff / (sd_t * sqrt(1/n + 1/n_train))``."""
    se = float(sd_t) * np.sqrt(1.0 / n + 1.0 / n_train)
    if se > 0:
        return se, float(2 * stats.norm.sf(abs(diff) / se))
    return se, 0.0 if diff != 0 else 1.0


def _outside_p_value(k: int, n: int, n_train: float) -> float:
    """P(k or more of n new values beyond the range of n_train training values) for a batch from the same
    population: the range of N values leaves a Beta(2, N - 1) share of a continuous population outside (the order
    statistics behind Wilks' tolerance limits, Wilks 1941, Ann Math Stat 12:91), so the count is beta-binomial.
    Values tied at the training extremes (coded inputs) fall outside less often: then the test is conservative."""
    if k <= 0:
        return 1.0
    if not np.isfinite(n_train):  # the range of an unknown, large training set: (almost) nothing falls outside
        return 0.0
    return float(stats.betabinom.sf(k - 1, n, 2, n_train - 1))


def _missing_p_value(k: int, n: int, share_t: float, n_train: float) -> float:
    """One-sided p-value that k or more of n batch values are missing when the training share is ``share_t``:
    Fisher's exact test of the 2 x 2 table (batch / training x missing / present), or the binomial tail where the
    training n is not recorded."""
    if k <= 0:
        return 1.0
    if np.isfinite(n_train) and share_t < 1:
        total = int(round(n_train / (1 - share_t)))
        missing_t = max(total - int(round(n_train)), 0)
        return float(stats.fisher_exact([[k, n - k], [missing_t, int(round(n_train))]], alternative="greater")[1])
    return float(stats.binom.sf(k - 1, n, min(max(share_t, 0.0), 1.0)))


def ks_against_summary(x: np.ndarray, summary: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """Kolmogorov-Smirnov distance of new values from the training distribution a bundle stores.

    A bundle keeps a few training quantiles (and the range), not the patients, so the distance is taken at those
    points, where the training CDF is known: ``D = max_k |F_new(q_k) - level_k|`` over the stored quantiles whose
    value is not shared with another level (a shared value is a point mass of a 0/1 or coded input, where the CDF
    is not known; an input made only of such points gets no KS test — its SMD still applies). Where the new values
    tie at a stored quantile (many patients with the same value), only how far the new CDF lies outside
    ``[F_new(q-), F_new(q)]`` around the level counts, since the training CDF jumps there too. ``D`` is a lower
    bound of the full KS distance, so its p-value (Kolmogorov's distribution for n new values,
    ``scipy.stats.kstwo``) errs on the side of not raising an alarm.

    Returns
    -------
    (statistic, p_value), or (None, None) when no usable point is stored.

    Examples
    --------
    >>> import numpy as np
    >>> summary = {"quantiles": {"0.25": -0.674, "0.5": 0.0, "0.75": 0.674}}
    >>> d, p = ks_against_summary(np.random.RandomState(0).normal(1.0, 1.0, 200), summary)
    >>> round(d, 2), p < 1e-6
    (0.36, True)

    A coarse input whose training median is 1.0, shared by a fifth of the patients: the same values again are
    no shift, although F_new(1.0) = 0.6 is far from the level 0.5.

    >>> same = np.repeat([0.8, 1.0, 1.3], [40, 20, 40])
    >>> ks_against_summary(same, {"quantiles": {"0.25": 0.8, "0.5": 1.0, "0.75": 1.3}})[0]
    0.0
    """
    stored = [(float(level), float(value)) for level, value in (summary.get("quantiles") or {}).items()
              if value is not None]
    if summary.get("min") is not None:
        stored.append((0.0, float(summary["min"])))
    if summary.get("max") is not None:
        stored.append((1.0, float(summary["max"])))
    values = np.array([v for _, v in stored])
    unique = [(level, value) for level, value in stored if np.sum(values == value) == 1]
    x = np.sort(np.asarray(x, float))
    if not unique or x.size == 0:
        return None, None
    # At a stored quantile q the training CDF is only known to satisfy F(q-) <= level <= F(q): a value many
    # patients share (a creatinine of 1.0) has a jump there. So the distance counted at q is how far the new CDF
    # lies outside that: below the level at q, or above it just before q. For untied values this is |F_new - level|.
    distance = max(max(level - np.searchsorted(x, value, side="right") / x.size,
                       np.searchsorted(x, value, side="left") / x.size - level, 0.0) for level, value in unique)
    return float(distance), float(stats.kstwo.sf(distance, x.size))


def input_shift(
    summary: Mapping[str, Mapping[str, Any]],
    X: pd.DataFrame,
    reference: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per-input shift of a new batch ``X`` against the training patients.

    Parameters
    ----------
    summary : mapping
        Per input: ``mean``, ``sd``, ``missing_share``, ``quantiles`` (level → value) and optionally ``min`` and
        ``max`` — :func:`scintiml.bundle.tabular.training_summary` of the training patients, as a bundle stores it.
    X : DataFrame
        The new patients (raw: missing values as NaN, before any imputation). Inputs absent from ``X`` count as
        entirely missing.
    reference : DataFrame, optional
        The training patients themselves; when given, the KS test is the exact two-sample test.

    Returns
    -------
    DataFrame
        One row per input: ``input``, ``n``, ``mean_training``, ``mean_new``, ``smd``, ``smd_se``,
        ``ks_statistic``, ``ks_p_value``, ``outside_range_share``, ``missing_share_training``,
        ``missing_share_new``, ``missing_change``, ``shifted``.

        ``smd_se`` is the SMD's standard error for a batch of ``n`` drawn from the training population
        (``sd_training * sqrt(1/n + 1/n_training) / pooled SD``; ``n_training`` is the summary's ``n``, taken as
        infinite where the summary does not record it). ``shifted`` is true when any of three checks is both
        meaningful and beyond sampling noise at level :data:`ALPHA` / m, m the number of checks made on the batch
        (Bonferroni):

        * the mean: |SMD| ≥ :data:`SMD_FLAG` and |SMD| > z(1 - ALPHA / 2m) · ``smd_se`` (a z test of the mean
          difference with the training SD);
        * the range: more than :data:`OUTSIDE_FLAG` of the values outside the training range, and more of them
          than a batch from the training population leaves outside (beta-binomial tail, see Wilks 1941);
        * missing values: the missing share up by :data:`MISSING_FLAG` (10 points) or more, and more missing
          values than the training share explains (one-sided Fisher exact test).

        The KS test is reported but not part of ``shifted``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.RandomState(0)
    >>> train = pd.DataFrame({"age": rng.normal(60, 10, 500), "dose": rng.normal(5, 1, 500)})
    >>> new = pd.DataFrame({"age": rng.normal(70, 10, 300), "dose": rng.normal(5, 1, 300)})
    >>> from scintiml.bundle.tabular import training_summary
    >>> table = input_shift(training_summary(train), new)
    >>> table.set_index("input")["shifted"].to_dict()
    {'age': True, 'dose': False}

    Forty patients of the training population: an SMD of 0.14 lies within its noise (SE 0.16), so nothing is
    reported (|SMD| ≥ 0.1 alone would report ``dose``):

    >>> same = pd.DataFrame({"age": rng.normal(60, 10, 40), "dose": rng.normal(5, 1, 40)})
    >>> input_shift(training_summary(train), same)[["input", "smd", "smd_se", "shifted"]].round(2)
      input   smd  smd_se  shifted
    0   age -0.06    0.17    False
    1  dose  0.14    0.16    False
    """
    # a one-hot input ("grade=D") is no column of the raw table: rebuild it as the model does, or every batch
    # (the training table itself too) read as "missing 0 % -> 100 %"
    X = with_encoded_inputs(X, list(summary))
    reference = with_encoded_inputs(reference, list(summary)) if reference is not None else None
    rows, checks = [], []  # checks: (row index, kind, meaningful, p-value), for the Bonferroni correction
    from ..cohort import column_name

    for name, s in summary.items():
        key = name if name in X.columns else column_name(name)  # a summary written before names were read as NFC
        present_col = key in X.columns
        values = pd.to_numeric(X[key], errors="coerce").to_numpy(float) if present_col else np.full(len(X), np.nan)
        x = values[np.isfinite(values)]
        mean_t, sd_t = _stat(s, "mean"), _stat(s, "sd", "std")
        lo, hi = _stat(s, "min"), _stat(s, "max")
        miss_t = float(_stat(s, "missing_share", "missing_fraction") or 0.0)
        miss_n = float(1 - x.size / len(values)) if len(values) else float("nan")
        n_train = _training_n(s)
        row = {"input": name, "n": int(x.size), "mean_training": mean_t,
               "mean_new": float(x.mean()) if x.size else None, "smd": None, "smd_se": None, "ks_statistic": None,
               "ks_p_value": None, "outside_range_share": None, "missing_share_training": miss_t,
               "missing_share_new": miss_n, "missing_change": miss_n - miss_t}
        i = len(rows)
        if x.size and mean_t is not None and sd_t is not None:
            sd_n = float(x.std(ddof=1)) if x.size > 1 else 0.0
            pooled = np.sqrt((float(sd_t) ** 2 + sd_n ** 2) / 2)
            diff = float(x.mean() - float(mean_t))
            row["smd"] = diff / pooled if pooled > 0 else (0.0 if diff == 0 else float("inf"))
            # the test: is the batch mean further from the training mean than a batch of this size from the
            # training population strays? Under that hypothesis its SD is the training SD, whatever the batch's
            se, p = _mean_p_value(diff, float(sd_t), x.size, n_train)
            row["smd_se"] = float(se / pooled) if pooled > 0 else 0.0
            checks.append((i, "smd", abs(row["smd"]) >= SMD_FLAG, p))
        if x.size and lo is not None and hi is not None:
            outside = int(np.sum((x < float(lo)) | (x > float(hi))))
            row["outside_range_share"] = outside / x.size
            checks.append((i, "outside", row["outside_range_share"] > OUTSIDE_FLAG,
                           _outside_p_value(outside, x.size, n_train)))
        if len(values):
            checks.append((i, "missing", row["missing_change"] >= MISSING_FLAG,
                           _missing_p_value(len(values) - x.size, len(values), miss_t, n_train)))
        if x.size:
            if reference is not None and name in reference.columns:
                ref = pd.to_numeric(reference[name], errors="coerce").dropna().to_numpy(float)
                if ref.size:
                    result = stats.ks_2samp(x, ref)
                    row["ks_statistic"], row["ks_p_value"] = float(result.statistic), float(result.pvalue)
            else:
                row["ks_statistic"], row["ks_p_value"] = ks_against_summary(x, s)
        row["shifted"] = False
        rows.append(row)
    level = ALPHA / max(len(checks), 1)  # Bonferroni over every check of the batch
    for i, _, meaningful, p in checks:
        if meaningful and p < level:
            rows[i]["shifted"] = True
    return pd.DataFrame(rows)


def with_encoded_inputs(frame: pd.DataFrame, inputs: Sequence[str]) -> pd.DataFrame:
    """``frame`` plus the one-hot columns ``"col=level"`` among ``inputs`` that it lacks but can be rebuilt from
    (:func:`scintiml.cohort.model_inputs`, missing stays missing); the frame itself when there are none.

    Examples
    --------
    >>> with_encoded_inputs(pd.DataFrame({"grade": ["A", "D", None]}), ["grade=D"])["grade=D"].tolist()
    [0.0, 1.0, nan]
    """
    from ..cohort import model_inputs, one_hot_source

    names = [n for n in inputs if n not in frame.columns and one_hot_source(n, frame.columns) is not None]
    if not names:
        return frame
    try:
        encoded = model_inputs(frame, names)
    except ScintimlError:  # the column cannot be read as the model reads it: left absent (counted as missing)
        return frame
    return pd.concat([frame, encoded.set_axis(frame.index)], axis=1)


def membership_auc(reference: pd.DataFrame, X: pd.DataFrame, inputs=None, n_splits: int = 5,
                   random_state=0) -> dict[str, Any]:
    """How well a model tells the training site's patients from the new site's (cross-validated AUC).

    A logistic regression (median imputation, standardised inputs, missingness indicators) is fitted to
    predict *which site a patient comes from*; its out-of-fold AUC is ≈ 0.5 when the two case mixes are
    indistinguishable and near 1 when they hardly overlap (Debray et al. 2015, J Clin Epidemiol 68:279, "A new
    framework to enhance the interpretation of external validation studies").

    Parameters
    ----------
    reference, X : DataFrame
        Training-site and new-site patients.
    inputs : list of str, optional
        Columns to use (default: the columns both have).
    n_splits : int
    random_state : int, RandomState or None

    Returns
    -------
    dict
        ``auc``, ``auc_ci95`` (DeLong, on the pooled out-of-fold probabilities), ``n_reference``, ``n_new``,
        ``inputs``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.RandomState(0)
    >>> a = pd.DataFrame({"age": rng.normal(60, 10, 200)})
    >>> same = membership_auc(a, pd.DataFrame({"age": rng.normal(60, 10, 200)}))
    >>> other = membership_auc(a, pd.DataFrame({"age": rng.normal(75, 10, 200)}))
    >>> same["auc"] < 0.6 < 0.8 < other["auc"]
    True
    """
    rng = check_random_state(random_state)
    inputs = list(inputs) if inputs is not None else [c for c in reference.columns if c in X.columns]
    both = pd.concat([reference.reindex(columns=inputs), X.reindex(columns=inputs)], ignore_index=True)
    both = both.apply(pd.to_numeric, errors="coerce")
    both = both.loc[:, both.notna().any()]
    site = np.r_[np.zeros(len(reference), int), np.ones(len(X), int)]
    model = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(),
                          LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=rng.randint(2 ** 31 - 1))
    p = cross_val_predict(model, both.to_numpy(float), site, cv=folds, method="predict_proba")[:, 1]
    result = auc_ci(site, p)
    return jsonable({"auc": result.auc, "auc_ci95": list(result.ci), "n_reference": len(reference), "n_new": len(X),
                     "inputs": list(both.columns), "model": "logistic regression, median imputation + missing "
                     f"indicators, {n_splits}-fold out-of-fold probabilities"})


def batch_drift(bundle, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, list[str]]:
    """The drift guard of ``predict``: a new batch against the training summary a tabular bundle records.

    Parameters
    ----------
    bundle : scintiml.bundle.Bundle
    frame : DataFrame
        The batch of new patients (raw: missing values as NaN).

    Returns
    -------
    table : DataFrame or None
        :func:`input_shift` for the model's inputs (None when the bundle records no training summary or the
        batch has fewer than 2 patients).
    warnings : list of str
        One line per input :func:`input_shift` reports shifted — a difference both meaningful and beyond what
        sampling noise explains for a batch of this size (Bonferroni over the inputs' checks, family-wise
        :data:`ALPHA`) — saying what moved. A batch from the training population raises a line with a chance of
        at most about :data:`ALPHA`; a small batch raises one only for a large difference.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from types import SimpleNamespace
    >>> from scintiml.bundle.tabular import training_summary
    >>> rng = np.random.RandomState(0)
    >>> train = pd.DataFrame({"age": rng.normal(60, 10, 300)})
    >>> spec = {"training_summary": training_summary(train), "training_ranges": {"age": [20.0, 95.0]}}
    >>> table, lines = batch_drift(SimpleNamespace(spec=spec, inputs=["age"]), pd.DataFrame({"age": [80.0, 85, 90, 99]}))
    >>> lines[0].startswith("input 'age' differs from the training patients: SMD +")
    True
    """
    from .validate import bundle_training_summary

    summary = bundle_training_summary(bundle)
    if summary is None or len(frame) < 2:
        return None, []
    table = input_shift({c: summary[c] for c in bundle.inputs if c in summary}, frame)
    lines = []
    for row in table[table["shifted"]].to_dict(orient="records"):
        parts = []
        if row["smd"] is not None and np.isfinite(row["smd"]):
            parts.append(f"SMD {row['smd']:+.2f}")
        if row["ks_p_value"] is not None and np.isfinite(row["ks_p_value"]):
            parts.append(f"KS p = {row['ks_p_value']:.2g}")
        share = row["outside_range_share"]  # NaN in the table where no value was present
        if share is not None and np.isfinite(share) and share > 0:
            parts.append(f"{100 * share:.0f} % outside the training range")
        if row["missing_change"] >= 0.10:
            parts.append(f"missing {100 * row['missing_share_training']:.0f} % → {100 * row['missing_share_new']:.0f} %")
        lines.append(f"input {row['input']!r} differs from the training patients: {', '.join(parts)}")
    return table, lines
