"""De-identification of DICOM files: the PS3.15 Annex E Basic Application Level Confidentiality Profile.

What it does, per file (inputs are never modified; the output folder is published atomically):

* every attribute of the **complete** Table E.1-1 (:mod:`scintiml.imaging.deid_profile`, 460 rows) gets the
  profile's action — ``X`` remove, ``Z`` empty, ``D`` dummy, ``U`` a new UID consistent across the set,
  ``K`` keep, ``C`` clean — wherever it appears, sequences included, recursively;
* overlays (groups 60xx, the bitmap included), curves (50xx) and private groups are removed;
* everything else is removed unless it is on the allow-list of attributes known to be safe
  (:data:`~scintiml.imaging.deid_profile.SAFE_KEYWORDS`: pixels, geometry, NM acquisition physics and
  protocol) — an allow-list, so an attribute nobody judged never slips through;
* text kept by the allow-list or an option is dropped too when it contains an identifier of the same file
  (name, id, accession number, birth date ...), so a name typed into a series description does not survive —
  in any case, with or without diacritics (``Müller``, ``MUELLER``, ``muller``), a name with short parts by its
  whole (``Ng Bo``, ``李伟``), a date in the usual written notations (``17.04.1953``, ``04/17/1953``);
* ``PatientID`` becomes a **pseudonym** and every UID a new one, both from a keyed hash (HMAC-SHA256 with the
  department's key): the same patient or study maps to the same pseudonym across runs and sites that share
  the key, and nobody without the key can reverse or recompute it;
* the profile's options are flags: retain longitudinal temporal information with modified dates (dates
  shifted by a per-patient offset of 1-365 days from the key), retain patient characteristics, retain device
  identity, retain institution identity, clean descriptors;
* ``PatientIdentityRemoved = YES``, ``DeidentificationMethod``, ``DeidentificationMethodCodeSequence`` (CID
  7050 codes of the profile and every option used) and ``LongitudinalTemporalInformationModified`` are written;
* output names come from pseudonyms only (``<patient pseudonym>/<new SOP Instance UID>.dcm``): input file and
  folder names, which often hold a name or a record number, never reach the output;
* files that are not DICOM, truncated, unreadable, without SOP Instance UID or Transfer Syntax UID, flagged
  ``BurnedInAnnotation = YES``, a DICOMDIR (its records repeat every patient's name; the images it lists are
  files of their own), or repeating an earlier file's SOP Instance UID are skipped and reported; a write the disk
  refuses (full, quota, size limit, read-only) ends the run with nothing published;
* pixels are copied as they are, whether integer ``PixelData`` or ``FloatPixelData`` / ``DoubleFloatPixelData``;
  a file without ``PatientID`` (or with an empty one) gets a pseudonym of its study: different unidentified patients
  are not merged into one;
* the audit CSV names each input by a keyed hash of its path (never the path itself) and lists every change
  (never an old value).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import hmac
import os
import re
import secrets
import tempfile
import unicodedata
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from .._version import __version__
from ..errors import ScintimlError
from .deid_profile import (
    BASIC_CODE,
    EXTRA_TEMPORAL,
    OPTIONS,
    PROFILE_SOURCE,
    SAFE_KEYWORDS,
    ProfileRow,
    profile_table,
    resolve_action,
)

#: keyword -> Basic Profile action, for every row of Table E.1-1 with a single tag.
BASIC_PROFILE: dict[str, str] = {}


def _build_basic_profile() -> None:
    from pydicom.datadict import keyword_for_tag

    for tag, row in profile_table().items():
        if any(c in tag for c in "XG"):
            continue
        keyword = keyword_for_tag(int(tag, 16))
        if keyword:
            BASIC_PROFILE[keyword] = row.basic


try:  # pydicom is in the imaging extra; the table itself needs nothing
    _build_basic_profile()
except ImportError:  # pragma: no cover
    pass

#: Text value representations that can carry a name or an identifier.
_TEXT_VRS = {"PN", "LO", "SH", "LT", "ST", "UT", "UC", "CS", "AE", "DA", "DT", "TM", "AS", "UR"}
_DUMMY = {"PN": "ANONYMOUS", "DA": "19000101", "TM": "000000", "DT": "19000101000000", "CS": "ANONYMIZED",
          "AS": "000Y"}
AUDIT_NAME = "deid_audit.csv"
#: File meta of every output. scintiml has no UID root of its own and writes all its DICOM through pydicom, whose
#: implementation class UID its other writers (``write_nm_dicom``) already carry; the version name says which
#: scintiml wrote the file (SH: at most 16 characters).
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.8.498.1"  # pydicom.uid.PYDICOM_IMPLEMENTATION_UID
IMPLEMENTATION_VERSION_NAME = f"SCINTIML_{__version__}"[:16]
#: Media Storage Directory Storage: the SOP class of a DICOMDIR (PS3.10), which has no SOP Instance UID.
DICOMDIR_UID = "1.2.840.10008.1.3.10"
#: The elements that hold an image's pixels (PS3.3 C.7.6.3).
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


class DeidError(ScintimlError):
    """A de-identification request that cannot be carried out safely."""


#: What to do when the operating system refuses a write, by errno (the rest: :data:`_WRITE_ADVICE_OTHER`).
_WRITE_ADVICE = {
    errno.ENOSPC: "free space on that disk or use a folder on another",
    errno.EDQUOT: "free space within your disk quota or use a folder on another disk",
    errno.EFBIG: "raise the file size limit (ulimit -f) or use a folder on a file system that takes larger files",
    errno.EROFS: "use a folder on a disk that is not read-only",
    errno.EACCES: "use a folder you may write to",
    errno.EPERM: "use a folder you may write to",
    errno.EIO: "check that disk (it reported an input/output error) or use a folder on another",
}
_WRITE_ADVICE_OTHER = "check that disk or use a folder on another"
#: errno of a hard link refused because the file system has none (FAT, exFAT, some network shares).
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def _os_error(exc: BaseException | None) -> OSError | None:
    """The operating system's error behind ``exc``: the first ``OSError`` with an errno along its causes.

    pydicom hides it: an error inside an element is raised again as ``type(exc)(message)`` (an ``OSError`` without
    errno) from the original, and a number that cannot be packed becomes a bare ``OSError`` too — that one is the
    dataset's fault, not the disk's. Only an errno says the operating system refused.

    Examples
    --------
    >>> try:
    ...     try:
    ...         raise OSError(errno.ENOSPC, "No space left on device")
    ...     except OSError as inner:
    ...         raise OSError("With tag (7FE0,0010) got exception: ...") from inner
    ... except OSError as outer:
    ...     _os_error(outer).errno == errno.ENOSPC
    True
    >>> _os_error(OSError("required argument is not an integer")) is None
    True
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _write_error(what: str, failure: OSError, outcome: str) -> DeidError:
    """One sentence for a write the operating system refused: what, why (its reason, never a file name taken
    from the input), what was left, and what to do."""
    reason = os.strerror(failure.errno) if failure.errno is not None else str(failure)
    return DeidError(f"cannot write {what} ({reason}); {outcome} — "
                     f"{_WRITE_ADVICE.get(failure.errno, _WRITE_ADVICE_OTHER)}, and run again")


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing folder above ``path`` when it is a file instead (``notes.txt/dept.key``), else None.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp()); _ = (root / "notes.txt").write_text("x")
    >>> _file_in_the_way(root / "notes.txt" / "sub" / "dept.key") == root / "notes.txt"
    True
    >>> _file_in_the_way(root / "new" / "dept.key") is None
    True
    """
    for parent in path.parents:
        if parent.exists():  # False for anything below a file (NotADirectoryError): go on up to the file
            return None if parent.is_dir() else parent
    return None


def new_key(path: str | Path) -> Path:
    """Write a new random 256-bit key (hex) to ``path``; refuses to overwrite an existing key.

    The key is written to a hidden temporary file beside ``path``, flushed to the disk, and only then given its
    name: a full disk, a size limit or an interrupt leaves no key file at all — an empty or half-written one would
    read as "the key exists" to the next ``--new-key`` and as "too short" to every run that uses it.

    Raises
    ------
    DeidError
        ``path`` exists, its folder does not exist or is a file, or the operating system refused the write.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> key = new_key(pathlib.Path(tempfile.mkdtemp()) / "dept.key")
    >>> len(key.read_text().strip())
    64
    >>> sorted(p.name for p in key.parent.iterdir())  # no temporary file left beside it
    ['dept.key']
    """
    path = Path(path)
    exists = DeidError(f"key file {str(path)!r} exists; a department keeps one key — reuse it")
    if path.exists() or path.is_symlink():
        raise exists
    blocker = _file_in_the_way(path)
    if blocker is not None:
        raise DeidError(f"cannot create the key file {str(path)!r}: {str(blocker)!r} is a file, not a folder; give "
                        "a key path inside a folder")
    if not path.parent.is_dir():
        raise DeidError(f"cannot create the key file {str(path)!r}: folder {str(path.parent)!r} does not exist")
    tmp: Path | None = None
    try:
        # mkstemp makes the file 0600: the key is never readable by others, not even briefly
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # unlike a rename, a link never replaces a key another run made meanwhile
        except FileExistsError:
            raise exists from None
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            if path.exists() or path.is_symlink():  # a file system without hard links: look once more, rename
                raise exists from None
            os.replace(tmp, path)
        with contextlib.suppress(OSError):  # the new name on the disk too (best effort: not every system can)
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
    except OSError as exc:
        raise _write_error(f"the key file {str(path)!r}", _os_error(exc) or exc, "no key was written") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return path


def _read_key(path: str | Path) -> bytes:
    from ..io.atomic import is_regular_readable

    path = Path(path)
    blocker = _file_in_the_way(path)
    if blocker is not None:
        raise DeidError(f"key file {str(path)!r} not found: {str(blocker)!r} is a file, not a folder; give the path "
                        "of the key file")
    if not path.exists():
        raise DeidError(
            f"key file {str(path)!r} not found; create one once with `scintiml deid IN OUT --key {path} --new-key` "
            "and keep it safe (the same key gives the same pseudonyms)"
        )
    if not is_regular_readable(path) or path.stat().st_size > 4096:
        raise DeidError(f"key file {str(path)!r} is not a small regular file; give the key file made by --new-key")
    try:
        key = path.read_text(encoding="ascii").strip().encode()
    except UnicodeDecodeError as exc:  # the key made by --new-key is 64 hex digits: another file was given
        raise DeidError(f"key file {str(path)!r} is not a key made by --new-key (it holds characters other than "
                        "plain ASCII text); give the key file made by --new-key") from exc
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno is not None else "the operating system refused"
        raise DeidError(f"key file {str(path)!r} cannot be read ({why}); give read access to it, or check the disk "
                        "it lies on, and run again") from exc
    if len(key) < 32:
        raise DeidError(f"key in {str(path)!r} is too short (at least 32 characters)")
    return key


@dataclass
class Pseudonymizer:
    """Keyed pseudonyms: HMAC-SHA256 of a value under the department's key.

    Examples
    --------
    >>> p = Pseudonymizer(b"k" * 32)
    >>> p.patient_id("12345678") == p.patient_id("12345678") != p.patient_id("12345679")
    True
    >>> p.uid("1.2.3").startswith("2.25.")
    True
    """

    key: bytes

    def _digest(self, kind: str, value: str) -> str:
        return hmac.new(self.key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def patient_id(self, value: str) -> str:
        return "ANON-" + self._digest("patient", value)[:12].upper()

    def uid(self, value: str) -> str:
        # 2.25.<decimal of a 128-bit number>: the UUID-derived UID root of PS3.5 B.2
        return "2.25." + str(int(self._digest("uid", value)[:32], 16))

    def date_offset_days(self, patient_id: str) -> int:
        return int(self._digest("dateshift", patient_id)[:8], 16) % 365 + 1

    def source(self, relative_path: str) -> str:
        """A name for an input file in the audit: recomputable with the key, meaningless without it."""
        return "src-" + self._digest("file", relative_path)[:16]


@dataclass
class DeidReport:
    """What a folder run did: files written, files skipped (with reasons), changes made."""

    written: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    changes: int = 0
    collisions: int = 0


def _shift_date(value: str, days: int) -> str:
    try:
        return (datetime.strptime(value[:8], "%Y%m%d") - timedelta(days=days)).strftime("%Y%m%d")
    except ValueError:
        return ""


def _shift(value: Any, vr: str, days: int) -> str:
    """Shift a DA or DT value back by ``days`` (time of day kept: intervals survive); TM is kept as is."""
    text = str(value)
    if vr == "DA":
        return _shift_date(text, days)
    if vr == "DT":
        day = _shift_date(text, days)
        return day + text[8:] if day else ""
    return text


#: Letters NFKD leaves whole (no combining mark to drop), spelled as the plain letters they are read as.
_UNDECOMPOSED = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "æ": "ae", "Æ": "AE",
                               "œ": "oe", "Œ": "OE", "ı": "i", "ß": "ss", "ẞ": "SS"})
#: German transliteration: "Müller" is typed "Mueller" on keyboards without umlauts.
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "AE", "Ö": "OE", "Ü": "UE"})
#: Scripts written without spaces between words (CJK ideographs, kana, Hangul and its jamo, which NFKD makes of
#: Hangul syllables): there a name is a run of characters inside longer text, never a word of its own.
_CJK = re.compile("[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
                  "\uf900-\ufaff\uff66-\uff9f\U00020000-\U0002ffff]")
_WORD = re.compile(r"[^\W_]+")
#: Month names as written in dates (folded upper case): the abbreviation, or the whole name; "MARKERS" is no March.
_MONTHS = ("JAN(?:UARY)?", "FEB(?:RUARY)?", "MAR(?:CH)?", "APR(?:IL)?", "MAY", "JUNE?", "JULY?", "AUG(?:UST)?",
           "SEPT?(?:EMBER)?", "OCT(?:OBER)?", "NOV(?:EMBER)?", "DEC(?:EMBER)?")
#: Elements whose value is an identifier number: a short one is matched glued to letters too ("PID471").
_ID_KEYWORDS = {"PatientID", "OtherPatientIDs", "AccessionNumber"}


def _fold(text: str, german: bool) -> str:
    """Upper case without diacritics; with ``german`` ä, ö, ü become ae, oe, ue first (else a, o, u)."""
    text = unicodedata.normalize("NFC", text)  # "u" + combining diaeresis is "ü" too
    if german:
        text = text.translate(_GERMAN)
    text = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED))
    return "".join(c for c in text if not unicodedata.combining(c)).upper()


def _folds(text: str) -> set[str]:
    # both spellings on both sides: "Müller" in the name must meet "MUELLER" and "muller" in the text, and a name
    # registered as "Mueller" must meet "Müller" in the text
    return {_fold(text, True), _fold(text, False)}


def _date_pattern(value: str, birth: bool = False) -> re.Pattern | None:
    """The ways a YYYYMMDD date is typed into free text (the compact form is matched as a plain token); the
    two-digit-year forms only for a birth date: with a study date of 2024-03-04 they had dropped a description
    "DATSCAN 3-4-24H". A study date in words with its year ("17 APR 2024") is matched for every date: beside a
    shifted StudyDate it would give the shift away."""
    try:
        day = datetime.strptime(value[:8], "%Y%m%d")
    except ValueError:
        return None
    y4, y2 = f"{day.year:04d}", f"{day.year % 100:02d}"
    d, m = f"0?{day.day}", f"0?{day.month}"
    mon = _MONTHS[day.month - 1] + r"\b\.?"
    forms = [f"{d}{d_m}{m}{d_m}{y4}" for d_m in (r"\.", "/", "-", " ")]  # 17.04.1953, 17/04/1953, 17-04-1953
    forms += [f"{m}{s}{d}{s}{y4}" for s in ("/", "-", r"\.")]  # 04/17/1953 (US)
    forms += [f"{y4}{s}{m}{s}{d}" for s in ("-", "/", r"\.")]  # 1953-04-17
    # two-digit years only day-month and month-day with a separator ("17.04.53", "4/17/53"): the common way a
    # birth date is jotted; a look-alike number triple only costs a kept description. Year-first "53-04-17" is
    # left out: it is rare for a birth date and reads like a lot or code number.
    forms += [f"{day.day:02d}{day.month:02d}{y4}", f"{day.month:02d}{day.day:02d}{y4}"]  # 17041953
    forms += [rf"{d}\.?\s*{mon},?\s*{y4}", rf"{mon}\s*{d}(?:ST|ND|RD|TH)?,?\s*{y4}"]  # 17 APR 1953, April 17, 1953
    if birth:
        forms += [f"{d}{s}{m}{s}{y2}" for s in (r"\.", "/", "-")] + [f"{m}{s}{d}{s}{y2}" for s in ("/", "-")]
        forms += [rf"{d}\.?\s*{mon},?\s*{y2}"]  # 17 Apr 53
    # not glued to more digits: "17.04.1953" inside "117.04.19531" or a version "1.17.04.53.2" is not this date
    return re.compile(rf"(?<![\d.])(?:{'|'.join(forms)})(?![./-]?\d)")


@dataclass
class _Identifiers:
    """What kept free text of one file must not repeat, in folded (upper case, no diacritics) spelling.

    ``tokens``: words of names, ids, addresses ... of 3+ characters; ``names``: (family words, given words) of
    each person name; ``joined``: family and given written together, both orders ("NGBO", "BONG"); ``cjk``: the
    same for names in scripts without spaces; ``dates``: patterns of the dates in other notations.
    """

    tokens: set[str] = field(default_factory=set)
    names: set[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=set)
    joined: set[str] = field(default_factory=set)
    cjk: set[str] = field(default_factory=set)
    dates: list[re.Pattern] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)

    def add_id(self, value: Any) -> None:
        """An identifier number: its words, and a short all-digit one also as a number glued to letters."""
        self.add(value)
        for part in str(value).split():
            if 3 <= len(part) < 4 and part.isascii() and part.isdigit():
                self.ids.add(part)

    def add(self, value: Any) -> None:
        for folded in _folds(str(value)):
            for part in folded.replace("^", " ").replace("=", " ").split():
                part = part.strip(" ,.;:")
                if len(part) >= 3:
                    self.tokens.add(part)

    def add_name(self, value: Any) -> None:
        """A person name: its words, and the whole name, whatever the length of its parts (Ng Bo, 李伟)."""
        self.add(value)
        for group in str(value).split("="):  # alphabetic, ideographic, phonetic representations
            components = group.split("^")
            if len(components) < 2:
                continue
            for german in (True, False):
                family = tuple(_WORD.findall(_fold(components[0], german)))
                given = tuple(_WORD.findall(_fold(components[1], german)))
                if not family or not given:
                    continue
                self.names.add((family, given))
                for joined in ("".join(family + given), "".join(given + family)):
                    (self.cjk if _CJK.search(joined) else self.joined).add(joined)

    def add_date(self, value: Any, birth: bool = False) -> None:
        pattern = _date_pattern(str(value), birth)
        if pattern is not None:
            self.dates.append(pattern)


def _identifiers(ds) -> _Identifiers:
    """Identifying strings of this file used to vet free text that is kept."""
    found = _Identifiers()

    def walk(dataset) -> None:
        for elem in dataset:
            if elem.VR == "SQ":
                for item in elem.value or []:
                    walk(item)
                continue
            if elem.tag.is_private or elem.VR not in _TEXT_VRS or elem.value in (None, ""):
                continue
            row = profile_table().get(f"{elem.tag:08X}")
            # names, ids, dates and addresses the profile removes or replaces are what kept text must not repeat
            if elem.VR == "PN" or (row is not None and row.basic[0] in "XZD" and "desc" not in row.options):
                values = elem.value if elem.VM > 1 else [elem.value]
                for v in values:
                    if elem.VR == "PN":
                        found.add_name(v)
                    elif elem.keyword in _ID_KEYWORDS:
                        found.add_id(v)
                    else:
                        found.add(v)
                    if elem.VR in {"DA", "DT"}:
                        found.add_date(v, birth=elem.keyword == "PatientBirthDate")

    walk(ds)
    return found


def _holds(text: str, identifiers: _Identifiers) -> bool:
    """Whether ``text`` repeats an identifier, spelled with or without diacritics, in any case.

    * a token of 4+ characters as a substring, of 3 as a whole word ("DOE"); a 3-digit patient id or accession
      number as a whole number, also glued to letters ("PID471"); a token in a script without spaces as a
      substring;
    * a person name by its whole: family and given name both present as whole words, in any order ("for Ng Bo",
      "Li Wei lung"), or written together ("NGBO"); in a script without spaces, written together as a substring
      ("李伟 肺灌注"). One short part alone never counts: a surname "Li" or "Ng" alone would drop every text with
      that syllable as a word, and two-letter words are common in descriptions ("LI" lithium, "NG" not given);
      demanding the other part as a whole word too keeps "LUNG PERF ANT" for a patient "AN^T";
    * a date in the usual written notations (17.04.1953, 04/17/1953, 1953-04-17, 17 Apr 1953; a birth date also
      17.4.53 and 17 Apr 53).
    """
    for folded in _folds(text):
        words = set(_WORD.findall(folded))
        solid = "".join(folded.split())  # "山田 太郎" is the name written with a space
        for token in identifiers.tokens:
            if _CJK.search(token):
                hit = token in solid
            elif token in identifiers.ids:  # a patient id or accession number, not any 3-digit house number
                hit = re.search(rf"(?<!\d){token}(?!\d)", folded) is not None
            else:
                hit = token in words if len(token) < 4 else token in folded
            if hit:
                return True
        if any(set(family) | set(given) <= words for family, given in identifiers.names):
            return True
        if words & identifiers.joined or any(name in solid for name in identifiers.cjk):
            return True
        if any(pattern.search(folded) for pattern in identifiers.dates):
            return True
    return False


def _option_tokens(options: dict[str, bool]) -> frozenset[str]:
    return frozenset(OPTIONS[name][0] for name, on in options.items() if on)


def deidentify_dataset(ds, pseudo: Pseudonymizer, retain_dates: bool = False, keep_protocol: bool = False,
                       audit: list[dict] | None = None, source: str = "", *, retain_device: bool = False,
                       retain_patient_characteristics: bool = False, retain_institution: bool = False,
                       clean_descriptors: bool = False, keep_unknown: bool = False):
    """Apply the Basic Profile (and the options asked for) to a pydicom Dataset in place; return it.

    ``keep_protocol`` is the Clean Descriptors option (protocol names and descriptions kept when they hold
    no identifier of the file); the acquisition physics (energy windows, collimator, radiopharmaceutical,
    activity) is on the allow-list and always kept. Injection and acquisition dates and times follow the
    temporal rule: removed, or shifted with ``retain_dates``.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset()
    >>> ds.PatientName, ds.PatientID, ds.StudyDate = "Doe^Jane", "12345678", "20240310"
    >>> ds.SOPInstanceUID, ds.Modality, ds.InstitutionName = "1.2.3.4", "NM", "St Elsewhere"
    >>> out = deidentify_dataset(ds, Pseudonymizer(b"k" * 32))
    >>> str(out.PatientName), out.PatientID.startswith("ANON-"), "InstitutionName" in out, out.Modality
    ('', True, False, 'NM')
    >>> out.PatientIdentityRemoved, out.LongitudinalTemporalInformationModified
    ('YES', 'REMOVED')
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    audit = audit if audit is not None else []
    options = {"retain_dates": retain_dates, "retain_device": retain_device,
               "retain_patient_characteristics": retain_patient_characteristics,
               "retain_institution": retain_institution, "clean_descriptors": clean_descriptors or keep_protocol}
    enabled = _option_tokens(options)
    table = profile_table()
    original_pid = str(ds.get("PatientID", "") or "")
    if not original_pid.strip() and str(ds.get("StudyInstanceUID", "") or "").strip():
        # no PatientID: the study stands for the patient. One pseudonym for every such file put the studies of
        # different patients in one folder, with one date shift; a study keeps its files together all the same.
        # (A NUL cannot begin a PatientID, so this key is no real patient's.)
        original_pid = "\0study:" + str(ds.StudyInstanceUID).strip()
    offset = pseudo.date_offset_days(original_pid)
    identifiers = _identifiers(ds)
    temporal_row = ProfileRow("", "temporal", "X", {"dates": "C"})

    def log(name: str, action: str, new: str = "") -> None:
        audit.append({"source": source, "attribute": name, "action": action, "new_value": new})

    def dummy(elem) -> Any:
        if elem.VR == "UI":
            return pseudo.uid(str(elem.value))
        if elem.VR in _DUMMY:
            return _DUMMY[elem.VR]
        if elem.VR in {"US", "SS", "UL", "SL", "FL", "FD", "IS", "DS", "UV", "SV"}:
            return 0
        if elem.VR in {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}:
            return b""
        return "ANONYMIZED"

    def walk(dataset: Dataset, path: str) -> None:
        for elem in list(dataset):
            tag = elem.tag
            name = elem.keyword or f"({tag.group:04X},{tag.element:04X})"
            where = f"{path}{name}"
            group = tag.group
            if tag.is_private:
                del dataset[tag]
                log(where, "X (private)")
                continue
            if 0x6000 <= group <= 0x60FF:
                del dataset[tag]
                log(where, "X (overlay)")
                continue
            if 0x5000 <= group <= 0x50FF:
                del dataset[tag]
                log(where, "X (curve)")
                continue
            if group == 0x0002:  # file meta in a dataset body: never valid there
                del dataset[tag]
                log(where, "X")
                continue
            is_seq = elem.VR == "SQ"
            row = table.get(f"{tag:08X}")
            if row is None and elem.keyword in EXTRA_TEMPORAL:
                row = temporal_row
            if row is not None:
                action = resolve_action(row, enabled, is_seq)
            elif elem.keyword in SAFE_KEYWORDS or keep_unknown:
                action = "K"
            else:
                action = "X (not on the allow-list)"
            if elem.keyword == "PatientID":
                action = "P"  # pseudonym: a non-empty, consistent replacement (allowed for Z and D)
            if action == "C":
                temporal = row is temporal_row or "dates" in row.options
                if temporal and "dates" in enabled and elem.VR in {"DA", "DT", "TM"}:
                    if elem.VR in {"DA", "DT"} and elem.value:
                        values = elem.value if elem.VM > 1 else [elem.value]
                        new = [_shift(v, elem.VR, offset) for v in values]
                        elem.value = new if elem.VM > 1 else new[0]
                        log(where, f"C (shifted -{offset} d)", ";".join(new))
                    continue
                # clean = keep what holds no identifier (checked below); binary values cannot be checked
                action = "K" if is_seq or elem.VR in _TEXT_VRS else "X (binary: cannot be cleaned)"
            if action.startswith("X"):
                del dataset[tag]
                log(where, action)
            elif action == "Z":
                elem.value = Sequence() if is_seq else ("" if elem.VR not in {"OB", "OW", "UN"} else b"")
                log(where, "Z")
            elif action == "D":
                new = dummy(elem)
                elem.value = new
                log(where, "D", str(new) if not isinstance(new, bytes) else "")
            elif action == "P":
                new = pseudo.patient_id(original_pid)
                elem.value = new
                log(where, "D (pseudonym)", new)
            elif action == "U":
                if elem.value:
                    values = elem.value if elem.VM > 1 else [elem.value]
                    new = [pseudo.uid(str(v)) for v in values]
                    elem.value = new if elem.VM > 1 else new[0]
                    log(where, "U", ";".join(new))
            else:  # keep: recurse into sequences; drop kept text that repeats an identifier
                if is_seq:
                    for i, item in enumerate(elem.value or []):
                        walk(item, f"{where}[{i}].")
                elif elem.VR in _TEXT_VRS and elem.VR not in {"DA", "DT", "TM"} and elem.value not in (None, ""):
                    values = elem.value if elem.VM > 1 else [elem.value]
                    if any(_holds(str(v), identifiers) for v in values):
                        del dataset[tag]
                        log(where, "X (held an identifier)")

    walk(ds, "")
    if hasattr(ds, "file_meta"):
        keep_meta = {"FileMetaInformationVersion", "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID",
                     "TransferSyntaxUID", "ImplementationClassUID", "ImplementationVersionName",
                     "FileMetaInformationGroupLength"}
        for elem in list(ds.file_meta):
            if elem.keyword not in keep_meta:
                del ds.file_meta[elem.tag]
                log(elem.keyword or str(elem.tag), "X (file meta)")
        if "SOPInstanceUID" in ds:
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        # the writing implementation's name and class are free text of whoever wrote the input (a workstation,
        # a site, a person): name the implementation that wrote this file instead
        ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        ds.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
        log("ImplementationClassUID", "D (scintiml's own)", IMPLEMENTATION_CLASS_UID)
        log("ImplementationVersionName", "D (scintiml's own)", IMPLEMENTATION_VERSION_NAME)
    if hasattr(ds, "preamble"):
        # the 128-byte preamble is free-form (vendor exports and DICOM/TIFF dual files put data there): never
        # copy it; PS3.10 7.1 asks for zeros when it is not used
        ds.preamble = b"\0" * 128
    if "PatientID" not in ds:
        # an absent PatientID is de-identified as an empty one: the output is named by the pseudonym, and a file
        # without one must not be the only kind that cannot be written
        ds.PatientID = pseudo.patient_id(original_pid)
        log("PatientID", "D (pseudonym; was absent)", ds.PatientID)
    ds.PatientIdentityRemoved = "YES"
    ds.LongitudinalTemporalInformationModified = "MODIFIED" if retain_dates else "REMOVED"
    codes = [BASIC_CODE] + [OPTIONS[name][1:] for name, on in options.items() if on]
    method = "PS3.15 E.1 Basic Profile (scintiml)" + ("; dates shifted" if retain_dates else "")
    ds.DeidentificationMethod = method[:64]  # LO: at most 64 characters
    seq = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        seq.append(item)
    ds.DeidentificationMethodCodeSequence = seq
    return ds


