"""Stage 8: is deep learning on the images warranted? (only with ``imaging`` and ``clinical`` groups)."""

from __future__ import annotations

from typing import Any

from ..cohort import Cohort

REQUIRED_GROUPS = {"imaging", "clinical"}


def readiness_applies(cohort: Cohort) -> bool:
    """True when the cohort names both an ``imaging`` and a ``clinical`` group of inputs.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort, load_heart_failure
    >>> readiness_applies(make_mibg_cohort(n_patients=100)), readiness_applies(load_heart_failure())
    (True, False)
    """
    return REQUIRED_GROUPS <= set(cohort.groups)


def readiness_stage(cohort: Cohort, random_state: int | None = 0) -> dict[str, Any] | None:
    """:func:`scintiml.readiness.assess_readiness` as the ``readiness`` results section (``None`` when the
    cohort lacks the groups).

    Examples
    --------
    >>> from scintiml.datasets import load_heart_failure
    >>> readiness_stage(load_heart_failure()) is None
    True
    """
    if not readiness_applies(cohort):
        return None
    from ..readiness import assess_readiness  # the cross-validated comparison is only imported when it runs

    return assess_readiness(cohort.subset(cohort.inputs), random_state=random_state).to_dict()
