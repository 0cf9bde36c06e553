"""De-identification against the complete PS3.15 Table E.1-1: every row planted, nothing survives.

The PHI test plants one distinct marker in every attribute of the table (sequences get an item with a name in
it), overlays (bitmap included), curves, private tags, unknown attributes, nested sequences, identifiers typed
into allow-listed text, and PHI in file and folder names; then greps the raw bytes of every output file, every
output name and the audit for every marker.
"""

import csv

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from pydicom.datadict import dictionary_VR, keyword_for_tag  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402

from scintiml.imaging import PlanarStudy, write_nm_dicom  # noqa: E402
from scintiml.imaging.deid import DeidError, deidentify_folder, new_key  # noqa: E402
from scintiml.imaging.deid_profile import profile_table, resolve_action  # noqa: E402


def _study(pid):
    rng = np.random.RandomState(0)
    views = {v: rng.poisson(20, (16, 16)).astype(float) for v in ("ANT", "POST")}
    return PlanarStudy(views=views, pixel_spacing_mm=(3.0, 3.0), patient_id=pid,
                       metadata={"radiopharmaceutical": "99mTc-MAA", "injected_activity_mbq": 148.0,
                                 "collimator": "LEHR", "injection_time": "093000"})


def _value(vr, n, surname):
    """A marker value for VR ``vr`` (``n`` makes it unique) and the bytes to grep for (None: not greppable).

    Free text carries the file's own surname too, as a real description with a name typed in would: under the
    Clean Descriptors option such text must be dropped, not kept."""
    marker = f"PHIMARK{n:04d}"
    if vr in ("PN",):
        return f"{marker}^Jane", marker
    if vr == "DA":
        # far from the planted birth date (1931-04-05): a shift of up to a year cannot turn one into it
        return f"1952{n % 12 + 1:02d}{n % 28 + 1:02d}", None  # dates are checked by attribute, not by grep
    if vr == "TM":
        return "235959", None
    if vr == "DT":
        return "19310101235959", None
    if vr == "UI":
        return f"1.2.826.0.1.3680043.99.{n}", f"1.2.826.0.1.3680043.99.{n}"
    if vr in ("US", "SS", "UL", "SL", "FL", "FD", "IS", "DS", "AT", "UV", "SV"):
        return None, None
    if vr in ("OB", "OW", "UN", "OF", "OD", "OL", "OV"):
        return marker.encode() * 2, marker
    if vr == "AS":
        return "077Y", None
    if vr == "CS":
        return f"PHICS{n:04d}", f"PHICS{n:04d}"
    return f"{marker} {surname}", marker


