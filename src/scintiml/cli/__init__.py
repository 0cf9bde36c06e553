"""The ``scintiml`` command line: a thin shell around the library.

One module per group of commands; each command parses its options, calls one public library function and
prints. Adding a command group: write ``cli/<name>.py`` using ``from .base import app`` and import it below.
"""

from . import cnn, imaging, tabular  # noqa: F401  (registers the commands)
from . import app as app_command  # noqa: F401  (scintiml app; the module name is then rebound below)
from . import pacs  # noqa: F401  (scintiml triage --pacs, scintiml listen)
from . import external  # noqa: F401  (scintiml validate, scintiml recalibrate)
from .base import app, main

__all__ = ["app", "main"]
