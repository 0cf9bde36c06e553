"""Findings of a hostile-input sweep of the imaging commands (session 18): a valid signed file with a rescale that
was refused, and reasons that named the wrong cause, gave advice no user could act on or ran over several lines."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from conftest import run_cli  # noqa: E402
from scintiml.cnn.glyphs import undrawable_note  # noqa: E402
from scintiml.imaging.ingest import read_studies  # noqa: E402


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim18")
    assert run_cli(["simulate", "--out", str(root / "sim"), "--n", "2", "--seed", "1"]) == 0
    return root / "sim" / "dicom"


def _copy(simulated, tmp_path):
    folder = tmp_path / "case"
    shutil.copytree(simulated, folder)
    return folder


def _skip_reasons(folder):
    studies, skipped = read_studies(folder)
    return studies, {str(e["file"]).rsplit("/", 1)[-1]: e["reason"] for e in skipped}


def _first(folder, view="ANT"):
    return sorted(folder.glob(f"*_{view}.dcm"))[0]


def test_signed_stored_values_with_an_intercept_that_makes_them_counts_are_read(simulated, tmp_path):
    folder = _copy(simulated, tmp_path)
    before, _ = read_studies(simulated)
    for f in folder.glob("*.dcm"):
        ds = pydicom.dcmread(f)
        stored = ds.pixel_array.astype(np.int32) - 1000
        assert stored.min() < 0  # the case: negative as stored
        ds.PixelRepresentation, ds.RescaleIntercept, ds.RescaleSlope = 1, 1000, 1
        ds.PixelData = stored.astype("<i2").tobytes()
        ds.save_as(f)
    after, reasons = _skip_reasons(folder)
    assert reasons == {} and len(after) == len(before) == 2
    by_id = {s.patient_id: s for s in before}
    for study in after:
        for view, image in study.views.items():
            np.testing.assert_array_equal(image, by_id[study.patient_id].views[view])


def test_signed_values_still_negative_after_the_rescale_are_refused_with_both_tags(simulated, tmp_path):
    folder = _copy(simulated, tmp_path)
    f = _first(folder)
    ds = pydicom.dcmread(f)
    ds.PixelRepresentation, ds.RescaleIntercept = 1, 10
    ds.PixelData = (ds.pixel_array.astype(np.int32) - 1000).astype("<i2").tobytes()
    ds.save_as(f)
    _, reasons = _skip_reasons(folder)
    assert "negative after RescaleSlope 1 / RescaleIntercept 10" in reasons[f.name]


def test_a_file_cut_short_or_empty_or_not_dicom_says_so_without_pydicoms_advice(simulated, tmp_path):
    folder = _copy(simulated, tmp_path)
    cut = _first(folder)
    cut.write_bytes(cut.read_bytes()[:300])
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "notes.dcm").write_text("not dicom\n")
    _, reasons = _skip_reasons(folder)
    assert "no Modality (0008,0060)" in reasons[cut.name] and "cut short" in reasons[cut.name]
    assert "an empty file (0 bytes)" in reasons["empty.dcm"]
    assert "not a readable DICOM file" in reasons["notes.dcm"]
    assert not any("force=True" in r for r in reasons.values())


def test_an_undecodable_compressed_file_is_one_line_with_what_to_do(simulated, tmp_path):
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless

    folder = _copy(simulated, tmp_path)
    f = _first(folder)
    ds = pydicom.dcmread(f)
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 100])
    ds["PixelData"].VR = "OB"
    ds.save_as(f)
    _, reasons = _skip_reasons(folder)
    assert "pixel data cannot be decoded" in reasons[f.name]
    assert "\n" not in reasons[f.name] and "export the study uncompressed" in reasons[f.name]


def test_three_frames_of_one_view_in_one_file_are_named_as_frames_not_files(simulated, tmp_path):
    folder = _copy(simulated, tmp_path)
    f = _first(folder)
    ds = pydicom.dcmread(f)
    image = ds.pixel_array
    ds.NumberOfFrames, ds.DetectorVector, ds.EnergyWindowVector = 3, [1, 1, 1], [1, 1, 1]
    ds.PixelData = np.stack([image, image, image]).astype("<u2").tobytes()
    ds.save_as(f)
    _, reasons = _skip_reasons(folder)
    reason = next(r for r in reasons.values() if "ambiguous" in r)
    assert f"frames 1, 2, 3 of {f.name} are all ANT" in reason and "keep one file per view" not in reason


def test_control_characters_in_an_id_are_not_a_font_problem():
    note = undrawable_note("the patient ID", "P1\nerror\x1b[31m")
    assert "U+000A, U+001B" in note and "control characters" in note and "install a font" not in note
    assert "install a font" in undrawable_note("the patient ID", "P1\U000f0000")  # a private-use character


def test_triage_warns_of_the_same_images_under_another_patient_id(simulated, tmp_path):
    from pydicom.uid import generate_uid

    from scintiml.cnn.workflow import same_images_other_patients

    folder = _copy(simulated, tmp_path)
    pid = pydicom.dcmread(_first(folder)).PatientID
    study, series = generate_uid(), generate_uid()
    for f in sorted(folder.glob(f"{pid}_*.dcm")):
        ds = pydicom.dcmread(f)
        ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = "OTHER-99", study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.save_as(folder / f"copy_{f.name}")
    studies, _ = read_studies(folder)
    groups = same_images_other_patients(studies)
    assert [sorted(studies[k].patient_id for k in g) for g in groups] == [sorted([pid, "OTHER-99"])]
    original, _ = read_studies(simulated)
    assert same_images_other_patients(original) == []


def test_the_labels_file_inside_the_folder_of_studies_is_not_called_an_unreadable_dicom(simulated, tmp_path):
    from scintiml.cnn.workflow import load_labelled_studies

    folder = _copy(simulated, tmp_path)
    ids = sorted({pydicom.dcmread(f).PatientID for f in folder.glob("*.dcm")})
    (folder / "labels.csv").write_text("patient_id,pe\n" + "".join(f"{p},{k % 2}\n" for k, p in enumerate(ids)))
    (folder / "other.csv").write_text("a,b\n1,2\n")  # any other file is still named
    studies, y, skipped = load_labelled_studies(folder)
    assert len(studies) == 2 and sorted(y) == [0, 1]
    assert [str(e["file"]).rsplit("/", 1)[-1] for e in skipped] == ["other.csv"]


def test_an_empty_file_is_said_once_and_an_identity_rescale_keeps_the_signed_reason(simulated, tmp_path):
    folder = _copy(simulated, tmp_path)
    (folder / "empty.dcm").write_bytes(b"")
    f = _first(folder)
    ds = pydicom.dcmread(f)
    ds.PixelRepresentation, ds.RescaleSlope, ds.RescaleIntercept = 1, 1, 0  # the tags many exports write
    ds.PixelData = (ds.pixel_array.astype(np.int32) - 1000).astype("<i2").tobytes()
    ds.save_as(f)
    _, reasons = _skip_reasons(folder)
    assert "not a readable DICOM file" not in reasons["empty.dcm"] and reasons["empty.dcm"].count("empty.dcm") == 1
    assert "negative as stored" in reasons[f.name] and "no RescaleIntercept makes them counts" in reasons[f.name]
