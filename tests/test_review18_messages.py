"""Review 18, messages: a skip reason or error says what is wrong and what to do, never a bare exception class
name ("(ValueError)", "BadZipFile") and never an exception text that may quote a value of a patient's file.

deid (an input pydicom cannot parse, a key file that is not text, a file that cannot be rewritten), radiomics (a
mask file that is not a .npz archive, a --settings file pyradiomics refuses or fails on) and the PACS listener (an
instance without a readable Study Instance UID)."""

from __future__ import annotations

import csv
import io
import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from conftest import radiomics_case, run_cli  # noqa: E402
from scintiml.imaging import PlanarStudy, write_nm_dicom  # noqa: E402
from scintiml.imaging.deid import DeidError, deidentify_folder, new_key  # noqa: E402

#: what a hospital user must never read as the reason
CLASS_NAMES = ("Error", "Exception", "BadZipFile", "Traceback", "errno")


def _no_class_name(text: str) -> None:
    assert not any(name in text for name in CLASS_NAMES), text
    assert "\n" not in text, text


def _study(pid, views=("ANT", "POST"), size=16):
    rng = np.random.RandomState(0)
    return PlanarStudy(views={v: rng.poisson(20, (size, size)).astype(float) for v in views},
                       pixel_spacing_mm=(3.0, 3.0), patient_id=pid)


# ------------------------------------------------------------------------------------------------------ deid
def _corrupt_dicom(path, value=b"PAT-SECRET"):
    """A DICOM file (DICM header, readable meta) whose last element has a VR no DICOM part knows: pydicom reads the
    header, then fails while converting the element (NotImplementedError, quoting the tag)."""
    write_nm_dicom(_study("P9"), path)
    with open(path, "ab") as fh:
        fh.write(b"\xe1\x7f\x10\x00" + b"RI" + len(value).to_bytes(2, "little") + value)
    return path


