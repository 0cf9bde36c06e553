"""One model-bundle format for every kind of model scintiml writes (tabular network, planar CNN).

A bundle is a folder::

    bundle.json        {"format": "scintiml-bundle", "format_version": 2, "kind": "tabular-ann" | "planar-cnn",
                        "scintiml_version": ..., "spec": {..., "spec_sha256": "<sha256 of the rest>"},
                        "files": {"weights.npz": "<sha256>", ...}}
    weights.npz | weights.safetensors     arrays, never pickled
    card.json, card.md                    the model card (Mitchell et al. 2019)
    ...                                   any other file the kind needs, each with its sha256 in bundle.json

:func:`write_bundle` writes it atomically; :func:`read_bundle` verifies the format, the kind and the checksum of
every listed file (and that no listed file is missing) and the spec's own digest before anything is used, so an
edited, truncated or swapped file or a hand-edited spec is refused with one :class:`~scintiml.errors.BundleError`
line (both kinds' loaders also refuse a spec without a digest: every bundle since 0.3 carries one). The digest
catches accidental edits; it is not a signature (anyone can recompute it), so trust comes from where a bundle came
from. A bundle from an untrusted source must not reach outside itself or exhaust the machine: a listed file (or
``bundle.json``) that is a symbolic link or lies outside the folder is refused, so is a listed file over
:data:`MAX_FILE_BYTES`; every JSON file is parsed with a size and a nesting-depth limit and no number beyond a
float's range; the spec's own numbers are checked by the kind's loader (shapes, finite and plausible weights,
scales and threshold).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Callable, Mapping

from .._version import __version__
from ..errors import BundleError
from ..io import atomic_dir, jsonable
from ..io.atomic import BUNDLE_OUTPUT

BUNDLE_FORMAT = "scintiml-bundle"
BUNDLE_FORMAT_VERSION = 2
#: The versions read. A bundle is written as 3 only when a version-2 reader (scintiml 0.4) would apply it wrongly —
#: missing-value codes it would ignore (a new patient's "not measured" 0 fed to the network as a value), levels of
#: categorical inputs it would match case-sensitively — so that reader refuses it instead, as it does any version
#: but 2.
READABLE_FORMAT_VERSIONS = (2, 3)
SPEC_FILE = "bundle.json"
MAX_SPEC_BYTES = 20_000_000  # a spec is small; a huge one is not a bundle of ours
#: Largest file a bundle may list. Ours hold at most a few tens of MB (a tabular network is capped at 80 MB of
#: weights, the planar CNN is smaller); every listed file is hashed whole on each load, so a forged listing of a
#: multi-GB file would stall every prediction.
MAX_FILE_BYTES = 1 << 30
MAX_JSON_DEPTH = 32  # ours nest about 7 deep; a deeper file is not ours, and checking it would recurse without bound

__all__ = ["BUNDLE_FORMAT", "BUNDLE_FORMAT_VERSION", "SPEC_FILE", "write_bundle", "read_bundle",
           "BundleFolder", "sha256_file", "spec_digest", "require_finite"]


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def spec_digest(spec: Mapping[str, Any]) -> str:
    """sha256 of a spec (without its own ``spec_sha256``) as canonical JSON (sorted keys, no spaces).

    Examples
    --------
    >>> spec_digest({"b": 1, "a": [0.5]}) == spec_digest({"a": [0.5], "b": 1, "spec_sha256": "x"})
    True
    """
    body = {k: v for k, v in jsonable(dict(spec)).items() if k != "spec_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_bundle(
    target: str | Path,
    kind: str,
    spec: Mapping[str, Any],
    writers: Mapping[str, Callable[[Path], None] | bytes | str],
    card: Mapping[str, Any] | None = None,
    card_markdown: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a bundle folder atomically.

    Parameters
    ----------
    target : path
        The bundle folder.
    kind : str
        ``"tabular-ann"``, ``"planar-cnn"`` …; checked on load.
    spec : mapping
        Everything the kind's loader needs (inputs or views, threshold, protocol, training ranges …).
    writers : mapping
        File name → bytes, text, or a function that writes the file at the path it is given.
    card, card_markdown : optional
        The model card as JSON and as Markdown (``card.json``, ``card.md``).
    overwrite : bool
        Replace an existing bundle (only once the new one is complete).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "m"
    >>> _ = write_bundle(folder, "demo", {"threshold": 0.5}, {"weights.txt": "1 2 3"})
    >>> read_bundle(folder, kind="demo").spec["threshold"]
    0.5
    >>> _ = (folder / "weights.txt").write_text("1 2 4")
    >>> read_bundle(folder)
    Traceback (most recent call last):
    ...
    scintiml.errors.BundleError: ... 'weights.txt' does not match its checksum ...
    >>> _ = (folder / "weights.txt").write_text("1 2 3")
    >>> head = json.loads((folder / SPEC_FILE).read_text()); head["spec"]["threshold"] = 0.1
    >>> _ = (folder / SPEC_FILE).write_text(json.dumps(head))
    >>> read_bundle(folder)
    Traceback (most recent call last):
    ...
    scintiml.errors.BundleError: ... spec was edited after it was written ...
    """
    files: dict[str, Any] = dict(writers)
    spec_body = jsonable(dict(spec))
    spec_body["spec_sha256"] = spec_digest(spec_body)
    if card is not None:
        files["card.json"] = json.dumps(jsonable(card), indent=1, allow_nan=False)
    if card_markdown is not None:
        files["card.md"] = card_markdown
    with atomic_dir(target, overwrite=overwrite, output=BUNDLE_OUTPUT) as tmp:
        checksums = {}
        for name, content in files.items():
            if "/" in name or name.startswith(".") or name == SPEC_FILE:
                raise ValueError(f"bad bundle file name {name!r}")
            path = tmp / name
            if callable(content):
                content(path)
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(str(content), encoding="utf-8")
            checksums[name] = sha256_file(path)
        head = {
            "format": BUNDLE_FORMAT, "format_version": _format_version(spec_body), "kind": kind,
            "scintiml_version": __version__, "spec": spec_body, "files": checksums,
        }
        (tmp / SPEC_FILE).write_text(json.dumps(head, indent=1, allow_nan=False), encoding="utf-8")
    return Path(target)


