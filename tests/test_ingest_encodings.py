"""Real-world encodings and vendor layouts of planar NM files: read with the same counts, or refused by name."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from pydicom import uid  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from pydicom.filebase import DicomBytesIO  # noqa: E402
from pydicom.filewriter import write_dataset  # noqa: E402

from scintiml.imaging import PlanarStudy  # noqa: E402
from scintiml.imaging.ingest import read_studies  # noqa: E402
from scintiml.imaging.nm_iod import nm_datasets  # noqa: E402

RNG = np.random.default_rng(7)
ANT = RNG.integers(0, 4000, (16, 16)).astype(float)
POST = RNG.integers(0, 4000, (16, 16)).astype(float)


def _datasets(layout="per_view", views=None):
    views = views or {"ANT": ANT, "POST": POST}
    return nm_datasets(PlanarStudy(views=views, pixel_spacing_mm=(6.0, 6.0), patient_id="P1"), layout)


def _save(folder, datasets, **kw):
    for i, ds in enumerate(datasets):
        ds.save_as(folder / f"f{i}.dcm", **({"enforce_file_format": True} | kw))
    return folder


def _assert_read_identical(folder, want=None):
    want = want or {"ANT": ANT, "POST": POST}
    studies, skipped = read_studies(folder)
    assert skipped == []
    assert len(studies) == 1 and sorted(studies[0].views) == sorted(want)
    for view, counts in want.items():
        np.testing.assert_array_equal(studies[0].views[view], counts)
    assert studies[0].pixel_spacing_mm == (6.0, 6.0)
    return studies[0]


def _reasons(folder):
    studies, skipped = read_studies(folder)
    return studies, {s["file"].rsplit("/", 1)[-1]: s["reason"] for s in skipped}


@pytest.mark.parametrize("layout", ["per_view", "dual_head", "multiframe"])
@pytest.mark.parametrize("syntax", ["ImplicitVRLittleEndian", "ExplicitVRBigEndian", "DeflatedExplicitVRLittleEndian"])
def test_uncompressed_transfer_syntaxes_read_identical(tmp_path, layout, syntax):
    datasets = _datasets(layout)
    for ds in datasets:
        frames = ds.pixel_array
        ds.file_meta.TransferSyntaxUID = getattr(uid, syntax)
        if syntax == "ExplicitVRBigEndian":
            ds.PixelData = frames.astype(">u2").tobytes()
    _assert_read_identical(_save(tmp_path, datasets))


@pytest.mark.parametrize("layout", ["per_view", "multiframe"])
@pytest.mark.parametrize("syntax", ["RLELossless", "JPEGLSLossless"])
def test_lossless_compression_reads_identical(tmp_path, layout, syntax):
    from pydicom.pixels import get_decoder, get_encoder

    ts = getattr(uid, syntax)
    if not (get_encoder(ts).is_available and get_decoder(ts).is_available):
        pytest.skip(f"no {syntax} codec installed")
    datasets = _datasets(layout)
    for ds in datasets:
        ds.compress(ts)
    _assert_read_identical(_save(tmp_path, datasets))


def test_jpeg2000_lossless_reads_identical(tmp_path):
    from pydicom.pixels import get_decoder

    pil = pytest.importorskip("PIL.Image")
    from PIL import features

    if not (features.check("jpg_2000") and get_decoder(uid.JPEG2000Lossless).is_available):
        pytest.skip("no JPEG 2000 codec installed")
    datasets = _datasets("dual_head")
    for ds in datasets:
        encoded = []
        for frame in ds.pixel_array.astype(np.uint16):
            buf = io.BytesIO()
            pil.fromarray(frame).save(buf, "JPEG2000", irreversible=False, no_jp2=True)
            encoded.append(buf.getvalue())
        ds.PixelData = pydicom.encaps.encapsulate(encoded)
        ds.file_meta.TransferSyntaxUID = uid.JPEG2000Lossless
    _assert_read_identical(_save(tmp_path, datasets))


@pytest.mark.parametrize("bits", [8, 12, 32])
def test_bits_allocated_and_stored_read_identical(tmp_path, bits):
    views = {"ANT": ANT % 256, "POST": POST % 256} if bits == 8 else None
    datasets = _datasets(views=views)
    for ds in datasets:
        frames = ds.pixel_array
        if bits == 12:
            ds.BitsStored, ds.HighBit = 12, 11
        else:
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
            ds.PixelData = frames.astype({8: "u1", 32: "<u4"}[bits]).tobytes()
    _assert_read_identical(_save(tmp_path, datasets), views)


def test_signed_pixels_with_positive_counts_read_identical(tmp_path):
    views = {"ANT": ANT % 2048, "POST": POST % 2048}
    datasets = _datasets(views=views)
    for ds in datasets:
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 1
    _assert_read_identical(_save(tmp_path, datasets), views)


def test_counts_beyond_a_signed_range_are_refused_not_read_negative(tmp_path):
    # counts up to 4000 in a file marked signed 12-bit: sign-extended, 4000 read as -96 (a silently different image)
    datasets = _datasets()
    for ds in datasets:
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 1
    studies, reasons = _reasons(_save(tmp_path, datasets))
    assert studies == [] and sorted(reasons) == ["f0.dcm", "f1.dcm"]
    assert "are negative as stored (PixelRepresentation 1, BitsStored 12)" in reasons["f0.dcm"]


def test_rescale_slope_gives_counts(tmp_path):
    want = {"ANT": 2 * np.floor(ANT / 2), "POST": 2 * np.floor(POST / 2)}
    datasets = _datasets()
    for ds in datasets:
        ds.PixelData = (ds.pixel_array // 2).astype("<u2").tobytes()
        ds.RescaleSlope, ds.RescaleIntercept = 2, 0
    _assert_read_identical(_save(tmp_path, datasets), want)


def test_float_pixel_data_is_refused_by_name(tmp_path):
    datasets = _datasets()
    for ds in datasets:
        frames = ds.pixel_array.astype("<f4")
        del ds.PixelData, ds.BitsStored, ds.HighBit, ds.PixelRepresentation
        ds.FloatPixelData, ds.BitsAllocated = frames.tobytes(), 32
    studies, reasons = _reasons(_save(tmp_path, datasets))
    assert studies == []
    assert "f0.dcm: pixels stored as FloatPixelData, not the integer Pixel Data" in reasons["f0.dcm"]


@pytest.mark.parametrize("planar", [0, 1])
def test_rgb_screen_capture_is_refused_by_name(tmp_path, planar):
    datasets = _datasets()
    for ds in datasets:
        grey = (ds.pixel_array / 16).astype("u1")
        rgb = np.stack([grey] * 3, -1)
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", planar
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = (rgb.transpose(2, 0, 1) if planar else rgb).tobytes()
    studies, reasons = _reasons(_save(tmp_path, datasets))
    assert studies == [] and "f0.dcm: RGB / 3 samples per pixel: not a counts image" in reasons["f0.dcm"]


def _window(low, high, name):
    window, rng = Dataset(), Dataset()
    rng.EnergyWindowLowerLimit, rng.EnergyWindowUpperLimit = low, high
    window.EnergyWindowRangeSequence, window.EnergyWindowName = [rng], name
    return window


def _dual_window(scatter_first=False, scatter_name="SCATTER"):
    """A dual-head file with a photopeak and a scatter window: four frames, window by window."""
    ds = _datasets("dual_head")[0]
    peak = ds.pixel_array
    scatter = peak // 3
    windows = [_window(126.0, 154.0, "TC99M"), _window(92.0, 125.0, scatter_name)]
    frames = np.concatenate([scatter, peak] if scatter_first else [peak, scatter])
    ds.EnergyWindowInformationSequence = windows[::-1] if scatter_first else windows
    ds.NumberOfFrames, ds.NumberOfEnergyWindows = 4, 2
    ds.EnergyWindowVector, ds.DetectorVector = [1, 1, 2, 2], [1, 2, 1, 2]
    ds.PixelData = frames.astype("<u2").tobytes()
    return ds


@pytest.mark.parametrize("scatter_first", [False, True])
@pytest.mark.parametrize("scatter_name", ["SCATTER", "EM2"])  # EM2: unnamed, told by its range (99mTc: 140.5 keV)
def test_dual_energy_window_file_reads_the_photopeak_frames(tmp_path, scatter_first, scatter_name):
    # was refused: "view ANT is ambiguous — given 2 times (f0.dcm); keep one file per view" for one valid file
    study = _assert_read_identical(_save(tmp_path, [_dual_window(scatter_first, scatter_name)]))
    assert any("scatter window" in note and "92-125 keV" in note for note in study.metadata["ingest_notes"])


def test_scatter_window_only_file_is_refused_not_read_as_counts(tmp_path):
    # was read as the views' counts: a scatter image passed for the photopeak one
    datasets = _datasets()
    for ds in datasets:
        ds.PixelData = (ds.pixel_array // 3).astype("<u2").tobytes()
        ds.EnergyWindowInformationSequence = [_window(92.0, 125.0, "SCATTER")]
    studies, reasons = _reasons(_save(tmp_path, datasets))
    assert studies == []
    assert reasons["f0.dcm"].endswith("f0.dcm: its frames are of the energy window SCATTER (92-125 keV), a scatter "
                                      "window, not the photopeak; the view's counts are in the photopeak window's "
                                      "image — export that one")


def test_two_photopeak_windows_are_refused_as_undecidable(tmp_path):
    ds = _dual_window(scatter_name="EM2")
    ds.EnergyWindowInformationSequence[1].EnergyWindowRangeSequence[0].EnergyWindowUpperLimit = 160.0
    studies, reasons = _reasons(_save(tmp_path, [ds]))
    assert studies == [] and "f0.dcm: frames of 2 energy windows (TC99M (126-154 keV), EM2 (92-160 keV))" \
        in reasons["f0.dcm"]


@pytest.mark.parametrize("implicit", [True, False])
def test_file_without_preamble_or_file_meta_reads_identical(tmp_path, implicit):
    # a bare data set (no 128-byte preamble, no "DICM", no group 0002): was "not a readable DICOM file"
    for i, ds in enumerate(_datasets()):
        bare = copy.deepcopy(ds)
        del bare.file_meta
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, implicit
        write_dataset(fp, bare)
        (tmp_path / f"IM{i}").write_bytes(fp.getvalue())
    _assert_read_identical(tmp_path)


def test_file_meta_without_preamble_reads_identical(tmp_path):
    datasets = _datasets()
    for ds in datasets:
        ds.preamble = None
    _assert_read_identical(_save(tmp_path, datasets, enforce_file_format=False))
    assert (tmp_path / "f0.dcm").read_bytes()[:2] == b"\x02\x00"


def test_non_dicom_bytes_keep_their_reason(tmp_path):
    (tmp_path / "junk.dcm").write_bytes(b"\x08\x00 not a data set at all")
    (tmp_path / "text.dcm").write_bytes(b"not dicom at all")
    _, reasons = _reasons(tmp_path)
    assert all("not a readable DICOM file" in r for r in reasons.values()) and len(reasons) == 2


def test_dicomdir_nested_folders_and_extensions(tmp_path):
    from pydicom.fileset import FileSet

    fs = FileSet()
    for ds in _datasets():
        fs.add(ds)
    fs.write(tmp_path / "cd")
    studies, reasons = _reasons(tmp_path)
    assert len(studies) == 1 and list(reasons) == ["DICOMDIR"]
    assert "a DICOMDIR (the index of a DICOM medium), not an image" in reasons["DICOMDIR"]
    np.testing.assert_array_equal(studies[0].views["ANT"], ANT)


def test_secondary_capture_and_sr_filed_as_nm_are_refused_beside_the_study(tmp_path):
    datasets = _datasets()
    _save(tmp_path, datasets)
    for name, sop_class in (("sc.dcm", uid.SecondaryCaptureImageStorage), ("sr.dcm", uid.ComprehensiveSRStorage)):
        other = copy.deepcopy(datasets[0])  # Modality stays NM: a screenshot of the ANT view, filed as NM
        other.SOPClassUID = other.file_meta.MediaStorageSOPClassUID = sop_class
        other.SOPInstanceUID = other.file_meta.MediaStorageSOPInstanceUID = uid.generate_uid()
        other.save_as(tmp_path / name, enforce_file_format=True)
    studies, reasons = _reasons(tmp_path)
    # the SC was read as a second ANT view: "view ANT is ambiguous"; alone, it was read as counts
    assert len(studies) == 1 and sorted(reasons) == ["sc.dcm", "sr.dcm"]
    assert "sc.dcm: SOP class Secondary Capture Image Storage, not NM Image Storage" in reasons["sc.dcm"]
    assert "sr.dcm: SOP class Comprehensive SR Storage, not NM Image Storage" in reasons["sr.dcm"]
    np.testing.assert_array_equal(studies[0].views["ANT"], ANT)
