"""Review 18, hostile-input sweep: deid (no PatientID, float pixel data, a DICOMDIR, the fallback reason),
radiomics (an ROI one pixel thick, a pyradiomics failure on one ROI), the PACS configuration (a URL with a space
or an invalid character) and a listener that cannot open its port."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from conftest import radiomics_case, run_cli  # noqa: E402
from scintiml.imaging import PlanarStudy, write_nm_dicom  # noqa: E402
from scintiml.imaging.deid import deidentify_folder, new_key  # noqa: E402


def _study(pid, views=("ANT", "POST"), size=16):
    rng = np.random.RandomState(0)
    return PlanarStudy(views={v: rng.poisson(20, (size, size)).astype(float) for v in views},
                       pixel_spacing_mm=(3.0, 3.0), patient_id=pid)


def _edited(folder, name, pid, edit):
    """An NM file ``folder/name`` of patient ``pid``, changed by ``edit(ds)`` and saved again."""
    folder.mkdir(exist_ok=True)
    path = write_nm_dicom(_study(pid), folder / name)
    ds = pydicom.dcmread(path)
    edit(ds)
    ds.save_as(path, enforce_file_format=True)
    return path


def _float_pixels(ds, cut=0):
    """Float pixel data instead of integer (a quantitative map): NaN everywhere, ``cut`` bytes short."""
    del ds.PixelData, ds.BitsStored, ds.HighBit, ds.PixelRepresentation
    ds.BitsAllocated = 32
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    data = np.full((frames, ds.Rows, ds.Columns), np.nan, "<f4").tobytes()
    ds.FloatPixelData = data[:len(data) - cut]


# ------------------------------------------------------------------------------------------------------ deid
def test_a_file_without_patient_id_is_de_identified_like_one_with_an_empty_id(tmp_path, capsys):
    """Sweep: a file without a PatientID element was skipped as "cannot be rewritten after de-identification
    (AttributeError)"; one with an empty PatientID was written."""
    src = tmp_path / "in"
    _edited(src, "absent.dcm", "P1", lambda ds: delattr(ds, "PatientID"))
    _edited(src, "empty.dcm", "P2", lambda ds: setattr(ds, "PatientID", ""))
    code = run_cli(["deid", str(src), str(tmp_path / "out"), "--key", str(tmp_path / "k"), "--new-key"])
    said = capsys.readouterr()
    assert code == 0 and "0 skipped" in said.out, said.out + said.err
    assert "Error" not in said.out + said.err
    outputs = sorted((tmp_path / "out").rglob("*.dcm"))
    assert len(outputs) == 2
    # de-identified the same way: each gets a pseudonym of its study (no PatientID to go by), and lies in its
    # folder; two unidentified patients' studies are not merged into one pseudonym (session 18)
    pseudonyms = {str(pydicom.dcmread(p).PatientID): p.parent.name for p in outputs}
    assert len(pseudonyms) == 2 and all(k.startswith("ANON-") and k == v for k, v in pseudonyms.items())


def test_files_of_one_study_without_patient_id_share_a_pseudonym_and_another_studys_do_not(tmp_path):
    from pydicom.uid import generate_uid

    src = tmp_path / "in"
    study = generate_uid()
    for name in ("a.dcm", "b.dcm"):  # two views of one study, PatientID removed
        _edited(src, name, "P1", lambda ds: (delattr(ds, "PatientID"), setattr(ds, "StudyInstanceUID", study)))
    _edited(src, "c.dcm", "P1", lambda ds: setattr(ds, "PatientID", "  "))  # another study, a blank ID
    _edited(src, "d.dcm", "P1", lambda ds: None)  # an identified patient keeps the pseudonym of the ID
    _edited(src, "e.dcm", "P1", lambda ds: None)
    deidentify_folder(src, tmp_path / "out", new_key(tmp_path / "k"))
    folders = sorted(len(list(f.iterdir())) for f in (tmp_path / "out").iterdir() if f.is_dir())
    assert folders == [1, 2, 2]  # (a, b) together, c alone, (d, e) under P1's pseudonym


def test_a_file_that_cannot_be_de_identified_is_skipped_with_what_to_do_not_a_class_name(tmp_path, monkeypatch):
    import scintiml.imaging.deid as deid

    src = tmp_path / "in"
    _edited(src, "a.dcm", "P1", lambda ds: None)
    _edited(src, "b.dcm", "P2", lambda ds: None)
    real = deid.deidentify_dataset

    def breaks_on_p2(ds, *args, **kwargs):
        if str(ds.get("PatientID")) == "P2":
            raise AttributeError("'FileDataset' object has no attribute 'Whatever'")
        return real(ds, *args, **kwargs)

    monkeypatch.setattr(deid, "deidentify_dataset", breaks_on_p2)
    report = deidentify_folder(src, tmp_path / "out", new_key(tmp_path / "k"))
    assert len(report.written) == 1 and len(report.skipped) == 1
    reason = report.skipped[0]["reason"]
    assert "Error" not in reason and "Whatever" not in reason and "\n" not in reason
    assert reason.startswith("cannot be de-identified") and "run again" in reason


