"""Planar-image ingestion on hostile input: reused SOP Instance UIDs, headers that do not describe the pixel data,
partly coded multi-frame files, files without StudyInstanceUID or PatientID, colour PNGs, unrecorded protocol items.

Each test fails without its fix (the behaviour before it is named in the test's comment)."""

import copy
import warnings

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from scintiml.imaging import (ImagingError, PlanarStudy, read_png_study, read_studies, unread_studies,  # noqa: E402
                              write_nm_study)

VIEWS6 = ("ANT", "POST", "RAO", "LAO", "RPO", "LPO")


def _study(pid="PAT-1", seed=0, shape=(16, 16)):
    rng = np.random.RandomState(seed)
    # every view different (a mirrored copy would be another image) and asymmetric left-right
    views = {v: rng.poisson(20 + 5 * k, shape).astype(float) + (np.arange(shape[1]) >= shape[1] // 2) * 30
             for k, v in enumerate(VIEWS6)}
    uid = pydicom.uid.generate_uid(entropy_srcs=[pid, str(seed)])
    return PlanarStudy(views=views, pixel_spacing_mm=(12.5, 12.5), patient_id=pid, study_instance_uid=uid)


def _rewrite(paths, change):
    for p in paths:
        ds = pydicom.dcmread(p)
        change(ds)
        ds.save_as(p)


# ----------------------------------------------------------------------------- 1. one SOP Instance UID, two images
def test_different_images_under_one_sop_instance_uid_make_the_study_unread_and_exact_copies_still_merge(tmp_path):
    study = _study()
    paths = write_nm_study(study, tmp_path / "a")
    one = pydicom.dcmread(paths[0]).SOPInstanceUID

    def reuse(ds):  # a buggy exporter: every view under the first view's UID
        ds.SOPInstanceUID = one
        ds.file_meta.MediaStorageSOPInstanceUID = one

    _rewrite(paths, reuse)
    # before: the five later views were dropped as "copies", and the study said "view(s) POST, ... missing"
    studies, skipped = read_studies(tmp_path / "a", views=VIEWS6)
    assert studies == [] and len(skipped) == 1
    reason = skipped[0]["reason"]
    assert f"SOP Instance UID {one} is ambiguous" in reason and "missing" not in reason
    assert unread_studies(skipped)[0]["patient_id"] == "PAT-1"

    # a copied file (same UID, same view, same pixels) is one frame, as before
    paths = write_nm_study(study, tmp_path / "b")
    (tmp_path / "b" / "copy.dcm").write_bytes(paths[0].read_bytes())
    studies, skipped = read_studies(tmp_path / "b", views=VIEWS6)
    assert len(studies) == 1 and skipped == []

    # a re-export under the original's UID, mirrored: before, whichever file came first was read as the view
    ds = pydicom.dcmread(paths[0])
    ds.PixelData = np.ascontiguousarray(ds.pixel_array[:, ::-1]).tobytes()
    ds.save_as(tmp_path / "b" / "copy.dcm")
    studies, skipped = read_studies(tmp_path / "b", views=VIEWS6)
    assert studies == [] and "ambiguous" in skipped[0]["reason"] and "copy.dcm (ANT, frame 1)" in skipped[0]["reason"]


# ----------------------------------------------------------------------------- 2. BitsStored below the data
def test_stored_values_beyond_bits_stored_are_refused_not_wrapped(tmp_path):
    study = _study()
    paths = write_nm_study(study, tmp_path)

    def eight_bits(ds):
        ds.BitsStored, ds.HighBit = 8, 7
        ds.PixelData = (ds.pixel_array.astype(np.uint16) * 10).tobytes()  # counts up to ~1000 in 16 bits

    _rewrite(paths[:1], eight_bits)
    # before: pydicom kept the low 8 bits (a hot pixel of 300 read as 44) and the study was read
    studies, skipped = read_studies(tmp_path, views=VIEWS6)
    assert studies == []
    refused = [s["reason"] for s in skipped if s["file"] == str(paths[0])]
    assert refused and "the header (BitsStored 8) does not describe the pixel data" in refused[0]

    # values that fit in BitsStored (12 here) are read unchanged
    _rewrite(paths[:1], lambda ds: (setattr(ds, "BitsStored", 12), setattr(ds, "HighBit", 11),
                                    setattr(ds, "PixelData", (ds.pixel_array.astype(np.uint16) // 10).tobytes())))
    studies, skipped = read_studies(tmp_path, views=VIEWS6)
    assert len(studies) == 1 and skipped == []


# ----------------------------------------------------------------------------- 3. multi-frame, one frame uncoded
def test_multiframe_text_fills_only_the_uncoded_frame_and_must_agree_with_the_coded_ones(tmp_path):
    study = _study()
    (path,) = write_nm_study(study, tmp_path, layout="multiframe")

    def uncode_last(text):
        def change(ds):
            del ds.DetectorInformationSequence[5].ViewCodeSequence
            ds.SeriesDescription = text
        return change

    _rewrite([path], uncode_last("LUNG PERF ANT POST RAO LAO RPO LPO"))
    (read,), skipped = read_studies(tmp_path, views=VIEWS6)
    assert skipped == [] and all(np.array_equal(read.views[v], study.views[v]) for v in VIEWS6)

    # the text lists RAO and LAO the other way round: before, it replaced every coded name and swapped them silently
    (path,) = write_nm_study(study, tmp_path / "swapped", layout="multiframe")
    _rewrite([path], uncode_last("LUNG PERF ANT POST LAO RAO RPO LPO"))
    studies, skipped = read_studies(tmp_path / "swapped", views=VIEWS6)
    assert studies == [] and len(skipped) == 1
    assert "frame 3 is coded RAO in its View Code Sequence, but SeriesDescription" in skipped[0]["reason"]


# ----------------------------------------------------------------------------- 6. no StudyInstanceUID
def test_files_without_study_instance_uid_are_one_unread_row_per_patient_not_one_per_file(tmp_path):
    paths = write_nm_study(_study("PAT-1"), tmp_path) + write_nm_study(_study("PAT-2", seed=1), tmp_path / "other")

    def drop_uid(ds):
        del ds.StudyInstanceUID

    _rewrite(paths[:6], drop_uid)
    # before: each file was a study of its own: six entries for PAT-1, each "view(s) ... missing"
    studies, skipped = read_studies(tmp_path, views=VIEWS6)
    assert [s.patient_id for s in studies] == ["PAT-2"]
    assert len(skipped) == 1 and skipped[0]["reason"].startswith("no StudyInstanceUID: 6 NM file(s) of patient PAT-1")
    unread = unread_studies(skipped, read=[s.study_instance_uid for s in studies])
    assert [(u["patient_id"], u["study_instance_uid"]) for u in unread] == [("PAT-1", "")]
    assert "missing" not in unread[0]["reason"]


# ----------------------------------------------------------------------------- 8. PNG that holds no counts
@pytest.mark.parametrize("mode", ["P", "RGB", "RGBA", "LA"])
def test_png_colour_palette_and_alpha_images_are_refused(tmp_path, mode):
    from PIL import Image

    grey = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16))
    path = tmp_path / f"x_{mode}_ANT.png"
    grey.convert(mode).save(path)
    # before: palette indices, or the mean of the colour channels, were read as counts
    with pytest.raises(ImagingError, match=f"image mode {mode} .*not counts; export the view as a single-channel"):
        read_png_study([path])


def test_png_below_the_smallest_matrix_is_refused_and_grey_counts_are_read(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((1, 1), 7, np.uint8)).save(tmp_path / "dot_ANT.png")
    with pytest.raises(ImagingError, match=r"a 1 x 1 image is smaller than a planar view can be \(at least 8 x 8\)"):
        read_png_study([tmp_path / "dot_ANT.png"])
    counts = np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 200  # 16-bit counts above 255
    Image.fromarray(counts).save(tmp_path / "c_ANT.png")
    np.testing.assert_array_equal(read_png_study([tmp_path / "c_ANT.png"]).views["ANT"], counts)


# ----------------------------------------------------------------------------- 7 and 9: the worklist
@pytest.fixture(scope="module")
def tiny():
    from scintiml.cnn import train_cnn
    from scintiml.datasets.perfusion import simulate_perfusion_scans

    cases = simulate_perfusion_scans(8, prevalence=0.5, random_state=5)
    x = np.stack([c.stack() for c in cases])
    with warnings.catch_warnings():  # a model of 8 studies: the small-part and calibration warnings are expected
        warnings.simplefilter("ignore", UserWarning)
        model = train_cnn(x, np.array([c.label for c in cases]), list(VIEWS6), width=4, epochs=1, max_steps=1, seed=1)
    return model, cases


def test_a_study_without_patient_id_is_not_triaged_and_warned_of(tiny):
    from scintiml.cnn.triage import worklist

    model, cases = tiny
    studies = [PlanarStudy(views=c.views, patient_id=pid) for c, pid in zip(cases[:3], ["P0", "", "  "])]
    # before: triaged "ok" with a blank patient (summary "0001_unnamed.png", a Secondary Capture with no PatientID)
    with pytest.warns(UserWarning, match="has no PatientID: not triaged"):
        table, order = worklist(model, studies)
    blank = table[table["patient_id"].str.strip() == ""]
    assert len(blank) == 2 and (blank["priority"] == "not triaged").all() and blank["probability"].isna().all()
    assert blank["protocol_check"].str.startswith("no PatientID").all()
    assert list(table["rank"][:2]) == [1, 2] and table.loc[2, "patient_id"] == "P0"
    assert table.loc[2, "protocol_check"] == "ok" and table.loc[2, "priority"] != "not triaged"


def test_unrecorded_pixel_spacing_and_energy_window_are_said_and_the_study_still_triaged(tiny):
    from scintiml.cnn.triage import worklist

    model, cases = tiny
    model = copy.copy(model)
    model.guard = copy.deepcopy(model.guard)
    model.guard.pixel_spacing_mm = [3.0, 3.3]
    model.guard.energy_windows_kev = [[126.0, 154.0]]
    recorded = PlanarStudy(views=cases[0].views, pixel_spacing_mm=3.125, patient_id="P0",
                           metadata={"energy_windows_kev": [[126.0, 154.0]]})
    unrecorded = PlanarStudy(views=cases[1].views, patient_id="P1")  # no PixelSpacing, no Energy Window Sequence
    table, _ = worklist(model, [recorded, unrecorded])
    by_id = table.set_index("patient_id")
    # before: both "ok", the two checks skipped without a word
    assert by_id.loc["P0", "protocol_check"] == "ok"
    assert by_id.loc["P1", "protocol_check"] == ("ok; pixel spacing not recorded in the study, not checked; "
                                                 "energy window not recorded in the study, not checked")
    assert by_id["probability"].notna().all() and (by_id["priority"] != "not triaged").all()
    # a study outside the protocol keeps its reasons first, the notes after them
    bad = PlanarStudy(views={v: a[:, ::-1] for v, a in cases[2].views.items()}, patient_id="P2")
    check = worklist(model, [bad])[0].loc[0, "protocol_check"]
    assert check.startswith("mirrored") and check.endswith("energy window not recorded in the study, not checked")


def test_triage_folder_draws_saliency_for_every_scored_study_and_files_no_result_without_patient_id(
        tiny, tmp_path, monkeypatch):
    import scintiml.cnn.saliency as saliency
    from scintiml.cnn.workflow import triage_folder

    model, cases = tiny
    model = copy.copy(model)
    model.guard = copy.deepcopy(model.guard)
    model.guard.pixel_spacing_mm = [3.0, 3.3]  # a bundle that records the spacing it was trained on
    model.save(tmp_path / "model")
    write_nm_study(PlanarStudy(views=cases[0].views, pixel_spacing_mm=3.125, patient_id="P0"), tmp_path / "in")
    spacing_lost = write_nm_study(PlanarStudy(views=cases[1].views, pixel_spacing_mm=3.125, patient_id="P1"),
                                  tmp_path / "in")
    _rewrite(spacing_lost, lambda ds: delattr(ds, "PixelSpacing"))
    write_nm_study(PlanarStudy(views=cases[2].views, pixel_spacing_mm=3.125, patient_id=""), tmp_path / "in")
    drawn = []
    real = saliency.grad_cam
    monkeypatch.setattr(saliency, "grad_cam", lambda m, x, *a, **k: drawn.append(1) or real(m, x, *a, **k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table, skipped = triage_folder(tmp_path / "model", tmp_path / "in", tmp_path / "wl.csv")
    by_id = table.set_index("patient_id")
    assert by_id.loc["P1", "protocol_check"].startswith("ok; pixel spacing not recorded")
    # before: saliency only where protocol_check was exactly "ok", so the scored P1 had none
    assert len(drawn) == 2
    # before: a Secondary Capture with an empty PatientID was written for the unattributable study
    blank = table[table["patient_id"] == ""].iloc[0]
    assert blank["priority"] == "not triaged" and blank["secondary_capture"] == ""
    assert any("no Secondary Capture written: the study has no PatientID" in s["reason"] for s in skipped)
    assert by_id.loc["P0", "secondary_capture"] and by_id.loc["P1", "secondary_capture"]