def check_folders(in_dir: str | Path, out_dir: str | Path, key: str | Path | None = None,
                  new_key: bool = False) -> None:
    """Refuse an input that is not a folder and an output that is not a new (or empty) folder apart from it;
    and a ``key`` inside the output folder (the secret behind the pseudonyms would travel with the
    de-identified files) or, when it is a ``new_key`` to write, inside the input folder (the user's input
    would change, and the key be read as one more file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> check_folders(root, root / "inside")
    Traceback (most recent call last):
    ...
    scintiml.imaging.deid.DeidError: the output folder must not be the input folder, inside it, or hold it; choose a new folder
    """
    from ..io.atomic import check_output_path

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if not in_dir.is_dir():
        raise DeidError(f"input folder {str(in_dir)!r} does not exist or is not a folder")
    src, dst = in_dir.resolve(), out_dir.resolve()
    if dst == src or src in dst.parents or dst in src.parents:
        raise DeidError("the output folder must not be the input folder, inside it, or hold it; choose a new folder")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DeidError(f"output folder {str(out_dir)!r} is not empty; choose a new one")
    check_output_path(out_dir, inputs=(in_dir,))
    if key is not None:
        where = Path(key).resolve().parents
        if dst in where:
            raise DeidError("--key must not lie inside the output folder: the key is the secret behind the "
                            "pseudonyms and must not travel with the de-identified files")
        if new_key and src in where:
            raise DeidError("--new-key must not write the key inside the input folder; keep it in a folder of its "
                            "own")


