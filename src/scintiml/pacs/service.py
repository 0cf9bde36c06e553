"""Triage as a service: query-retrieve-triage-store (``triage --pacs``) and the C-STORE listener (``listen``).

Both paths share the rules: a PACS that is down, slow or refusing is retried with exponential backoff; a study
whose data cannot be triaged is recorded with its reason; results (Secondary Capture + Structured Report) go
back into the source study with deterministic UIDs; the worklist is rewritten after every study.
"""

from __future__ import annotations

import fnmatch
import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..io import atomic_dir, write_json
from .config import PacsConfig, PacsEndpoint, RetryPolicy
from .dicomweb import DicomwebPacs
from .dimse import DimsePacs, storage_scp
from .errors import PacsConfigError, PacsUnavailableError, StudyDataError, StudyRefusedError
from .queue import UNIDENTIFIED, StudyQueue, safe_name
from .triage_adapter import load_model, triage_study
from .worklist import write_worklist

__all__ = ["connect", "call_with_retry", "matches_description", "triage_from_pacs", "Listener", "run_listener"]

log = logging.getLogger("scintiml.pacs")

#: The reason a study failed for a cause scintiml did not foresee: no exception class, and no exception text (a
#: library's words may quote a header value, such as a birth date, into the worklist); the log holds the details.
UNEXPECTED = ("unexpected error while triaging it (not a known problem of the study or the PACS); the log of this "
              "run holds the details — report them to whoever maintains scintiml")


def connect(endpoint: PacsEndpoint, config: PacsConfig):
    """The client for one endpoint: :class:`DicomwebPacs` or :class:`DimsePacs`.

    Examples
    --------
    >>> from scintiml.pacs.config import parse_config
    >>> cfg = parse_config({"pacs": {"protocol": "dicomweb", "url": "http://pacs/dicom-web"}})
    >>> type(connect(cfg.source, cfg)).__name__
    'DicomwebPacs'
    """
    if endpoint.protocol == "dicomweb":
        return DicomwebPacs(endpoint)
    return DimsePacs(endpoint, config.local_ae_title, config.local_port, config.local_host, config.local_tls)


