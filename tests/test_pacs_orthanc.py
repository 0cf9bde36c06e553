"""PACS in, PACS out against a real Orthanc (Debian packages orthanc + orthanc-dicomweb).

One Orthanc per module, on free ports, with a temporary configuration and storage folder; DICOMweb behind
basic auth (the password reaches scintiml through an environment variable only); our listener registered as
a DICOM modality so Orthanc accepts our stores and can C-MOVE to us.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("pynetdicom")
pytest.importorskip("dicomweb_client")
pydicom = pytest.importorskip("pydicom")

from conftest import run_cli  # noqa: E402

ORTHANC = shutil.which("Orthanc")
PLUGIN = next((p for p in ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
                           "/usr/lib/orthanc/libOrthancDicomWeb.so") if Path(p).exists()), None)
pytestmark = pytest.mark.skipif(ORTHANC is None or PLUGIN is None,
                                reason="Orthanc with its DICOMweb plugin is not installed "
                                       "(apt-get install orthanc orthanc-dicomweb; .ci/run does it)")

USER, PASSWORD = "scintiml", "s3cret-Pw-9"
VIEWS = ["ANT", "POST", "RAO", "LAO", "RPO", "LPO"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Orthanc:
    """A throw-away Orthanc: start(), stop(), and small REST helpers for the checks."""

    def __init__(self, folder: Path, listener_port: int, **extra):
        self.folder = folder
        self.http_port, self.dicom_port = _free_port(), _free_port()
        self.listener_port = listener_port
        (folder / "db").mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "scintiml-test", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
            "HttpPort": self.http_port, "DicomPort": self.dicom_port, "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": False, "AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD},
            "Plugins": [PLUGIN], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "DicomModalities": {"scintiml": ["SCINTIML", "127.0.0.1", listener_port]},
            "DicomAlwaysAllowStore": False, "DicomCheckCalledAet": False, "ConcurrentJobs": 1,
            "HttpThreadsCount": 4, "StorageCompression": False, "DicomScpTimeout": 5, **extra,
        }
        self.config = folder / "orthanc.json"
        self.config.write_text(json.dumps(config))
        self.proc = None
        self._started = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        # The ports were probed free and released, so under parallel test workers another process can take one before
        # Orthanc binds it. On a first start Orthanc then exits at once: try again on fresh ports (a restart keeps its
        # ports, since the tests restart it to see clients reconnect to the same address).
        for attempt in range(3):
            try:
                return self._start_once()
            except RuntimeError:
                if self._started or attempt == 2 or self.proc is None or self.proc.poll() is None:
                    raise
                self.proc = None
                self.http_port, self.dicom_port = _free_port(), _free_port()
                config = json.loads(self.config.read_text())
                config.update(HttpPort=self.http_port, DicomPort=self.dicom_port)
                self.config.write_text(json.dumps(config))

    def _start_once(self) -> None:
        self.proc = subprocess.Popen([ORTHANC, str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.folder / "orthanc.log", "ab"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.get("/system")
                with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=1):
                    self._started = True
                    return
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError((self.folder / "orthanc.log").read_text()[-2000:])
                time.sleep(0.1)
        raise RuntimeError("Orthanc did not start in 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def get(self, path: str):
        import requests

        r = requests.get(self.url + path, auth=(USER, PASSWORD), timeout=10)
        r.raise_for_status()
        return r.json()

    def web(self):
        from dicomweb_client.api import DICOMwebClient
        from dicomweb_client.session_utils import create_session

        session = create_session()
        session.auth = (USER, PASSWORD)
        return DICOMwebClient(url=self.url + "/dicom-web", session=session)

    def series(self, study_uid: str) -> dict[str, list[str]]:
        """Modality -> SOP Instance UIDs of every instance in the study (QIDO-RS)."""
        out: dict[str, list[str]] = {}
        for item in self.web().search_for_instances(study_instance_uid=study_uid,
                                                    fields=["Modality", "SOPInstanceUID"]):
            ds = pydicom.Dataset.from_json(item)
            out.setdefault(str(ds.Modality), []).append(str(ds.SOPInstanceUID))
        return out


@pytest.fixture(scope="module")
def listener_port():
    return _free_port()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, listener_port):
    server = Orthanc(tmp_path_factory.mktemp("orthanc"), listener_port)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def scans():
    """Two simulated perfusion studies' views; test studies are copies with their own UIDs."""
    from scintiml.datasets.perfusion import simulate_perfusion_scans

    return [c.views for c in simulate_perfusion_scans(2, prevalence=0.5, random_state=3)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, scans):
    """A tiny, valid CNN bundle, trained for two steps (it need not be accurate) on Poisson re-draws of the
    simulated scans — so the studies the tests send look like its training protocol."""
    from scintiml.cnn import train_cnn

    rng = np.random.default_rng(0)
    counts = np.stack([rng.poisson(np.stack([scans[i % 2][v] for v in VIEWS])) for i in range(20)]).astype(float)
    labels = np.r_[np.zeros(10), np.ones(10)]
    with warnings.catch_warnings():  # "only 2 events in the testing part": deliberately tiny, not a finding
        warnings.simplefilter("ignore", UserWarning)
        trained = train_cnn(counts, labels, VIEWS, width=8, epochs=1, max_steps=2, seed=0)
    model = trained[0] if isinstance(trained, tuple) else trained  # (model, report) in older versions
    path = tmp_path_factory.mktemp("model") / "pe-cnn"
    model.save(path)
    return path


