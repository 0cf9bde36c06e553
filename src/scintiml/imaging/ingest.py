"""Real planar NM files in: group files into studies, name every frame's view, bring views onto one grid.

Cameras and PACS store a planar lung study in several ways, and all of them are read here:

* one single-frame file per view (a single-head camera, or a PACS that splits frames);
* one file per dual-head acquisition (ANT with POST, ...), a frame per head;
* one multi-frame file per study (some workstations' export).

Files are grouped by ``StudyInstanceUID`` (files without one are refused, one entry per patient). A frame's view
comes, in this order, from the View Code Sequence of its detector (``DetectorVector`` may hold one value or many;
SNOMED CT codes of CID 26, or any code whose value or meaning names the view), then from ``SeriesDescription`` /
``ImageComments`` patterns (``"LUNG PERF RAO"``, ``"RIGHT ANTERIOR OBLIQUE"``; for a multi-frame file a list such as
``"ANT POST RAO LAO RPO LPO"`` naming the views in frame order, which fills only the frames without a code and must
agree with the coded ones). ``PatientOrientation``, when given, is checked against the view: a mirrored image is
flipped back, an orientation that fits neither is an error. Views of other matrix sizes are resampled by their
physical pixel spacing (counts preserved). A study whose view is missing or given twice is reported with its
Study Instance UID and patient ID, never as a traceback.
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .nm_iod import STANDARD_VIEWS, VIEW_ORIENTATION, view_from_code
from .planar import ImagingError, PlanarStudy, view_from_text, views_in_text

#: Patient and study attributes carried from the source files into every output (SC, SR).
STUDY_KEYWORDS = ("PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyDate", "StudyTime",
                  "StudyID", "ReferringPhysicianName", "StudyDescription", "IssuerOfPatientID")
_OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "H": "F", "F": "H"}


@dataclass
class _Frame:
    view: str | None
    pixels: np.ndarray
    spacing: tuple[float, float]
    path: Path
    index: int
    sop_instance_uid: str
    orientation: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    #: The file as messages name it: its path below the folder the user gave (``series2/IM0001.dcm``), so that two
    #: files of one name in different subfolders can be told apart (see :func:`_shown`).
    shown: str = ""

    @property
    def label(self) -> str:
        return self.shown or self.path.name


def _as_list(value) -> list:
    """A DICOM value of multiplicity one or more, as a list (pydicom gives a scalar for one value)."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def _code_view(item) -> str | None:
    return (view_from_code(getattr(item, "CodeValue", ""), getattr(item, "CodingSchemeDesignator", ""))
            or view_from_text(getattr(item, "CodeValue", "")) or view_from_text(getattr(item, "CodeMeaning", "")))


def read_dicom_file(path: str | Path):
    """Read one file; an unreadable, non-NM or pixel-less file is an :class:`ImagingError` naming it."""
    ds = _parse_dicom(path)
    _check_nm(ds, Path(path))
    return ds


def one_line(exc: BaseException | str) -> str:
    r"""A library's exception text as one line of a skip reason: its line breaks (a decoder lists every plugin it
    tried, one per line) joined, and pydicom's advice to the programmer ("Use force=True ...") left out — no
    command-line user can act on it.

    Examples
    --------
    >>> one_line(ValueError("Unable to decode:\n  pillow: bad marker"))
    'Unable to decode: pillow: bad marker'
    >>> one_line(ValueError("no 'DICM' prefix. Use force=True to force reading."))
    "no 'DICM' prefix."
    """
    text = " ".join(str(exc).split())
    return text.replace(" Use force=True to force reading.", "").replace("Use force=True to force reading.", "")