def _plant(path, pid, name):
    """An NM file with every Table E.1-1 attribute and the other hiding places filled; returns the markers."""
    write_nm_dicom(_study(pid), path, patient_name=name, patient_birth_date="19310405", study_date="20240310")
    ds = pydicom.dcmread(path)
    markers = {pid, name.split("^")[0], "19310405"}
    planted = 0
    for n, (tag, row) in enumerate(profile_table().items()):
        if any(c in tag for c in "XG") or tag.startswith(("0000", "0002", "FFFA", "FFFC")):
            continue
        keyword = keyword_for_tag(int(tag, 16))
        vr = dictionary_VR(int(tag, 16)).split(" or ")[0]
        if keyword in ("PatientID", "SOPInstanceUID", "PatientName"):
            continue
        if vr == "SQ":
            item = Dataset()
            item.PatientName = f"PHISEQ{n:04d}^Jane"
            inner = Dataset()
            inner.CodeMeaning = f"PHINEST{n:04d}"
            item.ConceptNameCodeSequence = [inner]
            setattr(ds, keyword, [item])
            markers |= {f"PHISEQ{n:04d}", f"PHINEST{n:04d}"}
        else:
            value, grep = _value(vr, n, name.split("^")[0])
            if value is None:
                continue
            ds.add_new(int(tag, 16), vr, value)
            if grep:
                markers.add(grep)
        planted += 1
    # overlays (with the bitmap), curves, private tags, unknown attributes
    ds.add_new(0x60000010, "US", 16)
    ds.add_new(0x60000011, "US", 16)
    ds.add_new(0x60003000, "OW", b"PHIOVERLAYBITMAP" * 2)
    ds.add_new(0x60004000, "LT", "PHIOVERLAYCOMMENT")
    ds.add_new(0x50000005, "US", 1)
    ds.add_new(0x50003000, "OW", b"PHICURVEDATA0000")
    block = ds.private_block(0x0029, "PHIPRIVCREATOR", create=True)
    block.add_new(0x10, "LO", "PHIPRIVATEVALUE")
    ds.PatientBreedDescription = "PHIUNKNOWNATTR"
    ds.TextValue = "PHITEXTVALUE"
    # identifiers typed into text the allow-list keeps, and nested deep inside a kept sequence
    ds.Manufacturer = f"camera of {name.split('^')[0]}"
    ds.RadiopharmaceuticalInformationSequence[0].Radiopharmaceutical = f"MAA for {pid}"
    ds.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime = "20240310093000"
    ds.RadiopharmaceuticalInformationSequence[0].add_new(0x00091001, "LO", "PHINESTEDPRIVATE")
    ds.DetectorInformationSequence[0].ViewCodeSequence[0].add_new(0x00100010, "PN", "PHIDEEPNAME^Jane")
    markers |= {"PHIOVERLAYBITMAP", "PHIOVERLAYCOMMENT", "PHICURVEDATA", "PHIPRIVCREATOR", "PHIPRIVATEVALUE",
                "PHIUNKNOWNATTR", "PHITEXTVALUE", "PHINESTEDPRIVATE", "PHIDEEPNAME"}
    ds.save_as(path)
    return markers, planted


@pytest.fixture
def planted(tmp_path):
    src = tmp_path / "in"
    folder = src / "Doe_Jane_12345678"  # PHI in folder and file names
    folder.mkdir(parents=True)
    m1, n1 = _plant(folder / "Doe^Jane 12345678.dcm", "12345678", "Doe^Jane")
    m2, _ = _plant(src / "Roe Richard 99999999.dcm", "99999999", "Roe^Richard")
    return src, m1 | m2 | {"Doe_Jane", "Roe Richard"}, n1


@pytest.mark.parametrize("options", [{}, {"keep_protocol": True}, {"retain_dates": True, "keep_protocol": True}])
def test_no_planted_phi_survives_in_bytes_names_or_audit(planted, tmp_path, options):
    src, markers, n_planted = planted
    assert n_planted > 400  # (nearly) every row of Table E.1-1 carries a marker
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    report = deidentify_folder(src, out, new_key(tmp_path / "k"), **options)
    assert len(report.written) == 2 and not report.skipped
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before  # inputs untouched
    leaks = []
    for path in out.rglob("*"):
        names = str(path.relative_to(out))
        blob = path.read_bytes() if path.is_file() else b""
        for marker in markers:
            if marker.upper() in names.upper():
                leaks.append(("name", names, marker))
            if marker.encode() in blob:
                leaks.append(("bytes", names, marker))
    assert leaks == []
    for written in report.written:
        ds = pydicom.dcmread(written)
        assert not any(e.tag.is_private or 0x5000 <= e.tag.group <= 0x60FF for e in ds.iterall())
        assert ds.PatientIdentityRemoved == "YES" and ds.PatientID.startswith("ANON-")
        codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
        assert codes[0] == "113100"
        assert ("113107" in codes) == bool(options.get("retain_dates"))
        assert ("113105" in codes) == bool(options.get("keep_protocol"))
        assert ds.LongitudinalTemporalInformationModified == ("MODIFIED" if options.get("retain_dates") else "REMOVED")
        rad = ds.RadiopharmaceuticalInformationSequence[0]
        assert "Radiopharmaceutical" not in rad  # held the patient id: dropped, not kept
        assert rad.RadionuclideTotalDose == 148.0  # acquisition physics kept
        assert ds.DetectorInformationSequence[0].CollimatorGridName == "LEHR"
        injection = rad.get("RadiopharmaceuticalStartDateTime")
        if options.get("retain_dates"):
            assert injection is not None and injection[:8] < "20240310" and injection[8:] == "093000"
            assert ds.StudyDate < "20240310"
        else:  # --keep-protocol alone keeps no date or time of care
            assert injection is None and "RadiopharmaceuticalStartTime" not in rad and ds.StudyDate == ""
        assert "Manufacturer" not in ds  # "camera of Doe": an identifier in allow-listed text
        assert "19310405" not in str(ds)


