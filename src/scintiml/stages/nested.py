"""Stage 7b: the honest headline — nested cross-validation of the whole pipeline over all patients."""

from __future__ import annotations

from typing import Any, Callable

from ..nested import nested_cross_validation
from ..select import SelectedNetworkClassifier
from .base import StudyData
from .select import CV_FOLDS
from .testing import baseline_models

#: Outer folds and repeats of the headline estimate (each outer fold reruns the whole selection).
NESTED_FOLDS = 5
NESTED_REPEATS = 1


def nested_stage(
    data: StudyData,
    method: str = "growing",
    max_inputs: int | None = None,
    random_state: int | None = 0,
    n_splits: int = NESTED_FOLDS,
    n_repeats: int = NESTED_REPEATS,
    progress: Callable[[int], None] | None = None,
    stability: bool = True,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """The study's headline AUC: :class:`~scintiml.select.SelectedNetworkClassifier` (imputation, input
    selection — the stable set of resampled selections, or with ``stability=False`` one cross-validated
    selection —, order selection by cross-validation, the network) refitted in every outer fold over *all*
    patients, the LR / RF / GBM baselines on the same folds, paired differences with the Nadeau & Bengio interval.

    The raw (unimputed) inputs are used: each outer fold fits its own median imputation. ``progress`` is
    called with 0 after each outer fold (the folds count no networks of their own). ``n_jobs`` fits the outer
    folds in parallel (same result, less wall time).

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage
    >>> data = split_stage(make_mibg_cohort(n_patients=200, random_state=1).subset(["delta_lvef", "planar_washout"]))
    >>> nested = nested_stage(data, method="all", n_splits=3)
    >>> len(nested["fold_aucs"]), sorted(nested["baselines"])
    (3, ['gradient_boosting', 'logistic_regression', 'random_forest'])
    """
    pipeline = SelectedNetworkClassifier(method=method, stability=stability, cv=CV_FOLDS, max_inputs=max_inputs,
                                         random_state=random_state)
    result = nested_cross_validation(pipeline, data.raw, data.y, baselines=baseline_models(random_state),
                                     n_splits=n_splits, n_repeats=n_repeats, random_state=random_state,
                                     progress=None if progress is None else (lambda n: progress(0)),
                                     n_jobs=n_jobs)
    return result.to_dict()
