"""Serve the app with uvicorn: localhost by default, a token whenever it listens on any other address."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import threading
import webbrowser
from pathlib import Path
from typing import Callable

from ..errors import ScintimlError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_local(host: str) -> bool:
    """True when ``host`` is reachable from this machine only.

    Examples
    --------
    >>> is_local("127.0.0.1"), is_local("localhost"), is_local("0.0.0.0"), is_local("192.168.1.20")
    (True, True, False, False)
    """
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def app_url(host: str, port: int, token: str | None = None) -> str:
    """The address to open (with the token, when one is required).

    Examples
    --------
    >>> app_url("127.0.0.1", 8765)
    'http://127.0.0.1:8765/'
    >>> app_url("0.0.0.0", 8765, token="abc")
    'http://0.0.0.0:8765/?token=abc'
    """
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def _check_port_free(host: str, port: int) -> None:
    """Say plainly that the port is taken (uvicorn would log it and stop)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ScintimlError(f"cannot listen on {host}:{port} ({exc.strerror}); is the app already running? "
                                "Choose another --port") from None


def serve(workdir: str | Path, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True,
          max_upload_mb: float = 50.0, workers: int = 1, token: str | None = None,
          announce: Callable[[str], None] = print, study_jobs: int = 1) -> None:
    """Run the app until interrupted.

    Parameters
    ----------
    workdir : path
        Folder for uploads and jobs; jobs left unfinished there by a stopped server are run again.
    host, port : str, int
        Where to listen; anything but this machine's loopback requires a token.
    open_browser : bool
        Open the app in the default browser once it listens.
    max_upload_mb : float
        Largest upload accepted.
    workers : int
        Studies run at the same time.
    token : str, optional
        The token to require; one is made up (and announced) when the host is not local and none is given.
    announce : callable
        Receives the lines to show the user (the address, the token).
    study_jobs : int
        Processes per study (``-1``: every core); see :class:`~scintiml.app.web.AppConfig`.

    Examples
    --------
    >>> serve("/tmp/x", port=0)
    Traceback (most recent call last):
    scintiml.errors.ScintimlError: port must be between 1 and 65535, got 0
    """
    if not 1 <= int(port) <= 65535:
        raise ScintimlError(f"port must be between 1 and 65535, got {port}")
    if workers < 1:
        raise ScintimlError(f"workers must be at least 1, got {workers}")
    if not isinstance(study_jobs, int) or study_jobs == 0 or study_jobs < -1:
        raise ScintimlError("--jobs must be a number of processes (1 or more) or -1 for every core, "
                            f"got {study_jobs!r}")
    if not 0 < max_upload_mb <= 1e6:  # NaN and inf too: the limit is turned into a byte count
        raise ScintimlError(f"the upload limit must be a positive number of MB up to 1e6, got {max_upload_mb} MB")
    try:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScintimlError(f"cannot make the app folder {str(workdir)!r} ({exc.strerror}); choose a --folder "
                            "you can write to") from None
    _check_port_free(host, int(port))
    import uvicorn

    try:  # FastAPI only says (in a RuntimeError, after printing its own lines) that forms need python-multipart
        import python_multipart  # noqa: F401
    except ImportError:
        try:
            import multipart  # noqa: F401  (its older name)
        except ImportError:
            raise ModuleNotFoundError("No module named 'python_multipart' (the app's forms need it)",
                                      name="python_multipart") from None
    from .web import AppConfig, create_app

    if not is_local(host) and not token:
        token = secrets.token_urlsafe(24)
    app = create_app(AppConfig(workdir=workdir, token=token, max_upload_mb=max_upload_mb, workers=workers,
                               study_jobs=study_jobs,
                               allowed_hosts=("127.0.0.1", "localhost", "[::1]", host) if is_local(host) else None))
    url = app_url("127.0.0.1" if host in ("0.0.0.0", "::") else host, port, token)
    resumed = app.state.jobs.resumed
    if resumed:
        announce(f"{len(resumed)} unfinished job(s) queued again")
    announce(f"scintiml app: {url}  (folder {workdir}; Ctrl-C stops it)")
    if token:
        announce(f"listening on {host}: the token is required ({token})")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=int(port), log_level="warning")
