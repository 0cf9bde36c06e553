"""Internal-external cross-validation: each site left out in turn (Steyerberg & Harrell 2016; Debray et al. 2015).

The model is developed on all sites but one and validated on the one left out, for every site. The per-site
AUC and calibration say how far the model travels; the random-effects summary (:mod:`.meta`) says what to expect
at a new site, with its heterogeneity (I²) and prediction interval.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from ..errors import ScintimlError
from ..evaluate import auc_ci
from ..io import jsonable
from .meta import pool_auc, random_effects
from .metrics import brier_ci, calibration_fit

__all__ = ["internal_external_cv", "default_site_model", "MIN_SITE_CLASS", "read_sites", "site_stage"]

#: A left-out site needs at least this many patients with and without the event for its AUC and calibration.
MIN_SITE_CLASS = 5


def site_is_validatable(n_events: int, n: int) -> bool:
    """Can a held-out site's AUC and calibration be estimated: at least :data:`MIN_SITE_CLASS` events and as many
    non-events (the one rule for the study's check of a site column and for the per-site loop)."""
    return min(n_events, n - n_events) >= MIN_SITE_CLASS


def _weighable(estimate: Any, se: Any) -> bool:
    """An estimate with a finite, positive standard error (inverse-variance weighting needs one)."""
    try:
        return bool(np.isfinite(float(estimate)) and np.isfinite(float(se)) and float(se) > 0)
    except (TypeError, ValueError):
        return False


def default_site_model():
    """Median imputation (fitted on the development sites), standardised inputs, logistic regression.

    Examples
    --------
    >>> [name for name, _ in default_site_model().steps]
    ['simpleimputer', 'standardscaler', 'logisticregression']
    """
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=5000))


