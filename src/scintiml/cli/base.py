"""What every command shares: the Typer apps, the console, one-line messages, and the error/interrupt policy.

Every failure the user can fix prints one ``error: ...`` line and exits with status 2; Ctrl-C prints one line and
exits with status 130 (the shell's convention for SIGINT), SIGTERM and SIGHUP likewise with 143 and 129. Outputs are
written through :mod:`scintiml.io`, so an error or an interrupt leaves nothing half-written behind. A closed stdout
(``| head -1``) drops the remaining result lines and the run goes on to its own end and status.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import warnings
from typing import Iterable, Iterator, List

import typer
from rich.console import Console
from rich.text import Text

from ..errors import ScintimlError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="scintiml: a nuclear-medicine department's first machine-learning study.")
cnn_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                      help="Entry-level CNN on planar perfusion scans (extra: cnn).")
app.add_typer(cnn_app, name="cnn")



class _ResultConsole(Console):
    """stdout for results: a reader that stops reading (``scintiml study ... | head -1``) does not stop the run.

    rich's default raises ``SystemExit(1)`` at the first line printed after the pipe closed: a study whose first
    result line went to ``head`` was cut off silently with status 1, and a line printed before the work (a note)
    would have thrown the whole run away. Here the rest of the lines are dropped (stdout goes to the null device,
    as Python's note on SIGPIPE advises) and the run ends with its own status, its outputs written."""

    def on_broken_pipe(self) -> None:
        import os

        self.quiet = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would otherwise fail on the pipe
            os.close(devnull)


# stderr for progress, warnings and errors; stdout (``out``) for results a script may capture.
console = Console(stderr=True, highlight=False, emoji=False)
out = _ResultConsole(highlight=False, emoji=False)


def visible(text: str, keep: str = "") -> str:
    r"""``text`` with its control characters (but those in ``keep``) written as escapes (``\x1b``, ``\n``): a
    column name, a file name or a DICOM value can neither drive the terminal (an ESC sequence clears it, retitles
    it or hides a link) nor start a line of its own (a forged ``error:`` line).

    >>> visible("a\x1b[2Jb\nerror: x")
    'a\\x1b[2Jb\\nerror: x'
    >>> visible("two\nlines\x07", keep="\n")
    'two\nlines\\x07'
    """
    return "".join(c if c.isprintable() or c == " " or c in keep else repr(c)[1:-1] for c in str(text))


def say(text: str) -> None:
    """A result line on stdout; user text inside is printed literally (no markup, no emoji, no control codes)."""
    out.print(Text(visible(text)), soft_wrap=True)  # a Text is never parsed as markup: [/], :smile:, a trailing \\


def warn(text: str, label: str = "warning") -> None:
    """One ``warning:`` (or other label) line on stderr, user text printed literally, options as the command
    line spells them (:func:`cli_phrasing`)."""
    console.print(Text.assemble((f"{label}:", "yellow"), " ", visible(cli_phrasing(text))), soft_wrap=True)


def warn_each(items: Iterable[dict], label: str = "skipped") -> None:
    """One line per skipped item ``{"file": ..., "reason": ...}``."""
    for item in items:
        where, reason = str(item.get("file", "")), str(item.get("reason", ""))
        # a reason that already names its file (most of the DICOM reader's do) is not prefixed twice
        warn(reason if where and reason.startswith(f"{where}: ") else f"{where}: {reason}", label=label)


@contextlib.contextmanager
def warnings_as_lines() -> Iterator[None]:
    """The library's ``UserWarning``s raised inside the block printed as ``warning:`` lines, each once, after it
    (also when it fails: the warnings may say why); other warnings are shown as Python would show them."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            yield
    finally:  # outside the recording block, which would record what is shown here again
        for w in caught:
            if not issubclass(w.category, UserWarning):  # not ours to reword
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        for message in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)):
            warn(message)


def progress_bar(*columns, transient: bool = True):
    """A rich progress bar on stderr; none where stderr is no terminal (a log, a pipe, CI), where rich would leave
    a blank line before the next message."""
    from rich.progress import Progress

    return Progress(*columns, console=console, transient=transient, disable=not console.is_terminal)


#: ``--overwrite`` on a folder output (scintiml.io.atomic.OUTPUT_MARKER says which folders scintiml wrote).
OVERWRITE_HELP = "Replace an output folder scintiml wrote (a folder holding other files is refused)."

#: The value a command-line option takes, where the library's message names only the option.
_OPTION_ARGUMENT = {"--exclude": "COLUMN", "--id": "COLUMN"}


def cli_phrasing(text: str) -> str:
    """A library message as the command line says it: the option to type first, the Python argument after it.

    The library's messages serve both (``exclude=[...] (CLI: --exclude)``); a user at the command line read the
    Python form first and had to translate it.

    >>> cli_phrasing("drop them with exclude=[...] (CLI: --exclude), or pass one as id_column=... (CLI: --id)")
    'drop them with --exclude COLUMN (Python: exclude=[...]), or pass one as --id COLUMN (Python: id_column=...)'
    >>> cli_phrasing("read it with decimal=',' (CLI: --decimal-comma)")
    "read it with --decimal-comma (Python: decimal=',')"
    >>> cli_phrasing("name it so (CLI: --missing odd=n.d.)")  # no Python form before it: the option alone
    'name it so (--missing odd=n.d.)'
    """
    def swap(match: re.Match) -> str:
        option = match.group(2)
        shown = f"{option} {_OPTION_ARGUMENT[option]}" if option in _OPTION_ARGUMENT else option
        return f"{shown} (Python: {match.group(1)})"

    # a keyword argument (exclude=[...], id_column=..., decimal=',', percent=True) followed by its option
    text = re.sub(r"\b([a-z_]+=(?:\[\.\.\.\]|\.\.\.|'[^' ]*'|True|False)) \(CLI: (--[a-z][a-z-]*)\)",
                  swap, str(text))
    return re.sub(r"\(CLI: (--[^)]*)\)", r"(\1)", text)  # on the command line every option is the CLI's


def error_line(text: str) -> None:
    text = cli_phrasing(" ".join(str(text).split()))
    console.print(Text.assemble(("error:", "bold red"), " ", visible(text)), soft_wrap=True)


def print_table(table) -> None:
    """A rich table on stdout, whole: where stdout is no terminal (a log, a pipe, a service's journal) rich would
    squeeze it to 80 columns and cut its cells ("protoc…"); there it gets the width it needs."""
    if out.is_terminal:
        out.print(table)
        return
    # Console.print(width=...) is capped at the console's own width (80 off a terminal): widen the console itself
    needed = out.measure(table, options=out.options.update_width(10_000)).maximum
    width = out.width
    try:
        out.width = max(width, needed)
        out.print(table)
    finally:
        out.width = width


def parse_protocol(items: List[str]) -> dict[str, str]:
    """``KEY=VALUE`` options → dict (a bad item, or one key given twice, is a user error).

    >>> parse_protocol(["collimator=LEHR", "matrix = 128"])
    {'collimator': 'LEHR', 'matrix': '128'}
    >>> parse_protocol(["collimator=LEHR", "collimator=LEGP"])
    Traceback (most recent call last):
    ...
    scintiml.errors.ScintimlError: --protocol collimator is given twice ('LEHR', then 'LEGP'); give each key once
    """
    result: dict[str, str] = {}
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise ScintimlError(f"--protocol takes KEY=VALUE (e.g. collimator=LEHR), got {item!r}")
        k, v = (part.strip() for part in item.split("=", 1))
        if k in result:  # which one the user meant is not ours to guess
            raise ScintimlError(f"--protocol {k} is given twice ({result[k]!r}, then {v!r}); give each key once")
        result[k] = v
    return result


def require(condition: bool, message: str) -> None:
    """Validate an option before anything runs."""
    if not condition:
        raise ScintimlError(message)


#: numpy's seeds are 32-bit: 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


def require_seed(seed: int, option: str = "--seed") -> None:
    """A random seed numpy accepts (0 .. 2**32 - 1), checked before anything runs."""
    require(0 <= seed <= MAX_SEED, f"{option} must be between 0 and {MAX_SEED}, got {seed}")


def version_lines() -> list[str]:
    """scintiml's version and those of the libraries its numbers depend on (for a validation record or a bug
    report); an optional library that is not installed is said to be absent, not imported by force."""
    from importlib import metadata

    from .._version import __version__

    found = []
    for name in ("numpy", "scipy", "pandas", "scikit-learn", "matplotlib", "torch", "monai", "pydicom"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return [f"scintiml {__version__}", f"python {sys.version.split()[0]}; " + ", ".join(found)]


def _print_version(value: bool) -> None:
    if value:
        for line in version_lines():
            out.print(Text(line), soft_wrap=True)  # one line each, however narrow the terminal
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print scintiml's version and its libraries' versions, and exit."),
) -> None:
    """scintiml: a nuclear-medicine department's first machine-learning study."""


#: Which extra brings a missing module (the top-level name ``ImportError.name`` gives).
EXTRA_OF_MODULE = {
    "torch": "cnn", "monai": "cnn", "safetensors": "cnn", "onnx": "cnn", "onnxruntime": "cnn",
    "pydicom": "imaging", "highdicom": "imaging", "SimpleITK": "imaging", "radiomics": "imaging",
    "fastapi": "app", "uvicorn": "app", "multipart": "app", "python_multipart": "app", "starlette": "app",
    "pynetdicom": "pacs", "dicomweb_client": "pacs", "openpyxl": "excel", "pyarrow": "parquet",
}


def missing_package_line(exc: ImportError) -> str:
    """What to install for a missing module: its extra where one brings it, else scintiml itself again.

    >>> missing_package_line(ModuleNotFoundError("No module named 'fastapi'", name="fastapi"))
    "a required package is missing (No module named 'fastapi'); install it with: pip install 'scintiml[app]'"
    """
    root = (exc.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(root)
    fix = f"pip install 'scintiml[{extra}]'" if extra else "pip install --force-reinstall scintiml"
    return f"a required package is missing ({exc}); install it with: {fix}"


def _machine_error(exc: OSError) -> OSError:
    """The OSError that says what the machine refused: pydicom re-raises one whose message is its own traceback
    text (no ``strerror``), with the original as its cause."""
    seen: BaseException | None = exc
    for _ in range(10):  # a cycle of causes is possible in principle: never loop on it
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.strerror:
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _public_path(name: object) -> str:
    """A path as the user named it: an atomic output's temporary sibling (``out/.study.tmp-x1y2/figures/a.png``)
    is shown under the name it was to be published as (``out/study/figures/a.png``)."""
    import re

    return re.sub(r"(^|/)\.([^/]+?)\.tmp-[^/]+", r"\1\2", str(name))


#: What to do about the OS errors a run meets most (errno name -> advice).
_OS_ADVICE = {
    "ENOSPC": "the disk is full: free some space or write the output elsewhere",
    "EDQUOT": "the disk quota is used up: free some space or write the output elsewhere",
    "EROFS": "the file system is read-only: write the output elsewhere",
    "EACCES": "check that you may read the inputs and write there",
    "EPERM": "check that you may read the inputs and write there",
    "EFBIG": "the file is larger than this machine lets a program write (ulimit -f)",
    "EMFILE": "too many files open: raise the limit (ulimit -n) or close other programs",
    "ENFILE": "too many files open on this machine: close other programs",
}


def os_error_line(exc: OSError) -> str:
    """One line for a refusal of the file system: what it said, where, and what to do.

    >>> import errno
    >>> os_error_line(OSError(errno.ENOSPC, "No space left on device", "out/.study.tmp-ab12/figures/roc.png"))
    'No space left on device (out/study/figures/roc.png); the disk is full: free some space or write the output elsewhere'
    """
    import errno

    exc = _machine_error(exc)
    where = f" ({_public_path(exc.filename)})" if getattr(exc, "filename", None) else ""
    advice = _OS_ADVICE.get(errno.errorcode.get(exc.errno or -1, ""), "check the path and that you may read and "
                                                                          "write there")
    return f"{exc.strerror or exc}{where}; {advice}"


class InterruptSaid(Exception):
    """A Ctrl-C whose outcome the command has already told the user (main exits 130 without its own line)."""


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Python's warning display for the command line: one ``warning:`` line (a library's UserWarning in its own
    words, any other with its kind named), not the file, line number and source line a developer reads, and no raw
    control character (matplotlib's "Glyph 27 (\\x1b) missing from font" quoted an ESC from a column name)."""
    text = str(message)
    warn(text if category is UserWarning else f"{category.__name__}: {text}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning every user error into one line and Ctrl-C into exit 130."""
    shown_before, warnings.showwarning = warnings.showwarning, _warning_line
    # a terminal or pipe that cannot show every character (PYTHONIOENCODING=ascii, a latin-1 console) crashed the
    # command on the first em dash or accented column name, after its output was written: escape instead
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            if (getattr(stream, "encoding", "") or "").lower().replace("-", "") not in ("utf8", "utf16", "utf32"):
                stream.reconfigure(errors="backslashreplace")
    try:
        _main(argv)
    finally:
        warnings.showwarning = shown_before


def _interrupt_status() -> int:
    """The shell's status for a run stopped by a signal: 128 + its number (130 for Ctrl-C, 143 for SIGTERM)."""
    from ..io import stopped_by

    return 128 + (stopped_by() or signal.SIGINT)


def _main(argv: list[str] | None) -> None:
    from ..io import interrupt_latch, stopped_by

    try:
        # Typer turns Ctrl-C into Exit(130) and, outside standalone mode, *returns* an Exit's code: pass it on.
        with interrupt_latch():  # a Ctrl-C Python swallows still stops the output (scintiml.io.atomic)
            code = app(args=argv, standalone_mode=False)
        if code == 130:
            raise KeyboardInterrupt
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)
    except ScintimlError as exc:
        error_line(str(exc))
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except InterruptSaid:
        sys.exit(_interrupt_status())
    except (typer.Abort, KeyboardInterrupt):
        signum = stopped_by()
        if signum is None or signum == signal.SIGINT:
            console.print("interrupted: nothing was written", soft_wrap=True)
        else:
            console.print(f"stopped by {signal.Signals(signum).name}: nothing was written", soft_wrap=True)
        sys.exit(_interrupt_status())
    except OSError as exc:  # the file system refused (permissions, full disk, read-only mount): one line too
        error_line(os_error_line(exc))
        sys.exit(2)
    except ImportError as exc:
        error_line(missing_package_line(exc))
        sys.exit(2)
    except MemoryError:  # the machine's (or a ulimit's) refusal, not the table's fault: one line, nothing written
        error_line("not enough memory for this run (the machine, or a limit set on it, refused more); use fewer "
                   "patients or inputs (--exclude), or a machine with more memory")
        sys.exit(2)
    except Exception as exc:
        # `scintiml` or `scintiml cnn` alone: click >= 8.2 (and the click typer carries, typer._click) raise this;
        # matched by name, as it is one class or the other depending on the typer installed. Its help is printed as
        # click prints it (stderr, status 2): flattened into the one error line below it was unreadable.
        if any(kind.__name__ == "NoArgsIsHelpError" for kind in type(exc).__mro__) and hasattr(exc, "show"):
            exc.show()
            sys.exit(exc.exit_code)
        # Usage errors (unknown option, missing argument) from click carry format_message(): one line too.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            error_line(exc.format_message())
            sys.exit(2)
        raise