def _parse_dicom(path: str | Path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        empty = Path(path).stat().st_size == 0
    except OSError as exc:
        raise ImagingError(f"{path}: not a readable DICOM file ({one_line(exc)})") from exc
    if empty:  # before the try below: ImagingError is a ValueError, and was wrapped in a second reason
        raise ImagingError(f"{path}: an empty file (0 bytes), not a DICOM image; an interrupted copy? copy it "
                           "again from the PACS or remove it")
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError as exc:
        ds = _headerless(path)  # a file written without the 128-byte preamble and "DICM" (older PACS, raw exports)
        if ds is not None:
            return ds
        raise ImagingError(f"{path}: not a readable DICOM file (no 'DICM' marker after a 128-byte preamble, and not "
                           "a DICOM data set without one); only DICOM files are read from this folder") from exc
    except (OSError, EOFError, ValueError, TypeError) as exc:
        raise ImagingError(f"{path}: not a readable DICOM file ({one_line(exc)})") from exc


def _headerless(path: str | Path):
    """A DICOM data set stored without preamble and "DICM" prefix, or ``None`` where the file is none.

    Such files are valid DICOM streams (PS3.5 7), found in older archives and raw exports; pydicom reads them only
    when forced. Forced only where the file starts with a group 0002 or 0008 element tag (how every such data set
    begins), so other files keep their "not a readable DICOM file" reason instead of becoming garbage data sets."""
    import pydicom
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    try:
        with open(path, "rb") as fh:
            start = fh.read(4)
        if start[:2] not in (b"\x02\x00", b"\x08\x00"):
            return None
        ds = pydicom.dcmread(path, force=True)
        if not _text(ds, "SOPClassUID") and not _text(ds, "Modality"):
            return None
    except Exception:  # noqa: BLE001 - not a data set after all: the caller gives the original reason
        return None
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" not in meta:
        # no file meta: the pixel decoders need the transfer syntax the data set was found to be encoded in
        # pydicom 3 says how it found the data set encoded; 2.4 (allowed by the imaging extra) has the two flags
        implicit, little = getattr(ds, "original_encoding", None) or (ds.is_implicit_VR, ds.is_little_endian)
        meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                                  ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    return ds


#: SOP classes whose pixels are NM counts: NM Image Storage and its retired predecessor.
NM_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.20", "1.2.840.10008.5.1.4.1.1.5")
_MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"
#: Group key prefix of the files without StudyInstanceUID (no UID holds a colon): one group per PatientID.
_NO_STUDY_UID = "no-study-uid:"


def _check_nm(ds, path: Path) -> None:
    modality = getattr(ds, "Modality", None)
    if modality is None and _text(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID") == _MEDIA_DIRECTORY:
        raise ImagingError(f"{path}: a DICOMDIR (the index of a DICOM medium), not an image; the images it lists "
                           "are read from their own files")
    if modality is None:
        # a file cut short (an interrupted copy) reads as a header without its later elements, Modality among them
        raise ImagingError(f"{path}: no Modality (0008,0060) in its header: a file cut short (an interrupted copy) "
                           "or not an image; only planar nuclear-medicine (NM) images are read — copy it again "
                           "from the PACS if it is one")
    if modality != "NM":
        raise ImagingError(f"{path}: modality is {modality!r}, not NM; only planar nuclear-medicine images are read")
    sop_class = _text(ds, "SOPClassUID").strip()
    if sop_class and sop_class not in NM_SOP_CLASSES:
        # a Secondary Capture (a screenshot, an annotated page) or an SR filed under modality NM: its pixels are
        # no acquisition's counts, and beside the original it made the view "ambiguous"
        from pydicom.uid import UID

        name = UID(sop_class).name if UID(sop_class).is_valid else sop_class[:64]
        raise ImagingError(f"{path}: SOP class {name}, not NM Image Storage: not an acquired NM image (modality "
                           "NM notwithstanding); export the original acquisition")
    if "PixelData" not in ds:
        for keyword in ("FloatPixelData", "DoubleFloatPixelData"):
            if keyword in ds:  # not an NM Image's encoding (PS3.3 C.8.4.7): a converted or processed image
                raise ImagingError(f"{path}: pixels stored as {keyword}, not the integer Pixel Data in which an NM "
                                   "image holds counts; export the original acquisition")
        raise ImagingError(f"{path}: no pixel data (Pixel Data attribute missing)")


#: The largest planar matrix read (rows x columns): gamma cameras acquire at most 1024 x 1024; more is no NM view,
#: and one such file would make every view of its study be resampled onto its grid.
MAX_MATRIX = 2048


#: Pixel spacings read (mm). A gamma camera's pixel is about 1-10 mm (a 600 mm field of view on 64-1024 pixels); the
#: bounds are wide on purpose (pinhole and zoomed acquisitions), and exist because a view is resampled by its
#: spacing: a 10 000 mm pixel brought onto a 3 mm grid would be a matrix of millions of pixels a side.
SPACING_RANGE_MM = (0.01, 100.0)
#: Photometric interpretations whose stored values are counts. MONOCHROME1 differs from MONOCHROME2 only in how a
#: viewer shows it (the lowest value white): the stored values are still the counts, so both are read unchanged.
#: Inverting MONOCHROME1 (max - value) would make a perfusion defect the hottest region of the view.
COUNTS_PHOTOMETRIC = ("MONOCHROME2", "MONOCHROME1")
_NOT_COUNTS = {
    "PALETTE COLOR": "pixel values are palette indices, not counts",
    "RGB": "a colour picture, not counts",
}


def _check_counts_image(ds, path: Path) -> None:
    """Refuse, by name, a file whose pixel values cannot be counts: more than one sample per pixel (a colour
    picture, e.g. a screenshot) or a photometric interpretation other than MONOCHROME2 / MONOCHROME1.

    Checked before decoding, so the reason is the header's, not a decoder's complaint (YBR_FULL on 16-bit data
    failed in the colour conversion) nor a second "frame" made of a colour plane."""
    photometric = _text(ds, "PhotometricInterpretation").strip().upper()
    samples = _text(ds, "SamplesPerPixel").strip() or "1"
    if samples != "1":
        raise ImagingError(f"{path}: {photometric or 'PhotometricInterpretation missing'} / {samples} samples per "
                           "pixel: not a counts image (NM counts have one sample per pixel); export the "
                           "original acquisition, not a picture of it")
    if photometric and photometric not in COUNTS_PHOTOMETRIC:
        why = _NOT_COUNTS.get(photometric) or (
            "a colour encoding, not counts" if photometric.startswith("YBR") else "not a counts encoding")
        raise ImagingError(f"{path}: PhotometricInterpretation {photometric}: {why} (counts are stored as "
                           "MONOCHROME2 or MONOCHROME1); export the original acquisition")


def _pixel_spacing(ds, path: Path) -> tuple[float, float]:
    """(row, column) spacing in mm; ``(nan, nan)`` when the file has none. A spacing that is present but not a
    positive, plausible number is refused by name: it is used to resample views, and 0 or a negative value ended in
    a division by zero or "negative dimensions" far from the file that caused it."""
    try:
        raw = _as_list(ds.get("PixelSpacing"))
    except Exception:  # noqa: BLE001 - pydicom converts a DS on access; a malformed one raises whatever it raises
        raise ImagingError(f"{path}: PixelSpacing cannot be read; the view cannot be put on the study's grid") \
            from None
    if not raw or all(str(v).strip() == "" for v in raw):
        return (np.nan, np.nan)
    try:
        spacing = tuple(float(v) for v in raw)
    except (TypeError, ValueError, OverflowError):
        text = "\\".join(map(str, raw))[:40]
        raise ImagingError(f"{path}: PixelSpacing {text!r} is not a number; the view cannot be put on the study's "
                           "grid") from None
    low, high = SPACING_RANGE_MM
    for value in spacing:
        if not np.isfinite(value) or value <= 0:
            raise ImagingError(f"{path}: PixelSpacing {value:g}: not a positive spacing; the view cannot be put on "
                               "the study's grid (check the export settings of the camera)")
        if not low <= value <= high:
            raise ImagingError(f"{path}: PixelSpacing {value:g} mm: outside {low:g}-{high:g} mm, no gamma camera's "
                               "pixel; the view cannot be put on the study's grid")
    return (spacing[0], spacing[0]) if len(spacing) == 1 else spacing[:2]


def _native(ds) -> bool:
    """Whether the pixel data is stored uncompressed (native), so that its bytes are the stored values."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    return syntax is not None and not syntax.is_compressed and isinstance(ds.get("PixelData"), (bytes, bytearray))


def _check_high_bit(ds, path: Path) -> None:
    """Refuse uncompressed pixel data whose ``HighBit`` is not ``BitsStored - 1``.

    DICOM keeps the stored value in the low ``BitsStored`` bits of each cell (HighBit = BitsStored - 1), and pydicom
    reads it there whatever HighBit says. A file with HighBit 15 for 12 stored bits (the values left-aligned, as
    ACR-NEMA allowed) was read 16 times too high, or with its high bits cut; where the values really lie cannot be
    told from the header, so the file is refused by the tag rather than read one way or the other."""
    bits_stored, high_bit = _text(ds, "BitsStored").strip(), _text(ds, "HighBit").strip()
    if not (bits_stored.isdigit() and high_bit.isdigit()) or int(high_bit) == int(bits_stored) - 1 or not _native(ds):
        return
    want = int(bits_stored) - 1
    raise ImagingError(
        f"{path}: HighBit {high_bit} with BitsStored {bits_stored}: DICOM stores the values in the low bits "
        f"(HighBit {want}), so which bits hold the counts cannot be told; export the image again from the camera "
        f"(or, if its values are in the low {bits_stored} bits, correct HighBit to {want})")


def _overlay_bits(ds, bits_stored: int, bits_allocated: int) -> int:
    """The bits above ``BitsStored`` that hold an overlay embedded in the pixel cells, as a mask.

    Older files may store an overlay (a region outline, text) in the unused high bits of the pixel cells: Overlay
    Bit Position (60xx,0102) names the bit, Overlay Bits Allocated (60xx,0100) equals Bits Allocated and there is no
    Overlay Data (60xx,3000). Those bits are no part of the values (retired from DICOM, but legal in old files).

    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.add_new(0x60000100, "US", 16); ds.add_new(0x60000102, "US", 12)
    >>> _overlay_bits(ds, 12, 16), _overlay_bits(ds, 16, 16)
    (4096, 0)
    """
    mask = 0
    for group in range(0x6000, 0x6020, 2):
        position, allocated = ds.get((group, 0x0102)), ds.get((group, 0x0100))
        if position is None or allocated is None or (group, 0x3000) in ds:
            continue
        try:
            bit, cells = int(position.value), int(allocated.value)
        except (TypeError, ValueError):
            continue
        if cells == bits_allocated and bits_stored <= bit < bits_allocated:
            mask |= 1 << bit
    return mask


def _check_bits_stored(ds, path: Path, pixels: np.ndarray) -> np.ndarray:
    """Refuse uncompressed pixel data whose stored values do not fit in ``BitsStored`` bits; return the pixels.

    pydicom keeps only the low ``BitsStored`` bits of each value: 16-bit counts under BitsStored 8 lost their high
    bits, so a hot pixel of 300 was read as 44 (cold), a silently different image. Values in the bits above
    ``BitsStored`` are therefore a header that does not describe the data, as a negative count in signed data is —
    unless those bits are a declared embedded overlay (:func:`_overlay_bits`): they are cleared, and the pixels
    returned are the values without them (whatever the pydicom version does with them).
    Compressed data is left to its decoder (the raw bytes are no values), as is a layout read here no way
    (``BitsAllocated`` other than 8, 16 or 32)."""
    bits_allocated, bits_stored = _text(ds, "BitsAllocated").strip(), _text(ds, "BitsStored").strip()
    if not (bits_allocated in ("8", "16", "32") and bits_stored.isdigit()) or not 0 < int(bits_stored) < int(
            bits_allocated):
        return pixels
    if not _native(ds):
        return pixels
    raw = ds.get("PixelData")
    signed = _text(ds, "PixelRepresentation") == "1"
    size = int(bits_allocated) // 8
    if len(raw) < pixels.size * size:
        return pixels  # fewer bytes than values: the decoder said so already
    order = "<" if ds.file_meta.TransferSyntaxUID.is_little_endian else ">"
    cells = np.frombuffer(raw, dtype=np.dtype(f"u{size}").newbyteorder(order), count=pixels.size).astype(f"u{size}")
    bits = int(bits_stored)
    overlay = _overlay_bits(ds, bits, int(bits_allocated))
    if overlay:
        cells = cells & np.array(~overlay & (2 ** int(bits_allocated) - 1), dtype=cells.dtype)
    values = cells.view(f"i{size}") if signed else cells
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    outside = (values < low) | (values > high)
    if outside.any():
        raise ImagingError(
            f"{path}: {int(np.count_nonzero(outside))} pixel(s) hold stored values beyond {bits} bits (up to "
            f"{int(values.max())}, while BitsStored {bits} allows {low}-{high}); the header (BitsStored {bits}) does "
            "not describe the pixel data, and reading it would cut the high bits (a hot pixel read as a cold one); "
            "no overlay is declared in those bits (OverlayBitPosition) — check the export settings of the camera")
    return values.reshape(pixels.shape).astype(float) if overlay else pixels


def _frames(ds, path: Path, shown: str = "") -> list[_Frame]:
    rows, columns = _text(ds, "Rows"), _text(ds, "Columns")
    if rows.isdigit() and columns.isdigit() and max(int(rows), int(columns)) > MAX_MATRIX:
        raise ImagingError(f"{path}: a {rows} x {columns} matrix is larger than a planar NM view can be "
                           f"(at most {MAX_MATRIX} x {MAX_MATRIX}); check that this is a gamma-camera image")
    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        # both are Type 1; the Secondary Capture and the SR reference the source image by them
        if not _text(ds, keyword).strip():
            raise ImagingError(f"{path}: {keyword} missing; not a complete DICOM image (every image carries one, "
                               "and the outputs must reference it)")
    _check_counts_image(ds, path)
    _check_high_bit(ds, path)  # before decoding: the header's reason, not values read from the wrong bits
    spacing = _pixel_spacing(ds, path)
    try:
        with warnings.catch_warnings():  # pydicom warns of a frame-count mismatch; it is named just below
            warnings.simplefilter("ignore", UserWarning)
            pixels = ds.pixel_array.astype(float)
    except Exception as exc:  # corrupt or truncated pixel data: name the file, whatever the decoder raised
        raise ImagingError(f"{path}: pixel data cannot be decoded ({one_line(exc)}); export the study "
                           "uncompressed (Explicit VR Little Endian) from the PACS or camera") from exc
    declared = _text(ds, "NumberOfFrames") or "1"
    if _text(ds, "SamplesPerPixel") in ("", "1") and declared.isdigit():
        found = pixels.shape[0] if pixels.ndim == 3 else 1
        if found != int(declared):  # e.g. BitsAllocated 8 on 16-bit data: twice the bytes read as two frames
            raise ImagingError(f"{path}: the pixel data holds {found} frame(s) of {_text(ds, 'Rows')} x "
                               f"{_text(ds, 'Columns')} at BitsAllocated {_text(ds, 'BitsAllocated')}, but "
                               f"NumberOfFrames says {declared}; the header does not describe the pixel data")
    signed_negative = _text(ds, "PixelRepresentation") == "1" and pixels.size and pixels.min() < 0
    rescale = _rescale_changes_values(ds)
    if signed_negative and not rescale:
        # counts are never negative: stored values above 2**(BitsStored-1) of an image wrongly marked signed were
        # sign-extended (4000 in 12 bits read as -96), a silently different image
        raise ImagingError(f"{path}: {int(np.count_nonzero(pixels < 0))} pixel(s) are negative as stored "
                           f"(PixelRepresentation 1, BitsStored {_text(ds, 'BitsStored')}) and no RescaleIntercept "
                           "makes them counts; counts cannot be negative, so the header does not describe the pixel "
                           "data")
    pixels = _check_bits_stored(ds, path, pixels)  # after: a signed file's negative values are the clearer reason
    pixels = _rescaled(ds, pixels, path)
    if signed_negative and pixels.min() < 0:
        # signed stored values with a rescale are valid DICOM (stored - 1000, intercept 1000): judged as counts
        raise ImagingError(f"{path}: {int(np.count_nonzero(pixels < 0))} pixel(s) are negative after "
                           f"RescaleSlope {_text(ds, 'RescaleSlope') or 1} / RescaleIntercept "
                           f"{_text(ds, 'RescaleIntercept') or 0} (PixelRepresentation 1, BitsStored "
                           f"{_text(ds, 'BitsStored')}); counts cannot be negative, so the header does not describe "
                           "the pixel data")
    if pixels.ndim == 2:
        pixels = pixels[None]
    n = pixels.shape[0]
    keep, window_note = _photopeak_frames(ds, path, n, shown or path.name)
    detectors = list(getattr(ds, "DetectorInformationSequence", []))
    vector = [int(v) for v in _as_list(getattr(ds, "DetectorVector", None))]
    if len(vector) != n:
        # a single-frame file often carries DetectorVector = 1 (or none): frame i is detector i
        vector = vector[:n] if len(vector) > n else list(range(1, n + 1))
    if len(keep) < n:  # only the photopeak window's frames are views; indices stay the file's frame numbers
        vector = [vector[i] for i in keep]
        n = len(keep)
    names: list[str | None] = []
    for i in range(n):
        d = vector[i] - 1
        view = None
        if 0 <= d < len(detectors):
            for item in getattr(detectors[d], "ViewCodeSequence", []):
                view = view or _code_view(item)
        names.append(view)
    if any(v is None for v in names):
        texts = [str(getattr(ds, k, "")) for k in ("ImageComments", "SeriesDescription", "ProtocolName")]
        if n == 1:
            names = [next((view_from_text(t) for t in texts if view_from_text(t)), None)]
        else:
            for keyword, t in zip(("ImageComments", "SeriesDescription", "ProtocolName"), texts):
                listed = views_in_text(t)
                if len(listed) == n:
                    # the codes stay: a text only fills the frames that have none. Replacing every name by the text
                    # swapped views where the text lists them in another order than the frames are stored
                    for i, (coded, said) in enumerate(zip(names, listed)):
                        if coded is not None and coded != said:
                            raise ImagingError(
                                f"{path}: frame {i + 1} is coded {coded} in its View Code Sequence, but {keyword} "
                                f"{t.strip()[:64]!r} lists {said} there, and frame(s) "
                                f"{', '.join(str(k + 1) for k, v in enumerate(names) if v is None)} have no code; "
                                "which view those frames are cannot be told — give every frame its View Code "
                                "Sequence, or correct the description")
                    names = [coded if coded is not None else said for coded, said in zip(names, listed)]
                    break
    orientation = tuple(str(v).upper() for v in _as_list(getattr(ds, "PatientOrientation", None)))
    if len({VIEW_ORIENTATION.get(v) for v in names}) > 1:
        orientation = ()  # one value cannot describe frames of different views: nothing to check
    uid = str(getattr(ds, "SOPInstanceUID", ""))
    frames = [_Frame(names[i], pixels[k], spacing, path, k, uid, orientation, shown=shown)
              for i, k in enumerate(keep)]
    if window_note:
        frames[0].notes.append(window_note)
    return frames


#: The photopeak (keV) of the radionuclides recognised by code (SCT, and SRT of older files) or by name.
_TC99M_CODES = ("72454006", "C-163A8")  # SCT as pydicom.sr.codedict has it, SRT of older files
_TC99M_PEAK_KEV = 140.5


def _window_text(item, number: int) -> str:
    name = _text(item, "EnergyWindowName").strip() or f"window {number}"
    for r in getattr(item, "EnergyWindowRangeSequence", [])[:1]:
        try:
            return f"{name} ({float(r.EnergyWindowLowerLimit):g}-{float(r.EnergyWindowUpperLimit):g} keV)"
        except (AttributeError, TypeError, ValueError):
            pass
    return name


def _off_peak(item, peak: float | None) -> bool:
    """Whether an Energy Window Information item is a scatter window: named so, or (the radionuclide being known)
    a range that leaves out its photopeak."""
    import re

    if re.search(r"(?<![A-Z])SC(?![A-Z])|SCAT|COMPTON", _text(item, "EnergyWindowName").upper()):
        return True
    for r in getattr(item, "EnergyWindowRangeSequence", [])[:1]:
        try:
            low, high = float(r.EnergyWindowLowerLimit), float(r.EnergyWindowUpperLimit)
        except (AttributeError, TypeError, ValueError):
            return False
        # only a plausible keV range is judged (a range in eV, or 0-0, says nothing about the window)
        return peak is not None and 0 < low < high <= 1000 and not low <= peak <= high
    return False


def _tc99m(ds) -> bool:
    import re

    for rad in getattr(ds, "RadiopharmaceuticalInformationSequence", []):
        for code in getattr(rad, "RadionuclideCodeSequence", []):
            if _text(code, "CodeValue").strip() in _TC99M_CODES:
                return True
        if re.search(r"99M\s*-?\s*TC|TC\s*-?\s*99M", _text(rad, "Radiopharmaceutical").upper()):
            return True
    return False


def _photopeak_frames(ds, path: Path, n: int, shown: str) -> tuple[list[int], str]:
    """The frames to read as views (all of them, unless the file holds more than one energy window) and a note.

    A camera that records a scatter window beside the photopeak (for scatter correction, or a dual-window
    acquisition) stores a frame per detector and window (Frame Increment Pointer: Energy Window Vector). Only the
    photopeak frames are the view's counts: a scatter frame read as the view is a silently different image, and
    both read together made the view "ambiguous". A file of scatter frames only, or of two windows of which none
    can be told to be the scatter one, is refused by name."""
    windows = list(getattr(ds, "EnergyWindowInformationSequence", []))
    try:
        vector = [int(v) for v in _as_list(getattr(ds, "EnergyWindowVector", None))]
    except (TypeError, ValueError):
        vector = []
    if len(vector) != n:
        if len(windows) != 1:
            return list(range(n)), ""  # which frame is of which window is not said: read as before
        vector = [1] * n  # one window: every frame is of it
    peak = _TC99M_PEAK_KEV if _tc99m(ds) else None
    off = {w for w in set(vector) if 1 <= w <= len(windows) and _off_peak(windows[w - 1], peak)}
    keep = [i for i in range(n) if vector[i] not in off]

    def described(numbers) -> str:
        return ", ".join(_window_text(windows[w - 1], w) if 1 <= w <= len(windows) else f"window {w} (not "
                         "described)" for w in sorted(numbers))

    if not keep:
        raise ImagingError(f"{path}: its frames are of the energy window {described(off)}, a scatter window, not "
                           "the photopeak; the view's counts are in the photopeak window's image — export that one")
    kept = {vector[i] for i in keep}
    if len(kept) > 1:
        raise ImagingError(f"{path}: frames of {len(kept)} energy windows ({described(kept)}) and none of them "
                           "is named a scatter window, so which holds the view's counts cannot be told; export the "
                           "photopeak window alone")
    note = f"{shown}: frames of the scatter window {described(off)} not read (not the view's counts)" \
        if off else ""
    return keep, note


def _rescale_tags(ds) -> tuple[float, float] | None:
    """(RescaleSlope, RescaleIntercept) as numbers, an absent or empty one read as 1 or 0; None where both are
    absent or empty (pydicom gives None for an empty DS). Raises TypeError / ValueError for tags that are no
    numbers."""
    slope_value, intercept_value = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if all(v is None or str(v).strip() == "" for v in (slope_value, intercept_value)):
        return None
    slope = 1.0 if slope_value is None or str(slope_value).strip() == "" else float(slope_value)
    intercept = 0.0 if intercept_value is None or str(intercept_value).strip() == "" else float(intercept_value)
    return slope, intercept


def _rescale_changes_values(ds) -> bool:
    """Whether RescaleSlope / RescaleIntercept change the stored values: slope 1 and intercept 0 (the tags many
    exports write whatever the data) do not; tags that are no numbers count as a change (:func:`_rescaled` refuses
    them by name)."""
    try:
        tags = _rescale_tags(ds)
    except (TypeError, ValueError):
        return True
    return tags is not None and tags != (1.0, 0.0)


def _rescaled(ds, pixels: np.ndarray, path: Path) -> np.ndarray:
    """Stored values to counts through RescaleSlope / RescaleIntercept, where a file has them (PS3.3 C.11.1).

    A slope that is not a positive finite number cannot give counts (a negative one would turn a perfusion defect
    into a hot spot): the file is refused by name rather than read as if the tag were not there.
    """
    try:
        tags = _rescale_tags(ds)
    except (TypeError, ValueError):
        raise ImagingError(f"{path}: RescaleSlope / RescaleIntercept are not numbers; the stored values cannot be "
                           "turned into counts") from None
    if tags is None:
        return pixels  # absent or empty: stored values are counts
    slope, intercept = tags
    if not np.isfinite(slope) or slope <= 0:
        raise ImagingError(f"{path}: RescaleSlope {slope:g} (intercept {intercept:g}) cannot turn stored values "
                           "into counts (it must be a positive number); check the export settings of the camera")
    if not np.isfinite(intercept):
        raise ImagingError(f"{path}: RescaleIntercept {intercept:g} cannot turn stored values into counts (it must "
                           "be a finite number); check the export settings of the camera")
    return pixels * slope + intercept if (slope, intercept) != (1.0, 0.0) else pixels


def _orient(frame: _Frame, study: str) -> None:
    """Flip a mirrored view back; refuse an orientation that fits neither the view nor its mirror."""
    if len(frame.orientation) != 2 or not all(frame.orientation) or frame.view not in VIEW_ORIENTATION:
        return
    row, col = frame.orientation
    want_row, want_col = VIEW_ORIENTATION[frame.view]
    if row[:1] == want_row[:1] and col[:1] == want_col[:1]:
        return
    if row[:1] == _OPPOSITE.get(want_row[:1]) and col[:1] in (want_col[:1], _OPPOSITE[want_col[:1]]):
        frame.pixels = frame.pixels[:, ::-1]
        frame.notes.append(f"{frame.view}: mirrored left-right (PatientOrientation {row}\\{col})")
        row = want_row
    if col[:1] == _OPPOSITE[want_col[:1]] and row[:1] == want_row[:1]:
        frame.pixels = frame.pixels[::-1, :]
        frame.notes.append(f"{frame.view}: upside down (PatientOrientation column direction {col})")
        return
    if row[:1] != want_row[:1] or col[:1] not in (want_col[:1],):
        raise ImagingError(
            f"{study}: view {frame.view} in {frame.label} has PatientOrientation {row}\\{col}, which fits "
            f"neither a {frame.view} view ({want_row}\\{want_col}) nor its mirror image; check the view label")


def resample(image: np.ndarray, spacing: Sequence[float], target_spacing: float,
             target_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Resample a count image to ``target_spacing`` mm pixels, centred in ``target_shape``; counts preserved.

    Examples
    --------
    >>> img = np.ones((256, 256))
    >>> out = resample(img, (1.5625, 1.5625), 3.125, (128, 128))
    >>> out.shape, round(float(out.sum()))
    ((128, 128), 65536)
    """
    from scipy import ndimage

    total = float(image.sum())
    factors = (float(spacing[0]) / target_spacing, float(spacing[1]) / target_spacing)
    out = ndimage.zoom(image, factors, order=1) if not np.allclose(factors, 1) else image.astype(float)
    if out.sum() > 0:
        out = out * (total / out.sum())  # interpolation moves counts around; it must not make or lose any
    if target_shape is not None:
        padded = np.zeros(target_shape)
        r0, c0 = (out.shape[0] - target_shape[0]) // 2, (out.shape[1] - target_shape[1]) // 2
        src = out[max(r0, 0):max(r0, 0) + target_shape[0], max(c0, 0):max(c0, 0) + target_shape[1]]
        pr, pc = max(-r0, 0), max(-c0, 0)
        padded[pr:pr + src.shape[0], pc:pc + src.shape[1]] = src
        out = padded  # counts outside the new field of view are cropped, as a smaller detector would
    return out


def _metadata(ds) -> dict[str, Any]:
    md: dict[str, Any] = {}
    for keyword in STUDY_KEYWORDS:
        if keyword in ds and str(ds[keyword].value):
            md[keyword] = str(ds[keyword].value)
    rad = list(getattr(ds, "RadiopharmaceuticalInformationSequence", []))
    if rad:
        md["radiopharmaceutical"] = str(getattr(rad[0], "Radiopharmaceutical", ""))
        if "RadionuclideTotalDose" in rad[0]:
            md["injected_activity_mbq"] = float(rad[0].RadionuclideTotalDose)
        if "RadiopharmaceuticalStartTime" in rad[0]:
            md["injection_time"] = str(rad[0].RadiopharmaceuticalStartTime)
    detectors = list(getattr(ds, "DetectorInformationSequence", []))
    if detectors and "CollimatorGridName" in detectors[0]:
        md["collimator"] = str(detectors[0].CollimatorGridName)
    windows = []
    for w in getattr(ds, "EnergyWindowInformationSequence", []):
        for r in getattr(w, "EnergyWindowRangeSequence", []):
            windows.append((float(r.EnergyWindowLowerLimit), float(r.EnergyWindowUpperLimit)))
    if windows:
        md["energy_windows_kev"] = windows
    for keyword, key in (("AcquisitionTime", "acquisition_time"), ("Manufacturer", "Manufacturer"),
                         ("ManufacturerModelName", "ManufacturerModelName"),
                         ("SeriesDescription", "SeriesDescription"), ("ActualFrameDuration", "frame_duration_ms")):
        if keyword in ds and str(ds[keyword].value):
            md[key] = float(ds[keyword].value) if keyword == "ActualFrameDuration" else str(ds[keyword].value)
    md["matrix"] = [int(ds.Rows), int(ds.Columns)]
    return md


def _same_frame(a: _Frame, b: _Frame) -> bool:
    """Whether two frames under one SOP Instance UID are copies: the same view and the same pixels."""
    return a.view == b.view and a.pixels.shape == b.pixels.shape and bool(np.array_equal(a.pixels, b.pixels))


def _frame_text(f: _Frame) -> str:
    """A frame's view and frame number, for a message naming two frames."""
    return f"({f.view or 'view unknown'}, frame {f.index + 1})"


def _assemble(uid: str, items: list[tuple[Any, list[_Frame]]], views: Sequence[str] | None,
              target_spacing_mm: float | None, target_shape: tuple[int, int] | None) -> PlanarStudy:
    first = items[0][0]
    name = f"study {uid or '(no StudyInstanceUID)'} (patient {getattr(first, 'PatientID', '') or '?'})"
    patients = {_text(ds, "PatientID") for ds, _ in items}
    if len(patients) > 1:  # one patient's views triaged, and filed, under another's id (counted, never named)
        raise ImagingError(f"study {uid or '(no StudyInstanceUID)'}: its files hold {len(patients)} different "
                           "PatientIDs under one StudyInstanceUID; a study is one patient's — ask the PACS "
                           "administrator to correct the study")
    by_view: dict[str, list[_Frame]] = defaultdict(list)
    seen: dict[tuple[str, int], _Frame] = {}
    for ds, frames in items:
        for f in frames:
            earlier = seen.get((f.sop_instance_uid, f.index)) if f.sop_instance_uid else None
            if earlier is not None:
                if _same_frame(earlier, f):
                    continue  # the same instance twice (a copied file) is one frame, not an ambiguity
                # a UID names one image: two different images under it (a re-export that kept the UID, an exporter
                # that gives every view one UID) cannot be told apart, and keeping the first dropped the others
                # silently (five of six views "missing", or a mirrored re-export read in place of the original)
                raise ImagingError(
                    f"{name}: SOP Instance UID {f.sop_instance_uid} is ambiguous — given to different images "
                    f"({earlier.label} {_frame_text(earlier)}; {f.label} {_frame_text(f)}); one UID names "
                    "one image, so which is the study's cannot be told — ask the PACS administrator to correct the "
                    "UIDs (or remove the wrong file) and send the study again")
            seen[(f.sop_instance_uid, f.index)] = f
            if f.view is None:
                raise ImagingError(
                    f"{name}: cannot tell the view of frame {f.index + 1} in {f.label}: no View Code Sequence "
                    "and no view named in SeriesDescription/ImageComments (e.g. 'LUNG PERF RAO')")
            by_view[f.view].append(f)
    twice = {v: fs for v, fs in by_view.items() if len(fs) > 1}
    if twice:
        v, fs = next(iter(twice.items()))
        files = sorted({f.label for f in fs})
        if len(files) == 1:  # one multi-frame file: "keep one file per view" would not fit
            raise ImagingError(f"{name}: view {v} is ambiguous — frames {', '.join(str(f.index + 1) for f in fs)} "
                               f"of {files[0]} are all {v}; a study holds one image per view: check the detector "
                               "and view codes of that file, or export one frame per view")
        raise ImagingError(f"{name}: view {v} is ambiguous — given {len(fs)} times "
                           f"({', '.join(files)}); keep one file per view")
    if views:
        missing = [v for v in views if v not in by_view]
        if missing:
            raise ImagingError(f"{name}: view(s) {', '.join(missing)} missing; it has "
                               f"{', '.join(by_view) or 'none'} ({len(items)} file(s))")
    order = [v for v in STANDARD_VIEWS if v in by_view] + [v for v in by_view if v not in STANDARD_VIEWS]
    frames = {v: by_view[v][0] for v in order}
    notes: list[str] = []
    for f in frames.values():
        _orient(f, name)
        notes += f.notes
    spacings = {f.spacing for f in frames.values()}
    shapes = {f.pixels.shape for f in frames.values()}
    target = target_spacing_mm
    shape = target_shape
    if target is None and (len(spacings) > 1 or len(shapes) > 1):
        ref = frames[order[0]]  # views disagree: bring them onto the first view's grid
        if not np.all(np.isfinite(ref.spacing)):
            raise ImagingError(f"{name}: views have different matrices and no PixelSpacing to resample by")
        target, shape = float(ref.spacing[0]), ref.pixels.shape
    out = {}
    for v, f in frames.items():
        # both spacings compared: a view at 3 x 6 mm beside 3 x 3 mm ones was kept as it was, and the study said 3 mm
        if target is not None and (tuple(map(float, f.spacing)) != (target, target) or f.pixels.shape != shape):
            if not np.all(np.isfinite(f.spacing)):
                raise ImagingError(f"{name}: view {v} has no PixelSpacing; cannot resample it to {target} mm")
            out[v] = resample(f.pixels, f.spacing, target, shape)
            note = (f"{v}: resampled from {f.pixels.shape[0]}x{f.pixels.shape[1]} at "
                    f"{' x '.join(f'{float(s):g}' for s in dict.fromkeys(f.spacing))} mm")
            total = float(np.sum(f.pixels))
            kept = float(np.sum(out[v])) / total if total > 0 else 1.0
            if kept < 0.99:  # a larger field of view cropped to the study's: say how much of the view is gone
                note += f"; {100 * (1 - kept):.0f} % of its counts lay outside the study's field of view and were cut"
            notes.append(note)
        else:
            out[v] = f.pixels
    spacing = (target, target) if target is not None else frames[order[0]].spacing
    md = _metadata(first)
    md["source_instances"] = [
        {"sop_class_uid": str(ds.SOPClassUID), "sop_instance_uid": str(ds.SOPInstanceUID),
         "series_instance_uid": str(getattr(ds, "SeriesInstanceUID", "")), "file": str(fs[0].path)}
        for ds, fs in items]
    if notes:
        md["ingest_notes"] = notes
    return PlanarStudy(views=out, pixel_spacing_mm=tuple(float(s) for s in spacing),
                       patient_id=_text(first, "PatientID"), study_instance_uid=uid,
                       series_instance_uid=str(getattr(first, "SeriesInstanceUID", "")), metadata=md,
                       source=str(items[0][1][0].path.parent if len(items) > 1 else items[0][1][0].path))


def dicom_text(value) -> str:
    r"""A DICOM text value as one string: a PatientID holding DICOM's value delimiter (``MRN123\OLD456``: invalid
    for LO, found in the wild) is read by pydicom as two values, whose Python list text reached the worklist. The
    PACS clients read their query answers with it too.

    >>> from pydicom.multival import MultiValue
    >>> dicom_text(MultiValue(str, ["MRN123", "OLD456"])), dicom_text(["A", "B"]), dicom_text("P1")
    ('MRN123\\OLD456', 'A\\B', 'P1')
    """
    from pydicom.multival import MultiValue

    return "\\".join(str(v) for v in value) if isinstance(value, (list, tuple, MultiValue)) else str(value)


def _root(paths: str | Path | Iterable[str | Path], files: Sequence[Path]) -> Path | None:
    """The folder the files are named relative to in messages: the folder given, a given file's folder, or the
    folder that holds all the files of a list (``None`` where they share none, e.g. relative and absolute paths)."""
    if isinstance(paths, (str, os.PathLike)):
        root = Path(paths)
        return root if root.is_dir() else root.parent
    try:
        return Path(os.path.commonpath([p.parent for p in files])) if files else None
    except ValueError:
        return None


def _shown(path: Path, root: Path | None) -> str:
    """``path`` as a message names it: relative to ``root`` (``series2/IM0001.dcm``), else in full.

    A camera or PACS export names the files of each series alike (``series1/IM0001.dcm``, ``series2/IM0001.dcm``):
    the bare file name said "IM0001.dcm; IM0001.dcm" of two different files, which left the user no way to find them.

    >>> _shown(Path("/in/series2/IM0001.dcm"), Path("/in")), _shown(Path("/other/a.dcm"), Path("/in"))
    ('series2/IM0001.dcm', '/other/a.dcm')
    """
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


def _files(paths: str | Path | Iterable[str | Path]) -> tuple[list[Path], list[dict[str, str]]]:
    """The files to read, and a skipped entry for each subfolder that could not be listed (its studies unread)."""
    from ..io.walk import files_below

    if isinstance(paths, (str, os.PathLike)):
        root = Path(paths)
        if root.is_dir():
            files, unreadable = files_below(root)
            skipped = [{"file": f"{folder}{os.sep}", "reason": f"folder cannot be read ({why}): the files in it were "
                        "not read; give read access to it and run again"} for folder, why in unreadable]
            return [p for p in files if p.is_file() and not p.name.startswith(".")], skipped
        return [root], []
    return [Path(p) for p in paths], []


def read_studies(paths: str | Path | Iterable[str | Path], views: Sequence[str] | None = None,
                 target_spacing_mm: float | None = None, target_shape: tuple[int, int] | None = None,
                 progress: Callable[[int, int], None] | None = None
                 ) -> tuple[list[PlanarStudy], list[dict[str, str]]]:
    """Read NM files (a folder or a list), group them by ``StudyInstanceUID``, one :class:`PlanarStudy` each.

    Parameters
    ----------
    paths : folder, file or iterable of files
    views : sequence of str, optional
        Views every study must have (e.g. ``("ANT", "POST", "RAO", "LAO", "RPO", "LPO")``); a study without one
        is skipped with a reason naming it.
    target_spacing_mm, target_shape : optional
        Resample every view to this pixel spacing (counts preserved), centred in this matrix. Without them,
        views of one study that disagree are brought onto the first view's grid.
    progress : callable, optional
        ``progress(files_read, files)`` after each file: a department's archive of thousands of files takes minutes.

    Returns
    -------
    studies : list of PlanarStudy
        In the order of their first file; ``metadata["source_instances"]`` lists the SOP instances read.
    skipped : list of dict
        ``{"file": ..., "reason": ...}`` for every unreadable file and every study that could not be assembled
        (the "file" of a study is its Study Instance UID). Where the file is an NM image whose header could be
        read, the entry also holds ``study_instance_uid`` (``""`` when the file has none) and ``patient_id``,
        so a caller can list the study as unread rather than lose it (see :func:`unread_studies`).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from scintiml.imaging import PlanarStudy
    >>> from scintiml.imaging.nm_iod import write_nm_study
    >>> folder = tempfile.mkdtemp()
    >>> st = PlanarStudy(views={"ANT": np.ones((8, 8)), "POST": np.ones((8, 8))}, pixel_spacing_mm=(3.0, 3.0),
    ...                  patient_id="P1")
    >>> _ = write_nm_study(st, folder, layout="per_view")
    >>> studies, skipped = read_studies(folder)
    >>> len(studies), sorted(studies[0].views), skipped
    (1, ['ANT', 'POST'], [])
    """
    groups: dict[str, list[tuple[Any, list[_Frame]]]] = {}
    files, skipped = _files(paths)
    root = _root(paths, files)
    for k, path in enumerate(files, 1):
        if progress is not None:
            progress(k - 1, len(files))
        ds = None
        try:
            ds = _parse_dicom(path)
            _check_nm(ds, path)
            frames = _frames(ds, path, _shown(path, root))
        except ImagingError as exc:
            skipped.append(_skipped_file(path, str(exc), ds))
            continue
        except MemoryError:  # the machine's lack, not the file's
            raise
        except Exception as exc:  # noqa: BLE001 - a corrupt file (fuzzed bytes) must be skipped, not end the run
            if isinstance(exc, ImportError) and (exc.name or "").split(".")[0] == "pydicom":
                raise  # pydicom not installed: every file would be called "corrupt DICOM"; the CLI names the extra
            skipped.append(_skipped_file(path, f"corrupt DICOM ({type(exc).__name__}: {one_line(exc)})", ds))
            continue
        # A file without StudyInstanceUID (Type 1) names no study. Read as a study of its own, one six-view study
        # became six rows, each "view(s) ... missing"; grouped by patient (or by series), two acquisitions of one
        # patient could be put together as one study, and its result could not be filed in the PACS anyway (no UID
        # to file it under). So such files are refused, one worklist row per patient saying why, as the PACS
        # listener refuses such instances: a PACS user fixes the tag and sends the study again.
        uid = _text(ds, "StudyInstanceUID").strip() or f"{_NO_STUDY_UID}{_text(ds, 'PatientID')}"
        groups.setdefault(uid, []).append((ds, frames))
    if progress is not None:
        progress(len(files), len(files))
    studies = []
    for uid, items in groups.items():
        if uid.startswith(_NO_STUDY_UID):
            group_paths = [fs[0].path for _, fs in items]
            source = str(group_paths[0] if len(group_paths) == 1 else Path(os.path.commonpath(group_paths)))
            pid = uid.removeprefix(_NO_STUDY_UID)
            names = sorted(_shown(p, root) for p in group_paths)
            listed = ", ".join(names[:6]) + (f", ... ({len(names) - 6} more)" if len(names) > 6 else "")
            skipped.append({"file": source, "study_instance_uid": "", "patient_id": pid, "source": source,
                            "reason": f"no StudyInstanceUID: {len(items)} NM file(s) of patient {pid or '?'} "
                                      f"({listed}) have no Study Instance UID (0020,000D), so which of them make up "
                                      "one study cannot be told and none is read; fix the tag at the modality or "
                                      "PACS and send the study again"})
            continue
        try:
            studies.append(_assemble(uid, items, views, target_spacing_mm, target_shape))
        except ImagingError as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - attributes missing or malformed in a corrupt file
            reason = f"cannot be assembled: corrupt DICOM ({type(exc).__name__}: {one_line(exc)})"
        else:
            continue
        first = items[0][0]
        skipped.append({"file": uid, "reason": reason, "study_instance_uid": uid,
                        "patient_id": _text(first, "PatientID"),
                        "source": str(items[0][1][0].path if len(items) == 1 else items[0][1][0].path.parent)})
    return studies, skipped


def _text(ds, keyword: str) -> str:
    try:
        return dicom_text(getattr(ds, keyword, "") or "")  # "MRN123\\OLD456" stays one text
    except Exception:  # noqa: BLE001 - a malformed element in a corrupt header reads as absent
        return ""


def _skipped_file(path: Path, reason: str, ds) -> dict[str, str]:
    """A skipped file; an NM image whose header was read also names its study (see :func:`unread_studies`)."""
    entry = {"file": str(path), "reason": reason}
    if ds is not None and _text(ds, "Modality") == "NM":
        entry.update(study_instance_uid=_text(ds, "StudyInstanceUID"), patient_id=_text(ds, "PatientID"),
                     source=str(path))
    return entry


def unread_studies(skipped: Sequence[dict[str, str]], read: Iterable[str] = ()) -> list[dict[str, str]]:
    """The NM studies among ``skipped`` (of :func:`read_studies`) of which no study was read: one entry each.

    A worklist must not lose a study because its files could not be read: such a study has to be read by a
    person, so a caller lists it (``study_instance_uid``, ``patient_id``, ``source``, ``reason``) instead of
    dropping it. Files of other modalities and files that are no DICOM at all name no study and are left out;
    the NM files without a Study Instance UID are one entry per PatientID (:func:`read_studies` refuses them so).
    ``read`` holds the Study Instance UIDs that were read (a study of which some files were read is listed by its
    reader, with what is missing).

    Examples
    --------
    >>> skipped = [{"file": "a.dcm", "reason": "a.dcm: pixel data cannot be decoded", "study_instance_uid": "1.2",
    ...             "patient_id": "P1", "source": "a.dcm"},
    ...            {"file": "b.dcm", "reason": "b.dcm: modality is 'CT', not NM"}]
    >>> [(u["study_instance_uid"], u["patient_id"]) for u in unread_studies(skipped)]
    [('1.2', 'P1')]
    >>> unread_studies(skipped, read=["1.2"])
    []
    >>> two = [{**skipped[0], "file": f, "reason": f"{f}: pixel data cannot be decoded"} for f in ("a.dcm", "b.dcm")]
    >>> unread_studies(two)[0]["reason"]
    '2 files: pixel data cannot be decoded'
    """
    done = set(read)
    out: dict[str, dict[str, str]] = {}
    reasons: dict[str, dict[str, list[str]]] = {}  # study -> reason without its file name -> full reasons
    for s in skipped:
        if "study_instance_uid" not in s:
            continue
        uid = s["study_instance_uid"]
        if uid and uid in done:
            continue
        key = uid or f"{_NO_STUDY_UID}{s['patient_id']}"  # as read_studies: files without UID, one entry a patient
        out.setdefault(key, {"study_instance_uid": uid, "patient_id": s["patient_id"], "source": s["source"]})
        general = s["reason"].removeprefix(f"{s['file']}: ")
        reasons.setdefault(key, {}).setdefault(general, []).append(s["reason"])
    for key, entry in out.items():  # six files with one fault read as one sentence, not six
        entry["reason"] = "; ".join(full[0] if len(full) == 1 else f"{len(full)} files: {general}"
                                    for general, full in reasons[key].items())
    return list(out.values())


def read_study(paths: str | Path | Iterable[str | Path], views: Sequence[str] | None = None,
               target_spacing_mm: float | None = None, target_shape: tuple[int, int] | None = None) -> PlanarStudy:
    """Read the files of exactly one study; any problem is an :class:`ImagingError` that names the study.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from scintiml.imaging import PlanarStudy
    >>> from scintiml.imaging.nm_iod import write_nm_study
    >>> folder = tempfile.mkdtemp()
    >>> st = PlanarStudy(views={"ANT": np.ones((8, 8))}, pixel_spacing_mm=(3.0, 3.0), patient_id="P1")
    >>> _ = write_nm_study(st, folder)
    >>> read_study(folder, views=("ANT", "POST"))
    Traceback (most recent call last):
    ...
    scintiml.imaging.planar.ImagingError: study ... (patient P1): view(s) POST missing; it has ANT (1 file(s))
    """
    studies, skipped = read_studies(paths, views, target_spacing_mm, target_shape)
    if skipped:
        raise ImagingError(skipped[0]["reason"])
    if len(studies) != 1:
        raise ImagingError(f"expected the files of one study, found {len(studies)} Study Instance UIDs")
    return studies[0]