def test_every_table_row_gets_its_action(planted, tmp_path):
    """Each planted single-tag attribute ends as the table says: absent (X), empty (Z), replaced (D/U)."""
    src, _, _ = planted
    report = deidentify_folder(src, tmp_path / "out", new_key(tmp_path / "k"))
    ds = pydicom.dcmread(report.written[0])
    original = pydicom.dcmread(next(src.rglob("*.dcm")))
    checked = 0
    for tag, row in profile_table().items():
        if any(c in tag for c in "XG") or tag.startswith(("0000", "0002", "FFFA", "FFFC")):
            continue
        t = int(tag, 16)
        if t not in original or original[t].keyword == "PatientID":
            continue
        action = resolve_action(row, frozenset(), original[t].VR == "SQ")
        if action == "X":
            assert t not in ds, row.name
        elif action == "Z":
            assert t in ds and not ds[t].value, row.name
        elif action in ("D", "U"):
            assert t in ds and ds[t].value != original[t].value, row.name
        checked += 1
    assert checked > 400


def test_bad_files_are_reported_and_skipped_never_fatal(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    good = write_nm_dicom(_study("P1"), src / "good.dcm")
    blob = good.read_bytes()
    (src / "notes.txt").write_text("Doe Jane 12345678")
    (src / "truncated.dcm").write_bytes(blob[:-300])
    (src / "header_only.dcm").write_bytes(blob[:400])
    ds = pydicom.dcmread(good)
    del ds.SOPInstanceUID
    ds.save_as(src / "no_uid.dcm")
    ds = pydicom.dcmread(good)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.999"
    ds.save_as(src / "dup_a.dcm")
    ds.save_as(src / "dup_b.dcm")  # the same instance twice: a collision, not an overwrite
    report = deidentify_folder(src, tmp_path / "out", new_key(tmp_path / "k"))
    reasons = {s["file"]: s["reason"] for s in report.skipped}
    assert set(reasons) == {"notes.txt", "truncated.dcm", "header_only.dcm", "no_uid.dcm", "dup_b.dcm"}
    assert reasons["notes.txt"].startswith("not DICOM")
    assert "truncated" in reasons["truncated.dcm"] and "SOPInstanceUID" in reasons["no_uid.dcm"]
    assert "collision" in reasons["dup_b.dcm"] and report.collisions == 1
    assert len(report.written) == 2  # good.dcm and dup_a.dcm
    audit = list(csv.DictReader(open(tmp_path / "out" / "deid_audit.csv")))
    skipped_rows = [r for r in audit if r["action"] == "skipped"]
    assert len(skipped_rows) == 5 and all(r["source"].startswith("src-") for r in skipped_rows)
    text = (tmp_path / "out" / "deid_audit.csv").read_text()
    for name in ("notes.txt", "truncated.dcm", "no_uid", "dup_", "good.dcm", "header_only"):
        assert name not in text  # inputs are named by keyed hashes only


def test_refusals_leave_nothing_behind(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_nm_dicom(_study("P1"), src / "a.dcm")
    key = new_key(tmp_path / "k")
    with pytest.raises(DeidError, match="must not be the input"):
        deidentify_folder(src, src / "inner", key)
    with pytest.raises(DeidError, match="must not be the input"):
        deidentify_folder(src, src, key)
    with pytest.raises(DeidError, match="does not exist"):
        deidentify_folder(tmp_path / "nope", tmp_path / "o", key)
    (tmp_path / "short.key").write_text("abc")
    with pytest.raises(DeidError, match="too short"):
        deidentify_folder(src, tmp_path / "o", tmp_path / "short.key")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "k", "short.key"]


def test_cli_deid_keeps_the_key_out_of_the_input_and_output_folders(tmp_path, capsys):
    from conftest import run_cli

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.dcm").write_bytes(b"not read: the key is refused first")
    before = sorted(p.name for p in (tmp_path / "in").iterdir())
    code = run_cli(["deid", str(tmp_path / "in"), str(tmp_path / "out"), "--key",
                    str(tmp_path / "in" / "dept.key"), "--new-key"])
    assert code == 2 and "inside the input folder" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == before  # no key written into the input
    code = run_cli(["deid", str(tmp_path / "in"), str(tmp_path / "out"), "--key",
                    str(tmp_path / "out" / "dept.key"), "--new-key"])
    assert code == 2 and "inside the output folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_new_key_is_taken_back_only_while_nothing_was_published_with_it(tmp_path, capsys, monkeypatch):
    import contextlib

    from conftest import run_cli

    import scintiml.cli.imaging as cli_imaging

    src = tmp_path / "in"
    src.mkdir()
    write_nm_dicom(_study("P1"), src / "a.dcm")
    (tmp_path / "empty").mkdir()
    # refused (nothing to de-identify): the key this run made is removed with everything else
    assert run_cli(["deid", str(tmp_path / "empty"), str(tmp_path / "o1"), "--key", str(tmp_path / "k1"),
                    "--new-key"]) == 2
    assert "the folder is empty" in capsys.readouterr().err
    assert not (tmp_path / "k1").exists() and not (tmp_path / "o1").exists()

    # a Ctrl-C after the output folder was published (here: as the progress bar closes) keeps the key: the
    # published pseudonyms can only be linked again with it
    @contextlib.contextmanager
    def interrupted_on_close():
        class Bar:
            def add_task(self, *a, **k):
                return 0

            def update(self, *a, **k):
                pass
        yield Bar()
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_imaging, "progress_bar", interrupted_on_close)
    code = run_cli(["deid", str(src), str(tmp_path / "o2"), "--key", str(tmp_path / "k2"), "--new-key"])
    assert code == 130 and (tmp_path / "k2").exists() and any((tmp_path / "o2").rglob("*.dcm"))
    said = capsys.readouterr().err
    assert "was written in full" in said and "nothing was written" not in said


