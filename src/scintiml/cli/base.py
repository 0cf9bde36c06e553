"""What every command shares: the Typer apps, the console, one-line messages, and the error/interrupt policy.

Every failure the user can fix prints one ``error: ...`` line and exits with status 2; Ctrl-C prints one line and
exits with status 130 (the shell's convention for SIGINT). Outputs are written through :mod:`scintiml.io`, so an
error or an interrupt leaves nothing half-written behind.
"""

from __future__ import annotations

import contextlib
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

# stderr for progress, warnings and errors; stdout (``out``) for results a script may capture.
console = Console(stderr=True, highlight=False, emoji=False)
out = Console(highlight=False, emoji=False)


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
    """One ``warning:`` (or other label) line on stderr, user text printed literally."""
    console.print(Text.assemble((f"{label}:", "yellow"), " ", visible(text)), soft_wrap=True)


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


def error_line(text: str) -> None:
    console.print(Text.assemble(("error:", "bold red"), " ", visible(" ".join(str(text).split()))), soft_wrap=True)


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
    try:
        _main(argv)
    finally:
        warnings.showwarning = shown_before


def _main(argv: list[str] | None) -> None:
    from ..io import interrupt_latch

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
        sys.exit(130)
    except (typer.Abort, KeyboardInterrupt):
        console.print("interrupted: nothing was written", soft_wrap=True)
        sys.exit(130)
    except OSError as exc:  # the file system refused (permissions, full disk, read-only mount): one line too
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        error_line(f"{exc.strerror or exc}{where}; check the path and that you may write there")
        sys.exit(2)
    except ImportError as exc:
        error_line(f"a required package is missing ({exc}); install scintiml with its extras: "
                   "pip install 'scintiml[imaging,cnn]'")
        sys.exit(2)
    except Exception as exc:
        # Usage errors (unknown option, missing argument) from click carry format_message(): one line too.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            error_line(exc.format_message())
            sys.exit(2)
        raise
