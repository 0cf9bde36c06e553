import csv

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans  # noqa: E402
from scintiml.imaging import ImagingError, PlanarStudy, read_nm_dicom, scan_folder, write_nm_dicom  # noqa: E402
from scintiml.imaging.deid import BASIC_PROFILE, DeidError, deidentify_folder, new_key  # noqa: E402
from scintiml.imaging.ingest import read_studies  # noqa: E402


@pytest.fixture(scope="module")
def cases():
    return simulate_perfusion_scans(8, prevalence=0.5, random_state=0)


def _study(case, pid="PAT-001"):
    return PlanarStudy(views=case.views, pixel_spacing_mm=(3.125, 3.125), patient_id=pid,
                       metadata={"radiopharmaceutical": "99mTc-MAA", "injected_activity_mbq": 148.0,
                                 "collimator": "LEHR", "acquisition_time": "101500"})


# The simulator's own tests are in tests/test_perfusion_sim.py; DICOM layouts, SC and SR in test_imaging_dicom.py.


def test_dicom_round_trip(cases, tmp_path):
    study = _study(cases[0])
    path = write_nm_dicom(study, tmp_path / "a.dcm", patient_name="Doe^Jane")
    back = read_nm_dicom(path)
    assert list(back.views) == list(VIEWS)
    for v in VIEWS:
        np.testing.assert_array_equal(back.views[v], cases[0].views[v])
    assert back.pixel_spacing_mm == (3.125, 3.125)
    assert back.patient_id == "PAT-001"
    for key in ("radiopharmaceutical", "injected_activity_mbq", "collimator", "acquisition_time"):
        assert back.metadata[key] == study.metadata[key]
    assert back.metadata["energy_windows_kev"] == [(126.0, 154.0)]
    assert back.metadata["matrix"] == [128, 128]


def test_errors_name_the_file_and_folder_scan_skips(cases, tmp_path):
    write_nm_dicom(_study(cases[0]), tmp_path / "good.dcm")
    (tmp_path / "corrupt.dcm").write_bytes(b"not dicom at all")
    ds = pydicom.dcmread(tmp_path / "good.dcm")
    ds.Modality = "CT"
    ds.save_as(tmp_path / "ct.dcm")
    del ds.PixelData
    ds.Modality = "NM"
    ds.save_as(tmp_path / "nopixels.dcm")
    with pytest.raises(ImagingError, match="corrupt.dcm: not a readable DICOM"):
        read_nm_dicom(tmp_path / "corrupt.dcm")
    with pytest.raises(ImagingError, match="ct.dcm: modality is 'CT'"):
        read_nm_dicom(tmp_path / "ct.dcm")
    with pytest.raises(ImagingError, match="nopixels.dcm: no pixel data"):
        read_nm_dicom(tmp_path / "nopixels.dcm")
    studies, skipped = scan_folder(tmp_path)
    assert len(studies) == 1
    assert sorted(s["file"].split("/")[-1] for s in skipped) == ["corrupt.dcm", "ct.dcm", "nopixels.dcm"]


def _phi_file(case, path, pid="12345678", name="Doe^Jane"):
    write_nm_dicom(_study(case, pid), path, patient_name=name, patient_birth_date="19600101", study_date="20240310")
    ds = pydicom.dcmread(path)
    phi = {}
    for keyword, action in BASIC_PROFILE.items():
        if action == "U" or keyword in ("PatientID",):
            continue
        try:
            elem = pydicom.DataElement(keyword, pydicom.datadict.dictionary_VR(keyword), None)
        except Exception:
            continue
        if elem.VR in ("SQ", "OB", "OW", "UN") or elem.tag.group in (0x0000, 0x0002):
            continue  # sequences and binary values are planted in tests/test_deid.py; groups 0/2 are not data
        value = {"DA": "20240310", "TM": "101500", "DT": "20240310101500", "PN": "Smith^John", "AS": "064Y",
                 "DS": "70.5", "IS": "3", "US": 3, "UI": "1.2.3.4"}.get(elem.VR, "PHI-" + keyword)
        setattr(ds, keyword, value)
        phi[keyword] = value
    ds.PatientName = name
    ds.add_new(0x00091010, "LO", "private secret")  # a private tag
    ds.save_as(path)
    return phi


