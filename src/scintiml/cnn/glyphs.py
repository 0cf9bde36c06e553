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


@functools.lru_cache(maxsize=1)
def _installed_fonts() -> tuple[tuple[str, object], ...]:
    """(path, FT2Font) of every font file matplotlib knows or the system lists; read once, and only when a
    character outside the primary font turns up."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    paths = dict.fromkeys([f.fname for f in font_manager.fontManager.ttflist] + sorted(font_manager.findSystemFonts()))
    fonts = []
    for path in paths:
        if "lastresort" in path.lower().replace("-", "").replace("_", ""):
            # matplotlib's Last Resort font "has" every character, as a placeholder box: it draws nothing readable
            continue
        try:
            fonts.append((path, FT2Font(path)))
        except (OSError, RuntimeError, ValueError):  # a broken or unsupported font file is not our problem
            continue
    return tuple(fonts)


def _has(font, char: str) -> bool:
    return font.get_char_index(ord(char)) != 0


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
    from matplotlib import font_manager

    families, shown, undrawable = [PRIMARY], [], []
    for char in text:
        if char.isprintable() and _has(primary, char):
            shown.append(char)
            continue
        # a control character (a tab, a NUL) is drawn as "?" too: no font draws it as what it is
        path = next((p for p, font in _installed_fonts() if _has(font, char)), None) if char.isprintable() else None
        if path is None:
            shown.append(MISSING)
            undrawable.append(char)
            continue
        font_manager.fontManager.addfont(path)  # a no-op for fonts already listed; needed for a stale cache
        family = font_manager.FontProperties(fname=path).get_name()
        if family not in families:
            families.append(family)
        shown.append(char)
    return DrawableText("".join(shown), families, "".join(dict.fromkeys(undrawable)))


def undrawable_note(what: str, text: str) -> str | None:
    """One sentence for the run's notes when ``text`` holds characters no installed font can draw, else None."""
    missing = drawable(text).undrawable
    if not missing:
        return None
    codes = ", ".join(f"U+{ord(c):04X}" for c in missing[:6]) + (", ..." if len(missing) > 6 else "")
    return (f"{what} holds characters no installed font can draw ({codes}); the summary image shows '{MISSING}' "
            "for them, the worklist and the DICOM results keep them: install a font that covers them (Debian: "
            "fonts-noto-cjk for Chinese, Japanese and Korean)")
