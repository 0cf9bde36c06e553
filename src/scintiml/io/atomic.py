"""Atomic outputs: a temporary sibling renamed into place only when everything in it is written.

The temporary path sits in the same folder as the target (same file system, so ``os.replace`` is atomic) and
starts with ``.`` so a half-written result is never mistaken for one. Any exception — ``KeyboardInterrupt``
included, since it derives from ``BaseException`` — removes it before the exception goes on.

An interrupt can also be *lost*: Python swallows an exception raised inside a weakref callback or ``__del__``
("Exception ignored in ..."), and a Ctrl-C that lands while the garbage collector runs one becomes such an
exception, printed as a traceback, and the command ran on and wrote its output (a study interrupted 3.5–5.5 s
after it started did so in 2 of 10 tries). :func:`interrupt_latch` records every SIGINT, and the commit of an
atomic output refuses to publish after one, so a Ctrl-C is never ignored.
"""

from __future__ import annotations

import contextlib
import os
import hashlib
import secrets
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
from glob import escape as glob_escape
from pathlib import Path
from typing import Iterator

from ..errors import OutputDirectoryError

__all__ = ["OUTPUT_MARKER", "OutputExistsError", "atomic_dir", "atomic_file", "check_output_path", "check_replaceable",
           "safe_file_stem", "interrupt_latch", "raise_if_interrupted", "stopped_by", "Terminated"]