def test_a_file_pydicom_cannot_parse_is_skipped_with_what_to_do_not_a_class_name(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    write_nm_dicom(_study("P1"), src / "good.dcm")
    _corrupt_dicom(src / "x.dcm")
    code = run_cli(["deid", str(src), str(tmp_path / "out"), "--key", str(tmp_path / "k"), "--new-key"])
    said = capsys.readouterr()
    assert code == 0, said.out + said.err
    audit = (tmp_path / "out" / "deid_audit.csv").read_text()
    [reason] = [row["new_value"] for row in csv.DictReader(io.StringIO(audit)) if row["action"] == "skipped"]
    _no_class_name(reason)
    assert "PAT-SECRET" not in audit + said.out + said.err
    assert reason.startswith("not DICOM or corrupt") and "export the file again from its source" in reason
    assert reason in said.out + said.err  # the command says it as the audit does


def test_a_key_file_that_is_not_text_names_what_to_give(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_nm_dicom(_study("P1"), src / "a.dcm")
    key = tmp_path / "k"
    key.write_bytes(b"\xff\xfe" + b"\x00" * 40)  # e.g. a UTF-16 file, or the wrong file given as --key
    with pytest.raises(DeidError) as caught:
        deidentify_folder(src, tmp_path / "out", key)
    message = str(caught.value)
    _no_class_name(message)
    assert "not a key made by --new-key" in message and "give the key file made by --new-key" in message
    assert not (tmp_path / "out").exists()


def test_a_file_that_cannot_be_rewritten_says_what_to_do_and_the_run_goes_on(tmp_path, monkeypatch):
    import warnings

    src = tmp_path / "in"
    src.mkdir()
    write_nm_dicom(_study("P1"), src / "a.dcm")
    write_nm_dicom(_study("P2"), src / "b.dcm")
    original, calls = pydicom.Dataset.save_as, []

    def save_as(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second file: Rows beyond US, a real pydicom encoding error (an OSError)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.Rows = 70000
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pydicom.Dataset, "save_as", save_as)
    report = deidentify_folder(src, tmp_path / "out", new_key(tmp_path / "k"))
    assert len(report.written) == 1
    [reason] = [s["reason"] for s in report.skipped]
    _no_class_name(reason)
    assert reason.startswith("cannot be rewritten after de-identification")
    assert "dciodvfy" in reason and "run again, or leave the file out" in reason


# ------------------------------------------------------------------------------------------------- radiomics
def _radiomics_case(tmp_path):
    """Two studies (P1, P2); lung masks for P1 only."""
    return radiomics_case(tmp_path, lambda lung: {f"{v}__lungs": lung[v] for v in ("ANT", "POST")},
                          patients=("P1", "P2"))


def _radiomics_cli_errors(tmp_path, capsys, settings_text):
    """``scintiml radiomics`` on :func:`_radiomics_case` with ``settings_text`` as --settings: (exit code, stderr,
    its error lines)."""
    images, masks = _radiomics_case(tmp_path)
    settings = tmp_path / "s.yaml"
    settings.write_text(settings_text)
    code = run_cli(["radiomics", str(images), "--masks", str(masks), "--out", str(tmp_path / "f.csv"),
                    "--settings", str(settings)])
    err = capsys.readouterr().err
    return code, err, [line for line in err.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("content, words", [
    (b"not a zip archive\n", "not a .npz archive (or a damaged one)"),  # text: numpy reads it as a pickle
    (b"PK\x03\x04damaged", "not a .npz archive (or a damaged one)"),  # a zip cut short: BadZipFile
    (b"", "the file is empty"),  # EOFError
    ("npy", "one .npy array, not a .npz archive"),  # np.save under a .npz name: was a traceback
])
def test_a_mask_file_that_is_not_a_npz_archive_says_so_and_how_to_write_one(tmp_path, content, words):
    from scintiml.imaging.radiomics import features_from_folders

    images, masks = _radiomics_case(tmp_path)
    if content == "npy":
        with open(masks / "P2.npz", "wb") as fh:
            np.save(fh, np.ones((4, 4), bool))
    else:
        (masks / "P2.npz").write_bytes(content)
    table, skipped = features_from_folders(images, masks, classes=("firstorder",))
    assert set(table["patient_id"]) == {"P1"}  # the other study goes on
    [reason] = [s["reason"] for s in skipped if s["file"] == str(masks / "P2.npz")]
    _no_class_name(reason)
    assert reason.startswith(f"not a readable mask file: {words}") and "numpy.savez" in reason


@pytest.mark.parametrize("yaml_text, words", [
    ("setting:\n  binWidth: [1, 2\n", "it is not valid YAML (expected ',' or ']'"),
    ("setting:\n  binWidth: abc\n", "Value 'abc' is not of type 'float'. Path: '/setting/binWidth'"),
    ("", "it holds no settings"),
    ("featureClass:\n  nonexistent:\n", "Feature Class nonexistent is not recognized"),
])
def test_a_settings_file_pyradiomics_refuses_says_why_in_one_line_without_a_class_name(tmp_path, capsys,
                                                                                        yaml_text, words):
    code, err, errors = _radiomics_cli_errors(tmp_path, capsys, yaml_text)
    assert code == 2 and len(errors) == 1, err
    _no_class_name(errors[0])
    assert words in errors[0] and "fix it or leave out --settings" in errors[0], errors[0]
    assert not (tmp_path / "f.csv").exists()


def test_a_settings_file_pyradiomics_fails_on_while_computing_is_an_error_not_a_traceback(tmp_path, capsys):
    """Sweep: ``resampledPixelSpacing: [0, 0]`` passes pyradiomics' schema, then an assert in pyradiomics
    ended the command with a traceback (AssertionError: Wrong dimensionality)."""
    code, err, errors = _radiomics_cli_errors(tmp_path, capsys, "setting:\n  resampledPixelSpacing: [0, 0]\n")
    assert code == 2 and len(errors) == 1, err
    _no_class_name(errors[0])
    assert "Traceback" not in err and "AssertionError" not in err
    assert "Wrong dimensionality" in errors[0] and "check the --settings file" in errors[0]


def test_an_unexpected_failure_of_pyradiomics_says_what_to_check_without_a_class_name(tmp_path, monkeypatch):
    from radiomics import featureextractor

    from scintiml.imaging import ImagingError
    from scintiml.imaging.radiomics import features_from_folders

    images, masks = _radiomics_case(tmp_path)

    def fails(self, *args, **kwargs):
        raise TypeError("unsupported operand type(s) for *: 'NoneType' and\n'float'")

    monkeypatch.setattr(featureextractor.RadiomicsFeatureExtractor, "execute", fails)
    with pytest.raises(ImagingError) as caught:
        features_from_folders(images, masks, classes=("firstorder",))
    message = str(caught.value)
    _no_class_name(message)
    assert "unsupported operand type(s) for *: 'NoneType' and 'float'" in message
    assert "check the --settings file (or leave it out) and run again" in message


# ------------------------------------------------------------------------------------------------------ PACS
def _listener(tmp_path, monkeypatch, attempts=3):
    import scintiml.pacs.service as service
    from scintiml.pacs import parse_config

    monkeypatch.setattr(service, "load_model", lambda path: (object(), "v0"))  # the model is never used here
    cfg = parse_config({"pacs": {"protocol": "dicomweb", "url": "http://pacs:8042/dicom-web"},
                        "listener": {"state_dir": str(tmp_path / "state")},
                        "retry": {"attempts": attempts, "backoff_s": 1, "max_backoff_s": 1}}, environ={})
    return service.Listener(tmp_path / "model", cfg)


def _with_empty_study_uid():
    ds = pydicom.Dataset()
    ds.StudyInstanceUID = ""
    return ds


class _Event:
    """What pynetdicom hands the C-STORE handler: the instance's bytes, its dataset and the request."""

    def __init__(self, ds=None, broken=False):
        self._ds, self._broken = ds, broken
        self.request = SimpleNamespace(AffectedSOPInstanceUID="1.2.3.4")

    def encoded_dataset(self):
        return b"DICM"

    @property
    def dataset(self):
        if self._broken:  # pydicom's words may quote a value of the instance
            raise ValueError("Unable to decode: PatientName 'DOE^JANE'")
        return self._ds


@pytest.mark.parametrize("make, words", [
    (lambda: _Event(pydicom.Dataset()), "it has no Study Instance UID"),
    (lambda: _Event(_with_empty_study_uid()), "its Study Instance UID is empty"),
    (lambda: _Event(broken=True), "it cannot be decoded as DICOM"),
])
def test_an_instance_without_a_readable_study_uid_is_kept_with_a_reason_a_person_can_act_on(
        tmp_path, monkeypatch, caplog, make, words):
    listener = _listener(tmp_path, monkeypatch)
    with caplog.at_level(logging.ERROR, logger="scintiml.pacs"):
        assert listener._on_store(make()) == 0xC210
    [kept] = (tmp_path / "state" / "failed" / "unidentified").glob("*.json")
    reason = json.loads(kept.read_text())["reason"]
    _no_class_name(reason)
    assert reason.startswith("instance without a readable Study Instance UID") and words in reason
    assert "the sender" in reason and "DOE^JANE" not in reason
    logged = " ".join(r.getMessage() for r in caplog.records)
    _no_class_name(logged)
    assert words in logged and "DOE^JANE" not in logged


def test_an_unexpected_error_while_triaging_a_queued_study_is_reasoned_without_a_class_name(tmp_path, monkeypatch):
    import scintiml.pacs.service as service

    listener = _listener(tmp_path, monkeypatch, attempts=1)
    listener.queue.add_instance("1.2.3", "1.2.3.4", b"DICM")

    def breaks(*args, **kwargs):
        raise ValueError("Unable to convert '1961-07-04'")  # a patient's birth date, quoted by a library

    monkeypatch.setattr(service, "triage_study", breaks)
    assert listener.process_ready(now=1e12) == [("1.2.3", "failed")]
    reasons = json.dumps(listener.queue.rows())
    assert "1961-07-04" not in reasons and "ValueError" not in reasons
    assert "unexpected error while triaging" in reasons and "log" in reasons