def _problem(ds, path: Path) -> str | None:
    """Why a file read by pydicom cannot be de-identified safely (None when it can)."""
    from pydicom.uid import UID

    if len(ds) == 0:
        return "truncated or empty: no attribute could be read"
    meta = getattr(ds, "file_meta", None)
    if "DirectoryRecordSequence" in ds or (meta is not None and meta.get("MediaStorageSOPClassUID") == DICOMDIR_UID):
        # a DICOMDIR has no SOPInstanceUID of its own: "truncated" would send the user looking for damage. Its
        # records repeat the names and ids of every patient on the media, and the files it points to get new
        # names here, so a copy would be both identifying and wrong
        return ("a DICOMDIR (media index, not an image): not copied; the images it lists are de-identified as files "
                "of their own when they lie below the input folder")
    if not str(ds.get("SOPInstanceUID", "") or "").strip():
        return "no SOPInstanceUID (truncated header or not a stored instance)"
    if meta is None or not str(meta.get("TransferSyntaxUID", "") or "").strip():
        return "no TransferSyntaxUID in the file meta information; the file cannot be rewritten faithfully"
    if str(ds.get("BurnedInAnnotation", "NO") or "NO").upper() == "YES":
        return "BurnedInAnnotation = YES: pixels may hold identifying text; clean the pixels by hand"
    sop_class = str(ds.get("SOPClassUID", "") or "")
    is_image = "Image" in UID(sop_class).name if sop_class else "Rows" in ds
    # float and double pixel data (parametric maps, some vendors' quantitative NM) are pixels like PixelData: on
    # the allow-list, kept as they are, and checked the same way below
    kinds = [keyword for keyword in _PIXEL_KEYWORDS if keyword in ds]
    if not kinds:
        if is_image or "Rows" in ds:
            return "truncated: an image without pixel data"
        return None
    try:
        ds.pixel_array  # decodes and checks the length against Rows x Columns x frames
    except Exception:  # any decoder failure means the pixels cannot be trusted
        # no exception text or class: the reason goes into the audit and is counted by the command
        what = {"PixelData": "pixel data", "FloatPixelData": "float pixel data",
                "DoubleFloatPixelData": "double float pixel data"}[kinds[0]]
        syntax = UID(str(meta.TransferSyntaxUID))
        if syntax.is_transfer_syntax and syntax.is_compressed:
            return (f"{what} compressed as {syntax.name} cannot be decoded (truncated, corrupt, or no decoder for it "
                    "installed, e.g. pylibjpeg); install one or export the file uncompressed")
        return (f"truncated or corrupt {what}: its length does not match Rows x Columns x frames; export the file "
                "again from its source")
    return None


