"""The PACS configuration, retries, the on-disk queue and the worklist — no server needed."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_cli
from scintiml.pacs import PacsConfigError, PacsUnavailableError, StudyQueue, load_config, parse_config
from scintiml.pacs.config import RetryPolicy
from scintiml.pacs.queue import safe_name
from scintiml.pacs.service import call_with_retry, connect
from scintiml.pacs.worklist import write_worklist

WEB = {"protocol": "dicomweb", "url": "http://pacs.example:8042/dicom-web"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_secrets_come_from_the_environment_and_never_show_in_repr():
    raw = {"pacs": {**WEB, "auth": {"username": "svc", "password_env": "PACS_PW"}}}
    cfg = parse_config(raw, environ={"PACS_PW": "hunter2-xyz"})
    assert cfg.source.auth.username == "svc" and cfg.source.auth.password == "hunter2-xyz"
    assert "hunter2-xyz" not in repr(cfg)
    with pytest.raises(PacsConfigError, match="environment variable PACS_PW .* is not set"):
        parse_config(raw, environ={})
    token = parse_config({"pacs": {**WEB, "auth": {"token_env": "T"}}}, environ={"T": "abc.def"})
    assert token.source.auth.token == "abc.def" and "abc.def" not in repr(token)


@pytest.mark.parametrize("raw, message", [
    ({"pacs": {"protocol": "ftp"}}, "must be 'dicomweb' or 'dimse'"),
    ({"pacs": {"protocol": "dicomweb", "url": "pacs:8042"}}, "DICOMweb base URL"),
    ({"pacs": {"protocol": "dicomweb", "url": "http://u:p@pacs/dicom-web"}}, "must not hold credentials"),
    ({"pacs": {**WEB, "password": "x"}}, "put credentials under pacs.auth"),
    ({"pacs": {**WEB, "auth": {"username": "u"}}}, "needs both a username and a password"),
    ({"pacs": {**WEB, "auth": {"username": "u", "password": "p", "token": "t"}}}, "either a token"),
    ({"pacs": {"protocol": "dimse", "host": "pacs"}}, "needs port, ae_title"),
    ({"pacs": {"protocol": "dimse", "host": "pacs", "port": 104, "ae_title": "A" * 17}}, "not a DICOM AE title"),
    ({"pacs": {"protocol": "dimse", "host": "pacs", "port": 104, "ae_title": "P", "retrieve": "push"}},
     "'get' .* or 'move'"),
    ({"pacs": WEB, "local": {"port": 70000}}, "local.port must lie in 1..65535"),
    ({"pacs": WEB, "query": {"date_from": "2026-03-02", "date_to": "2026-03-01"}}, "is after"),
    ({"pacs": WEB, "query": {"date_from": "March"}}, "must be a date"),
    ({"pacs": WEB, "retry": {"attempts": 0}}, "retry.attempts must lie in 1"),
    ({"pacs": WEB, "listner": {}}, "unknown section"),
    ({"pacs": {**WEB, "timeout_s": float("inf")}}, "pacs.timeout_s must be at most 86400 seconds"),
    ({"pacs": WEB, "retry": {"backoff_s": float("inf")}}, "retry.backoff_s must be at most 86400"),
    ({"pacs": WEB, "listener": {"poll_s": float("nan")}}, "listener.poll_s must be >= 0.01"),
    ({"pacs": {"protocol": "dicomweb", "url": "http://"}}, "names no host"),
    ({"pacs": {"protocol": "dicomweb", "url": "http://[::1/dicom-web"}}, "is not a valid URL"),
    # session 10: a token in the URL was printed on every log line; "²" passed str.isdigit() and crashed int();
    # a date 999999 days back is before year 1 (OverflowError)
    ({"pacs": {"protocol": "dicomweb", "url": "http://pacs/dicom-web?token=SECRET"}}, "without a query"),
    ({"pacs": {"protocol": "dimse", "host": "pacs", "port": "²", "ae_title": "P"}}, "must be a whole number"),
    ({"pacs": WEB, "query": {"days_back": 999999}}, "query.days_back must lie in 0..36500"),
])
def test_bad_configuration_says_what_to_fix(raw, message):
    with pytest.raises(PacsConfigError, match=message):
        parse_config(raw, environ={})


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    path = tmp_path / "etc" / "pacs.yaml"
    path.parent.mkdir()
    path.write_text("pacs: {protocol: dicomweb, url: 'http://pacs/dicom-web'}\nlistener: {state_dir: state}\n"
                    "query: {date_from: 2026-01-05, description: '*PERF*'}\n")
    cfg = load_config(path)
    assert cfg.state_dir == tmp_path / "etc" / "state"
    assert cfg.query.date_range() == "20260105-" and cfg.destination == cfg.source


def test_retries_back_off_then_give_up_on_an_unreachable_pacs():
    pytest.importorskip("dicomweb_client")
    pytest.importorskip("pynetdicom")
    cfg = parse_config({"pacs": {"protocol": "dicomweb", "url": f"http://127.0.0.1:{_closed_port()}/dicom-web",
                                 "timeout_s": 2}})
    waits = []
    with pytest.raises(PacsUnavailableError, match="cannot connect .*gave up after 3 attempt"):
        call_with_retry(lambda: connect(cfg.source, cfg).find_studies(cfg.query),
                        RetryPolicy(attempts=3, backoff_s=0.5, max_backoff_s=0.75), "search", sleep=waits.append)
    assert waits == [0.5, 0.75]
    dimse = parse_config({"pacs": {"protocol": "dimse", "host": "127.0.0.1", "port": _closed_port(),
                                   "ae_title": "PACS", "timeout_s": 2}})
    with pytest.raises(PacsUnavailableError, match="did not answer"):
        connect(dimse.source, dimse).find_studies(dimse.query)


def test_queue_accounts_for_every_study_across_a_restart(tmp_path):
    policy = RetryPolicy(attempts=2, backoff_s=10)
    q = StudyQueue(tmp_path)
    q.add_instance("1.2.3", "1.2.3.1", b"a")
    q.add_instance("1.2.4", "1.2.4.1", b"b")
    now = time.time() + 100
    assert q.ready(now=now, quiet_time_s=30) == ["1.2.3", "1.2.4"]
    assert q.ready(now=time.time(), quiet_time_s=30) == []  # not quiet yet
    assert q.fail("1.2.4", "PACS down", policy, now=now) == "retry"
    assert q.ready(now=now + 1, quiet_time_s=30) == ["1.2.3"]  # 1.2.4 waits for its backoff (10 s)
    snapshot = q.files("1.2.3")
    q.add_instance("1.2.3", "1.2.3.2", b"c")  # arrives while 1.2.3 is being triaged
    assert q.complete("1.2.3", {"study_instance_uid": "1.2.3"}, snapshot) is False
    again = StudyQueue(tmp_path)  # a restart sees the same queue and state
    assert again.pending() == ["1.2.3", "1.2.4"] and again.attempts("1.2.4") == 1
    assert again.complete("1.2.3", {"study_instance_uid": "1.2.3", "priority": "routine"},
                          again.files("1.2.3")) is True
    assert again.fail("1.2.4", "PACS down", policy, now=now + 20) == "failed"
    assert again.counts() == {"incoming": 0, "done": 1, "failed": 1, "unidentified": 0}
    reason = json.loads((tmp_path / "failed" / "1.2.4" / "reason.json").read_text())
    assert reason["attempts"] == 2 and reason["reason"] == "PACS down" and len(reason["errors"]) == 2
    assert (tmp_path / "failed" / "1.2.4" / "1.2.4.1.dcm").read_bytes() == b"b"


def test_hostile_uids_cannot_name_paths_outside_the_state_folder(tmp_path):
    q = StudyQueue(tmp_path / "state")
    path = q.add_instance("../../outside", "../x", b"z")
    assert path.resolve().is_relative_to((tmp_path / "state" / "incoming").resolve())
    assert safe_name("../../outside").startswith("uid-") and safe_name("1.2.840.10008") == "1.2.840.10008"


def test_worklist_is_sorted_by_urgency_in_all_three_files(tmp_path):
    rows = [{"study_instance_uid": "1", "priority": "routine", "probability": 0.1, "status": "triaged"},
            {"study_instance_uid": "2", "priority": "URGENT", "probability": 0.7, "status": "triaged"},
            {"study_instance_uid": "3", "priority": "FAILED", "probability": None, "status": "failed",
             "reason": "view(s) LPO missing"},
            {"study_instance_uid": "4", "priority": "URGENT", "probability": 0.95, "status": "triaged"}]
    paths = write_worklist(rows, tmp_path)
    table = pd.read_csv(paths["csv"], dtype={"study_instance_uid": str})
    assert table["study_instance_uid"].tolist() == ["4", "2", "3", "1"]
    assert [r["study_instance_uid"] for r in json.loads(paths["json"].read_text())] == ["4", "2", "3", "1"]
    html = paths["html"].read_text()
    assert html.index("0.950") < html.index("0.700") < html.index("LPO missing") < html.index("0.100")


def test_cli_refuses_bad_input_in_one_line(tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    assert run_cli(["triage", str(model), "--pacs", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "none.yaml' not found; write one from docs/pacs-example.yaml" in capsys.readouterr().err
    (tmp_path / "p.yaml").write_text("pacs: {protocol: dicomweb, url: 'http://pacs/dicom-web'}\n")
    assert run_cli(["listen", str(model), "--config", str(tmp_path / "p.yaml"), "--stop-after", "-1"]) == 2
    assert "--stop-after must be a positive" in capsys.readouterr().err
    (tmp_path / "in_model.yaml").write_text("pacs: {protocol: dicomweb, url: 'http://pacs/dicom-web'}\n"
                                            f"listener: {{state_dir: {model / 'state'}}}\n")
    assert run_cli(["listen", str(model), "--config", str(tmp_path / "in_model.yaml"), "--stop-after", "1"]) == 2
    assert "lies inside) the model bundle" in capsys.readouterr().err and not (model / "state").exists()
    assert run_cli(["triage", str(tmp_path / "nomodel"), "--pacs", str(tmp_path / "p.yaml"), "--out",
                    str(tmp_path / "o")]) == 2
    assert "model bundle" in capsys.readouterr().err


def test_a_date_yaml_cannot_read_and_an_unusable_ca_file_are_named(tmp_path):
    from scintiml.pacs.config import Tls, load_config

    (tmp_path / "d.yaml").write_text("pacs: {protocol: dicomweb, url: 'http://pacs/dicom-web'}\n"
                                     "query: {date_from: 2026-02-30}\n")
    with pytest.raises(PacsConfigError, match="day is out of range for month.*YYYY-MM-DD"):
        load_config(tmp_path / "d.yaml")
    (tmp_path / "not_a_ca.pem").write_text("hello\n")
    with pytest.raises(PacsConfigError, match="tls.ca_file .*not_a_ca.pem' holds no usable CA certificate"):
        Tls(ca_file=tmp_path / "not_a_ca.pem").context()


def test_the_documented_example_configuration_is_valid(monkeypatch):
    example = Path(__file__).resolve().parents[1] / "docs" / "pacs-example.yaml"
    monkeypatch.delenv("SCINTIML_PACS_PASSWORD", raising=False)
    with pytest.raises(PacsConfigError, match="SCINTIML_PACS_PASSWORD"):
        load_config(example)
    monkeypatch.setenv("SCINTIML_PACS_PASSWORD", "pw")
    cfg = load_config(example)
    assert cfg.source.protocol == "dicomweb" and cfg.source.auth.username == "scintiml"
    assert (cfg.local_ae_title, cfg.local_port, cfg.quiet_time_s) == ("SCINTIML", 11112, 30.0)
    assert cfg.query.date_range() == "20260301-20260331" and cfg.query.description == "*PERF*"
    assert [cfg.retry.delay(k) for k in (1, 2, 3)] == [2.0, 4.0, 8.0]


def test_a_yaml_error_never_quotes_the_line_that_holds_the_password(tmp_path):
    (tmp_path / "pacs.yaml").write_text("pacs:\n  protocol: dicomweb\n  url: http://pacs/dicom-web\n  auth:\n"
                                        "    username: u\n    password: hunter2: oops\n")
    with pytest.raises(PacsConfigError, match="line 6") as caught:
        load_config(tmp_path / "pacs.yaml")
    assert "hunter2" not in str(caught.value)


def test_a_view_arriving_after_its_study_failed_joins_the_views_kept(tmp_path):
    # the late view alone failed again, and the five views kept in failed/ were deleted
    q = StudyQueue(tmp_path)
    for i in range(5):
        q.add_instance("1.2.5", f"1.2.5.{i}", b"view")
    assert q.fail("1.2.5", "view(s) LPO missing", RetryPolicy(attempts=1, backoff_s=1), final=True) == "failed"
    assert q.counts()["failed"] == 1 and not q.is_done("1.2.5")
    q.add_instance("1.2.5", "1.2.5.5", b"LPO")
    assert len(q.files("1.2.5")) == 6 and q.counts()["failed"] == 0
    q.complete("1.2.5", {"study_instance_uid": "1.2.5"}, q.files("1.2.5"))
    assert q.is_done("1.2.5")


def test_overwrite_of_a_folder_scintiml_did_not_write_is_refused_before_anything_is_stored(tmp_path, monkeypatch):
    # atomic_dir refuses such a folder at the end; by then every study's results had been stored on the PACS
    import types

    import scintiml.pacs.service as service
    from scintiml.errors import OutputDirectoryError

    out = tmp_path / "out"
    out.mkdir()
    (out / "my_notes.txt").write_text("mine")
    calls = []

    class Pacs:
        def describe(self):
            return "fake"

        def find_studies(self, query):
            calls.append("find")
            return [{"StudyInstanceUID": "1.2.3", "PatientID": "P1", "StudyDescription": "NM LUNG PERF"}]

        def retrieve_study(self, uid, folder):
            return []

        def store(self, objects):
            calls.append("store")

    monkeypatch.setattr(service, "load_model", lambda d: (None, "v"))
    monkeypatch.setattr(service, "connect", lambda endpoint, config: Pacs())
    monkeypatch.setattr(service, "triage_study", lambda m, v, f: types.SimpleNamespace())
    cfg = parse_config({"pacs": WEB})
    with pytest.raises(OutputDirectoryError, match="holds files scintiml did not write .*'my_notes.txt'"):
        service.triage_from_pacs("model", cfg, out, overwrite=True, sleep=lambda s: None)
    assert calls == [] and sorted(p.name for p in out.iterdir()) == ["my_notes.txt"]