def call_with_retry(fn: Callable[[], Any], policy: RetryPolicy, what: str,
                    sleep: Callable[[float], None] = time.sleep) -> Any:
    """Run ``fn``; on :class:`PacsUnavailableError` wait (exponential backoff) and try again, up to
    ``policy.attempts`` times in all, then raise the last error.

    Examples
    --------
    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise PacsUnavailableError("PACS down")
    ...     return "ok"
    >>> waits = []
    >>> call_with_retry(flaky, RetryPolicy(attempts=5, backoff_s=1), "query", sleep=waits.append), waits
    ('ok', [1.0, 2.0])
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except PacsUnavailableError as exc:
            if attempt == policy.attempts:
                raise PacsUnavailableError(f"{exc} (gave up after {attempt} attempt(s))") from None
            delay = policy.delay(attempt)
            log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)", what, exc, delay, attempt + 1,
                        policy.attempts)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def matches_description(pattern: str | None, description: str) -> bool:
    """Shell-style, case-insensitive match of a study description (no pattern: everything matches).

    Matching is done here rather than by the PACS because PACSes differ in wildcard and case handling.

    Examples
    --------
    >>> matches_description("*perf*", "NM LUNG PERFUSION"), matches_description("*perf*", "BONE SCAN")
    (True, False)
    """
    if not pattern:
        return True
    return fnmatch.fnmatchcase(str(description).upper(), pattern.upper())


def triage_from_pacs(model_dir: str | Path, config: PacsConfig, out: str | Path, overwrite: bool = False,
                     progress: Callable[[int, int, str], None] | None = None,
                     sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Find lung-perfusion studies on the PACS, triage them, and store the SC and SR back into each study.

    Parameters
    ----------
    model_dir : path
        CNN bundle (``scintiml cnn train``).
    config : PacsConfig
        :func:`scintiml.pacs.load_config`; ``query`` selects the studies, ``pacs`` is read from, ``destination``
        (default: the same PACS) receives the results.
    out : path
        New folder: ``worklist.csv/.json/.html``, ``summary.json`` and ``failed/<study>/reason.json``.
    progress : callable, optional
        ``progress(done, total, text)`` after each study.
    sleep : callable
        How to wait between retries (``time.sleep``; a test may pass its own).

    Returns
    -------
    dict
        ``found``, ``matched``, ``triaged``, ``urgent``, ``failed`` counts and the ``out`` path.
    """
    from ..io.atomic import PACS_OUTPUT, check_output_path, check_replaceable

    out = check_output_path(out, overwrite=overwrite, output=PACS_OUTPUT)
    if overwrite:  # results go to the PACS during the run: a folder that will be refused must be refused first
        check_replaceable(out)
    model, version = load_model(model_dir)
    source = connect(config.source, config)
    destination = connect(config.destination, config)
    found = call_with_retry(lambda: source.find_studies(config.query), config.retry, "study search", sleep)
    studies = [s for s in found if matches_description(config.query.description, s.get("StudyDescription", ""))]
    log.info("%d studies found on %s, %d match the description pattern", len(found), source.describe(),
             len(studies))
    if len(found) >= config.query.limit:  # the PACS stopped at the limit before the description was applied
        log.warning("the study search stopped at query.limit (%d studies): more may match and were not looked "
                    "at; narrow the dates (query.date_from / days_back) or raise query.limit", config.query.limit)
    rows: list[dict[str, Any]] = []
    with (atomic_dir(out, overwrite=overwrite, output=PACS_OUTPUT) as tmp,
          tempfile.TemporaryDirectory(prefix="scintiml-pacs-") as work):
        for i, info in enumerate(studies, start=1):
            uid = info["StudyInstanceUID"]
            folder = Path(work) / safe_name(uid)
            try:
                files = call_with_retry(lambda: source.retrieve_study(uid, folder), config.retry,
                                        f"retrieval of study {uid}", sleep)
                result = triage_study(model, version, files)
                call_with_retry(lambda: destination.store([result.secondary_capture, result.structured_report]),
                                config.retry, f"storage of the results of study {uid}", sleep)
                row = {**result.row(), "status": "triaged", "reason": "", "updated": _now()}
            except Exception as exc:  # noqa: BLE001 - one bad study must not end the run for the others
                if isinstance(exc, (PacsUnavailableError, StudyDataError, PacsConfigError)):
                    reason = str(exc)
                else:  # the details (which may quote a header value) go to the log only, with the traceback
                    log.exception("study %s: unexpected error", uid)
                    reason = UNEXPECTED
                row = _failed_row(uid, reason)
                _keep_failed(tmp / "failed" / safe_name(uid), folder, row)
                log.warning("study %s failed: %s", uid, reason)
            row.setdefault("patient_id", info.get("PatientID", ""))
            rows.append(row)
            shutil.rmtree(folder, ignore_errors=True)
            if progress is not None:
                progress(i, len(studies), f"{row['priority']} {uid}")
        write_worklist(rows, tmp)
        summary = {"found": len(found), "matched": len(studies),
                   "triaged": sum(r["status"] == "triaged" for r in rows),
                   "urgent": sum(r["priority"] == "URGENT" for r in rows),
                   "failed": sum(r["status"] == "failed" for r in rows),
                   "model_version": version, "pacs": source.describe(), "destination": destination.describe()}
        write_json(tmp / "summary.json", summary)
    return {**summary, "out": str(out)}