# --------------------------------------------------------------------------------- sweep 9: ways PHI survived
def _deid_one(tmp_path, edit, name="ZEBULON^QUIXOTE", pid="MRN99887766", **options):
    """One NM file (birth date 1953-04-17) edited by ``edit``, de-identified; returns the output dataset."""
    src = tmp_path / "in"
    src.mkdir()
    path = write_nm_dicom(_study(pid), src / "a.dcm", patient_name=name, patient_birth_date="19530417")
    ds = pydicom.dcmread(path)
    edit(ds)
    ds.save_as(path, enforce_file_format=True)
    report = deidentify_folder(src, tmp_path / "out", new_key(tmp_path / "k"), **options)
    assert len(report.written) == 1, report.skipped
    return pydicom.dcmread(report.written[0])


def test_the_preamble_is_written_as_zeros(tmp_path):
    def edit(ds):
        ds.preamble = b"PATIENT ZEBULON QUIXOTE MRN99887766 DOB 19530417".ljust(128)

    out = _deid_one(tmp_path, edit)
    blob = next((tmp_path / "out").rglob("*.dcm")).read_bytes()
    assert blob[:128] == b"\0" * 128 and blob[128:132] == b"DICM"
    assert out.preamble == b"\0" * 128


def test_the_file_meta_names_scintiml_not_the_program_that_wrote_the_input(tmp_path):
    from scintiml import __version__

    def edit(ds):
        ds.file_meta.ImplementationVersionName = "QUIXOTE"
        ds.file_meta.ImplementationClassUID = "1.2.3.4.99887766"

    out = _deid_one(tmp_path, edit)
    assert out.file_meta.ImplementationVersionName == f"SCINTIML_{__version__}"[:16]
    assert out.file_meta.ImplementationClassUID == pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    blob = next((tmp_path / "out").rglob("*.dcm")).read_bytes()
    assert b"QUIXOTE" not in blob and b"99887766" not in blob