def test_float_pixel_data_is_de_identified_and_checked_like_integer_pixel_data(tmp_path):
    """Sweep: an image with FloatPixelData was skipped as "truncated: an image without pixel data"."""
    src = tmp_path / "in"
    _edited(src, "float.dcm", "P1", _float_pixels)
    _edited(src, "short.dcm", "P2", lambda ds: _float_pixels(ds, cut=8))
    report = deidentify_folder(src, tmp_path / "out", new_key(tmp_path / "k"))
    assert len(report.written) == 1, report.skipped
    out = pydicom.dcmread(report.written[0])
    assert "PixelData" not in out and np.isnan(out.pixel_array).all() and out.pixel_array.dtype == np.float32
    assert str(out.PatientID).startswith("ANON-")
    [skipped] = report.skipped
    assert skipped["reason"].startswith("truncated or corrupt float pixel data")
    assert "without pixel data" not in skipped["reason"] and "Error" not in skipped["reason"]


def test_a_dicomdir_is_named_as_one_and_not_copied(tmp_path):
    """Sweep: a DICOMDIR was skipped as "no SOPInstanceUID (truncated header or not a stored instance)"."""
    from pydicom.fileset import FileSet

    src = tmp_path / "in"
    image = _edited(tmp_path / "media_src", "a.dcm", "QUIXOTE123", lambda ds: None)
    fs = FileSet()
    fs.add(image)
    fs.write(src / "media")  # DICOMDIR + the image under its own name
    report = deidentify_folder(src, tmp_path / "out", new_key(tmp_path / "k"))
    assert len(report.written) == 1  # the image it lists, de-identified on its own
    [skipped] = report.skipped
    assert skipped["file"].endswith("DICOMDIR")
    assert skipped["reason"].startswith("a DICOMDIR (media index, not an image): not copied")
    assert "SOPInstanceUID" not in skipped["reason"]
    assert not any("DirectoryRecordSequence" in pydicom.dcmread(p) for p in (tmp_path / "out").rglob("*.dcm"))


# ------------------------------------------------------------------------------------------------- radiomics
def _radiomics_case(tmp_path, masks_of):
    """One two-view study in ``tmp_path/img`` and its mask file; ``masks_of(lung)`` gives the VIEW__ROI arrays."""
    return radiomics_case(tmp_path, masks_of)


