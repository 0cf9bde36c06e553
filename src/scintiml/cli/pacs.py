"""PACS commands: triage (query/retrieve/triage/store back) and listen (C-STORE SCP service).

Credentials are read from the configuration file or the environment variables it names — there is
deliberately no command-line option for them (a command line is visible to every user of the machine and
lands in shell histories).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from .base import OVERWRITE_HELP, app, progress_bar, require, say, visible, warn


class _ConsoleLog(logging.Handler):
    """The service's log records as one escaped line each on stderr (never rich markup from the data)."""

    def emit(self, record: logging.LogRecord) -> None:
        label = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning"}.get(record.levelno,
                                                                                                 "error")
        warn(record.getMessage(), label=label)


def _log_to_console(verbose: bool) -> None:
    logger = logging.getLogger("scintiml.pacs")
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not any(isinstance(h, _ConsoleLog) for h in logger.handlers):
        logger.addHandler(_ConsoleLog())
    logger.propagate = False


@app.command("triage")
def triage(
    model_dir: Path = typer.Argument(..., help="CNN model bundle (scintiml cnn train)."),
    pacs: Path = typer.Option(..., "--pacs", help="PACS configuration YAML (see docs/pacs.md)."),
    out: Optional[Path] = typer.Option(None, "--out", help="New folder for the worklist (CSV, JSON, HTML) and "
                                       "failed/ (default: scintiml-triage-DATE-TIME)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    verbose: bool = typer.Option(False, "--verbose", help="Log every network step."),
) -> None:
    """Find lung-perfusion NM studies on the PACS, triage them, store SC + SR back into each study."""

    from ..io import check_output_path
    from ..io.atomic import PACS_OUTPUT
    from ..pacs import load_config, triage_from_pacs

    import time

    require(model_dir.is_dir(), f"model bundle {str(model_dir)!r} not found; train one with scintiml cnn train")
    config = load_config(pacs)
    out = out or Path(time.strftime("scintiml-triage-%Y%m%d-%H%M%S"))
    check_output_path(out, overwrite=overwrite, inputs=(model_dir, pacs), output=PACS_OUTPUT)
    _log_to_console(verbose)
    with progress_bar() as bar:
        task = bar.add_task("triage", total=None)
        summary = triage_from_pacs(model_dir, config, out, overwrite=overwrite,
                                   # a StudyInstanceUID from the PACS is not markup, nor a terminal command
                                   progress=lambda i, n, text: bar.update(task, completed=i, total=n,
                                                                          description=escape(visible(text[:60]))))
    say(f"{summary['triaged']} studies triaged ({summary['urgent']} URGENT), {summary['failed']} failed, "
        f"of {summary['matched']} matching; results stored to {summary['destination']}; worklist in {out}")
    if summary["failed"]:
        warn(f"{summary['failed']} studies failed; their reasons are in {out / 'failed'}")


@app.command("listen")
def listen(
    model_dir: Path = typer.Argument(..., help="CNN model bundle (scintiml cnn train)."),
    config_path: Path = typer.Option(..., "--config", help="PACS configuration YAML (see docs/pacs.md)."),
    stop_after: Optional[float] = typer.Option(None, "--stop-after", help="Stop after this many seconds "
                                               "(default: run until Ctrl-C or SIGTERM)."),
    verbose: bool = typer.Option(False, "--verbose", help="Log every received instance."),
) -> None:
    """Run a C-STORE SCP: triage each study once it is quiet, send SC + SR on, keep the worklist current."""
    import signal
    import threading

    from ..pacs import load_config, run_listener

    require(model_dir.is_dir(), f"model bundle {str(model_dir)!r} not found; train one with scintiml cnn train")
    require(stop_after is None or stop_after > 0, "--stop-after must be a positive number of seconds")
    config = load_config(config_path)
    from ..io import resolve_path

    model = resolve_path(model_dir, "model bundle")
    state = resolve_path(Path(config.state_dir), "listener.state_dir")
    require(state != model and model not in state.parents,
            f"listener.state_dir {str(config.state_dir)!r} is (or lies inside) the model bundle {str(model_dir)!r}; "
            "give the listener a folder of its own — a bundle is never written into")
    _log_to_console(verbose)
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():  # a service manager stops us with SIGTERM
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        counts = run_listener(model_dir, config, stop, stop_after_s=stop_after)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    say(f"stopped: {counts['done']} triaged, {counts['failed']} failed, {counts['incoming']} waiting "
        f"(resumed at the next start); worklist in {config.state_dir / 'worklist'}")
    if counts.get("unidentified"):
        warn(f"{counts['unidentified']} received instance(s) named no study; they are kept in "
             f"{config.state_dir / 'failed' / 'unidentified'}")
