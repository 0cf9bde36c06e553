"""The listener's persistent on-disk queue: nothing received is lost, a restart resumes where it stopped.

Layout under the state folder::

    incoming/<study>/<SOPInstanceUID>.dcm   instances as received (written to a temp name, then renamed)
    incoming/<study>/.state.json            attempts so far, when to try next, the last error
    done/<study>.json                       the worklist row of a triaged study
    failed/<study>/                         the study's instances + reason.json, after the last attempt
    failed/unidentified/                    instances without a readable Study Instance UID, each with its reason

Every received study is in exactly one of these places, so "every study is accounted for" is a listing.
Folder names are the Study Instance UID when it is a plain UID (digits and dots) and a hash of it otherwise,
so a hostile UID cannot name a path outside the state folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from ..io import write_json
from .config import RetryPolicy

__all__ = ["StudyQueue", "safe_name"]

_UID_RE = re.compile(r"^[0-9][0-9.]{0,63}$")
#: failed/<this>/ keeps instances that name no study (they cannot be gathered, but are not thrown away).
UNIDENTIFIED = "unidentified"


def safe_name(uid: str) -> str:
    """A file name for a DICOM UID: the UID itself when it is well formed, else a hash.

    Examples
    --------
    >>> safe_name("1.2.840.1")
    '1.2.840.1'
    >>> safe_name("../../etc")[:4]
    'uid-'
    """
    uid = str(uid)
    if _UID_RE.match(uid) and ".." not in uid:
        return uid
    return "uid-" + hashlib.sha256(uid.encode("utf-8", "replace")).hexdigest()[:32]


class StudyQueue:
    """Studies received by the listener, waiting, triaged or failed (see the module docstring).

    Parameters
    ----------
    state_dir : path
        Created if absent; keep it on a disk that survives a reboot.

    Examples
    --------
    >>> import tempfile
    >>> q = StudyQueue(tempfile.mkdtemp())
    >>> q.add_instance("1.2.3", "1.2.3.4", b"DICM").name
    '1.2.3.4.dcm'
    >>> q.ready(now=time.time() + 60, quiet_time_s=30)
    ['1.2.3']
    >>> q.fail("1.2.3", "view(s) LPO missing", RetryPolicy(attempts=1))
    'failed'
    >>> q.counts()
    {'incoming': 0, 'done': 0, 'failed': 1, 'unidentified': 0}
    """

    def __init__(self, state_dir: str | Path):
        self.root = Path(state_dir)
        self.incoming = self.root / "incoming"
        self.done = self.root / "done"
        self.failed = self.root / "failed"
        # the folders this queue makes, deepest first: a listener that cannot start takes them back (discard_new)
        self._made = [d for d in (self.incoming, self.done, self.failed) if not d.exists()]
        self._made += [d for d in (self.root, *self.root.parents) if not d.exists()]
        for d in (self.incoming, self.done, self.failed):
            d.mkdir(parents=True, exist_ok=True)
        # The C-STORE handler threads and the triage loop both touch incoming/; one lock keeps a study from
        # being finalised while an instance of it is being written.
        self._lock = threading.Lock()

    def discard_new(self) -> None:
        """Remove the folders this queue created, as long as they are still empty (a listener that could not open
        its port leaves no state folder behind); a folder that holds anything is kept."""
        for d in self._made:
            try:
                d.rmdir()
            except OSError:  # not empty (or gone): what is in it is someone's, never removed
                pass

    # ------------------------------------------------------------------ receiving
    def is_done(self, study_uid: str) -> bool:
        """Whether the study has been triaged (its worklist row is in done/)."""
        return (self.done / f"{safe_name(study_uid)}.json").exists()

    def add_instance(self, study_uid: str, sop_uid: str, data: bytes) -> Path:
        """Store one received instance (atomically) and re-arm its study: new data, fresh attempts. A study that
        failed before gets its kept instances back, so a view arriving late joins the others (alone, it failed
        again and the five earlier views kept in failed/ were deleted)."""
        with self._lock:
            folder = self.incoming / safe_name(study_uid)
            folder.mkdir(parents=True, exist_ok=True)
            earlier = self.failed / safe_name(study_uid)
            if earlier.is_dir():
                for kept in earlier.glob("*.dcm"):
                    os.replace(kept, folder / kept.name)
                shutil.rmtree(earlier, ignore_errors=True)
            path = folder / f"{safe_name(sop_uid)}.dcm"
            tmp = folder / f".{path.name}.part"
            tmp.write_bytes(data)
            os.replace(tmp, path)
            state = self._state(folder)
            state.update({"study_instance_uid": str(study_uid), "attempts": 0, "next_try": 0.0,
                          "last_received": time.time()})
            self._write_state(folder, state)
        return path

    # ------------------------------------------------------------------ scheduling
    def pending(self) -> list[str]:
        """Folder names of every study still in incoming/."""
        return sorted(p.name for p in self.incoming.iterdir() if p.is_dir())

    def ready(self, now: float | None = None, quiet_time_s: float = 30.0) -> list[str]:
        """Studies quiet for ``quiet_time_s`` (no new instance) whose backoff has elapsed."""
        now = time.time() if now is None else now
        out = []
        for name in self.pending():
            folder = self.incoming / name
            files = self.files(name)
            if not files:
                continue
            newest = max(p.stat().st_mtime for p in files)
            state = self._state(folder)
            if now - newest >= quiet_time_s and now >= float(state.get("next_try", 0.0)):
                out.append(name)
        return out

    def files(self, name: str) -> list[Path]:
        """The study's received instances (temp files excluded)."""
        folder = self.incoming / name
        return sorted(folder.glob("*.dcm")) if folder.is_dir() else []

    def study_uid(self, name: str) -> str:
        return str(self._state(self.incoming / name).get("study_instance_uid", name))

    def attempts(self, name: str) -> int:
        return int(self._state(self.incoming / name).get("attempts", 0))

    # ------------------------------------------------------------------ outcomes
    def complete(self, name: str, row: dict[str, Any], snapshot: list[Path]) -> bool:
        """Record a triaged study; False (and nothing removed) if instances arrived while it was processed."""
        with self._lock:
            folder = self.incoming / name
            if set(self.files(name)) - set(snapshot):
                return False  # more of the study came in: triage it again, with everything
            write_json(self.done / f"{name}.json", row)
            self._clear_failed(name)
            shutil.rmtree(folder, ignore_errors=True)
            return True

    def fail(self, name: str, reason: str, policy: RetryPolicy, now: float | None = None,
             snapshot: list[Path] | None = None, final: bool = False) -> str:
        """Count a failed attempt: ``'retry'`` (backoff scheduled) or ``'failed'`` (moved to failed/).

        If instances arrived while the study was processed (``snapshot`` lacks some), the attempt does not
        count: the study is simply tried again with everything once it is quiet. ``final`` skips the
        remaining attempts (a study the model refuses will not change by waiting).
        """
        now = time.time() if now is None else now
        with self._lock:
            folder = self.incoming / name
            if snapshot is not None and set(self.files(name)) - set(snapshot):
                return "retry"
            state = self._state(folder)
            attempts = int(state.get("attempts", 0)) + 1
            history = list(state.get("errors", []))[-9:] + [{"time": now, "reason": reason}]
            state.update({"attempts": attempts, "last_error": reason, "errors": history})
            if attempts < policy.attempts and not final:
                state["next_try"] = now + policy.delay(attempts)
                self._write_state(folder, state)
                return "retry"
            self._write_state(folder, state)
            target = self.failed / name
            if target.exists():  # an earlier failure of the same study: the newest data and reason win
                shutil.rmtree(target)
            os.replace(folder, target)
            write_json(target / "reason.json", {"study_instance_uid": state.get("study_instance_uid", name),
                                                 "reason": reason, "attempts": attempts, "errors": history})
            (self.done / f"{name}.json").unlink(missing_ok=True)
            return "failed"

    def _clear_failed(self, name: str) -> None:
        if (self.failed / name).exists():
            shutil.rmtree(self.failed / name)

    # ------------------------------------------------------------------ accounting
    def counts(self) -> dict[str, int]:
        """Studies waiting, triaged and failed, and instances kept because they named no study."""
        return {"incoming": len(self.pending()), "done": len(list(self.done.glob("*.json"))),
                "failed": len(self._failed_studies()),
                "unidentified": len(list((self.failed / UNIDENTIFIED).glob("*.dcm")))}

    def _failed_studies(self) -> list[Path]:
        return sorted(p for p in self.failed.iterdir() if p.is_dir() and p.name != UNIDENTIFIED)

    def rows(self) -> list[dict[str, Any]]:
        """Worklist rows: every triaged study and every failed one (with its reason)."""
        rows = []
        for path in sorted(self.done.glob("*.json")):
            try:
                rows.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        for folder in self._failed_studies():
            try:
                info = json.loads((folder / "reason.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                info = {"reason": "reason.json unreadable"}
            rows.append({"study_instance_uid": info.get("study_instance_uid", folder.name), "priority": "FAILED",
                         "status": "failed", "reason": info.get("reason"), "probability": None,
                         "updated": _iso(folder.stat().st_mtime)})
        n = len(list((self.failed / UNIDENTIFIED).glob("*.dcm")))
        if n:  # not a study, but a person must look at them
            rows.append({"study_instance_uid": "", "priority": "FAILED", "status": "failed", "probability": None,
                         "reason": f"{n} received instance(s) without a readable Study Instance UID, kept in "
                                   f"failed/{UNIDENTIFIED}/", "updated": _iso(time.time())})
        return rows

    # ------------------------------------------------------------------ state files
    @staticmethod
    def _state(folder: Path) -> dict[str, Any]:
        try:
            return json.loads((folder / ".state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _write_state(folder: Path, state: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / ".state.json", state)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))
