"""Stage 6: the testing analysis — the network on the testing patients, and baselines on the same split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..evaluate import auc_ci, delong_test, evaluate_binary
from .base import StudyData
from .fit import FittedModel

THRESHOLD_RULE = "Youden-optimal on the selection instances, applied unchanged to the testing instances"
#: A baseline whose testing AUC beats the network's by more than this is reported as a warning.
BASELINE_MARGIN = 0.02


@dataclass
class TestingAnalysis:
    """JSON-able ``test`` and ``baselines`` sections, the selection AUC, and warnings for the reader.

    Examples
    --------
    >>> TestingAnalysis({"auc": 0.8}, {}, 0.75).warnings
    []
    """

    __test__ = False  # not a pytest test class, despite its name

    test: dict[str, Any]
    baselines: dict[str, Any]
    selection_auc: float
    warnings: list[str] = field(default_factory=list)


def baseline_models(random_state: int | None = 0) -> dict[str, Any]:
    """Logistic regression, random forest and gradient boosting: the peers the network must beat.

    Examples
    --------
    >>> sorted(baseline_models())
    ['gradient_boosting', 'logistic_regression', 'random_forest']
    """
    return {
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        "random_forest": RandomForestClassifier(n_estimators=500, random_state=random_state, n_jobs=1),
        "gradient_boosting": HistGradientBoostingClassifier(random_state=random_state),
    }


def test_stage(data: StudyData, fitted: FittedModel, random_state: int | None = 0) -> TestingAnalysis:
    """Evaluate the network on the testing part at the selection-chosen threshold, with every CI, and compare
    it (DeLong) with baselines trained on all inputs of the same training part.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage, fit_stage
    >>> data = split_stage(make_mibg_cohort(n_patients=200, random_state=0))
    >>> fitted = fit_stage(data, ["delta_lvef", "planar_washout"], (2,), n_restarts=1)
    >>> analysis = test_stage(data, fitted)
    >>> analysis.test["n"], sorted(analysis.baselines)[0]
    (40, 'gradient_boosting')
    """
    X_tr, y_tr = data.part("training")
    X_te, y_te = data.part("testing")
    _, y_se = data.part("selection")
    evaluation = evaluate_binary(y_te, fitted.p_testing, threshold=fitted.threshold, random_state=random_state)
    baselines = {}
    for name, model in baseline_models(random_state).items():
        p = model.fit(X_tr, y_tr).predict_proba(X_te)[:, 1]
        res = auc_ci(y_te, p)
        comparison = delong_test(y_te, fitted.p_testing, p)
        baselines[name] = {
            "auc": res.auc, "auc_ci95": list(res.ci), "n_inputs": int(X_tr.shape[1]),
            "network_minus_baseline": comparison.difference, "difference_ci95": list(comparison.ci),
            "p_value": comparison.p_value,
        }
    warnings = [
        f"the {name.replace('_', ' ')} baseline (all {info['n_inputs']} inputs) has a higher testing AUC "
        f"({info['auc']:.3f}) than the network ({evaluation.auc.auc:.3f})"
        for name, info in baselines.items() if info["auc"] - evaluation.auc.auc > BASELINE_MARGIN
    ]
    test = {**evaluation.to_dict(), "threshold_rule": THRESHOLD_RULE}
    return TestingAnalysis(test, baselines, float(auc_ci(y_se, fitted.p_selection).auc),
                           warnings + list(evaluation.warnings))


test_stage.__test__ = False  # a library function, not a pytest test
