"""The ``scintiml`` command line: a thin shell around the library.

One module per group of commands; each command parses its options, calls one public library function and
prints. Adding a command group: write ``cli/<name>.py`` using ``from .base import app`` and import it in
:func:`_load`.

The commands (and the libraries under them: typer, rich, numpy, pandas, scikit-learn) are imported by
:func:`main`, not when this package is imported, so that a Ctrl-C in the first seconds of a run (the imports
take 2-3 s of CPU, longer on a busy machine) is the usual one line and status 130, not a Python traceback.
"""

from __future__ import annotations

import sys

__all__ = ["app", "main"]


def _load():
    """Import every command group (registering its commands) and return the Typer app."""
    from importlib import import_module

    # by name, not `from . import app`: that form asks this package for the attribute first, i.e. __getattr__
    for group in ("cnn", "imaging", "tabular", "webapp", "pacs", "external"):
        import_module(f".{group}", __name__)
    from .base import app

    globals()["app"] = app
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``scintiml`` command: see :func:`scintiml.cli.base.main`."""
    try:
        _load()
        from .base import main as run
    except KeyboardInterrupt:  # during the imports: nothing has been read or written yet
        sys.stderr.write("interrupted: nothing was written\n")
        sys.exit(130)
    run(argv)


def __getattr__(name: str):
    if name == "app":
        return _load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
