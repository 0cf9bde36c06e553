"""scintiml: a nuclear-medicine department's first machine-learning study.

Tabular ANN study in the Neural Designer style, the "is deep learning
warranted?" verdict, and outputs that fit the way nuclear-medicine results are
read. See docs/design.md and the README.
"""

from ._version import __version__

__all__ = [
    "Cohort", "load_cohort", "impute_median", "Split", "split_cohort", "ScintimlError", "ANNClassifier",
    "__version__",
]

# Imported when first used, not with the package: the command line starts with `import scintiml`, and a Ctrl-C
# during numpy's and pandas' imports was a Python traceback instead of the command's one line.
_HOME = {"Cohort": "cohort", "load_cohort": "cohort", "impute_median": "cohort", "ScintimlError": "errors",
         "Split": "split", "split_cohort": "split", "ANNClassifier": "ann", "run_study": "study",
         "StudyResult": "study"}


def __getattr__(name):
    if name in _HOME:
        from importlib import import_module

        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module 'scintiml' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_HOME})
