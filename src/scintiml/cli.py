"""The ``scintiml`` command line: a thin shell around the library.

Every failure the user can fix prints one ``error: ...`` line and exits with
status 2 — never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from .errors import ScintimlError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """scintiml: a nuclear-medicine department's first machine-learning study."""


@app.command()
def describe(
    data: Path = typer.Argument(..., help="CSV, TSV, XLSX or Parquet file, one row per patient."),
    target: str = typer.Option(..., "--target", help="Outcome column (two classes)."),
    positive: Optional[str] = typer.Option(None, "--positive", help="Outcome value that is the event."),
    id_column: Optional[str] = typer.Option(None, "--id", help="Patient id column."),
    exclude: List[str] = typer.Option([], "--exclude", help="Column to drop (repeatable)."),
) -> None:
    """Validate a cohort file and summarise it (patients, events, inputs, missing values)."""
    from .cohort import load_cohort

    cohort = load_cohort(data, target, positive=positive, id_column=id_column, exclude=exclude)
    out = Console()
    out.print(f"[bold]{cohort.name}[/]: {cohort.n_patients} patients, {cohort.n_events} events "
              f"({target} = {cohort.positive!r}), {cohort.n_inputs} inputs")
    for note in cohort.notes:
        out.print(f"  note: {note}")


def main() -> None:
    """Entry point: run the app, turning scintiml's own errors into one line."""
    try:
        app(standalone_mode=False)
    except ScintimlError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        console.print("error: interrupted")
        sys.exit(130)
    except Exception as exc:
        # Usage errors (unknown option, missing argument) from typer's click layer carry
        # format_message(); they are the user's to fix, so one line as well.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            console.print(f"[bold red]error:[/] {exc.format_message()}", highlight=False, soft_wrap=True)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