def deidentify_folder(
    in_dir: str | Path, out_dir: str | Path, key_file: str | Path, retain_dates: bool = False,
    keep_protocol: bool = False, *, retain_device: bool = False, retain_patient_characteristics: bool = False,
    retain_institution: bool = False, clean_descriptors: bool = False, keep_unknown: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> DeidReport:
    """De-identify every DICOM file below ``in_dir`` into the new folder ``out_dir``.

    Output files are ``out_dir/<patient pseudonym>/<new SOP Instance UID>.dcm`` and ``out_dir/deid_audit.csv``
    (columns ``source, output, attribute, action, new_value``; inputs named by a keyed hash of their path).
    The folder appears only when everything is written (atomic publish); on any error nothing is left.

    An input that cannot be de-identified (not DICOM, corrupt, unreadable, a dataset pydicom cannot encode ...)
    is skipped and reported in :attr:`DeidReport.skipped`; a write the operating system refuses (full disk, quota,
    file size limit, read-only or failing disk) ends the run instead: every later file would fail too.

    Raises
    ------
    DeidError
        The folders or the key are refused, no file could be de-identified, or the output could not be written
        (the message names the output folder and the operating system's reason; nothing is published).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "in").mkdir(); _ = (root / "in" / "notes.txt").write_text("not DICOM")
    >>> deidentify_folder(root / "in", root / "out", new_key(root / "k"))
    Traceback (most recent call last):
    scintiml.imaging.deid.DeidError: no DICOM file below '...' could be de-identified (1 not DICOM (no DICM header)); nothing written — give the folder that holds the DICOM files
    >>> (root / "out").exists()
    False
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    from ..io import atomic_dir, formula_safe
    from ..io.atomic import is_regular_readable
    from ..io.walk import files_below

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    check_folders(in_dir, out_dir, key_file)
    src = in_dir.resolve()
    pseudo = Pseudonymizer(_read_key(key_file))
    report = DeidReport()
    audit: list[dict] = []
    seen: dict[str, str] = {}
    files, unreadable = files_below(src)  # no folder among the files (a link to one is not followed)
    # no marker file: the folder goes to a PACS or a colleague whole, as DICOM files only, and is never overwritten
    with atomic_dir(out_dir, mark=False) as tmp:
        for folder, why in unreadable:  # its files were never seen: the audit must say so, not report a full run
            report.skipped.append({"file": f"{folder.relative_to(src)}{os.sep}", "source": pseudo.source(
                str(folder.relative_to(src))), "reason": f"folder cannot be read ({why}): the files in it were not "
                "de-identified; give read access to it and run again"})
        for done, path in enumerate(files, start=1):
            rel = str(path.relative_to(src))
            source = pseudo.source(rel)

            def skip(reason: str) -> None:
                report.skipped.append({"file": rel, "source": source, "reason": reason})

            if progress is not None:
                progress(done, len(files))
            if not is_regular_readable(path):
                skip("not a regular file (pipe, device or broken link)")
                continue
            try:
                with warnings.catch_warnings():  # a corrupt file is reported once below, not as pydicom noise
                    warnings.simplefilter("ignore")
                    ds = pydicom.dcmread(path)
                    for _ in ds.iterall():  # pydicom converts values lazily: make every corrupt value fail here
                        pass
            except InvalidDicomError:
                skip("not DICOM (no DICM header)")
                continue
            except Exception as exc:  # noqa: BLE001 - a hostile file may break the parser in any way; skip it
                refused = _os_error(exc)
                if refused is not None and refused.errno in (errno.EACCES, errno.EPERM):
                    # the file may be a perfectly good DICOM file: "corrupt" would send the user looking for damage
                    skip("unreadable: permission denied; give read access to it and run again")
                elif refused is not None and refused.errno == errno.EIO:
                    skip("unreadable: input/output error while reading; check the disk or share it lies on")
                else:
                    # no exception text or class: pydicom's words may quote a value of the file
                    skip("not DICOM or corrupt: its attributes cannot be parsed (a damaged or truncated file); "
                         "export the file again from its source, or leave it out")
                continue
            problem = _problem(ds, path)
            if problem:
                skip(problem)
                continue
            original_uid = str(ds.SOPInstanceUID)
            if original_uid in seen:
                report.collisions += 1
                skip(f"UID collision: same SOPInstanceUID as {seen[original_uid]}; only the first is written")
                continue
            seen[original_uid] = source
            file_audit: list[dict] = []
            try:
                deidentify_dataset(ds, pseudo, retain_dates, keep_protocol, file_audit, source=source,
                                   retain_device=retain_device,
                                   retain_patient_characteristics=retain_patient_characteristics,
                                   retain_institution=retain_institution, clean_descriptors=clean_descriptors,
                                   keep_unknown=keep_unknown)
                relative = Path(str(ds.PatientID)) / f"{ds.SOPInstanceUID}.dcm"
            except Exception:  # noqa: BLE001 - one corrupt file is reported, never the end of the run
                # no exception text: it may quote a value of the file, and the audit holds no old value
                skip("cannot be de-identified: one of its attributes could not be processed; check the file with "
                     "a DICOM validator (e.g. dciodvfy), fix that attribute and run again, or leave the file out")
                continue
            target = tmp / relative
            if target.exists():  # two different inputs mapped to one output: never overwrite
                report.collisions += 1
                skip("UID collision: its new SOPInstanceUID equals an earlier file's; not written")
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                ds.save_as(target, enforce_file_format=True)
            except Exception as exc:  # noqa: BLE001 - sorted below: the disk's fault ends the run, the file's not
                refused = _os_error(exc)
                if refused is not None:
                    # the output side refused (full disk, size limit, read-only ...): every later file would fail
                    # too, and a result with files missing must not be published as if they were not DICOM
                    raise _write_error(f"to the output folder {str(out_dir)!r}", refused,
                                       "nothing was published") from exc
                # the file's fault (no errno): a value that does not fit its VR, e.g. a number beyond US; no
                # exception text, it may quote that value
                skip("cannot be rewritten after de-identification: one of its values does not fit its DICOM type "
                     "(e.g. a number out of range); check the file with a DICOM validator (e.g. dciodvfy), fix "
                     "that value and run again, or leave the file out")
                target.unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # a patient folder left empty is no result (rmdir: only if empty)
                    target.parent.rmdir()
                continue
            for row in file_audit:
                row["output"] = str(relative)
            audit.extend(file_audit)
            report.written.append(str(out_dir / relative))
        if not report.written:
            # an empty result folder and exit 0 read as "done" to a person or a script; most often the wrong
            # folder was given (inside the atomic block: nothing is published)
            reasons = Counter(s["reason"].split(";")[0] for s in report.skipped).most_common(3)
            why = "; ".join(f"{n} {reason}" for reason, n in reasons) if reasons else "the folder is empty"
            raise DeidError(f"no DICOM file below {str(in_dir)!r} could be de-identified ({why}); nothing written "
                            "— give the folder that holds the DICOM files")
        report.changes = len(audit)
        try:
            with open(tmp / AUDIT_NAME, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=["source", "output", "attribute", "action", "new_value"])
                writer.writeheader()
                writer.writerow({"source": "", "output": "", "attribute": "profile", "action": PROFILE_SOURCE,
                                 "new_value": ""})
                # file names and replacement values are the department's text: no spreadsheet formula among them
                writer.writerows({k: formula_safe(v) for k, v in row.items()} for row in audit)
                for s in report.skipped:
                    writer.writerow({"source": formula_safe(s["source"]), "output": "", "attribute": "",
                                     "action": "skipped", "new_value": s["reason"]})
        except OSError as exc:
            raise _write_error(f"to the output folder {str(out_dir)!r}", _os_error(exc) or exc,
                               "nothing was published") from exc
    return report