@pytest.mark.parametrize("name, charset, texts, options", [
    ("山田^太郎", "ISO_IR 192", {"ImageID": "山田太郎", "WindowCenterWidthExplanation": "山田 太郎"}, {}),
    ("王^小明", "GB18030", {"WindowCenterWidthExplanation": "王小明"}, {}),
    ("NG^BO", None, {"ImageID": "NG BO LUNG", "WindowCenterWidthExplanation": "for Ng Bo"}, {}),
    ("NG^BO", None, {"ImageID": "BO NG", "WindowCenterWidthExplanation": "NGBO ANT"}, {}),
    ("李^伟", "ISO_IR 192", {"SeriesDescription": "李伟 肺灌注", "StudyDescription": "伟李"}, {"keep_protocol": True}),
    ("Wu^Li", None, {"SeriesDescription": "wu li lung"}, {"keep_protocol": True}),
])
def test_a_name_with_short_parts_is_matched_as_a_whole_name(tmp_path, name, charset, texts, options):
    def edit(ds):
        if charset:
            ds.SpecificCharacterSet = charset
        ds.PatientName = name
        for keyword, text in texts.items():
            setattr(ds, keyword, text)

    out = _deid_one(tmp_path, edit, name=name, **options)
    assert [k for k in texts if k in out] == []


@pytest.mark.parametrize("name, texts", [
    ("LI^AN", {"ImageID": "LUNG PERF ANT", "WindowCenterWidthExplanation": "LI CALIBRATION"}),
    ("NG^BO", {"ImageID": "LUNG BONE", "WindowCenterWidthExplanation": "NG"}),  # one short part alone
    ("李^伟", {"ImageID": "肺灌注 李"}),
])
def test_a_short_name_part_alone_does_not_blank_ordinary_text(tmp_path, name, texts):
    def edit(ds):
        ds.PatientName = name
        for keyword, text in texts.items():
            setattr(ds, keyword, text)

    out = _deid_one(tmp_path, edit, name=name)
    assert {k: out.get(k) for k in texts} == texts


@pytest.mark.parametrize("name, text", [
    ("Müller^Jörg", "muller jorg"), ("Müller^Jörg", "MUELLER JOERG"), ("Mueller^Joerg", "Dr Müller"),
    ("Strauß^Ana", "STRAUSS"), ("Øster^Zoë", "oster zoe"), ("Müller^Jörg", "Dr Mu\u0308ller"),  # decomposed ü
])
def test_diacritics_and_german_transliteration_are_folded(tmp_path, name, text):
    def edit(ds):
        ds.PatientName = name
        ds.ImageID = text

    assert "ImageID" not in _deid_one(tmp_path, edit, name=name)


@pytest.mark.parametrize("text, dropped", [
    ("DOB 17.04.1953 preset", True), ("17/04/1953", True), ("04/17/1953", True), ("1953-04-17", True),
    ("17-04-1953", True), ("born 17.4.53", True), ("4/17/53", True), ("17 Apr 1953", True),
    ("April 17, 1953", True), ("17041953", True), ("19530417", True),
    ("18.04.1953", False), ("1953 keV", False), ("v1.17.04.53.2", False), ("17.04.19530", False),
])
def test_the_birth_date_is_matched_in_other_notations(tmp_path, text, dropped):
    def edit(ds):
        ds.WindowCenterWidthExplanation = text

    out = _deid_one(tmp_path, edit)
    assert ("WindowCenterWidthExplanation" not in out) == dropped


@pytest.mark.parametrize("text, dropped", [("PID471", True), ("471_ANT", True), ("PID4712", False),
                                           ("A1471", False)])
def test_a_three_digit_patient_id_is_matched_as_a_whole_number_inside_text(tmp_path, text, dropped):
    def edit(ds):
        ds.ImageID = text

    out = _deid_one(tmp_path, edit, pid="471")
    assert ("ImageID" not in out) == dropped


