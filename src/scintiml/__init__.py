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
    from importlib import import_module
    from importlib.util import find_spec

    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    if not name.startswith("_") and find_spec(f"{__name__}.{name}") is not None:
        return import_module(f".{name}", __name__)  # `scintiml.cohort.read_table` after `import scintiml`
    raise AttributeError(f"module 'scintiml' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_HOME})
