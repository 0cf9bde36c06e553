import csv

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans  # noqa: E402
from scintiml.imaging import ImagingError, PlanarStudy, read_nm_dicom, scan_folder, write_nm_dicom  # noqa: E402
from scintiml.imaging.deid import BASIC_PROFILE, DeidError, deidentify_folder, new_key  # noqa: E402


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