def _line(shape):
    """A 1 x 10 ROI (10 pixels: the pixel minimum passed) that pyradiomics cannot take."""
    line = np.zeros(shape, bool)
    line[shape[0] // 2, 10:20] = True
    return line


def test_an_roi_one_pixel_thick_is_skipped_by_name_and_the_others_computed(tmp_path):
    """Sweep: a 1 x 10 ROI passed the 10-pixel minimum, then pyradiomics ended the whole run ("mask has too few
    dimensions")."""
    from scintiml.imaging.radiomics import features_from_folders

    images, masks = _radiomics_case(tmp_path, lambda lung: {"ANT__lungs": lung["ANT"],
                                                            "POST__lungs": _line(lung["POST"].shape)})
    table, skipped = features_from_folders(images, masks, classes=("firstorder", "shape2D"))
    assert list(table["view"]) == ["ANT"]
    [reason] = [s["reason"] for s in skipped if s["reason"].startswith("POST__lungs")]
    assert "spans 1 x 10 pixels (one pixel thick)" in reason and "redraw it" in reason
    assert "dimensions" not in reason


def test_cli_radiomics_with_only_thin_rois_says_why_in_one_line_without_a_class_name(tmp_path, capsys):
    images, masks = _radiomics_case(tmp_path, lambda lung: {f"{v}__lungs": _line(lung[v].shape)
                                                            for v in ("ANT", "POST")})
    code = run_cli(["radiomics", str(images), "--masks", str(masks), "--out", str(tmp_path / "f.csv")])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1, err
    assert "one pixel thick" in errors[0] and "ImagingError" not in err and "dimensions" not in err
    assert not (tmp_path / "f.csv").exists()


def test_a_pyradiomics_failure_on_one_roi_skips_that_roi_only(tmp_path, monkeypatch):
    from radiomics import featureextractor

    from scintiml.imaging.radiomics import features_from_folders

    images, masks = _radiomics_case(tmp_path, lambda lung: {f"{v}__lungs": lung[v] for v in ("ANT", "POST")})
    real, calls = featureextractor.RadiomicsFeatureExtractor.execute, []

    def fails_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("something pyradiomics\nsaid on two lines")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(featureextractor.RadiomicsFeatureExtractor, "execute", fails_once)
    table, skipped = features_from_folders(images, masks, classes=("firstorder",))
    assert list(table["view"]) == ["POST"]
    [failure] = [s for s in skipped if s["reason"].startswith("ANT__lungs")]
    assert failure["file"] == str(masks / "P1.npz")
    assert "pyradiomics could not compute features for this ROI (something pyradiomics said on two lines)" in \
        failure["reason"] and "\n" not in failure["reason"]


# ------------------------------------------------------------------------------------------------------ PACS
@pytest.mark.parametrize("url, words", [
    ("http://pa cs/dicom web", "holds a space in its host"),
    ("http://pacs:8042/dicom web", "holds a space; a URL holds none: write it as %20"),
    ("http://pacs:8042/dicom-web ", "holds a space; remove it from the end of the URL"),
    ("http://pacs:8042/dicom-web\nx", "holds the invisible character '\\n'"),
    ("http://pacs\u200b:8042/dicom-web", "holds the invisible character '\\u200b' in its host"),
    ("http://pa<cs:8042/dicom-web", "has the character '<' in its host"),
    ("http://pa%20cs:8042/dicom-web", "has the character '%' in its host"),
])
def test_a_dicomweb_url_with_a_space_or_an_invalid_character_is_refused_at_load(url, words):
    from scintiml.pacs import PacsConfigError, parse_config

    with pytest.raises(PacsConfigError) as err:
        parse_config({"pacs": {"protocol": "dicomweb", "url": url}}, environ={})
    assert words in str(err.value) and "\n" not in str(err.value)
    # what requests takes as it is still passes: an underscore, an internationalised name, an IPv6 literal
    for good in ("http://pacs_1:8042/dicom-web", "http://pács.example/dicom-web", "http://[::1]:8042/dicom-web"):
        assert parse_config({"pacs": {"protocol": "dicomweb", "url": good}}, environ={}).source.url == good


def test_cli_triage_refuses_a_url_with_a_space_before_any_query(tmp_path, capsys):
    """Sweep: the configuration was accepted and the run failed ~15 s later at the first query ("InvalidURL")."""
    (tmp_path / "model").mkdir()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text('pacs: {protocol: dicomweb, url: "http://pa cs/dicom web", timeout_s: 2}\n'
                   "retry: {attempts: 1, backoff_s: 0.1, max_backoff_s: 1}\nquery: {modality: NM, days_back: 1}\n")
    started = time.monotonic()
    code = run_cli(["triage", str(tmp_path / "model"), "--pacs", str(cfg), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - started < 10
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "pacs.url 'http://pa cs/dicom web' holds a space in its host" in errors[0], err
    assert "InvalidURL" not in err and "Traceback" not in err and not (tmp_path / "o").exists()


def test_a_listener_that_cannot_open_its_port_leaves_no_state_folder(tmp_path, monkeypatch, capsys):
    """Sweep: ``listen`` on a port in use failed, but left state_dir/{incoming,failed,done} behind."""
    import scintiml.pacs.service as service

    monkeypatch.setattr(service, "load_model", lambda path: (object(), "v0"))  # the model is never used here
    (tmp_path / "model").mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text("pacs: {protocol: dicomweb, url: 'http://pacs:8042/dicom-web'}\n"
                       f"local: {{host: 127.0.0.1, port: {port}}}\nlistener: {{state_dir: new/state}}\n")
        code = run_cli(["listen", str(tmp_path / "model"), "--config", str(cfg), "--stop-after", "1"])
        err = capsys.readouterr().err
        assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err, err
        assert not (tmp_path / "new").exists()
        # a state folder from an earlier run keeps what it holds: only the folders this start made go
        kept = tmp_path / "new" / "state" / "incoming" / "1.2.3"
        kept.mkdir(parents=True)
        (kept / "a.dcm").write_bytes(b"DICM")
        assert run_cli(["listen", str(tmp_path / "model"), "--config", str(cfg), "--stop-after", "1"]) == 2
    assert (kept / "a.dcm").read_bytes() == b"DICM"
    assert sorted(p.name for p in (tmp_path / "new" / "state").iterdir()) == ["incoming"]
