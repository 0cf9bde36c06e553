"""Background jobs, one folder each on disk, so a closed tab or a restarted server loses nothing.

A job folder holds ``request.json`` (what to run), ``input/`` (a copy of the uploaded table), ``status.json``
(state, live stage, networks trained, error) and ``output/`` (published atomically when the study is complete).
The server only reads these files; the worker threads write them. On start, every job left ``queued`` or
``running`` by a stopped server is queued again — the study is deterministic for a seed, so rerunning it gives
the same result.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import traceback
import uuid
import queue
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..errors import ScintimlError
from ..io import write_json

#: ``runner(job_folder, request, progress) -> summary``; ``progress(stage, n_networks)``.
Runner = Callable[[Path, dict, Callable[[str, int], None]], dict]

_JOB_ID = re.compile(r"^[0-9a-f]{12}$")
FINISHED = ("done", "failed")


class JobNotFoundError(ScintimlError):
    """No job with this id in the app's folder."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_id() -> str:
    """A fresh job id: 12 hex digits (also the folder name, so it is checked before use as a path)."""
    return uuid.uuid4().hex[:12]


def is_app_id(text: str | None) -> bool:
    """Whether ``text`` is an id :func:`new_id` could have made (jobs, uploads, predictions): checked before any id
    from a URL is used as a path (an id of 256 letters had reached the file system: "File name too long", a 500).

    Examples
    --------
    >>> is_app_id(new_id()), is_app_id("../etc"), is_app_id("a" * 256)
    (True, False, False)
    """
    return bool(_JOB_ID.match(text or ""))


class JobStore:
    """Jobs under ``root/jobs/<id>/``, run by a pool of worker threads.

    Parameters
    ----------
    root : path
        The app's folder; jobs live in ``root/jobs``.
    runners : dict of str to callable
        One runner per job kind (``"study"`` ...).
    workers : int
        Jobs run at once; more wait in the queue (state ``queued``).

    Examples
    --------
    >>> import tempfile
    >>> store = JobStore(tempfile.mkdtemp(), {"echo": lambda folder, req, progress: {"said": req["text"]}})
    >>> job = store.submit("echo", {"text": "hello"}, title="greeting")
    >>> store.wait(job, timeout=10)["summary"]
    {'said': 'hello'}
    >>> store.shutdown()
    """

    def __init__(self, root: str | Path, runners: dict[str, Runner], workers: int = 1) -> None:
        self.root = Path(root)
        self.runners = runners
        self.workers = workers
        self.jobs_dir = self.root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.RLock()
        # daemon threads: stopping the server (Ctrl-C) does not wait for a running study, which stays
        # "running" on disk and is queued again at the next start
        self._threads = [threading.Thread(target=self._work, name=f"scintiml-job-{i}", daemon=True)
                         for i in range(max(1, int(workers)))]
        for thread in self._threads:
            thread.start()
        self.resumed = self._resume()

    # --- reading ---------------------------------------------------------------------------
    def folder(self, job_id: str) -> Path:
        """The job's folder; an id that is not one of ours (or not an id at all) is refused."""
        if not is_app_id(job_id) or not (self.jobs_dir / job_id / "status.json").is_file():
            raise JobNotFoundError(f"no job {job_id!r}; see the list of jobs")
        return self.jobs_dir / job_id

    def status(self, job_id: str) -> dict[str, Any]:
        return json.loads((self.folder(job_id) / "status.json").read_text(encoding="utf-8"))

    def request(self, job_id: str) -> dict[str, Any]:
        return json.loads((self.folder(job_id) / "request.json").read_text(encoding="utf-8"))

    def list(self) -> list[dict[str, Any]]:
        """Every job's status, newest first."""
        out = []
        for path in self.jobs_dir.glob("*/status.json"):
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):  # a folder being created right now
                continue
        return sorted(out, key=lambda s: s.get("created", ""), reverse=True)

    def wait(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Block until the job has finished (for scripts and tests); its final status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(job_id)
            if status["state"] in FINISHED or time.monotonic() > deadline:
                return status
            time.sleep(0.1)

    # --- writing ---------------------------------------------------------------------------
    def submit(self, kind: str, request: dict[str, Any], files: dict[str, Path] | None = None,
               title: str = "") -> str:
        """Create the job's folder (request, copies of ``files`` under ``input/``), queue it; its id."""
        if kind not in self.runners:
            raise ScintimlError(f"unknown job kind {kind!r}; one of {sorted(self.runners)}")
        job_id = new_id()
        folder = self.jobs_dir / job_id
        (folder / "input").mkdir(parents=True)
        for name, src in (files or {}).items():  # a copy: the job never depends on the upload area
            if Path(src).is_dir():
                shutil.copytree(src, folder / "input" / name)
            else:
                shutil.copyfile(src, folder / "input" / name)
        write_json(folder / "request.json", {"kind": kind, **request})
        self._write_status(folder, {
            "id": job_id, "kind": kind, "title": title, "state": "queued", "stage": "waiting for a worker",
            "networks": 0, "created": _now(), "started": None, "finished": None, "error": None, "summary": None,
        })
        self._queue.put(job_id)
        return job_id

    def shutdown(self, wait: bool = True) -> None:
        """Stop the workers once the jobs already queued are done (``wait``) or right away."""
        if not wait:
            while True:  # forget queued jobs here; they stay "queued" on disk for the next start
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _work(self) -> None:
        while (job_id := self._queue.get()) is not None:
            self._run(job_id)

    def _write_status(self, folder: Path, status: dict[str, Any]) -> None:
        with self._lock:  # one writer at a time; each write is atomic (temp file + rename)
            write_json(folder / "status.json", status)

    def _update(self, folder: Path, **changes: Any) -> dict[str, Any]:
        with self._lock:
            status = json.loads((folder / "status.json").read_text(encoding="utf-8"))
            status.update(changes)
            self._write_status(folder, status)
        return status

    def _resume(self) -> list[str]:
        """Queue again the jobs a stopped server left unfinished (oldest first)."""
        pending = [s for s in self.list() if s.get("state") not in FINISHED and s.get("kind") in self.runners]
        for status in sorted(pending, key=lambda s: s.get("created", "")):
            self._update(self.jobs_dir / status["id"], state="queued", stage="queued again after a restart",
                         networks=0)
            self._queue.put(status["id"])
        return [s["id"] for s in pending]

    def _run(self, job_id: str) -> None:
        folder = self.jobs_dir / job_id
        request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
        self._update(folder, state="running", stage="starting", started=_now())
        networks = 0
        last_write = 0.0

        def progress(stage: str, n: int) -> None:
            nonlocal networks, last_write
            networks += int(n)
            now = time.monotonic()
            if n == 0 or now - last_write > 0.25:  # a new stage always shows; counts at most 4 times a second
                last_write = now
                self._update(folder, stage=stage, networks=networks)

        try:
            summary = self.runners[request["kind"]](folder, request, progress)
        except ScintimlError as exc:
            self._update(folder, state="failed", stage="stopped", error=str(exc), finished=_now())
        except Exception as exc:  # a bug, not the user's input: keep the traceback beside the job
            (folder / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
            self._update(folder, state="failed", stage="stopped", finished=_now(),
                         error=f"internal error ({type(exc).__name__}: {exc}); details in error.txt of the job")
        else:
            self._update(folder, state="done", stage="done", networks=networks, summary=summary, finished=_now())
