"""Stage 1: split the patients and impute with training-part medians."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ..cohort import Cohort, impute_median
from ..errors import SplitError
from ..split import Split, split_cohort
from .base import StudyData


#: The fewest training patients a study accepts (and at least 2 of each outcome among them).
MIN_TRAINING_PATIENTS = 10


def split_stage(
    cohort: Cohort,
    ratios: Sequence[float] = (0.6, 0.2, 0.2),
    random_state: int | np.random.RandomState | None = 0,
    split: Split | None = None,
) -> StudyData:
    """Split a cohort (stratified) into training / selection / testing and impute missing inputs.

    Parameters
    ----------
    cohort : Cohort
    ratios : three floats
        Training / selection / testing fractions; ignored when ``split`` is given.
    random_state : int, RandomState or None
    split : Split, optional
        A predefined split (e.g. :func:`scintiml.split.predefined_split`).

    Returns
    -------
    StudyData
        Imputed inputs (medians of the training part only), outcome, parts, and the split's warnings
        (e.g. a part with fewer than 5 events).

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> data = split_stage(make_mibg_cohort(n_patients=200, random_state=0), random_state=0)
    >>> data.split.counts()
    {'training': 120, 'selection': 40, 'testing': 40}
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if split is None:
            split = split_cohort(cohort, ratios, random_state=random_state)
        else:
            ratios = [len(split.training), len(split.selection), len(split.testing)]
    if len(split.selection) == 0 or len(split.testing) == 0:
        raise SplitError("the selection and testing parts must not be empty; use e.g. --split 60:20:20")
    y_train = np.asarray(cohort.y)[split.training]
    n_events = int((y_train == 1).sum())
    if len(y_train) < MIN_TRAINING_PATIENTS or min(n_events, len(y_train) - n_events) < 2:
        # a network (and scikit-learn's partial dependence) cannot be fitted on a handful of patients
        raise SplitError(f"the training part would hold {len(y_train)} patients ({n_events} with the event): too "
                         f"few to train a network (at least {MIN_TRAINING_PATIENTS}, 2 of each outcome); give it a "
                         "larger share, e.g. --split 60:20:20")
    y_test = np.asarray(cohort.y)[split.testing]
    test_events = int((y_test == 1).sum())
    if min(test_events, len(y_test) - test_events) < 2:
        # one patient of a class: the testing AUC's DeLong interval (and most tests' intervals) are undefined
        raise SplitError(f"the testing part would hold {len(y_test)} patients ({test_events} with the event): too "
                         "few to test on (at least 2 of each outcome); give it a larger share, e.g. --split 60:20:20")
    X, medians = impute_median(cohort.X, split.training)
    total = float(np.sum(ratios))
    return StudyData(
        cohort=cohort, split=split, X=X, y=np.asarray(cohort.y), medians=medians,
        ratios=[float(r) / total for r in ratios],
        # the cohort's own (values that look like a code for "not measured") first: they concern every figure
        warnings=list(cohort.warnings) + [str(w.message) for w in caught],
    )