def test_deidentification_removes_phi_with_stable_pseudonyms(cases, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _phi_file(cases[0], src / "a.dcm")
    _phi_file(cases[1], src / "b.dcm")
    _phi_file(cases[2], src / "c.dcm", pid="99999999", name="Roe^Richard")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    key = new_key(tmp_path / "dept.key")
    report = deidentify_folder(src, tmp_path / "out", key)
    assert len(report.written) == 3 and not report.skipped
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before  # inputs untouched
    outs = [pydicom.dcmread(p) for p in report.written]
    originals = {pydicom.dcmread(src / n).SOPInstanceUID: pydicom.dcmread(src / n) for n in before}
    for ds in outs:
        text = str(ds)
        for word in ("Doe", "Jane", "Roe", "Smith", "12345678", "99999999", "private secret", "PHI-", "19600101"):
            assert word not in text, word
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert not any(elem.tag.is_private for elem in ds)
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPInstanceUID not in originals and ds.StudyInstanceUID.startswith("2.25.")
        # required attributes present, pixels untouched, re-readable
        for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality",
                        "PatientID", "PatientName", "StudyDate"):
            assert keyword in ds
    pixel_sets = sorted(ds.PixelData for ds in outs)
    assert pixel_sets == sorted(o.PixelData for o in originals.values())
    pids = sorted(ds.PatientID for ds in outs)
    assert pids[0] == pids[1] != pids[2] or pids[1] == pids[2] != pids[0]
    # the same key gives the same pseudonyms on a second run
    again = deidentify_folder(src, tmp_path / "out2", key)
    assert sorted(pydicom.dcmread(p).PatientID for p in again.written) == pids
    rows = list(csv.DictReader(open(tmp_path / "out" / "deid_audit.csv")))
    assert any(r["attribute"] == "PatientName" and r["action"] == "Z" for r in rows)
    assert not any("Doe" in (r["new_value"] or "") for r in rows)