def internal_external_cv(
    X: pd.DataFrame,
    y: Sequence[int],
    sites: Sequence[Any],
    estimator=None,
    random_state=0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Leave each site out in turn: fit on the others, validate on it, and summarise across sites.

    Parameters
    ----------
    X : DataFrame
        Inputs (NaN where missing; the estimator must handle them, the default imputes medians learnt on the
        development sites only).
    y : array of 0/1
    sites : array
        The site of each patient (at least 2 distinct values).
    estimator : scikit-learn classifier, optional
        Cloned and refitted for each left-out site; default :func:`default_site_model`.
    random_state : int, RandomState or None
        Seeds the estimator (when it has a ``random_state``) and the Brier bootstrap.
    progress : callable, optional
        ``progress(1)`` after each site's model is fitted (a skipped site fits none): with a selecting pipeline
        each site refits the whole study, minutes on a large cohort, and a bar that does not move reads as a hang.

    Returns
    -------
    dict
        ``per_site``: one record per site (``site``, ``n``, ``n_events``, ``auc``, ``auc_ci95``,
        ``calibration_intercept`` / ``_ci95``, ``calibration_slope`` / ``_ci95``, ``brier``, or ``skipped`` with
        the reason); ``summary``: random-effects AUC (logit scale), calibration intercept and slope, each with
        ``i2`` and ``prediction_interval95``; ``method``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    >>> y = rng.binomial(1, 1 / (1 + np.exp(-(X["a"] - X["b"]))))
    >>> out = internal_external_cv(X, y, np.repeat(["s1", "s2", "s3"], 200))
    >>> [row["site"] for row in out["per_site"]], 0.7 < out["summary"]["auc"]["auc"] < 0.85
    (['s1', 's2', 's3'], True)
    """
    y = np.asarray(y, int)
    sites = np.asarray(sites)
    if len(sites) != len(y) or len(X) != len(y):
        raise ScintimlError(f"X, y and sites must have one value per patient ({len(X)}, {len(y)}, {len(sites)})")
    if pd.isna(pd.Series(sites)).any():
        raise ScintimlError("the site column has missing values; every patient needs a site")
    levels = list(pd.unique(sites))
    if len(levels) < 2:
        raise ScintimlError(f"internal-external cross-validation needs at least 2 sites, got {len(levels)}")
    rng = check_random_state(random_state)
    estimator = clone(estimator if estimator is not None else default_site_model())
    seed = rng.randint(2 ** 31 - 1)
    # every random_state, also a pipeline step's (``annclassifier__random_state``): same seed, same per-site AUCs
    seeded = {k: seed for k in estimator.get_params() if k == "random_state" or k.endswith("__random_state")}
    if seeded:
        estimator.set_params(**seeded)
    rows = []
    for site in levels:
        test = sites == site
        n_events, n = int(y[test].sum()), int(test.sum())
        row: dict[str, Any] = {"site": site.item() if hasattr(site, "item") else site, "n": n, "n_events": n_events,
                               "n_development": int((~test).sum())}
        if not site_is_validatable(n_events, n):
            row["skipped"] = (f"{n_events} events and {n - n_events} non-events: fewer than {MIN_SITE_CLASS} of "
                              "one class, so its AUC and calibration cannot be estimated")
            rows.append(row)
            continue
        if len(np.unique(y[~test])) < 2:
            row["skipped"] = "the other sites have only one outcome class"
            rows.append(row)
            continue
        model = clone(estimator).fit(X[~test], y[~test])
        if progress is not None:
            progress(1)
        p = model.predict_proba(X[test])[:, 1]
        if hasattr(model, "selected_inputs_"):  # a pipeline that selects: what the development sites chose
            row["inputs"] = list(model.selected_inputs_)
            row["hidden_layer_sizes"] = list(getattr(model, "hidden_layer_sizes_", ()))
        auc = auc_ci(y[test], p)
        cal = calibration_fit(y[test], p)
        brier, brier_interval = brier_ci(y[test], p, random_state=rng)
        row.update({
            "auc": auc.auc, "auc_se": auc.se, "auc_ci95": list(auc.ci),
            "calibration_intercept": cal.intercept, "calibration_intercept_se": cal.intercept_se,
            "calibration_intercept_ci95": list(cal.intercept_ci),
            "calibration_slope": cal.slope, "calibration_slope_se": cal.slope_se,
            "calibration_slope_ci95": list(cal.slope_ci),
            "brier": brier, "brier_ci95": list(brier_interval),
            "observed_rate": float(y[test].mean()), "mean_predicted": float(p.mean()),
        })
        rows.append(row)
    done = [r for r in rows if "skipped" not in r]
    summary: dict[str, Any] = {"k": len(done)}
    if len(done) >= 2:
        for key, pool in (("auc", pool_auc), ("calibration_intercept", random_effects),
                          ("calibration_slope", random_effects)):
            # a site whose estimate has no finite, positive standard error (a small site separated perfectly:
            # AUC 1 with SE 0, or a calibration fit that diverged) cannot be weighted by 1/SE²; it is left out
            # of that summary and said so, rather than turning the pooled value into NaN
            usable = [r for r in done if _weighable(r[key], r[f"{key}_se"]) and (key != "auc" or 0 < r[key] < 1)]
            left_out = [str(r["site"]) for r in done if r not in usable]
            if len(usable) >= 2:
                summary[key] = pool([r[key] for r in usable], [r[f"{key}_se"] for r in usable])
                if left_out:
                    summary[key]["left_out"] = left_out
            else:
                summary[key] = {"note": f"fewer than 2 sites have a usable {key} and standard error"}
    else:
        summary["note"] = "fewer than 2 sites could be validated: no summary across sites"
    return jsonable({
        "per_site": rows, "summary": summary,
        "method": ("internal-external cross-validation (each site left out in turn; Steyerberg & Harrell 2016); "
                   "random effects DerSimonian-Laird, AUC pooled on the logit scale (Debray et al. 2015), "
                   "prediction interval t with k - 2 df (Riley et al. 2011)"),
        "estimator": type(estimator).__name__ if not hasattr(estimator, "steps") else
        " → ".join(type(s).__name__ for _, s in estimator.steps),
    })


def read_sites(source, column: str) -> np.ndarray:
    """The site of each patient from a table (file or DataFrame), in row order, checked.

    Examples
    --------
    >>> import pandas as pd
    >>> read_sites(pd.DataFrame({"site": ["a", "b", "a"]}), "site").tolist()
    ['a', 'b', 'a']
    """
    from ..cohort import column_name, read_table

    frame = source if isinstance(source, pd.DataFrame) else read_table(source)
    frame = frame.set_axis([column_name(c) for c in frame.columns], axis=1)  # a DataFrame's own names too
    column = column_name(column)  # as the header is read: trimmed, NFC
    if column not in frame.columns:
        raise ScintimlError(f"site column {column!r} not found; columns are {list(frame.columns)}")
    sites = frame[column]
    if sites.isna().any():
        raise ScintimlError(f"site column {column!r} is empty for {int(sites.isna().sum())} patient(s); "
                            "every patient needs a site")
    if sites.nunique() < 2:
        raise ScintimlError(f"site column {column!r} has {sites.nunique()} site(s); internal-external "
                            "cross-validation needs at least 2")
    return sites.astype(str).to_numpy()


def site_stage(X: pd.DataFrame, y, sites, method: str = "growing", max_inputs: int | None = None,
               stability: bool = True, cv: int | str = 5, random_state=0,
               progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The study's internal-external cross-validation: its whole pipeline refit with each site left out.

    For every left-out site, :class:`~scintiml.select.SelectedNetworkClassifier` — median imputation, input
    selection (``method``, ``max_inputs``, ``stability``), order selection (``cv``) and the best of the study's
    ``FINAL_RESTARTS`` starts — is fitted on the other sites alone and validated on it, as internal-external
    cross-validation repeats the whole modelling process (Steyerberg & Harrell 2016). Until 0.7.1 the inputs and
    hidden layers were those the study chose on all sites, so the left-out site's own outcomes had helped choose
    the network it was validated on. Each site's row names the inputs and hidden layers its development sites
    chose; ``inputs`` lists every input chosen for some site.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    >>> y = (X["a"] + rng.normal(size=300) > 0).astype(int)
    >>> out = site_stage(X[["a"]], y, np.repeat(["s1", "s2", "s3"], 100), method="all", cv=3)
    >>> out["summary"]["k"], out["inputs"], [row["inputs"] for row in out["per_site"]]
    (3, ['a'], [['a'], ['a'], ['a']])
    """
    from ..select.pipeline import FINAL_RESTARTS, SelectedNetworkClassifier

    estimator = SelectedNetworkClassifier(method=method, stability=stability, cv=cv, max_inputs=max_inputs,
                                          random_state=random_state)
    out = internal_external_cv(X, y, sites, estimator=estimator, random_state=random_state, progress=progress)
    chosen = {name for row in out["per_site"] for name in row.get("inputs", [])}
    out["inputs"] = [name for name in X.columns if name in chosen]
    out["hidden_layer_sizes"] = None  # since results.json 1.7 each site's own, in its row
    out["n_restarts"] = FINAL_RESTARTS
    out["note"] = ("the whole pipeline — imputation, input and order selection, the network — refit on the other "
                   "sites for each left-out site (the inputs and hidden layers each chose are in its row)")
    if cv == "split":  # SelectedNetworkClassifier's own split settings, not the study's (SPLIT_TOLERANCE, 3 trials)
        out["note"] += ("; each site's selections were judged on one split of its development patients with the "
                        "one-SE rule, not the study's 3 % tolerance")
    return out