@pytest.mark.parametrize("edits, text, dropped", [
    ({"PatientAddress": "Main St 128"}, "ANT 128X128", False),  # a house number is no id glued to a matrix size
    ({"StudyDate": "20240304"}, "DATSCAN 3-4-24H", False),  # a study date's jotted form is no birth date
    ({"StudyDate": "20240310"}, "10 MARKERS 24 SEGMENTS", False),  # MARKERS is no March
    ({"StudyDate": "20240310"}, "SCAN 10.03.2024", True),  # the study date written out is still a date
    ({}, "DOB 17 April 1953", True),
    ({"StudyDate": "20240417"}, "LUNG PERF 17 APR 2024", True),  # a study date in words would betray a date shift
    ({"StudyDate": "20240417"}, "V/Q APRIL 17, 2024", True),
])
def test_short_numbers_and_dates_other_than_ids_and_the_birth_date_keep_descriptions(tmp_path, edits, text, dropped):
    """Review of sweep 9's deid fix: every 3-digit number of any identifying element (an address) was matched
    glued to letters, and every date got two-digit-year and month-prefix forms."""
    def edit(ds):
        for keyword, value in edits.items():
            setattr(ds, keyword, value)
        ds.WindowCenterWidthExplanation = text

    out = _deid_one(tmp_path, edit)
    assert ("WindowCenterWidthExplanation" not in out) == dropped


def test_cli_deid_counts_skipped_files_without_naming_them(tmp_path, capsys):
    from conftest import run_cli

    src = tmp_path / "in"
    src.mkdir()
    write_nm_dicom(_study("P1"), src / "QUIXOTE_ZEBULON.dcm")
    (src / "QUIXOTE_notes.txt").write_text("hello")
    (src / "MRN99887766.txt").write_text("hello")
    code = run_cli(["deid", str(src), str(tmp_path / "out"), "--key", str(tmp_path / "k"), "--new-key"])
    said = capsys.readouterr()
    text = said.out + said.err
    assert code == 0 and "1 file(s) written" in text and "2 skipped" in text
    assert "2 file(s): not DICOM (no DICM header)" in text
    assert "QUIXOTE" not in text and "MRN99887766" not in text and "notes" not in text