def _format_version(spec: Mapping[str, Any]) -> int:
    """3 for a spec a version-2 reader would apply wrongly, else 2: one with missing-value codes (a version-2
    reader ignores them), or with categorical inputs (their levels are read ignoring case since 0.5, and a
    version-2 reader matches them exactly: it would score a "Low" patient as the reference level)."""
    return 3 if spec.get("missing_codes") or spec.get("categories") else BUNDLE_FORMAT_VERSION


class BundleFolder:
    """A verified bundle folder: its spec, its kind, and paths to its (checked) files."""

    def __init__(self, path: Path, head: dict[str, Any]):
        self.path = path
        self.head = head
        self.kind: str = head["kind"]
        self.spec: dict[str, Any] = head["spec"]
        self.files: dict[str, str] = head["files"]

    def file(self, name: str) -> Path:
        """Path of a listed file (refused when the bundle does not list it)."""
        if name not in self.files:
            raise BundleError(f"the bundle in {str(self.path)!r} has no {name!r}; it may be from another kind or "
                              "version")
        return self.path / name

    def json(self, name: str) -> Any:
        """A listed JSON file, parsed (with the size and depth limits of ``bundle.json``)."""
        return _load_json(self.file(name), f"the bundle's {name!r}")

    @property
    def card(self) -> dict[str, Any]:
        card = self.json("card.json") if "card.json" in self.files else {}
        if not isinstance(card, dict):
            raise BundleError("the bundle's 'card.json' is not a JSON object; the bundle is corrupt")
        return card


def read_bundle(path: str | Path, kind: str | None = None) -> BundleFolder:
    """Open and verify a bundle folder (format, kind, every file's sha256).

    Raises
    ------
    BundleError
        When the folder is not a bundle, is of another kind, lists a missing file, or a file's checksum differs.
    """
    path = Path(path)
    head_path = path / SPEC_FILE
    if not path.is_dir():
        raise BundleError(f"{str(path)!r} is not a folder; a scintiml model bundle is a folder holding {SPEC_FILE}")
    if not head_path.is_file():
        raise BundleError(f"{str(path)!r} is not a scintiml model bundle ({SPEC_FILE} not found)")
    _inside(path, SPEC_FILE)
    head = _load_json(head_path, repr(str(head_path)))
    if not isinstance(head, dict) or head.get("format") != BUNDLE_FORMAT:
        found = _short(head.get("format") if isinstance(head, dict) else None)
        raise BundleError(f"{str(path)!r}: not a {BUNDLE_FORMAT} (format {found})")
    version = head.get("format_version")
    if isinstance(version, bool) or version not in READABLE_FORMAT_VERSIONS:
        raise BundleError(
            f"{str(path)!r}: bundle format version {_short(version)}; this scintiml reads versions "
            f"{', '.join(map(str, READABLE_FORMAT_VERSIONS))} — retrain or re-export the model with this version"
        )
    if not isinstance(head.get("spec"), dict) or not isinstance(head.get("files"), dict) \
            or not isinstance(head.get("kind"), str):
        raise BundleError(f"{str(head_path)!r} lacks its kind, spec or file list; the bundle is corrupt")
    if "spec_sha256" in head["spec"] and head["spec"]["spec_sha256"] != spec_digest(head["spec"]):
        raise BundleError(f"{str(head_path)!r}: the bundle's spec was edited after it was written (its spec_sha256 "
                          "does not match); use an intact copy of the bundle")
    if kind is not None and head["kind"] != kind:
        raise BundleError(f"{str(path)!r} holds a {_short(head['kind'])} model, not a {kind!r} one")
    for name, expected in head["files"].items():
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
            raise BundleError(f"{str(head_path)!r} lists a file outside the bundle ({name!r}); refused")
        file = path / name
        if not file.is_file():
            raise BundleError(f"the bundle in {str(path)!r} is missing {name!r}; copy the whole folder")
        _inside(path, name)
        if file.stat().st_size > MAX_FILE_BYTES:
            raise BundleError(f"the bundle in {str(path)!r}: {name!r} is {file.stat().st_size} bytes, more than a "
                              f"scintiml bundle holds ({MAX_FILE_BYTES}); refused")
        if sha256_file(file) != expected:
            raise BundleError(
                f"the bundle in {str(path)!r}: {name!r} does not match its checksum in {SPEC_FILE} — the file was "
                "edited or damaged; use an intact copy of the bundle"
            )
    return BundleFolder(path, head)