def test_deid_options_and_refusals(cases, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _phi_file(cases[0], src / "a.dcm")
    ds = pydicom.dcmread(src / "a.dcm")
    ds.BurnedInAnnotation = "YES"
    ds.save_as(src / "burned.dcm")
    key = new_key(tmp_path / "k")
    report = deidentify_folder(src, tmp_path / "out", key, retain_dates=True, keep_protocol=True)
    assert [s["file"] for s in report.skipped] == ["burned.dcm"]
    out = pydicom.dcmread(report.written[0])
    assert out.StudyDate and out.StudyDate != "20240310" and out.StudyDate < "20240310"
    assert out.RadiopharmaceuticalInformationSequence[0].Radiopharmaceutical == "99mTc-MAA"
    assert out.DetectorInformationSequence[0].CollimatorGridName == "LEHR"
    with pytest.raises(DeidError, match="not empty"):
        deidentify_folder(src, tmp_path / "out", key)
    with pytest.raises(DeidError, match="not found"):
        deidentify_folder(src, tmp_path / "out3", tmp_path / "missing.key")
    with pytest.raises(DeidError, match="exists"):
        new_key(key)


def test_radiomics_separate_defects(tmp_path):
    pytest.importorskip("radiomics")
    from scintiml.explore import univariate_tests
    from scintiml.imaging.radiomics import lung_masks, radiomic_features, wide_table

    cases = simulate_perfusion_scans(30, prevalence=0.5, views=("ANT", "POST"), random_state=3)
    pairs = []
    for c in cases:
        st = PlanarStudy(views=c.views, pixel_spacing_mm=(3.125, 3.125), patient_id=c.case_id)
        pairs.append((st, {(v, roi): m for v in ("ANT", "POST") for roi, m in lung_masks(c.lung_masks[v]).items()}))
    features = radiomic_features(pairs)
    assert len(features) == 30 * 4
    assert {"original_firstorder_Mean", "original_shape2D_PixelSurface", "original_glcm_Contrast"} <= set(features)
    wide = wide_table(features)
    assert len(wide) == 30
    y = np.array([c.label for c in cases])
    best = univariate_tests(wide.drop(columns="patient_id"), y).iloc[0]
    assert best["auc_oriented"] > 0.75


def test_png_sidecar_route(cases, tmp_path):
    import json

    from PIL import Image

    from scintiml.imaging import read_png_study

    paths = []
    for v in ("ANT", "POST"):
        p = tmp_path / f"case1_{v}.png"
        Image.fromarray(cases[0].views[v].astype(np.uint16)).save(p)
        paths.append(p)
    sidecar = tmp_path / "case1.json"
    sidecar.write_text(json.dumps({"patient_id": "P9", "metadata": {"pixel_spacing_mm": [3.125, 3.125],
                                                                      "radiopharmaceutical": "99mTc-MAA"}}))
    study = read_png_study(paths, sidecar)
    assert set(study.views) == {"ANT", "POST"} and study.patient_id == "P9"
    np.testing.assert_array_equal(study.views["ANT"], cases[0].views["ANT"])
    bad = tmp_path / "noview.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(bad)
    with pytest.raises(ImagingError, match="noview.png: cannot tell the view"):
        read_png_study([bad])


def test_radiomic_table_feeds_a_study_cohort():
    pytest.importorskip("radiomics")
    import pandas as pd

    from scintiml import load_cohort
    from scintiml.imaging.radiomics import lung_masks, radiomic_features, wide_table

    cases = simulate_perfusion_scans(30, prevalence=0.5, views=("ANT",), random_state=5)
    pairs = [(PlanarStudy(views=c.views, pixel_spacing_mm=(3.125, 3.125), patient_id=c.case_id),
              {("ANT", r): m for r, m in lung_masks(c.lung_masks["ANT"]).items()}) for c in cases]
    table = wide_table(radiomic_features(pairs, classes=("firstorder",)))
    table = table.merge(pd.DataFrame({"patient_id": [c.case_id for c in cases], "pe": [c.label for c in cases]}))
    cohort = load_cohort(table, "pe", id_column="patient_id", groups={"imaging": "ANT_*"})
    assert cohort.n_patients == 30 and cohort.n_inputs > 10 and cohort.groups["imaging"]


# ----------------------------------------------------------------------------- hostile pixel modules (sweep 9)
def _per_view(case, folder, pid="PAT-001"):
    """A six-file study (one view a file) and its ANT file, for one header to be altered."""
    from scintiml.imaging.nm_iod import write_nm_study

    write_nm_study(_study(case, pid), folder, layout="per_view")
    files = sorted(folder.rglob("*.dcm"))
    ant = next(f for f in files if list(read_studies([f])[0][0].views) == ["ANT"])
    return files, ant


def _alter(path, **attrs):
    ds = pydicom.dcmread(path)
    for key, value in attrs.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    ds.save_as(path)


def _rgb(ds):
    """The view as a single-frame 8-bit RGB picture (a screenshot of it), its view code still present."""
    grey = np.clip(ds.pixel_array, 0, 255).astype(np.uint8)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = np.stack([grey] * 3, axis=-1).tobytes()


@pytest.mark.parametrize("change, words", [
    ({"PhotometricInterpretation": "PALETTE COLOR"},
     "PhotometricInterpretation PALETTE COLOR: pixel values are palette indices, not counts"),
    ({"PhotometricInterpretation": "YBR_FULL"}, "PhotometricInterpretation YBR_FULL: a colour encoding, not counts"),
    ("rgb", "RGB / 3 samples per pixel: not a counts image"),
    ({"RescaleSlope": "1", "RescaleIntercept": "nan"}, "RescaleIntercept nan cannot turn stored values into counts"),
    ({"PixelSpacing": [0, 0]}, "PixelSpacing 0: not a positive spacing"),
    ({"PixelSpacing": [-3.125, -3.125]}, "PixelSpacing -3.125: not a positive spacing"),
    ({"PixelSpacing": ["nan", "nan"]}, "PixelSpacing nan: not a positive spacing"),
    ({"PixelSpacing": [5000, 5000]}, "PixelSpacing 5000 mm: outside 0.01-100 mm"),
    ({"SOPClassUID": None}, "SOPClassUID missing"),
])
def test_a_view_whose_pixels_are_not_counts_is_refused_by_name_and_the_rest_is_read(cases, tmp_path, change, words):
    files, ant = _per_view(cases[0], tmp_path / "s")
    if change == "rgb":
        ds = pydicom.dcmread(ant)
        _rgb(ds)
        ds.save_as(ant)
    else:
        _alter(ant, **change)
    studies, skipped = read_studies(tmp_path / "s")
    assert len(skipped) == 1 and words in skipped[0]["reason"] and skipped[0]["file"] == str(ant)
    assert "frame 2" not in skipped[0]["reason"] and "corrupt DICOM" not in skipped[0]["reason"]
    # refused for that view only: the other five are read, unchanged
    assert len(studies) == 1 and sorted(studies[0].views) == sorted(set(VIEWS) - {"ANT"})
    np.testing.assert_array_equal(studies[0].views["POST"], cases[0].views["POST"])


def test_monochrome1_counts_are_read_unchanged(cases, tmp_path):
    """MONOCHROME1 only tells a viewer to show the lowest value white: the stored values are still the counts,
    so they are read as they are, not inverted (an inverted view turns a perfusion defect into a hot spot)."""
    files, ant = _per_view(cases[0], tmp_path / "s")
    _alter(ant, PhotometricInterpretation="MONOCHROME1")
    studies, skipped = read_studies(tmp_path / "s")
    assert skipped == []
    np.testing.assert_array_equal(studies[0].views["ANT"], cases[0].views["ANT"])


def test_radiomics_says_why_no_study_was_readable(cases, tmp_path):
    pytest.importorskip("radiomics")
    from scintiml.imaging.radiomics import features_from_folders

    files, _ = _per_view(cases[0], tmp_path / "s")
    for f in files:
        _alter(f, PixelSpacing=[0, 0])
    (tmp_path / "masks").mkdir()
    with pytest.raises(ImagingError) as err:
        features_from_folders(tmp_path / "s", tmp_path / "masks")
    assert "no readable NM DICOM study" in str(err.value)
    assert "6 files: PixelSpacing 0: not a positive spacing" in str(err.value)


def test_radiomics_reads_the_views_left_when_one_view_is_refused(cases, tmp_path, capsys):
    pytest.importorskip("radiomics")
    from scintiml.imaging.radiomics import features_from_folders, lung_masks

    case = cases[0]
    _, ant = _per_view(case, tmp_path / "s", pid="P1")
    _alter(ant, PixelSpacing=[0, 0])
    (tmp_path / "masks").mkdir()
    np.savez(tmp_path / "masks" / "P1.npz", **{f"{v}__{roi}": m for v in ("ANT", "POST")
                                                for roi, m in lung_masks(case.lung_masks[v]).items()})
    table, skipped = features_from_folders(tmp_path / "s", tmp_path / "masks")
    assert set(table["view"]) == {"POST"}
    reasons = " | ".join(s["reason"] for s in skipped)
    assert "PixelSpacing 0: not a positive spacing" in reasons and "has no readable ANT view" in reasons
    # the command says each skipped file's path once (the reason read from a file already began with it)
    from conftest import run_cli

    assert run_cli(["radiomics", str(tmp_path / "s"), "--masks", str(tmp_path / "masks"), "--out",
                    str(tmp_path / "f.csv")]) == 0
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "PixelSpacing 0" in line)
    assert line.count(str(ant)) == 1 and line.startswith(f"skipped: {ant}: PixelSpacing 0")
