"""Independent fits run in order, serially or in processes: what the nested cross-validation and the stability
selection share."""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator

from joblib import Parallel


def in_order(calls: Iterable[tuple], n_jobs: int | None = None) -> Iterator[Any]:
    """The results of joblib ``delayed`` calls, in submission order, each as soon as it is done.

    ``n_jobs`` None or 1: a plain loop (it runs under any joblib configuration, a multiprocessing backend
    included, which refuses generators). More processes than cores only cost start-up, so ``n_jobs`` is lowered
    to the core count (measured: ``simulate --jobs 1000`` hung).

    Examples
    --------
    >>> from joblib import delayed
    >>> list(in_order((delayed(pow)(2, k) for k in range(4)), n_jobs=2))
    [1, 2, 4, 8]
    """
    if n_jobs in (None, 1):
        return (function(*args, **kwargs) for function, args, kwargs in calls)
    if n_jobs > 0:
        n_jobs = min(n_jobs, os.cpu_count() or 1)
    return Parallel(n_jobs=n_jobs, return_as="generator")(calls)
