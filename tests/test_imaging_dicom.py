"""NM Image objects as the standard has them, real-world ingestion layouts, and the SC/SR outputs."""

import shutil
import subprocess

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")

from scintiml.imaging import (ImagingError, PlanarStudy, nm_datasets, read_studies, read_study,  # noqa: E402
                              secondary_capture, structured_report, write_nm_study)
from scintiml.imaging.dicom_outputs import TRIAGE_DISCLAIMER  # noqa: E402
from scintiml.imaging.nm_iod import VIEW_ORIENTATION  # noqa: E402

VIEWS6 = ("ANT", "POST", "RAO", "LAO", "RPO", "LPO")
DCIODVFY = shutil.which("dciodvfy")
needs_dciodvfy = pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) not installed; "
                                    ".ci/run installs it")


def _study(pid="PAT-1", shape=(32, 32), seed=0):
    rng = np.random.RandomState(seed)
    views = {v: rng.poisson(20, shape).astype(float) + (np.arange(shape[1]) >= shape[1] // 2) * 30 for v in VIEWS6}
    # a fixed study UID: the writers no longer store a generated one in the caller's study, and these tests
    # compare the study across calls
    uid = pydicom.uid.generate_uid(entropy_srcs=[pid, str(seed)])
    return PlanarStudy(views=views, pixel_spacing_mm=(12.5, 12.5), patient_id=pid, study_instance_uid=uid,
                       metadata={"PatientName": "Doe^Jane", "PatientBirthDate": "19600101", "PatientSex": "F",
                                 "AccessionNumber": "ACC123", "StudyID": "77", "StudyDate": "20240310",
                                 "StudyTime": "101500", "ReferringPhysicianName": "House^Greg",
                                 "count_rate_cps": 4000, "collimator": "LEHR"})


def _dciodvfy_errors(path):
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


def test_nm_image_attributes_follow_the_standard():
    from pydicom.sr.codedict import codes

    study = _study()
    datasets = nm_datasets(study, "per_view")
    assert len(datasets) == 6
    for ds, view in zip(datasets, VIEWS6):
        assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "STATIC", "EMISSION"]
        assert ds.NumberOfFrames == 1 and ds.NumberOfDetectors == 1 and ds.DetectorVector == 1
        assert ds.CountsAccumulated == int(study.views[view].sum())
        assert ds.ActualFrameDuration == round(1000 * study.views[view].sum() / 4000)
        assert list(ds.PatientOrientation) == list(VIEW_ORIENTATION[view])
        code = ds.DetectorInformationSequence[0].ViewCodeSequence[0]
        assert code.CodingSchemeDesignator == "SCT"
        assert ds.EnergyWindowInformationSequence[0].EnergyWindowRangeSequence[0].EnergyWindowLowerLimit == 126
        assert ds.StudyInstanceUID == datasets[0].StudyInstanceUID
    codes_used = [ds.DetectorInformationSequence[0].ViewCodeSequence[0].CodeValue for ds in datasets]
    assert codes_used[:2] == [codes.SCT.AnteriorProjection.value, codes.SCT.PosteriorProjection.value]
    pair = nm_datasets(study, "dual_head")
    assert [ds.NumberOfDetectors for ds in pair] == [2, 2, 2]
    assert pair[1].DetectorInformationSequence[1].ViewCodeSequence[0].CodeValue == \
        codes.SCT.LeftPosteriorObliqueEmissiveProjection.value  # RAO is acquired with LPO opposite
    assert pair[0].PatientOrientation == ""  # ANT and POST share no row direction


@needs_dciodvfy
@pytest.mark.parametrize("layout", ["per_view", "dual_head", "multiframe"])
def test_dciodvfy_finds_no_error_in_nm_files(tmp_path, layout):
    for path in write_nm_study(_study(), tmp_path, layout=layout):
        assert _dciodvfy_errors(path) == [], path.name


def test_per_view_files_are_grouped_into_one_study_per_uid(tmp_path):
    a, b = _study("A"), _study("B", seed=1)
    write_nm_study(a, tmp_path / "a", layout="per_view")
    write_nm_study(b, tmp_path / "b", layout="dual_head")
    studies, skipped = read_studies(tmp_path, views=VIEWS6)
    assert skipped == [] and sorted(s.patient_id for s in studies) == ["A", "B"]
    for st, src in zip(sorted(studies, key=lambda s: s.patient_id), (a, b)):
        assert tuple(st.views) == VIEWS6 and st.study_instance_uid == src.study_instance_uid
        for v in VIEWS6:
            np.testing.assert_array_equal(st.views[v], src.views[v])
        assert len(st.metadata["source_instances"]) == (6 if st.patient_id == "A" else 3)
        assert st.metadata["PatientName"] == "Doe^Jane" and st.metadata["AccessionNumber"] == "ACC123"


def test_rescale_slope_and_intercept_give_counts_and_an_impossible_slope_is_named(tmp_path):
    src = _study("S")
    write_nm_study(src, tmp_path / "s", layout="per_view")
    files = sorted((tmp_path / "s").rglob("*.dcm"))
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        ds.RescaleSlope, ds.RescaleIntercept = ("0.5", "3") if k else ("-1", "0")  # the first file: -1
        ds.save_as(f)
    studies, skipped = read_studies(tmp_path / "s")
    assert len(skipped) == 1 and "RescaleSlope -1 (intercept 0) cannot turn stored values into counts" in \
        skipped[0]["reason"] and skipped[0]["study_instance_uid"] == src.study_instance_uid
    read = studies[0]
    assert len(read.views) == 5  # the refused file's view is missing, not read as if the slope were 1
    for v in read.views:
        np.testing.assert_allclose(read.views[v], src.views[v] * 0.5 + 3)  # stored x slope + intercept


def test_a_matrix_larger_than_any_gamma_camera_is_refused_before_decoding(tmp_path):
    write_nm_study(_study("BIG"), tmp_path / "s", layout="per_view")
    first = sorted((tmp_path / "s").rglob("*.dcm"))[0]
    ds = pydicom.dcmread(first)
    ds.Rows = ds.Columns = 4096
    ds.save_as(first)
    studies, skipped = read_studies(tmp_path / "s")
    assert len(studies[0].views) == 5 and len(skipped) == 1
    assert "4096 x 4096 matrix is larger than a planar NM view can be (at most 2048 x 2048)" in skipped[0]["reason"]


def test_a_header_that_does_not_describe_its_pixels_is_named_as_such(tmp_path):
    write_nm_study(_study("B8"), tmp_path / "s", layout="per_view")
    first = sorted((tmp_path / "s").rglob("*.dcm"))[0]
    ds = pydicom.dcmread(first)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7  # 16-bit data declared 8-bit: twice the bytes
    ds.save_as(first)
    studies, skipped = read_studies(tmp_path / "s")
    assert len(studies[0].views) == 5 and len(skipped) == 1
    assert "holds 2 frame(s) of 32 x 32 at BitsAllocated 8, but NumberOfFrames says 1" in skipped[0]["reason"]


def test_single_view_with_scalar_detector_vector_and_text_views(tmp_path):
    """A camera's one-view file: DetectorVector = 1 (one value), view only in SeriesDescription."""
    study = _study("C")
    paths = write_nm_study(study, tmp_path, layout="per_view")
    for path, view in zip(paths, VIEWS6):
        ds = pydicom.dcmread(path)
        del ds.DetectorInformationSequence[0].ViewCodeSequence
        ds.SeriesDescription = {"RAO": "LUNG PERF RIGHT ANTERIOR OBLIQUE"}.get(view, f"Q LUNG {view}")
        ds.DetectorVector = 1
        ds.save_as(path)
    st = read_study(tmp_path, views=VIEWS6)
    assert tuple(st.views) == VIEWS6
    np.testing.assert_array_equal(st.views["RAO"], study.views["RAO"])


@pytest.mark.parametrize("convention", ["view_codes", "frame_list_in_comments"])
def test_multiframe_files_in_two_naming_conventions(tmp_path, convention):
    study = _study("D")
    (ds,) = nm_datasets(study, "multiframe")
    if convention == "frame_list_in_comments":
        # an older export: one detector item without view codes, the frame order written in ImageComments
        for det in ds.DetectorInformationSequence:
            del det.ViewCodeSequence
        ds.ImageComments = "ANT/POST/RAO/LAO/RPO/LPO"
        ds.SeriesDescription = "LUNG PERFUSION"
    ds.save_as(tmp_path / "d.dcm", enforce_file_format=True)
    st = read_study(tmp_path / "d.dcm", views=VIEWS6)
    for v in VIEWS6:
        np.testing.assert_array_equal(st.views[v], study.views[v])


def test_missing_or_ambiguous_views_name_the_study(tmp_path):
    study = _study("E")
    paths = write_nm_study(study, tmp_path / "e", layout="per_view")
    paths[2].unlink()  # RAO gone
    studies, skipped = read_studies(tmp_path / "e", views=VIEWS6)
    assert studies == [] and len(skipped) == 1
    assert skipped[0]["file"] == study.study_instance_uid
    assert "patient E" in skipped[0]["reason"] and "RAO missing" in skipped[0]["reason"]
    # the same view twice in one study (a repeat acquisition, a new SOP instance) is ambiguous
    extra = nm_datasets(PlanarStudy(views={"ANT": study.views["ANT"]}, pixel_spacing_mm=(12.5, 12.5),
                                    patient_id="E", study_instance_uid=study.study_instance_uid))[0]
    extra.save_as(tmp_path / "e" / "again.dcm", enforce_file_format=True)
    with pytest.raises(ImagingError, match=r"patient E\): view ANT is ambiguous"):
        read_study(tmp_path / "e")
    # a copied file (same SOP instance) is not an ambiguity
    shutil.copy(paths[0], tmp_path / "e" / "copy.dcm")
    (tmp_path / "e" / "again.dcm").unlink()
    assert list(read_study(tmp_path / "e").views) == ["ANT", "POST", "LAO", "RPO", "LPO"]


def test_other_matrix_sizes_are_resampled_and_orientation_checked(tmp_path):
    study = _study("F", shape=(32, 32))
    paths = write_nm_study(study, tmp_path, layout="per_view")
    big = pydicom.dcmread(paths[1])  # POST at 64 x 64, 6.25 mm: the same field of view
    frame = np.kron(study.views["POST"], np.ones((2, 2))) / 4
    big.Rows = big.Columns = 64
    big.PixelSpacing = [6.25, 6.25]
    big.PixelData = np.round(frame * 4).astype(np.uint16).tobytes()
    big.save_as(paths[1])
    mirrored = pydicom.dcmread(paths[0])  # ANT stored mirrored: rows run to the patient's right
    mirrored.PatientOrientation = ["R", "F"]
    mirrored.PixelData = study.views["ANT"][:, ::-1].astype(np.uint16).tobytes()
    mirrored.save_as(paths[0])
    st = read_study(tmp_path)
    assert st.views["POST"].shape == (32, 32) and st.pixel_spacing_mm == (12.5, 12.5)
    assert st.views["POST"].sum() == pytest.approx(4 * frame.sum(), rel=1e-9)  # counts preserved
    np.testing.assert_array_equal(st.views["ANT"], study.views["ANT"])  # flipped back
    assert any("mirrored" in n for n in st.metadata["ingest_notes"])
    bad = pydicom.dcmread(paths[2])
    bad.PatientOrientation = ["H", "L"]
    bad.save_as(paths[2])
    with pytest.raises(ImagingError, match="RAO .* fits neither"):
        read_study(tmp_path)


@pytest.fixture()
def source(tmp_path):
    write_nm_study(_study("G"), tmp_path / "src", layout="per_view")
    return read_study(tmp_path / "src")


def test_secondary_capture_carries_the_source_study(source, tmp_path):
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[5:10, 5:50] = 255
    sc = secondary_capture(rgb, source, views_shown=["ANT", "RAO", "LAO"])
    sc.save_as(tmp_path / "sc.dcm")
    back = pydicom.dcmread(tmp_path / "sc.dcm")
    again = hd.imread(tmp_path / "sc.dcm")  # highdicom reads it back as an image
    assert again.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    for keyword, value in (("PatientName", "Doe^Jane"), ("PatientID", "G"), ("PatientBirthDate", "19600101"),
                           ("PatientSex", "F"), ("AccessionNumber", "ACC123"), ("StudyID", "77"),
                           ("StudyDate", "20240310"), ("StudyTime", "101500"),
                           ("ReferringPhysicianName", "House^Greg"), ("BurnedInAnnotation", "YES")):
        assert str(back[keyword].value) == value, keyword
    assert back.StudyInstanceUID == source.study_instance_uid
    assert back.SeriesInstanceUID not in {s["series_instance_uid"] for s in source.metadata["source_instances"]}
    assert {r.ReferencedSOPInstanceUID for r in back.SourceImageSequence} == \
        {s["sop_instance_uid"] for s in source.metadata["source_instances"]}
    assert back.PatientOrientation == ""  # ANT (L\F) beside LAO (LP\F): no single value is true
    np.testing.assert_array_equal(back.pixel_array, rgb)
    one = secondary_capture(rgb, source, views_shown=["POST"])
    assert list(one.PatientOrientation) == ["R", "F"]
    other = secondary_capture(rgb, source, views_shown=["POST"])
    assert other.SeriesInstanceUID != one.SeriesInstanceUID  # a new series per call (per study)
    with pytest.raises(ImagingError, match="uint8 RGB"):
        secondary_capture(rgb[..., 0], source)


def test_a_one_part_patient_name_is_copied_without_a_warning_that_names_the_patient(source):
    # highdicom warns of "DOE" (one component: valid DICOM) with the name in its message, and the CLI prints every
    # warning: the patient's name went to the terminal and any log
    import warnings

    source.metadata["PatientName"] = "DOE"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sc = secondary_capture(np.zeros((8, 8, 3), np.uint8), source)
        sr = structured_report(source, 0.8, 0.4, "m", "1")
    assert str(sc.PatientName) == "DOE" and str(sr.PatientName) == "DOE"
    assert not [w for w in caught if "DOE" in str(w.message)]


def test_secondary_capture_keeps_a_patient_id_outside_ascii(tmp_path):
    write_nm_study(_study("Ünïcödé 患者"), tmp_path / "src", layout="per_view")
    sc = secondary_capture(np.zeros((8, 8, 3), np.uint8), read_study(tmp_path / "src"), views_shown=["ANT"])
    sc.save_as(tmp_path / "sc.dcm")
    assert pydicom.dcmread(tmp_path / "sc.dcm").PatientID == "Ünïcödé 患者"  # was 'Ünïcödé ??' without a charset


def test_structured_report_carries_the_triage_result(source, tmp_path):
    sr = structured_report(source, 0.83, 0.4, "planar-pe-cnn", "2.1")
    sr.save_as(tmp_path / "sr.dcm")
    back = pydicom.dcmread(tmp_path / "sr.dcm")
    assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert back.StudyInstanceUID == source.study_instance_uid and back.PatientID == "G"
    assert back.AccessionNumber == "ACC123"
    items = {item.ConceptNameCodeSequence[0].CodeMeaning: item for item in back.ContentSequence}
    assert items["Algorithm Name"].TextValue == "planar-pe-cnn"
    assert items["Algorithm Version"].TextValue == "2.1"
    assert float(items["Probability of pulmonary embolism"].MeasuredValueSequence[0].NumericValue) == 0.83
    assert float(items["Triage decision threshold"].MeasuredValueSequence[0].NumericValue) == 0.4
    assert items["Triage category"].TextValue == "URGENT"
    assert items["Comment"].TextValue == TRIAGE_DISCLAIMER == "For triage — not a diagnosis"
    evidence = {r.ReferencedSOPInstanceUID for s in back.CurrentRequestedProcedureEvidenceSequence
                for series in s.ReferencedSeriesSequence for r in series.ReferencedSOPSequence}
    assert evidence == {s["sop_instance_uid"] for s in source.metadata["source_instances"]}
    report = hd.sr.ComprehensiveSR.from_dataset(back)
    assert report.StudyInstanceUID == source.study_instance_uid
    with pytest.raises(ImagingError, match=r"\[0, 1\]"):
        structured_report(source, 1.3, 0.4, "m", "1")
    with pytest.raises(ImagingError, match="no source DICOM instances"):
        structured_report(PlanarStudy(views={}, patient_id="X"), 0.5, 0.5, "m", "1")


@needs_dciodvfy
def test_dciodvfy_finds_no_error_in_sc_and_sr(source, tmp_path):
    secondary_capture(np.zeros((40, 60, 3), np.uint8), source, views_shown=["ANT", "POST"]).save_as(
        tmp_path / "sc.dcm")
    secondary_capture(np.zeros((40, 60, 3), np.uint8), source, views_shown=["ANT"]).save_as(tmp_path / "sc1.dcm")
    structured_report(source, 0.2, 0.4, "planar-pe-cnn", "2.1").save_as(tmp_path / "sr.dcm")
    for name in ("sc.dcm", "sc1.dcm", "sr.dcm"):
        assert _dciodvfy_errors(tmp_path / name) == [], name


def test_header_values_highdicom_cannot_take_do_not_stop_the_results(source):
    # PatientSex "female", a birth date "1961-07-04", StudyTime "25:61": highdicom raised, the study was
    # "unexpected error ... Unable to convert '1961-07-04'" (the birth date in the log) and never triaged
    source.metadata.update(PatientSex="female", PatientBirthDate="1961-07-04", StudyTime="25:61")
    sc = secondary_capture(np.zeros((8, 8, 3), np.uint8), source)
    sr = structured_report(source, 0.8, 0.4, "m", "1")
    assert not sc.PatientSex and not sc.PatientBirthDate and sr.PatientID == source.patient_id


def test_one_study_uid_holding_two_patients_is_refused_without_naming_them(tmp_path):
    # one StudyInstanceUID, two PatientIDs: triaged as one study and filed under whichever came first
    write_nm_study(_study("PAT-ONE"), tmp_path / "src", layout="per_view")
    files = sorted((tmp_path / "src").glob("*.dcm"))
    ds = pydicom.dcmread(files[1])
    ds.PatientID = "PAT-TWO"
    ds.save_as(files[1])
    with pytest.raises(ImagingError, match="2 different PatientIDs") as caught:
        read_study(tmp_path / "src")
    assert "PAT-TWO" not in str(caught.value)


def test_a_missing_pydicom_is_named_not_every_file_called_corrupt(tmp_path, monkeypatch):
    # without pydicom, `radiomics` said "no readable NM DICOM study ...: corrupt DICOM (ModuleNotFoundError ...)"
    import sys

    from scintiml.cli.base import missing_package_line
    from scintiml.imaging.nm_iod import write_nm_study

    write_nm_study(PlanarStudy(views={"ANT": np.ones((8, 8)), "POST": np.ones((8, 8))}, pixel_spacing_mm=(3.0, 3.0),
                               patient_id="P1"), tmp_path, layout="per_view")
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(ImportError) as caught:
        read_studies(tmp_path)
    assert missing_package_line(caught.value).endswith("pip install 'scintiml[imaging]'")


def test_views_that_disagree_are_put_on_one_grid_and_the_note_says_what_was_lost(tmp_path):
    # a POST at 3 x 6 mm beside an ANT at 3 x 3 mm was kept as it was (only the first spacing was compared) and the
    # study said 3 mm; a 16 x 16 view cropped to 8 x 8 lost 75 % of its counts with the note "resampled"
    import pydicom

    from scintiml.imaging.nm_iod import write_nm_study

    write_nm_study(PlanarStudy(views={"ANT": np.full((8, 8), 5.0), "POST": np.full((16, 16), 5.0)},
                               pixel_spacing_mm=(3.0, 3.0), patient_id="P1"), tmp_path / "crop", layout="per_view")
    studies, _ = read_studies(tmp_path / "crop")
    assert studies[0].views["POST"].shape == (8, 8)
    assert any("POST" in n and "75 % of its counts" in n for n in studies[0].metadata["ingest_notes"])
    write_nm_study(PlanarStudy(views={"ANT": np.full((8, 8), 5.0), "POST": np.full((8, 8), 5.0)},
                               pixel_spacing_mm=(3.0, 3.0), patient_id="P2"), tmp_path / "aniso", layout="per_view")
    for path in (tmp_path / "aniso").rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        if "POST" in str(getattr(ds, "SeriesDescription", "")) + str(getattr(ds, "ImageID", "")) or \
                ds.DetectorInformationSequence[0].ViewCodeSequence[0].CodeMeaning.upper().startswith("POST"):
            ds.PixelSpacing = [3.0, 6.0]
            ds.save_as(path)
    studies, _ = read_studies(tmp_path / "aniso")
    assert studies[0].pixel_spacing_mm == (3.0, 3.0)
    assert any(n.startswith("POST: resampled from 8x8 at 3 x 6 mm") for n in studies[0].metadata["ingest_notes"])
