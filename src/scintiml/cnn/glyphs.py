"""Text from DICOM headers on the summary display: find a font for every character, or say which cannot be drawn.

A PatientID or name may hold any Unicode character (Japanese, Chinese, Korean, Arabic, ...). matplotlib's own
DejaVu fonts cover Latin, Greek and Cyrillic; without help every other character came out as an empty box and a
"Glyph missing" warning on stderr, on an image meant to identify the patient. So: characters DejaVu Sans Mono
lacks are looked up in the fonts installed on the machine (matplotlib's font list is a cache and can predate
them), the first font holding each is added as a fallback family, and a character no font holds is drawn as
``?`` and reported, so the caller can say so in words. The worklist CSV and the DICOM results keep the text
intact: only the picture is affected.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from dataclasses import dataclass, field

PRIMARY = "DejaVu Sans Mono"  # matplotlib ships it, so it is everywhere
MISSING = "?"


@dataclass(frozen=True)
class DrawableText:
    """``text`` as it can be drawn, the font families to draw it with (in fallback order), and the characters
    that no installed font holds (replaced by ``?`` in ``text``)."""

    text: str
    families: list[str] = field(default_factory=lambda: [PRIMARY])
    undrawable: str = ""


@functools.lru_cache(maxsize=1)
def _primary():
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    return FT2Font(font_manager.findfont(font_manager.FontProperties(family=PRIMARY)))


def _has(font, char: str) -> bool:
    return font.get_char_index(ord(char)) != 0


@functools.lru_cache(maxsize=1)
def _font_paths() -> tuple[str, ...]:
    """Every font file matplotlib knows or the system lists, matplotlib's Last Resort font left out (it "has"
    every character, as a placeholder box: nothing readable)."""
    from matplotlib import font_manager

    paths = dict.fromkeys([f.fname for f in font_manager.fontManager.ttflist] + sorted(font_manager.findSystemFonts()))
    return tuple(p for p in paths if "lastresort" not in p.lower().replace("-", "").replace("_", ""))


_LOCK = threading.Lock()
_FONT_FOR: dict[str, str | None] = {}  # character -> the font file that draws it (None: no installed font does)
_USEFUL: list[str] = []  # font files that drew a character before: searched first, so a script's next
#                          characters are usually found in the first file opened
_ADDED: set[str] = set()  # font files given to matplotlib's font manager by this module


def _find_fonts(chars: set[str]) -> None:
    """Fill ``_FONT_FOR`` for ``chars``: open the installed fonts one at a time (closed again at once: a
    machine may hold more font files than a process may keep open) until each character is found or every
    font was tried. Each character is searched once per process."""
    from matplotlib.ft2font import FT2Font

    wanted = {c for c in chars if c not in _FONT_FOR}
    paths = _USEFUL + [p for p in _font_paths() if p not in _USEFUL]
    for path in paths:
        if not wanted:
            break
        try:
            font = FT2Font(path)
            found = {c for c in wanted if font.get_char_index(ord(c)) != 0}
            del font  # closes the file
        except (OSError, RuntimeError, ValueError):  # a broken or unsupported font file is not our problem
            continue
        for c in found:
            _FONT_FOR[c] = path
        if found and path not in _USEFUL:
            _USEFUL.append(path)
        wanted -= found
    for c in wanted:
        _FONT_FOR[c] = None


def _family(path: str) -> str:
    """The family name of a font file, registered with matplotlib's font manager once (its list is a cache
    that can predate the file; adding a file again would grow the list and empty matplotlib's lookup cache)."""
    from matplotlib import font_manager

    if path not in _ADDED:
        if path not in {f.fname for f in font_manager.fontManager.ttflist}:
            font_manager.fontManager.addfont(path)
        _ADDED.add(path)
    return font_manager.FontProperties(fname=path).get_name()


def drawable(text: str) -> DrawableText:
    """How to draw ``text`` on the display.

    Examples
    --------
    >>> drawable("P-001 Müller").undrawable
    ''
    >>> drawable("P1\\x07").text  # a control character: no font draws it
    'P1?'
    """
    primary = _primary()
    if all(c.isprintable() and _has(primary, c) for c in text):
        return DrawableText(text)
    families, shown, undrawable = [PRIMARY], [], []
    with _LOCK:  # the caches and matplotlib's font list are process-wide (the web app triages in threads)
        _find_fonts({c for c in text if c.isprintable() and not _has(primary, c)})
        for char in text:
            if char.isprintable() and _has(primary, char):
                shown.append(char)
                continue
            # a control character (a tab, a NUL) is drawn as "?" too: no font draws it as what it is
            path = _FONT_FOR.get(char) if char.isprintable() else None
            if path is None:
                shown.append(MISSING)
                undrawable.append(char)
                continue
            family = _family(path)
            if family not in families:
                families.append(family)
            shown.append(char)
    return DrawableText("".join(shown), families, "".join(dict.fromkeys(undrawable)))


def undrawable_note(what: str, text: str) -> str | None:
    """One sentence for the run's notes when ``text`` holds characters no installed font can draw, else None."""
    missing = drawable(text).undrawable
    if not missing:
        return None
    def codes(chars: list[str]) -> str:
        return ", ".join(f"U+{ord(c):04X}" for c in chars[:6]) + (", ..." if len(chars) > 6 else "")

    # control characters (a line break, an escape) are no font's to draw: a font would not help, the ID is wrong
    control = [c for c in missing if unicodedata.category(c) in ("Cc", "Cf")]
    if control:
        return (f"{what} holds control characters ({codes(control)}: a line break, an escape code or the like) that no ID "
                f"should hold; the summary image shows '{MISSING}' for them, the worklist and the DICOM results keep "
                "them as given: correct the PatientID at the modality or in the PACS")
    return (f"{what} holds characters no installed font can draw ({codes(missing)}); the summary image shows '{MISSING}' "
            "for them, the worklist and the DICOM results keep them: install a font that covers them (Debian: "
            "fonts-noto-cjk for Chinese, Japanese and Korean)")