def make_study(folder: Path, views: dict, patient: str, description: str = "NM LUNG PERFUSION",
               date: str = "20260310", drop: tuple = (), per_view: bool = False) -> tuple[str, list[Path]]:
    """NM DICOM file(s) of one study, written with scintiml's NM writer; returns (StudyInstanceUID, files)."""
    from pydicom.uid import generate_uid

    from scintiml.imaging.planar import PlanarStudy, write_nm_dicom

    uid = generate_uid()
    kept = {v: a for v, a in views.items() if v not in drop}
    groups = [{v: a} for v, a in kept.items()] if per_view else [kept]
    series = generate_uid()
    files = []
    for i, group in enumerate(groups):
        study = PlanarStudy(views=group, pixel_spacing_mm=(3.3, 3.3), patient_id=patient, study_instance_uid=uid,
                            series_instance_uid=series, metadata={"radiopharmaceutical": "99mTc-MAA"})
        path = write_nm_dicom(study, folder / f"{patient}_{i}.dcm", patient_name=f"Test^{patient}",
                              study_date=date)
        ds = pydicom.dcmread(path)
        ds.StudyDescription = description
        ds.InstanceNumber = i + 1
        ds.save_as(path)
        files.append(path)
    return uid, files


def upload(orthanc: Orthanc, files) -> None:
    orthanc.web().store_instances([pydicom.dcmread(f) for f in files])


def write_config(path: Path, orthanc: Orthanc, listener_port: int, protocol: str = "dicomweb", **extra) -> Path:
    import yaml

    if protocol == "dicomweb":
        pacs = {"protocol": "dicomweb", "url": orthanc.url + "/dicom-web", "timeout_s": 5,
                "auth": {"username": USER, "password_env": "TEST_SCINTIML_PACS_PASSWORD"}}
    else:
        pacs = {"protocol": "dimse", "host": "127.0.0.1", "port": orthanc.dicom_port, "ae_title": "ORTHANC",
                "retrieve": extra.pop("retrieve", "get"), "timeout_s": 5}
    config = {"pacs": pacs, "local": {"ae_title": "SCINTIML", "port": listener_port, "host": "127.0.0.1"},
              "query": {"modality": "NM", "date_from": "2026-03-01", "date_to": "2026-03-31",
                        "description": "*perfusion*"},
              "listener": {"state_dir": str(path.parent / "state"), "quiet_time_s": 0.3, "poll_s": 0.1},
              "retry": {"attempts": 3, "backoff_s": 0.05, "max_backoff_s": 0.2}}
    for key, value in extra.items():
        config[key] = {**config.get(key, {}), **value}
    path.write_text(yaml.safe_dump(config))
    return path


def c_store(port: int, files, ae_title: str = "SCINTIML") -> list[int]:
    """Send files to a C-STORE SCP the way a gamma camera or a PACS would; the statuses."""
    from pynetdicom import AE
    from pynetdicom.sop_class import NuclearMedicineImageStorage

    ae = AE(ae_title="CAMERA")
    ae.add_requested_context(NuclearMedicineImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(pydicom.dcmread(f)).Status) for f in files]
    finally:
        assoc.release()


def sr_probability(orthanc: Orthanc, study_uid: str, sop_uid: str) -> float:
    """The probability recorded in our SR, read back from Orthanc (WADO-RS)."""
    ds = orthanc.web().retrieve_instance(study_uid, _series_of(orthanc, study_uid, sop_uid), sop_uid)
    assert ds.StudyInstanceUID == study_uid
    values = [float(item.MeasuredValueSequence[0].NumericValue) for item in ds.ContentSequence
              if item.ValueType == "NUM" and item.ConceptNameCodeSequence[0].CodeValue == "PPE"]
    assert len(values) == 1
    return values[0]


