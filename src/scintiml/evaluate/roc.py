"""ROC curve, AUC with confidence intervals, and the paired comparison of two AUCs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.stats import rankdata
from sklearn.metrics import roc_curve as _sk_roc_curve
from sklearn.utils import check_random_state


def check_binary_scores(y_true, y_score, name: str = "y_score") -> tuple[np.ndarray, np.ndarray]:
    """Validate a 0/1 outcome and finite scores of the same length."""
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=float)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"y_true and {name} must be 1-D, got shapes {y.shape} and {s.shape}")
    if len(y) != len(s):
        raise ValueError(f"y_true and {name} have different lengths ({len(y)} and {len(s)})")
    if np.isnan(s).any():
        raise ValueError(f"{name} holds {int(np.isnan(s).sum())} NaN value(s); every patient needs a score")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1, True, False}:
        raise ValueError(f"y_true must be 0/1 (1 = event), got values {sorted(values)[:5]}")
    y = y.astype(int)
    if y.min() == y.max():
        raise ValueError(
            f"y_true holds only one class ({'events' if y[0] == 1 else 'non-events'}); an ROC analysis needs both"
        )
    return y, s


def _midrank_components(y: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's structural components V10 (positives) and V01 (negatives).

    Uses the midrank formulation of Sun & Xu (2014): with ``R`` the midranks
    in the pooled sample, ``R_pos`` within positives and ``R_neg`` within negatives,
    ``V10_i = (R_i - R_pos_i) / n_neg`` and ``V01_j = 1 - (R_j - R_neg_j) / n_pos``.
    Ties count one half, so the AUC equals the Mann-Whitney estimate.
    """
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    pooled = rankdata(np.concatenate([pos, neg]))
    v10 = (pooled[:m] - rankdata(pos)) / n
    v01 = 1.0 - (pooled[m:] - rankdata(neg)) / m
    auc = float(v10.mean())
    return auc, v10, v01


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve (Mann-Whitney estimate, ties count one half)."""
    y, s = check_binary_scores(y_true, y_score)
    return _midrank_components(y, s)[0]


def delong_se(y_true, y_score) -> float:
    """Standard error of the AUC by DeLong, DeLong & Clarke-Pearson (1988).

    ``Var(AUC) = S10 / n_pos + S01 / n_neg`` where ``S10`` and ``S01`` are the
    sample variances (denominator n - 1) of the structural components.
    """
    y, s = check_binary_scores(y_true, y_score)
    _, v10, v01 = _midrank_components(y, s)
    return float(np.sqrt(v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01)))


@dataclass
class AUCResult:
    auc: float
    se: float
    ci: tuple[float, float]
    method: str
    level: float = 0.95

    def to_dict(self) -> dict:
        return {"auc": self.auc, "se": self.se, "ci": list(self.ci), "method": self.method, "level": self.level}


def auc_ci(
    y_true,
    y_score,
    method: str = "delong",
    level: float = 0.95,
    n_bootstrap: int = 2000,
    random_state=None,
) -> AUCResult:
    """AUC with a confidence interval.

    ``delong``: AUC ± z·SE with DeLong's SE, clipped to [0, 1] (as pROC); where every event is ranked above every
    non-event (AUC 1, or 0) DeLong's SE is 0, and the interval is instead the exact binomial one of k = min(events,
    non-events) pairs all won, [0.025^(1/k), 1] at 95 % (conservative; pROC reports [1, 1]).
    ``bootstrap``: percentile interval of the AUC over stratified bootstrap
    resamples (positives and negatives resampled separately, as pROC's
    ``ci.auc(method="bootstrap")``); the SE is the resamples' standard deviation. Under perfect separation every
    resample is separated too, so both methods give the exact binomial interval there.

    Examples
    --------
    Four patients; one of the four event/non-event pairs is ranked the wrong way:

    >>> result = auc_ci([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> result.auc, round(result.se, 4), [round(float(x), 3) for x in result.ci]
    (0.75, 0.3536, [0.057, 1.0])

    Every event scored above every non-event: DeLong's interval would be [1, 1]; the exact binomial bound on
    min(3, 3) = 3 disjoint pairs is 0.025 ** (1 / 3):

    >>> result = auc_ci([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    >>> result.auc, round(result.ci[0], 4), result.ci[1], result.method
    (1.0, 0.2924, 1.0, 'exact binomial (perfect separation)')

    With one event DeLong's interval is undefined, and says so (it is not [0, 1]):

    >>> auc_ci([0, 0, 0, 1], [0.1, 0.4, 0.35, 0.8]).ci
    (nan, nan)
    """
    y, s = check_binary_scores(y_true, y_score)
    if method not in ("delong", "bootstrap"):
        raise ValueError(f"method must be 'delong' or 'bootstrap', got {method!r}")
    auc, v10, v01 = _midrank_components(y, s)
    if auc in (0.0, 1.0) and min(len(v10), len(v01)) >= 2:
        # Perfect separation: DeLong's variance is 0 and its interval [1, 1] (pROC's too) would claim certainty
        # from a handful of patients, as would every bootstrap resample (each one separated too). Instead, the
        # exact (Clopper-Pearson) interval of a proportion won in all of k = min(events, non-events) disjoint
        # event/non-event pairs — independent Bernoulli trials of P(score of an event > score of a non-event) =
        # AUC; using only k of the m*n pairs makes it conservative (wider than the data need).
        ci = separation_interval(auc, min(len(v10), len(v01)), level)
        return AUCResult(auc, 0.0, ci, "exact binomial (perfect separation)", level)
    if method == "delong":
        if min(len(v10), len(v01)) < 2:  # the variance of one patient's placement is undefined (pROC: NA)
            return AUCResult(auc, float("nan"), (float("nan"), float("nan")), "delong", level)
        se = float(np.sqrt(v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01)))
        z = stats.norm.ppf(0.5 + level / 2)
        return AUCResult(auc, se, (max(0.0, auc - z * se), min(1.0, auc + z * se)), "delong", level)
    values = bootstrap_aucs(y, s, n_bootstrap, random_state)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return AUCResult(auc, float(values.std(ddof=1)), (float(lo), float(hi)), "bootstrap", level)


def ci_method_label(method: str | None) -> str:
    """How an AUC interval's method is named where people read it (the report, the model card).

    >>> ci_method_label("delong"), ci_method_label("exact binomial (perfect separation)")
    ('DeLong', 'exact binomial (perfect separation)')
    """
    return {"delong": "DeLong", "bootstrap": "bootstrap percentile"}.get(method or "", method or "n/a")


def separation_interval(auc: float, pairs: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of an AUC of 1 (or 0) won (or lost) in all of ``pairs`` disjoint
    event/non-event pairs: ``[((1 - level) / 2) ** (1 / pairs), 1]`` (mirrored for 0).

    >>> [round(x, 4) for x in separation_interval(1.0, 3) + separation_interval(0.0, 3)]
    [0.2924, 1.0, 0.0, 0.7076]
    """
    bound = float((0.5 - level / 2) ** (1.0 / pairs))
    return (bound, 1.0) if auc == 1.0 else (0.0, 1.0 - bound)


def bootstrap_aucs(y: np.ndarray, s: np.ndarray, n_bootstrap: int = 2000, random_state=None) -> np.ndarray:
    """AUCs of ``n_bootstrap`` stratified resamples (vectorised over resamples)."""
    rng = check_random_state(random_state)
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    out = np.empty(n_bootstrap)
    chunk = max(1, int(2e6 // (m + n)))
    for start in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - start)
        p = pos[rng.randint(0, m, size=(b, m))]
        q = neg[rng.randint(0, n, size=(b, n))]
        pooled = np.concatenate([p, q], axis=1)
        ranks = rankdata(pooled, axis=1)
        # Mann-Whitney U of the positives from their rank sum
        u = ranks[:, :m].sum(axis=1) - m * (m + 1) / 2.0
        out[start:start + b] = u / (m * n)
    return out


@dataclass
class PairedAUCTest:
    auc_1: float
    auc_2: float
    difference: float
    se: float
    ci: tuple[float, float]
    z: float
    p_value: float

    def to_dict(self) -> dict:
        return {
            "auc_1": self.auc_1, "auc_2": self.auc_2, "difference": self.difference, "se": self.se,
            "ci": list(self.ci), "z": self.z, "p_value": self.p_value,
        }


def delong_test(y_true, score_1, score_2, level: float = 0.95) -> PairedAUCTest:
    """DeLong's test of two correlated AUCs measured on the same patients.

    ``difference = AUC_1 - AUC_2``, with
    ``Var = (S10_11 + S10_22 - 2 S10_12) / n_pos + (S01_11 + S01_22 - 2 S01_12) / n_neg``
    from the covariance matrices of the structural components
    (DeLong, DeLong & Clarke-Pearson, Biometrics 1988;44:837-845), a two-sided
    normal test and a Wald interval.

    Examples
    --------
    Hanley & McNeil's rating data, against a second reader who rates every diseased patient half a point higher:

    >>> import numpy as np
    >>> y = np.r_[np.zeros(58), np.ones(51)]
    >>> rating = np.r_[np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2]), np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])]
    >>> test = delong_test(y, rating, rating + 0.5 * y)
    >>> round(test.auc_1, 3), round(test.auc_2, 3), test.p_value < 0.001
    (0.893, 0.946, True)
    """
    y, s1 = check_binary_scores(y_true, score_1, "score_1")
    _, s2 = check_binary_scores(y_true, score_2, "score_2")
    a1, v10_1, v01_1 = _midrank_components(y, s1)
    a2, v10_2, v01_2 = _midrank_components(y, s2)
    s10 = np.cov(np.vstack([v10_1, v10_2]))
    s01 = np.cov(np.vstack([v01_1, v01_2]))
    contrast = np.array([1.0, -1.0])
    var = contrast @ s10 @ contrast / len(v10_1) + contrast @ s01 @ contrast / len(v01_1)
    se = float(np.sqrt(max(var, 0.0)))
    diff = a1 - a2
    if se == 0:
        z, p = (0.0, 1.0) if diff == 0 else (np.inf * np.sign(diff), 0.0)
    else:
        z = diff / se
        p = float(2 * stats.norm.sf(abs(z)))
    q = stats.norm.ppf(0.5 + level / 2)
    return PairedAUCTest(a1, a2, diff, se, (diff - q * se, diff + q * se), float(z), p)


@dataclass
class ROCCurve:
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    # Confidence band: sensitivity quantiles at each specificity of ``band_fpr``.
    band_fpr: np.ndarray | None = None
    band_lower: np.ndarray | None = None
    band_upper: np.ndarray | None = None

    def to_dict(self) -> dict:
        d = {"fpr": self.fpr.tolist(), "tpr": self.tpr.tolist(),
             "thresholds": [float(t) if np.isfinite(t) else None for t in self.thresholds]}
        if self.band_fpr is not None:
            d["band"] = {"fpr": self.band_fpr.tolist(), "lower": self.band_lower.tolist(),
                         "upper": self.band_upper.tolist()}
        return d


def roc_curve(y_true, y_score, band: bool = True, level: float = 0.95, n_bootstrap: int = 1000,
              random_state=None) -> ROCCurve:
    """Empirical ROC curve and, optionally, a bootstrap confidence band.

    The band is the pointwise percentile interval of the sensitivity at each of
    101 fixed false-positive rates over stratified bootstrap resamples (pROC's
    ``ci.se`` approach), for drawing a shaded region around the curve.
    """
    y, s = check_binary_scores(y_true, y_score)
    fpr, tpr, thr = _sk_roc_curve(y, s, drop_intermediate=False)
    curve = ROCCurve(fpr, tpr, thr)
    if band:
        rng = check_random_state(random_state)
        grid = np.linspace(0, 1, 101)
        pos_idx, neg_idx = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        sens = np.empty((n_bootstrap, grid.size))
        for b in range(n_bootstrap):
            idx = np.concatenate([rng.choice(pos_idx, len(pos_idx)), rng.choice(neg_idx, len(neg_idx))])
            f, t, _ = _sk_roc_curve(y[idx], s[idx])
            sens[b] = np.interp(grid, f, t)
        alpha = (1 - level) / 2
        curve.band_fpr = grid
        curve.band_lower, curve.band_upper = np.quantile(sens, [alpha, 1 - alpha], axis=0)
    return curve


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """SE of an AUC from its value alone (Hanley & McNeil, Radiology 1982;143:29-36, eq. 1-3).

    Uses ``Q1 = A/(2 − A)`` and ``Q2 = 2A²/(1 + A)``; for planning sample sizes
    before data exist. With data, prefer :func:`delong_se`.
    """
    a = float(auc)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    return float(np.sqrt((a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)))