class Listener:
    """A C-STORE SCP that gathers studies on disk, triages each once it is quiet, and sends the results.

    Parameters
    ----------
    model_dir : path
        CNN bundle.
    config : PacsConfig
        ``local`` (our AE title, port, optional TLS), ``listener`` (state folder, quiet time, poll interval),
        ``retry`` and ``destination`` (default: the ``pacs`` section).

    Notes
    -----
    :meth:`start` opens the port; :meth:`serve` runs the triage loop until stopped; :meth:`process_ready`
    is one pass of it (tests drive it directly). The loop survives any error in one study: the error is
    counted against that study, which is retried with backoff and, after ``retry.attempts``, moved to
    ``failed/`` with its reason. Studies left in the queue by a previous run are picked up at start.
    """

    def __init__(self, model_dir: str | Path, config: PacsConfig):
        self.config = config
        self.model, self.version = load_model(model_dir)
        self.queue = StudyQueue(config.state_dir)
        self.destination = connect(config.destination, config)
        self.worklist_dir = Path(config.state_dir) / "worklist"
        self._server = None
        self._unidentified = threading.Lock()

    # ------------------------------------------------------------------ receiving
    def start(self) -> None:
        """Open the C-STORE port (AE title and port from the configuration)."""
        c = self.config
        try:
            self._server = storage_scp(c.local_ae_title, c.local_port, self._on_store, c.local_host, c.local_tls)
        except BaseException as exc:  # a port in use, an unusable TLS file, Ctrl-C
            self.queue.discard_new()  # the state folder was made for a listener that never started
            if isinstance(exc, OSError):
                raise PacsConfigError(f"cannot listen on {c.local_host}:{c.local_port} ({exc.strerror or exc}); "
                                      "choose a free port in local.port") from None
            raise
        log.info("listening as %s on port %d; %d studies waiting from before", c.local_ae_title, c.local_port,
                 len(self.queue.pending()))

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _on_store(self, event) -> int:
        # an instance we cannot even file under a study is kept and refused with 0xC210 ("cannot understand"):
        # the sender logs it and keeps its copy
        try:
            data = event.encoded_dataset()
            ds = event.dataset
            sop_uid = str(event.request.AffectedSOPInstanceUID)
        except Exception:  # noqa: BLE001 - no exception text: pydicom's words may quote a value of the instance
            return self._keep_unidentified(event, "it cannot be decoded as DICOM (damaged in transit, or not a "
                                                  "DICOM instance)")
        try:
            present = "StudyInstanceUID" in ds
            study_uid = str(ds.StudyInstanceUID).strip() if present else ""
        except Exception:  # noqa: BLE001 - a malformed element: pydicom's words may quote it
            return self._keep_unidentified(event, "its Study Instance UID cannot be read (a malformed element)")
        if not present:
            return self._keep_unidentified(event, "it has no Study Instance UID")
        if not study_uid:  # an empty StudyInstanceUID files nothing: every sender's would share one study
            return self._keep_unidentified(event, "its Study Instance UID is empty")
        if str(getattr(ds, "Modality", "")).strip().upper() != "NM" and self.queue.is_done(study_uid):
            # our own Secondary Capture and report, routed back by a "forward every new instance" rule, had
            # restarted the triaged study from them alone: it failed ("no NM instance") and its URGENT row left
            # the worklist
            log.info("instance %s of the triaged study %s is not NM (the results sent back?): not queued", sop_uid,
                     study_uid)
            return 0x0000
        try:
            self.queue.add_instance(study_uid, sop_uid, data)
        except OSError as exc:
            log.error("cannot store instance %s of study %s: %s", sop_uid, study_uid, exc)
            return 0xA700  # out of resources: the sender may try again
        log.debug("received %s of study %s", sop_uid, study_uid)
        return 0x0000

    def _keep_unidentified(self, event, why: str) -> int:
        """Keep an instance that names no study in failed/unidentified/ with ``why`` (words, never an exception's:
        they may quote a value of the instance); the status that refuses it."""
        with self._unidentified:
            folder = self.queue.failed / UNIDENTIFIED
            folder.mkdir(parents=True, exist_ok=True)
            stem = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}"
            try:
                (folder / f"{stem}.dcm").write_bytes(event.encoded_dataset())
            except Exception:
                pass
            reason = (f"instance without a readable Study Instance UID: {why}; refused (status C210) and kept in "
                      f"failed/{UNIDENTIFIED}/ — check it at the sender (the sender keeps its copy) and send it again")
            write_json(folder / f"{stem}.json", {"reason": reason})
        log.error("refused an instance without a readable Study Instance UID: %s; kept as %s — check it at the "
                  "sender and send it again", why, folder / f"{stem}.dcm")
        return 0xC210

    # ------------------------------------------------------------------ triage loop
    def process_ready(self, now: float | None = None) -> list[tuple[str, str]]:
        """Triage every quiet study whose backoff has elapsed; ``[(study, outcome), ...]``.

        Outcomes: ``triaged``, ``retry`` (backoff scheduled), ``failed`` (moved to failed/), ``requeued``
        (more instances arrived meanwhile).
        """
        outcomes = []
        for name in self.queue.ready(now=now, quiet_time_s=self.config.quiet_time_s):
            outcomes.append((name, self.process(name)))
        return outcomes

    def process(self, name: str) -> str:
        """Triage one queued study and send its results; never raises for a problem with the study."""
        snapshot = self.queue.files(name)
        uid = self.queue.study_uid(name)
        try:
            result = triage_study(self.model, self.version, snapshot)
            self.destination.store([result.secondary_capture, result.structured_report])
            row = {**result.row(), "status": "triaged", "reason": "", "updated": _now()}
            outcome = "triaged" if self.queue.complete(name, row, snapshot) else "requeued"
            log.info("study %s: %s (p = %.2f) -> %s", uid, result.priority, result.probability,
                     self.destination.describe())
        except (PacsUnavailableError, StudyDataError, PacsConfigError) as exc:
            outcome = self._failed(name, uid, str(exc), snapshot, final=isinstance(exc, StudyRefusedError))
        except Exception:  # noqa: BLE001 - one bad study must never stop the listener
            log.exception("study %s: unexpected error", uid)  # the details, for whoever reports it
            outcome = self._failed(name, uid, UNEXPECTED, snapshot)
        self._write_worklist()
        return outcome

    def _failed(self, name: str, uid: str, reason: str, snapshot, final: bool = False) -> str:
        outcome = self.queue.fail(name, reason, self.config.retry, snapshot=snapshot, final=final)
        if outcome == "failed":
            log.error("study %s moved to %s: %s", uid, self.queue.failed / name, reason)
        else:
            log.warning("study %s: %s; will retry (attempt %d of %d)", uid, reason, self.queue.attempts(name) + 1,
                        self.config.retry.attempts)
        return outcome

    def _write_worklist(self) -> None:
        try:
            write_worklist(self.queue.rows(), self.worklist_dir)
        except OSError as exc:  # a full disk must not stop triage; the next study rewrites it
            log.error("worklist not updated: %s", exc)

    def serve(self, stop: threading.Event | None = None, stop_after_s: float | None = None) -> dict[str, int]:
        """Run the triage loop until ``stop`` is set or ``stop_after_s`` seconds have passed; the queue's counts.

        Studies already waiting (a restart) are triaged first; the worklist is written at start.
        """
        stop = stop or threading.Event()
        end = None if stop_after_s is None else time.monotonic() + stop_after_s
        self._write_worklist()
        while not stop.is_set() and (end is None or time.monotonic() < end):
            try:
                self.process_ready()
            except OSError as exc:  # e.g. the state disk full or briefly unavailable: wait, then try again
                log.error("queue pass failed (%s); trying again in %.1f s", exc, self.config.poll_s)
            stop.wait(self.config.poll_s)
        return self.queue.counts()


def run_listener(model_dir: str | Path, config: PacsConfig, stop: threading.Event | None = None,
                 stop_after_s: float | None = None) -> dict[str, int]:
    """Start a :class:`Listener`, serve until ``stop`` is set, ``stop_after_s`` passes or Ctrl-C; the queue's counts.

    The port is closed on the way out whatever happens; studies still waiting stay in the on-disk queue
    and are picked up by the next start.
    """
    listener = Listener(model_dir, config)
    listener.start()
    try:
        return listener.serve(stop, stop_after_s=stop_after_s)
    except KeyboardInterrupt:
        return listener.queue.counts()
    finally:
        listener.stop()


def _failed_row(uid: str, reason: str) -> dict[str, Any]:
    return {"study_instance_uid": uid, "priority": "FAILED", "status": "failed", "reason": reason,
            "probability": None, "updated": _now()}


def _keep_failed(target: Path, folder: Path, row: dict[str, Any]) -> None:
    """The failed study's retrieved instances (if any) and its reason, for a person to look at."""
    target.mkdir(parents=True, exist_ok=True)
    if folder.is_dir():
        for path in folder.glob("*.dcm"):
            shutil.copy2(path, target / path.name)
    write_json(target / "reason.json", row)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
