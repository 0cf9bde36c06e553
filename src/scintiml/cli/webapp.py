"""The browser app command: scintiml app."""

from __future__ import annotations

from pathlib import Path

import typer

from .base import app, require, say


@app.command("app")
def app_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (anything else needs the token)."),
    port: int = typer.Option(8765, "--port", help="Port to listen on."),
    folder: Path = typer.Option(Path("scintiml-app"), "--folder", help="Folder for uploads and jobs."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser."),
    max_upload_mb: float = typer.Option(50.0, "--max-upload-mb", help="Largest upload accepted (MB)."),
    workers: int = typer.Option(1, "--workers", help="Studies run at the same time."),
    jobs: int = typer.Option(1, "--jobs", help="Processes per study for the resampled selections and the nested "
                                               "cross-validation (-1: every core); the result does not change."),
) -> None:
    """Start the local web app: the whole study, predict and worklists in a browser (extra: app)."""
    require(1 <= port <= 65535, f"--port must be between 1 and 65535, got {port}")
    require(workers >= 1, f"--workers must be at least 1, got {workers}")
    require(jobs >= 1 or jobs == -1,
            f"--jobs must be a number of processes (1 or more) or -1 for every core, got {jobs}")
    require(0 < max_upload_mb <= 1e6, f"--max-upload-mb must be a positive number of MB up to 1e6, got {max_upload_mb}")
    require(not folder.exists() or folder.is_dir(), f"--folder {str(folder)!r} is a file; give a folder")
    from ..app.server import serve

    serve(folder, host=host, port=port, open_browser=not no_browser, max_upload_mb=max_upload_mb,
          workers=workers, announce=say, study_jobs=jobs)