# ------------------------------------------------------------------- environment failures: disk full, permissions
def _two_patients(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_nm_dicom(_study("P1"), src / "a.dcm")
    write_nm_dicom(_study("P2"), src / "b.dcm")
    return src


def _disk_fills_after(monkeypatch, budget, code):
    """Every file pydicom opens for writing shares ``budget`` bytes; past it a write fails with ``code``, as a
    full disk (or a size limit, a read-only remount ...) does, and pydicom wraps it as it does a real one."""
    import builtins
    import errno
    import os

    left = [budget]

    class Filling:
        def __init__(self, path, mode):
            self._fh = builtins.open(path, mode)
            self.name = self._fh.name

        def write(self, data):
            if len(data) > left[0]:
                raise OSError(code, os.strerror(code))
            left[0] -= len(data)
            return self._fh.write(data)

        def seek(self, *args):
            return self._fh.seek(*args)

        def tell(self):
            return self._fh.tell()

        def close(self):
            self._fh.close()

    def opener(path, mode="r", *args, **kwargs):
        if any(c in mode for c in "wxa"):
            return Filling(path, mode)
        return builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(pydicom.filebase, "open", opener, raising=False)
    return errno


@pytest.mark.parametrize("code", ["ENOSPC", "EFBIG", "EDQUOT", "EROFS", "EIO"])
def test_a_write_the_disk_refuses_ends_the_run_and_publishes_nothing(tmp_path, monkeypatch, code):
    """Audit: a disk that filled up mid-run gave "12 written; 3 skipped — cannot be rewritten (OSError)", exit 0,
    and a published folder with empty patient folders; a size limit on every file blamed the input."""
    import errno
    import os

    src = _two_patients(tmp_path)
    key = new_key(tmp_path / "k")
    first = deidentify_folder(src, tmp_path / "scratch", key).written[0]
    budget = os.path.getsize(first) + 16  # the first output fits, the second does not: the disk fills mid-run
    for path in sorted((tmp_path / "scratch").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (tmp_path / "scratch").rmdir()
    _disk_fills_after(monkeypatch, budget, getattr(errno, code))
    with pytest.raises(DeidError) as info:
        deidentify_folder(src, tmp_path / "out", key)
    message = str(info.value)
    assert message.startswith(f"cannot write to the output folder {str(tmp_path / 'out')!r} "
                              f"({os.strerror(getattr(errno, code))}); nothing was published")
    assert "\n" not in message and "give the folder that holds the DICOM files" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "k"]  # no output, no temporary folder


def test_a_write_error_wrapped_by_pydicom_is_found_behind_the_wrapping(tmp_path, monkeypatch):
    """pydicom re-raises an error inside an element as ``type(exc)(message)``: an OSError without errno."""
    import errno

    src = _two_patients(tmp_path)
    key = new_key(tmp_path / "k")

    def save_as(self, *args, **kwargs):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise OSError("With tag (7FE0,0010) got exception: [Errno 28] No space left on device\nTraceback") from exc

    monkeypatch.setattr(pydicom.Dataset, "save_as", save_as)
    with pytest.raises(DeidError, match=r"\(No space left on device\); nothing was published"):
        deidentify_folder(src, tmp_path / "out", key)
    assert not (tmp_path / "out").exists()


def test_a_dataset_pydicom_cannot_encode_is_still_skipped_without_an_empty_patient_folder(tmp_path, monkeypatch):
    import warnings

    src = _two_patients(tmp_path)
    key = new_key(tmp_path / "k")
    original, calls = pydicom.Dataset.save_as, []

    def save_as(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second patient's file: Rows beyond US, a real pydicom encoding error
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.Rows = 70000
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pydicom.Dataset, "save_as", save_as)
    report = deidentify_folder(src, tmp_path / "out", key)
    assert len(report.written) == 1
    [reason] = [s["reason"] for s in report.skipped]
    assert reason.startswith("cannot be rewritten after de-identification: one of its values does not fit its "
                             "DICOM type") and "fix that value and run again, or leave the file out" in reason
    assert "OSError" not in reason
    patients = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert len(patients) == 1 and len(list(patients[0].iterdir())) == 1  # no empty ANON-... folder


def test_cli_deid_on_a_full_disk_says_so_exits_2_and_takes_its_new_key_back(tmp_path, monkeypatch, capsys):
    import errno

    from conftest import run_cli

    src = _two_patients(tmp_path)
    _disk_fills_after(monkeypatch, 0, errno.ENOSPC)
    code = run_cli(["deid", str(src), str(tmp_path / "out"), "--key", str(tmp_path / "k"), "--new-key"])
    said = capsys.readouterr()
    errors = [line for line in (said.out + said.err).splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1
    assert "cannot write to the output folder" in errors[0] and "No space left on device" in errors[0]
    assert "written" not in said.out and "skipped" not in said.out + said.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no output, and the new key taken back


def test_a_key_that_cannot_be_written_leaves_no_key_file(tmp_path, monkeypatch, capsys):
    """Audit: --new-key on a full disk left an empty key file; the next --new-key said it exists, using it said
    it is too short."""
    import errno
    import os

    from conftest import run_cli

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(DeidError, match=r"cannot write the key file .*No space left on device.*no key was written"):
        new_key(tmp_path / "k")
    assert list(tmp_path.iterdir()) == []  # neither the key nor its temporary file
    src = _two_patients(tmp_path)
    code = run_cli(["deid", str(src), str(tmp_path / "out"), "--key", str(tmp_path / "k"), "--new-key"])
    said = capsys.readouterr()
    assert code == 2 and "no key was written" in said.out + said.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    monkeypatch.undo()  # the disk has room again: the same command now works
    code = run_cli(["deid", str(src), str(tmp_path / "out"), "--key", str(tmp_path / "k"), "--new-key"])
    assert code == 0 and len((tmp_path / "k").read_text().strip()) == 64


def test_cli_deid_never_takes_back_a_key_it_did_not_make(tmp_path, capsys):
    from conftest import run_cli

    src = _two_patients(tmp_path)
    (tmp_path / "k").write_text("x" * 64 + "\n")
    code = run_cli(["deid", str(src), str(tmp_path / "out"), "--key", str(tmp_path / "k"), "--new-key"])
    said = capsys.readouterr()
    assert code == 2 and "exists" in said.out + said.err
    assert (tmp_path / "k").read_text() == "x" * 64 + "\n"  # the department's key is still there


def test_an_unreadable_input_is_named_unreadable_not_corrupt(tmp_path, monkeypatch, capsys):
    """Audit: permission denied on an input read as "not DICOM or corrupt (PermissionError)". Root reads a mode
    000 file, so the reader is made to refuse."""
    from conftest import run_cli

    src = tmp_path / "in"
    src.mkdir()
    write_nm_dicom(_study("P1"), src / "a.dcm")
    write_nm_dicom(_study("P2"), src / "QUIXOTE_locked.dcm")
    real = pydicom.dcmread

    def dcmread(path, *args, **kwargs):
        if "locked" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", dcmread)
    report = deidentify_folder(src, tmp_path / "out", new_key(tmp_path / "k"))
    assert len(report.written) == 1
    assert [s["reason"] for s in report.skipped] == ["unreadable: permission denied; give read access to it and run "
                                                     "again"]
    code = run_cli(["deid", str(src), str(tmp_path / "out2"), "--key", str(tmp_path / "k")])
    said = capsys.readouterr()
    text = said.out + said.err
    assert code == 0 and "1 file(s): unreadable: permission denied" in text
    assert "corrupt" not in text and "QUIXOTE" not in text


def test_a_key_path_below_a_file_says_it_is_a_file(tmp_path, capsys):
    """Audit: ``--key file/key`` with ``file`` a regular file said "folder 'file' does not exist"."""
    from conftest import run_cli

    (tmp_path / "file").write_text("mine")
    with pytest.raises(DeidError, match=r"'.*file' is a file, not a folder"):
        new_key(tmp_path / "file" / "key")
    with pytest.raises(DeidError, match=r"'.*file' is a file, not a folder"):
        new_key(tmp_path / "file" / "sub" / "key")
    src = _two_patients(tmp_path)
    for extra in (["--new-key"], []):
        code = run_cli(["deid", str(src), str(tmp_path / "out"), "--key", str(tmp_path / "file" / "key"), *extra])
        said = capsys.readouterr()
        assert code == 2 and "is a file, not a folder" in said.out + said.err
        assert "does not exist" not in said.out + said.err
    assert (tmp_path / "file").read_text() == "mine" and not (tmp_path / "out").exists()


def _refuse_listing(monkeypatch, folder_name):
    """A subfolder the process may not list (as ``chmod 000`` would for a non-root user; CI runs as root, which
    reads everything, so the refusal is made by the listing call itself)."""
    import errno
    import os

    listing = os.scandir

    def scandir(path="."):
        if os.path.basename(os.fspath(path)) == folder_name:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return listing(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_a_subfolder_that_cannot_be_listed_is_reported_not_passed_over(tmp_path, monkeypatch):
    from scintiml.imaging import read_studies

    src = tmp_path / "in"
    (src / "locked").mkdir(parents=True)
    write_nm_dicom(_study("P1"), src / "good.dcm")
    write_nm_dicom(_study("P2"), src / "locked" / "hidden.dcm")
    _refuse_listing(monkeypatch, "locked")
    report = deidentify_folder(src, tmp_path / "out", new_key(tmp_path / "k"))
    assert len(report.written) == 1
    (folder,) = report.skipped  # Path.rglob passed over it: a complete-looking run that never saw P2
    assert folder["file"].startswith("locked") and "folder cannot be read (Permission denied)" in folder["reason"]
    audit = list(csv.DictReader(open(tmp_path / "out" / "deid_audit.csv")))
    (row,) = [r for r in audit if r["action"] == "skipped"]
    assert row["source"].startswith("src-") and "not de-identified" in row["new_value"]
    studies, skipped = read_studies(src)
    assert [s.patient_id for s in studies] == ["P1"]
    assert len(skipped) == 1 and "folder cannot be read" in skipped[0]["reason"] and "locked" in skipped[0]["file"]
