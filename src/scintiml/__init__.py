"""scintiml: a nuclear-medicine department's first machine-learning study.

Tabular ANN study in the Neural Designer style, the "is deep learning
warranted?" verdict, and outputs that fit the way nuclear-medicine results are
read. See docs/design.md and the README.
"""

from ._version import __version__
from .cohort import Cohort, impute_median, load_cohort
from .errors import ScintimlError
from .split import Split, split_cohort

__all__ = [
    "Cohort", "load_cohort", "impute_median", "Split", "split_cohort", "ScintimlError", "ANNClassifier",
    "__version__",
]


def __getattr__(name):  # lazy: importing the network is not needed to read a cohort
    if name == "ANNClassifier":
        from .ann import ANNClassifier

        return ANNClassifier
    if name in {"run_study", "StudyResult"}:
        from . import study

        return getattr(study, name)
    raise AttributeError(f"module 'scintiml' has no attribute {name!r}")
