import sys

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def small_frame():
    """A valid little cohort: 40 patients, 20 events, three numeric inputs and an id."""
    rng = np.random.RandomState(0)
    n = 40
    return pd.DataFrame({
        "pid": [f"P{i:03d}" for i in range(n)],
        "age": rng.normal(60, 10, n).round(),
        "washout": rng.normal(25, 8, n),
        "hm_ratio": rng.normal(2.2, 0.3, n),
        "outcome": np.repeat([0, 1], n // 2),
    })


@pytest.fixture
def no_pango(monkeypatch):
    """A machine without pango: importing WeasyPrint's HTML raises the OSError it raises there."""
    import types

    def missing(name):
        raise OSError("cannot load library 'libpango-1.0-0': error 0x7e")

    broken = types.ModuleType("weasyprint")
    broken.__getattr__ = missing
    monkeypatch.setitem(sys.modules, "weasyprint", broken)
    return broken


def run_cli(args):
    """Run ``scintiml ARGS`` in-process; returns the exit status (0 when main() returns)."""
    from scintiml.cli import main

    argv = sys.argv
    sys.argv = ["scintiml", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = argv
    return code or 0