_INTERRUPTED = threading.Event()
#: The signal that stopped the last latched block (SIGINT, SIGTERM or SIGHUP), for the command line's exit status.
_LAST_SIGNAL: list[int] = []
#: Besides Ctrl-C: a service manager's or ``kill``'s SIGTERM and a closed terminal's SIGHUP, whose default action
#: ended the process on the spot — temporary folders (a de-identified copy of every file, ``deid``'s new key)
#: were left behind, where Ctrl-C cleaned up.
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled as Ctrl-C is (everything unwinds, nothing half-written is left)."""


def stopped_by() -> int | None:
    """The signal number that stopped the last latched block, or None (see :func:`interrupt_latch`)."""
    return _LAST_SIGNAL[-1] if _LAST_SIGNAL else None


@contextlib.contextmanager
def interrupt_latch() -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) raises ``KeyboardInterrupt`` as usual *and* is remembered; SIGTERM and
    SIGHUP (where their action is the default, which ends the process at once) raise :class:`Terminated`, a
    ``KeyboardInterrupt``, so that they clean up as Ctrl-C does; :func:`stopped_by` says which signal it was.

    Every atomic output checks the latch before it publishes (:func:`raise_if_interrupted`), so an interrupt
    that Python swallowed (see the module docstring) still stops the output. A process that ignores SIGINT
    (started in the background) keeps ignoring it; outside the main thread the latch does nothing. The
    traceback Python prints for a swallowed ``KeyboardInterrupt`` is left out: the interrupt is handled.

    Examples
    --------
    >>> with interrupt_latch():
    ...     raise_if_interrupted()  # no Ctrl-C yet: nothing happens
    """
    _INTERRUPTED.clear()
    _LAST_SIGNAL.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # a signal handled elsewhere (ignored in a background job, caught by a server) keeps its handler
    handled = [signal.SIGINT] if signal.getsignal(signal.SIGINT) is signal.default_int_handler else []
    handled += [sig for sig in _STOP_SIGNALS if signal.getsignal(sig) is signal.SIG_DFL]
    if not handled:
        yield
        return

    def remember(signum, frame):
        _INTERRUPTED.set()
        _LAST_SIGNAL.append(signum)
        raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signal.Signals(signum).name)

    def quiet(unraisable):
        if not (isinstance(unraisable.exc_value, KeyboardInterrupt) and _INTERRUPTED.is_set()):
            previous_hook(unraisable)

    previous = {sig: signal.signal(sig, remember) for sig in handled}
    previous_hook = sys.unraisablehook
    sys.unraisablehook = quiet
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = previous_hook
        _INTERRUPTED.clear()


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` when a Ctrl-C was recorded by :func:`interrupt_latch`, even one swallowed.

    Only in the main thread, where Python delivers the interrupt: worker threads (the PACS listener's) finish
    what they write while the main thread shuts them down, as before.
    """
    if _INTERRUPTED.is_set() and threading.current_thread() is threading.main_thread():
        raise KeyboardInterrupt


class OutputExistsError(OutputDirectoryError):
    """The output path exists and ``overwrite`` was not asked for."""


#: Written into every output folder: ``--overwrite`` replaces only a folder that holds it (or, for folders written
#: before scintiml 0.7.1, one whose every entry the new output also holds). Without it, ``--out ~/Desktop
#: --overwrite`` — or a summaries folder the user never named, beside a worklist — would delete the user's files.
OUTPUT_MARKER = ".scintiml-output"

#: The kinds of output folder the marker records (:func:`output_kind`): ``--overwrite`` replaces a folder of its
#: own kind only.
STUDY_OUTPUT, BUNDLE_OUTPUT, VALIDATION_OUTPUT = "study", "model bundle", "validation"
PACS_OUTPUT, SIMULATION_OUTPUT, SUMMARIES_OUTPUT = "PACS triage", "simulated cohort", "triage summaries folder"


def output_kind(folder: Path) -> str | None:
    """What the scintiml output ``folder`` is ("study", "model bundle" ...), as its :data:`OUTPUT_MARKER` records
    it; None for a folder without one, or one written before scintiml 0.7.5 (the marker named no kind)."""
    try:
        text = (Path(folder) / OUTPUT_MARKER).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return next((line.removeprefix("output: ").strip() for line in text.splitlines() if line.startswith("output: ")),
                None)


def _check_same_kind(target: Path, output: str | None) -> None:
    """Refuse to replace one kind of scintiml output with another: ``--overwrite`` on a study folder named as the
    ``--out`` of recalibrate deleted the study (results, report, model) for a bundle, without a word."""
    if output is None or not target.is_dir() or target.is_symlink():
        return
    found = output_kind(target)
    if found is not None and found != output:
        raise OutputDirectoryError(
            f"{str(target)!r} holds a scintiml {found}, and this command writes a {output}; --overwrite replaces "
            f"only an output of the same kind — choose another output path (nothing was changed)")


def _foreign_entries(old: Path, new: Path) -> list[str]:
    """Entries of the existing folder ``old`` that replacing it with ``new`` would lose and that scintiml did not
    write: none when ``old`` carries :data:`OUTPUT_MARKER`; else every path in ``old`` that ``new`` lacks (an
    output of an earlier version has the same names as its rerun)."""
    if (old / OUTPUT_MARKER).is_file():
        return []
    ours = {Path(root).relative_to(new) / name for root, dirs, files in os.walk(new) for name in (*dirs, *files)}
    lost = []
    for root, dirs, files in os.walk(old):  # links are listed, not followed
        lost += [str(Path(root).relative_to(old) / name) for name in (*dirs, *files)
                 if Path(root).relative_to(old) / name not in ours]
    return sorted(lost)


def check_output_path(target: str | Path, overwrite: bool = False, inputs: tuple[str | Path, ...] = (),
                      kind: str | None = None, output: str | None = None) -> Path:
    """Validate an output path before any work starts; return it as a :class:`Path`.

    Refuses: a target that exists (unless ``overwrite``), a target that *is* one of ``inputs``, holds one of
    them or lies inside an input folder (a model bundle, an image folder: a user's input is never overwritten or
    added to), a file where ``kind="folder"`` is asked for and a folder where ``kind="file"`` is (``--overwrite``
    would not help either), a folder holding another kind of scintiml output than ``output`` (a study where a model
    bundle is to be written: see :func:`output_kind`), and a parent that cannot be created or written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_path(folder / "study").name
    'study'
    >>> _ = (folder / "notes.txt").write_text("mine")
    >>> check_output_path(folder)
    Traceback (most recent call last):
    ...
    scintiml.io.atomic.OutputExistsError: ... already exists; choose another path or pass --overwrite
    """
    target = Path(target)
    resolved = resolve_path(target, "output")
    for item in inputs:
        src = resolve_path(Path(item), "input")
        if src == resolved or resolved in src.parents:
            raise OutputDirectoryError(
                f"the output {str(target)!r} is (or holds) the input {str(item)!r}; choose another output path "
                "— inputs are never overwritten"
            )
        if src.is_dir() and src in resolved.parents:
            raise OutputDirectoryError(
                f"the output {str(target)!r} lies inside the input folder {str(item)!r}; choose an output path "
                "outside it — inputs are never overwritten"
            )
    if kind == "folder" and target.exists() and not target.is_dir():
        raise OutputDirectoryError(f"{str(target)!r} is a file; give a folder path for these outputs")
    if kind == "folder" and target.is_symlink():
        # published by renaming a finished folder onto the path, which a link cannot take (and replacing the link
        # would leave what it points to behind, unchanged)
        raise OutputDirectoryError(f"{str(target)!r} is a symbolic link; give the path of the folder itself "
                                   f"({str(resolved)!r}) or a new one")
    if kind == "file" and target.is_dir():
        raise OutputDirectoryError(f"{str(target)!r} is a folder; give a file name for this output")
    if target.is_symlink() or (target.exists() and not _empty_dir(target)):
        if not overwrite:
            raise OutputExistsError(f"{str(target)!r} already exists; choose another path or pass --overwrite")
        _check_same_kind(target, output)
    parent = resolved.parent
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK) or not _can_create_in(existing):
        raise OutputDirectoryError(
            f"cannot write to {str(existing)!r} (not a writable folder); choose an --out in a folder you can write to"
        )
    return target


def resolve_path(path: Path, role: str) -> Path:
    """``path.resolve()``, with a symbolic-link loop or an unreadable path named (pathlib raises RuntimeError on a
    loop, OSError where a folder on the way may not be read)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError) as exc:
        raise OutputDirectoryError(f"the {role} {str(path)!r} cannot be resolved ({exc}): a symbolic link on its "
                                   "path loops, or a folder on it cannot be read — give the real path") from None


def safe_file_stem(text: str, fallback: str = "unnamed") -> str:
    """``text`` (a PatientID, a study label ...) made safe as one file name inside an output folder.

    Anything but letters, digits, ``.``, ``_`` and ``-`` becomes ``_``; leading dots are dropped, so a value
    taken from a DICOM file can never climb out of the folder (``../x``), hide the file, or be empty.

    Examples
    --------
    >>> safe_file_stem("../../etc/passwd"), safe_file_stem("Doe^Jane 01"), safe_file_stem("")
    ('_.._etc_passwd', 'Doe_Jane_01', 'unnamed')
    """
    import re

    stem = re.sub(r"[^A-Za-z0-9._-]", "_", str(text)).lstrip(".")[:120]
    return stem or fallback


def check_replaceable(target: str | Path) -> None:
    """Refuse, before any work, an existing non-empty folder ``target`` without :data:`OUTPUT_MARKER`: for a command
    whose work has effects outside the folder (results stored on a PACS), :func:`atomic_dir`'s check at the end
    would come after them. Folders written before scintiml 0.7.1 carry no marker and are refused too.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "notes.txt").write_text("mine")
    >>> check_replaceable(folder)
    Traceback (most recent call last):
    ...
    scintiml.errors.OutputDirectoryError: ... holds files scintiml did not write ...
    """
    target = Path(target)
    if target.is_dir() and not target.is_symlink() and not _empty_dir(target) \
            and not (target / OUTPUT_MARKER).is_file():
        shown = ", ".join(repr(p.name) for p in sorted(target.iterdir())[:3])
        raise OutputDirectoryError(
            f"{str(target)!r} holds files scintiml did not write ({shown}; or it was written before scintiml 0.7.1); "
            "--overwrite replaces only a folder scintiml wrote — move those files out or choose another output path "
            "(nothing was changed)")


def _version() -> str:
    from .._version import __version__

    return __version__


def _can_create_in(folder: Path) -> bool:
    """Whether a file can really be made in ``folder``: ``os.access`` says yes to root even on /proc or a
    read-only mount, so make (and remove) a temporary sibling."""
    try:
        fd, name = tempfile.mkstemp(prefix=".scintiml-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def _empty_dir(path: Path) -> bool:
    """An existing empty folder may receive the output (a user often makes it first)."""
    return path.is_dir() and not any(path.iterdir())


def _replace(tmp: Path, target: Path) -> None:
    """Move ``tmp`` onto ``target``; an old ``target`` survives until the new one is in place."""
    if target.exists() or target.is_symlink():
        if target.is_dir() and not target.is_symlink():
            backup = target.with_name(f".{target.name}.old-{os.getpid()}")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(target, backup)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(backup, target)
                raise
            shutil.rmtree(backup, ignore_errors=True)
            return
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_dir(target: str | Path, overwrite: bool = False, *, mark: bool = True,
               output: str | None = None) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it becomes ``target``.

    Parameters
    ----------
    target : path
        The folder to publish.
    overwrite : bool
        Replace an existing ``target`` (only once the new one is complete), provided scintiml wrote it: a folder
        without :data:`OUTPUT_MARKER` that holds anything the new output does not is refused, nothing deleted.
    mark : bool
        Write :data:`OUTPUT_MARKER` into the output (off where the folder is handed to another program whole,
        such as a de-identified DICOM folder, and is never overwritten).
    output : str, optional
        What the folder is ("study", "model bundle" ...): recorded in the marker, and an existing folder recorded
        as another kind is not replaced (:func:`check_output_path`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "result"
    >>> with atomic_dir(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("done")
    >>> sorted(p.name for p in out.iterdir())
    ['.scintiml-output', 'a.txt']
    >>> try:
    ...     with atomic_dir(out.with_name("failed")) as tmp:
    ...         raise RuntimeError("boom")
    ... except RuntimeError:
    ...     pass
    >>> sorted(p.name for p in out.parent.iterdir())
    ['result']
    """
    target = check_output_path(target, overwrite=overwrite, kind="folder", output=output)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(target)  # a killed run's half-written folder (270 kB for a study) stayed beside it for good
    tmp = _temp_sibling(target)  # named before it exists: a signal at any moment after finds it to remove
    lock = None
    try:
        while True:
            try:
                os.mkdir(tmp, 0o700)  # as mkdtemp makes it
                break
            except FileExistsError:  # another run's temporary of this name (1 in 2**48): never touch it
                tmp = _temp_sibling(target)
        lock = _hold(tmp)  # held while the folder is written: no other run takes it for an orphan
        yield tmp
        # mkdtemp makes 0700 folders (the study folder, its model/ and figures/): colleagues on a shared department
        # drive could not open the report; give every folder the mode a plain mkdir would have
        for folder in [tmp, *(p for p in tmp.rglob("*") if p.is_dir() and not p.is_symlink())]:
            if stat.S_IMODE(folder.stat().st_mode) == 0o700:
                os.chmod(folder, 0o777 & ~_umask())
        if (target.is_symlink() or (target.exists() and not _empty_dir(target))) and not overwrite:  # appeared meanwhile
            raise OutputExistsError(f"{str(target)!r} already exists; choose another path or pass --overwrite")
        if mark:
            (tmp / OUTPUT_MARKER).write_text(f"written by scintiml {_version()}; --overwrite may replace this folder\n"
                                             + (f"output: {output}\n" if output else ""))
        _check_same_kind(target, output)  # again: another command may have written it meanwhile
        if target.is_dir() and not target.is_symlink() and (lost := _foreign_entries(target, tmp)):
            shown = ", ".join(repr(name) for name in lost[:3]) + (f" and {len(lost) - 3} more" if len(lost) > 3 else "")
            raise OutputDirectoryError(
                f"{str(target)!r} holds files scintiml did not write ({shown}; or an output of scintiml before 0.7.1 "
                "with files this run does not write again); --overwrite replaces only a folder scintiml wrote — move "
                "those files out or choose another output path (nothing was changed)")
        raise_if_interrupted()
        _replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if lock is not None:
            os.close(lock)


@contextlib.contextmanager
def atomic_file(target: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary file path beside ``target``; on success it is renamed to ``target``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_file(out) as tmp:
    ...     _ = tmp.write_text("id,p\\n1,0.5\\n")
    >>> out.read_text().splitlines()[1]
    '1,0.5'
    """
    target = check_output_path(target, overwrite=overwrite, kind="file")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(target)
    try:
        while True:
            try:
                os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))  # as mkstemp makes it
                break
            except FileExistsError:
                tmp = _temp_sibling(target)
        yield tmp
        if target.exists() and target.is_dir():
            raise OutputDirectoryError(f"{str(target)!r} is a folder; give a file name for this output")
        os.chmod(tmp, 0o644 & ~_umask())
        raise_if_interrupted()
        if overwrite:
            os.replace(tmp, target)
        else:
            _publish_new(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _publish_new(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target`` unless ``target`` exists by now: two runs given one ``--out`` both passed the
    check at their start, and the later ``os.replace`` silently dropped the earlier's output (50 predictions lost,
    both runs saying "written"). A hard link fails where the name exists, atomically; where the file system has
    none (FAT, some network shares), the existence check just before the rename is the fallback."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputExistsError(f"{str(target)!r} appeared while this run was writing it (another run with the "
                                "same output?); choose another path or pass --overwrite") from None
    except OSError:  # no hard links here
        if target.exists() or target.is_symlink():
            raise OutputExistsError(f"{str(target)!r} appeared while this run was writing it (another run with the "
                                    "same output?); choose another path or pass --overwrite") from None
        os.replace(tmp, target)
        return
    tmp.unlink()


def _temp_sibling(target: Path) -> Path:
    """A fresh temporary name beside ``target`` (``.NAME.tmp-<host>-<pid>-<12 hex>``), not yet created.

    The name is chosen before anything exists, and the caller creates it inside the ``try`` that removes it: with
    ``mkdtemp``/``mkstemp`` a Ctrl-C or SIGTERM landing between the creation and the assignment of its name left the
    temporary behind (a signal mask did not close that window: it holds only the calling thread's signals, and
    numpy's and torch's threads take them). The machine and the process are in the name so that a later run can
    tell a temporary whose writer was killed outright (:func:`_remove_orphans`) from one still being written."""
    return target.parent / f".{_temp_stem(target)}.tmp-{_HOST}-{os.getpid()}-{secrets.token_hex(6)}"


def _temp_stem(target: Path) -> str:
    """``target``'s name in its temporaries' names, at most 100 characters: a long output name (a file system
    takes 255) must leave room for the suffix, or a legal --out was refused as a name too long."""
    name = target.name
    if len(name) <= 100:
        return name
    return name[:80] + "~" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]


#: This machine, as temporary names record it: a shared drive's temporaries of another machine are never judged.
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _hold(folder: Path) -> int | None:
    """An open descriptor of ``folder`` holding an exclusive ``flock`` on it; None where another process holds the
    lock, the folder cannot be opened, or the platform has no ``flock``.

    The lock is the kernel's, so a run in another container of this machine (another PID namespace, where its
    process id means nothing) still holds it; it goes with the process, however the process ends."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no orphan is ever removed there
        return None
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # another process holds it
        os.close(fd)
        return None
    return fd


def _remove_orphans(target: Path) -> list[Path]:
    """Remove the temporary folders beside ``target`` that a run on this machine left when it was killed outright
    (SIGKILL, the out-of-memory killer, a power cut: no handler runs); return them.

    A folder is removed only when both say its writer is gone: the process its name records does not exist, and
    no process holds its lock (:func:`_hold`). So a live run's folder is kept even where its process id is another
    namespace's, as is one of another machine on a shared drive, one named before 0.7.5 (no process in its name),
    and any file."""
    removed: list[Path] = []
    try:
        siblings = list(target.parent.glob(f".{glob_escape(_temp_stem(target))}.tmp-{_HOST}-*-*"))
    except OSError:
        return removed
    for path in siblings:
        pid = path.name.rsplit("-", 2)[-2]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        if path.is_symlink() or not path.is_dir():
            continue
        fd = _hold(path)  # None while any process writes it (or where there is no flock: nothing is removed)
        if fd is None:
            continue
        try:
            shutil.rmtree(path)
            removed.append(path)
        except OSError:  # removed by another run at the same moment
            pass
        finally:
            os.close(fd)
    return removed


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists here (a number no process can have, from a crafted name, counts as alive:
    the folder is then left alone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # another user's process; a number beyond any pid
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_regular_readable(path: str | Path) -> bool:
    """True for a regular file (not a FIFO, device or socket, which could block or never end)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode)