def _series_of(orthanc: Orthanc, study_uid: str, sop_uid: str) -> str:
    for item in orthanc.web().search_for_instances(study_instance_uid=study_uid,
                                                   fields=["SeriesInstanceUID", "SOPInstanceUID"]):
        ds = pydicom.Dataset.from_json(item)
        if ds.SOPInstanceUID == sop_uid:
            return str(ds.SeriesInstanceUID)
    raise AssertionError(f"{sop_uid} is not in study {study_uid}")


# ---------------------------------------------------------------------------------------------- tests
def test_triage_pacs_dicomweb_stores_sc_and_sr_into_each_source_study(orthanc, listener_port, model_dir, scans,
                                                                       tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEST_SCINTIML_PACS_PASSWORD", PASSWORD)
    # studies 0 and 1 hold the same views, as one multi-frame instance and as six single-view instances
    perf = [make_study(tmp_path / "up", scans[0 if i < 2 else 1], f"QR{i}", per_view=(i == 1)) for i in range(3)]
    bone = make_study(tmp_path / "up", scans[0], "QRBONE", description="NM BONE WHOLE BODY")
    old = make_study(tmp_path / "up", scans[1], "QROLD", date="20250101")
    for _, files in perf + [bone, old]:
        upload(orthanc, files)
    cfg = write_config(tmp_path / "pacs.yaml", orthanc, listener_port)

    assert run_cli(["triage", str(model_dir), "--pacs", str(cfg), "--out", str(tmp_path / "run1")]) == 0
    table = json.loads((tmp_path / "run1" / "worklist.json").read_text())
    by_uid = {r["study_instance_uid"]: r for r in table}
    # the description pattern and the date range chose exactly the three perfusion studies
    assert set(by_uid) == {uid for uid, _ in perf}
    assert [r["rank"] for r in table] == [1, 2, 3]
    for uid, _ in perf:
        held = orthanc.series(uid)
        assert sorted(held) == ["NM", "OT", "SR"] and len(held["OT"]) == 1 and len(held["SR"]) == 1
        assert held["OT"][0] == by_uid[uid]["sc_sop_instance_uid"]
        assert sr_probability(orthanc, uid, held["SR"][0]) == pytest.approx(by_uid[uid]["probability"], abs=1e-4)
    assert set(orthanc.series(bone[0])) == {"NM"} and set(orthanc.series(old[0])) == {"NM"}  # untouched
    # the six single-view instances were gathered into one study: the same score as the multi-frame twin
    assert by_uid[perf[1][0]]["probability"] == by_uid[perf[0][0]]["probability"]
    # a second run stores the same UIDs again: no duplicate results in the PACS
    assert run_cli(["triage", str(model_dir), "--pacs", str(cfg), "--out", str(tmp_path / "run2")]) == 0
    for uid, _ in perf:
        held = orthanc.series(uid)
        assert len(held["OT"]) == 1 and len(held["SR"]) == 1
    html = (tmp_path / "run1" / "worklist.html").read_text()
    assert html.index(table[0]["study_instance_uid"]) < html.index(table[-1]["study_instance_uid"])
    # the password came from the environment and was never printed
    captured = capsys.readouterr()
    assert PASSWORD not in captured.out + captured.err


def test_triage_pacs_dimse_find_get_and_move(orthanc, listener_port, model_dir, scans, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SCINTIML_PACS_PASSWORD", PASSWORD)
    uid, files = make_study(tmp_path / "up", scans[0], "DIMSE1", date="20260315")
    upload(orthanc, files)
    for retrieve in ("get", "move"):
        cfg = write_config(tmp_path / f"{retrieve}.yaml", orthanc, listener_port, protocol="dimse",
                           retrieve=retrieve, query={"date_from": "2026-03-15", "date_to": "2026-03-15"})
        if retrieve == "get":
            out = tmp_path / "out-get"
            assert run_cli(["triage", str(model_dir), "--pacs", str(cfg), "--out", str(out)]) == 0
        else:  # the form, without --out: a new time-stamped folder in the working directory
            monkeypatch.chdir(tmp_path)
            assert run_cli(["triage", str(model_dir), "--pacs", str(cfg)]) == 0
            (out,) = tmp_path.glob("scintiml-triage-*")
        rows = {r["study_instance_uid"]: r for r in json.loads((out / "worklist.json").read_text())}
        assert rows[uid]["status"] == "triaged", rows[uid]
    held = orthanc.series(uid)
    assert len(held["OT"]) == 1 and len(held["SR"]) == 1  # C-STORE twice, same UIDs, one copy


def test_triage_pacs_retries_when_orthanc_stops_mid_run(orthanc, listener_port, model_dir, scans, tmp_path,
                                                         monkeypatch):
    from scintiml.pacs import load_config, triage_from_pacs

    monkeypatch.setenv("TEST_SCINTIML_PACS_PASSWORD", PASSWORD)
    studies = [make_study(tmp_path / "up", scans[i], f"MID{i}", date="20260325") for i in range(2)]
    for _, files in studies:
        upload(orthanc, files)
    cfg = load_config(write_config(tmp_path / "pacs.yaml", orthanc, listener_port,
                                   query={"date_from": "2026-03-25", "date_to": "2026-03-25"}))
    waits = []

    def stop_after_first(done, total, text):  # the PACS goes down between the two studies
        if done == 1:
            orthanc.stop()

    def wait(seconds):  # while scintiml backs off, the PACS comes back
        waits.append(seconds)
        if orthanc.proc is None:
            orthanc.start()

    summary = triage_from_pacs(model_dir, cfg, tmp_path / "out", progress=stop_after_first, sleep=wait)
    assert orthanc.proc is not None and waits == [0.05]  # one failed attempt, one backoff, then success
    assert (summary["matched"], summary["triaged"], summary["failed"]) == (2, 2, 0)
    for uid, _ in studies:
        held = orthanc.series(uid)
        assert len(held["OT"]) == 1 and len(held["SR"]) == 1


def test_wrong_password_is_one_error_line(orthanc, listener_port, model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEST_SCINTIML_PACS_PASSWORD", "wrong-" + PASSWORD)
    cfg = write_config(tmp_path / "pacs.yaml", orthanc, listener_port)
    assert run_cli(["triage", str(model_dir), "--pacs", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "credentials" in err and PASSWORD not in err
    assert not (tmp_path / "out").exists()


def test_listen_command_triages_cstored_studies_into_orthanc(orthanc, listener_port, model_dir, scans, tmp_path,
                                                             monkeypatch):
    monkeypatch.setenv("TEST_SCINTIML_PACS_PASSWORD", PASSWORD)
    cfg = write_config(tmp_path / "pacs.yaml", orthanc, listener_port, protocol="dimse")
    a = make_study(tmp_path / "a", scans[0], "LSN1")
    b = make_study(tmp_path / "b", scans[1], "LSN2", per_view=True)
    codes = []
    worker = threading.Thread(target=lambda: codes.append(
        run_cli(["listen", str(model_dir), "--config", str(cfg), "--stop-after", "6"])))
    worker.start()
    deadline = time.monotonic() + 10
    while True:  # wait until the listener's port is open
        try:
            with socket.create_connection(("127.0.0.1", listener_port), timeout=0.5):
                break
        except OSError:
            assert time.monotonic() < deadline, "listener did not open its port"
            time.sleep(0.1)
    assert c_store(listener_port, a[1] + b[1]) == [0] * 7
    assert c_store(listener_port, a[1]) == [0]  # a resent study
    worker.join(timeout=60)
    assert codes == [0]
    for uid, _ in (a, b):
        held = orthanc.series(uid)
        assert len(held.get("OT", [])) == 1 and len(held.get("SR", [])) == 1, held
        assert "NM" not in held  # only the results travelled to the PACS
    rows = json.loads((tmp_path / "state" / "worklist" / "worklist.json").read_text())
    assert {r["study_instance_uid"] for r in rows} == {a[0], b[0]}
    assert all(r["status"] == "triaged" for r in rows)


def test_listener_survives_pacs_restart_corrupt_instance_and_missing_view(orthanc, listener_port, model_dir,
                                                                          scans, tmp_path):
    from scintiml.pacs import Listener, load_config

    cfg = load_config(write_config(tmp_path / "pacs.yaml", orthanc, listener_port, protocol="dimse",
                                   retry={"attempts": 3, "backoff_s": 0.0}))
    good = make_study(tmp_path / "g", scans[0], "FLT1")
    partial = make_study(tmp_path / "p", scans[1], "FLT2", drop=("LPO",))
    corrupt = make_study(tmp_path / "c", scans[0], "FLT3")
    ds = pydicom.dcmread(corrupt[1][0])
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]  # truncated in transit
    ds.save_as(corrupt[1][0])
    sent = {good[0], partial[0], corrupt[0]}

    no_uid = pydicom.dcmread(good[1][0])
    del no_uid.StudyInstanceUID
    no_uid.SOPInstanceUID = pydicom.uid.generate_uid()
    no_uid.save_as(tmp_path / "no_uid.dcm")

    listener = Listener(model_dir, cfg)
    listener.start()
    try:
        assert c_store(listener_port, good[1] + partial[1] + corrupt[1]) == [0, 0, 0]
        # an instance that names no study is refused ("cannot understand") but kept, with the reason
        assert c_store(listener_port, [tmp_path / "no_uid.dcm"]) == [0xC210]
        orthanc.stop()  # the PACS goes down before anything is triaged
        first = dict(listener.process_ready(now=time.time() + 5))
        assert first == {uid: "retry" for uid in sent}  # PACS down and bad data alike: retried, nothing lost
    finally:
        listener.stop()
        orthanc.start()
    # a restart of scintiml: a new listener on the same state folder resumes the queue
    again = Listener(model_dir, cfg)
    outcomes = {}
    for _ in range(3):
        outcomes.update(again.process_ready(now=time.time() + 60))
    assert outcomes == {good[0]: "triaged", partial[0]: "failed", corrupt[0]: "failed"}
    state = tmp_path / "state"
    assert sorted(p.stem for p in (state / "done").glob("*.json")) == [good[0]]
    failed = {p.name: json.loads((p / "reason.json").read_text()) if p.name != "unidentified" else {}
              for p in (state / "failed").iterdir()}
    assert set(failed) == {partial[0], corrupt[0], "unidentified"}
    assert "LPO missing" in failed[partial[0]]["reason"] and failed[partial[0]]["attempts"] == 3
    assert "pixel data" in failed[corrupt[0]]["reason"]
    assert list((state / "failed" / corrupt[0]).glob("*.dcm"))  # the instance is kept for a person to see
    assert not any((state / "incoming").iterdir())  # every study accounted for
    kept = sorted((state / "failed" / "unidentified").iterdir())
    assert [p.suffix for p in kept] == [".dcm", ".json"] and "Study Instance UID" in kept[1].read_text()
    held = orthanc.series(good[0])
    assert len(held["OT"]) == 1 and len(held["SR"]) == 1
    rows = json.loads((state / "worklist" / "worklist.json").read_text())
    assert {r["study_instance_uid"]: r["priority"] for r in rows if r["status"] == "failed"} == \
        {partial[0]: "FAILED", corrupt[0]: "FAILED", "": "FAILED"}  # "": the instance that named no study
    assert again.queue.counts() == {"incoming": 0, "done": 1, "failed": 2, "unidentified": 1}


def test_dimse_over_tls_both_ways(listener_port, model_dir, scans, tmp_path, monkeypatch):
    """Orthanc with DICOM TLS: C-FIND, C-MOVE (Orthanc connects back to us over TLS) and C-STORE, all encrypted."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (needed to make a test certificate)")
    tls = tmp_path / "tls"
    tls.mkdir()
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tls / "key.pem"),
                    "-out", str(tls / "cert.pem"), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    server = Orthanc(tmp_path / "orthanc-tls", listener_port, DicomTlsEnabled=True,
                     DicomTlsCertificate=str(tls / "cert.pem"), DicomTlsPrivateKey=str(tls / "key.pem"),
                     DicomTlsTrustedCertificates=str(tls / "cert.pem"), DicomTlsRemoteCertificateRequired=True,
                     DicomModalities={"scintiml": {"AET": "SCINTIML", "Host": "127.0.0.1", "Port": listener_port,
                                                   "UseDicomTls": True}})
    server.start()
    try:
        uid, files = make_study(tmp_path / "up", scans[1], "TLS1", date="20260320")
        upload(server, files)
        both = {"ca_file": "tls/cert.pem", "cert_file": "tls/cert.pem", "key_file": "tls/key.pem"}
        plain = write_config(tmp_path / "plain.yaml", server, listener_port, protocol="dimse", retrieve="move",
                             query={"date_from": "2026-03-20", "date_to": "2026-03-20"},
                             retry={"attempts": 1})
        assert run_cli(["triage", str(model_dir), "--pacs", str(plain), "--out", str(tmp_path / "plain")]) == 2
        cfg = write_config(tmp_path / "tls.yaml", server, listener_port, protocol="dimse", retrieve="move",
                           query={"date_from": "2026-03-20", "date_to": "2026-03-20"}, local={"tls": both},
                           pacs={"tls": both})
        assert run_cli(["triage", str(model_dir), "--pacs", str(cfg), "--out", str(tmp_path / "out")]) == 0
        rows = json.loads((tmp_path / "out" / "worklist.json").read_text())
        assert [(r["study_instance_uid"], r["status"]) for r in rows] == [(uid, "triaged")]
        held = server.series(uid)
        assert len(held["OT"]) == 1 and len(held["SR"]) == 1
    finally:
        server.stop()