def _inside(folder: Path, name: str) -> None:
    """Refuse a bundle file that is a symbolic link or resolves outside the bundle folder.

    A bundle may come from an untrusted source (a colleague's share, an e-mail): a link named ``card.md`` pointing
    at ``/etc/passwd`` or at weights elsewhere would be read as the bundle's own, and the checksums cannot tell
    (they are written by whoever made the links). The folder itself may be reached through a link.
    """
    file = folder / name
    if file.is_symlink() or file.resolve().parent != folder.resolve():
        raise BundleError(f"the bundle in {str(folder)!r}: {name!r} is a symbolic link (or leads outside the "
                          "folder); a bundle holds its own files only — copy the files themselves, not links")


def _short(value: Any) -> str:
    """``repr(value)``, cut to 80 characters: a forged field must not turn the one error line into megabytes."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _BadNumber(ValueError):
    """A number or constant that no bundle of ours holds, raised from inside the JSON parser (its hooks)."""


#: Digits of the longest integer read from a bundle: Python refuses to convert past 4,300 digits, in words naming
#: neither the value nor the file ("Exceeds the limit (4300 digits) ..."); shorter ones beyond a float's range are
#: read, and refused as "not a number" where the spec needs one.
MAX_INT_DIGITS = 4000


def _refuse_constant(name: str):
    raise _BadNumber(f"it holds the constant {name}, which is no number a bundle holds (thresholds, scales and "
                     "weights are finite)")


def _bounded_int(text: str) -> int:
    """A JSON integer, refused by its length (naming its first digits) before Python converts it."""
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _BadNumber(f"it holds a {digits}-digit integer ({text[:20]}…), beyond any number a bundle holds")
    return int(text)


def _finite_float(text: str) -> float:
    """A JSON number as a float; 1e400 would parse to infinity, which no bundle of ours holds."""
    value = float(text)
    if not math.isfinite(value):
        raise _BadNumber(f"{text[:40]} is beyond a float's range")
    return value


def _load_json(path: Path, what: str) -> Any:
    """A bundle's JSON file, parsed; one :class:`BundleError` when too large, empty, not JSON, nested too deeply, or
    holding a number no bundle holds (NaN, Infinity, an integer of hundreds of digits), which is named."""
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise BundleError(f"{what} is larger than {MAX_SPEC_BYTES} bytes; not a scintiml bundle")
    try:
        text = path.read_text(encoding="utf-8")
        if not text.strip():  # "Expecting value: line 1 column 1 (char 0)" said nothing of an empty file
            raise BundleError(f"{what} is empty (a copy or a write that did not finish?); use an intact copy of "
                              "the bundle")
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except _BadNumber as exc:
        raise BundleError(f"{what} is not valid JSON for a bundle: {exc}; the bundle is corrupt or was edited — use "
                          "an intact copy") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        if isinstance(exc, BundleError):
            raise
        raise BundleError(f"{what} is not valid JSON ({exc}); the bundle is corrupt") from None
    except RecursionError:  # json recurses per level: [[[[...]]]] exhausts the stack before it is rejected
        raise BundleError(f"{what} is nested too deeply to be a scintiml bundle; the bundle is corrupt") from None
    # what parsed may still be too deep for the recursive digest and checks after this: walk it without recursion
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BundleError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep; not a scintiml bundle")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value


def require_finite(value: Any, what: str) -> float:
    """A finite float from a bundle's spec, or a :class:`BundleError` naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float (10**400)
        raise BundleError(f"the bundle's {what} is {_short(value)}, not a number; the bundle is corrupt") from None
    if not math.isfinite(number):
        raise BundleError(f"the bundle's {what} is {number}; the bundle is corrupt")
    return number
