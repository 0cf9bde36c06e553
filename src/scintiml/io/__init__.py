"""The output layer: every file or folder scintiml writes goes through here.

* :func:`atomic_dir` / :func:`atomic_file` — write into a temporary sibling, rename into place on success,
  remove it on any error *or* interrupt (Ctrl-C), so a failed run leaves neither partial output nor a temp folder;
* :func:`jsonable` / :func:`write_json` — the one JSON-cleaning helper (numpy, pandas, paths, NaN → null);
* :func:`spreadsheet_safe` — CSV text that a spreadsheet cannot run as a formula.
"""

from .atomic import (OutputExistsError, Terminated, atomic_dir, atomic_file, check_output_path, interrupt_latch,
                     raise_if_interrupted, resolve_path, safe_file_stem, stopped_by)
from .jsonable import jsonable, write_json
from .spreadsheet import formula_safe, spreadsheet_safe

__all__ = ["atomic_dir", "atomic_file", "check_output_path", "OutputExistsError", "jsonable", "write_json",
           "safe_file_stem", "spreadsheet_safe", "formula_safe", "interrupt_latch", "raise_if_interrupted",
           "resolve_path", "stopped_by", "Terminated"]
