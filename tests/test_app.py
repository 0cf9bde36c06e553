"""The browser app at the API level (FastAPI's TestClient): uploads, inline errors, jobs, downloads, predict, guard."""

from html import unescape
import io
import json
import re
import time
import zipfile
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from scintiml.app import AppConfig, JobStore, create_app  # noqa: E402
from scintiml.app.server import app_url, is_local, serve  # noqa: E402
from scintiml.errors import ScintimlError  # noqa: E402

HF_CSV = files("scintiml.datasets").joinpath("data", "heart_failure.csv").read_bytes()


def _client(tmp_path, **kwargs):
    app = create_app(AppConfig(workdir=tmp_path, **kwargs))
    return app, TestClient(app)


def _upload(client, name, data):
    return client.post("/uploads", files={"file": (name, data, "text/csv")})


def _upload_id(html):
    return re.search(r'/uploads/([0-9a-f]{12})/run', html).group(1)


def _wait(client, job_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/jobs/{job_id}/status.json").json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {status}")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One real heart-failure study run through the app (outcome DEATH_EVENT, `time` excluded)."""
    workdir = tmp_path_factory.mktemp("app")
    app, client = _client(workdir)
    upload_id = _upload_id(_upload(client, "heart_failure.csv", HF_CSV).text)
    r = client.post(f"/uploads/{upload_id}/run", headers={"HX-Request": "true"}, data={
        "target": "DEATH_EVENT", "positive": "1", "exclude": ["time"], "split": "60:20:20", "inputs": "growing",
        "selection": "split", "seed": "0"})
    job_id = r.headers["HX-Redirect"].rsplit("/", 1)[1]
    status = _wait(client, job_id)
    yield app, client, job_id, status, workdir
    app.state.jobs.shutdown(wait=False)


def test_upload_lists_columns_with_auc_missing_share_and_suggests_time_as_a_leak(tmp_path):
    from sklearn.metrics import roc_auc_score

    app, client = _client(tmp_path)
    html = _upload(client, "heart_failure.csv", HF_CSV).text
    frame = pd.read_csv(io.BytesIO(HF_CSV))
    # the outcome (the last two-valued column) is chosen, with its 96 events
    assert re.search(r'<option value="DEATH_EVENT" selected', html)
    assert "<strong>96</strong> with DEATH_EVENT = 1" in html
    # `time` (follow-up, known only after the outcome) is ticked for exclusion; age is not
    assert re.search(r'name="exclude" value="time" checked', html)
    assert not re.search(r'name="exclude" value="age" checked', html)
    # the AUC shown beside ejection_fraction is scikit-learn's, oriented (lower EF goes with death)
    auc = roc_auc_score(frame["DEATH_EVENT"], frame["ejection_fraction"])
    row = re.search(r'data-column="ejection_fraction">(.*?)</tr>', html, re.S).group(1)
    assert f"{max(auc, 1 - auc):.2f}" in row and "no event" in row
    assert "0 %" in row  # no missing values in this cohort
    app.state.jobs.shutdown()


def test_missing_share_is_shown_per_column(tmp_path):
    frame = pd.read_csv(io.BytesIO(HF_CSV))
    frame.loc[:74, "platelets"] = np.nan  # 75 of 299 = 25 %
    app, client = _client(tmp_path)
    html = _upload(client, "hf.csv", frame.to_csv(index=False).encode()).text
    row = re.search(r'data-column="platelets">(.*?)</tr>', html, re.S).group(1)
    assert "25 %" in row
    app.state.jobs.shutdown()


@pytest.mark.parametrize("name, data, words", [
    ("ragged.csv", b"id,outcome,x\n1,0,5\n2,1,6\n3,0,7,8,9\n", "cannot read 'ragged.csv'"),
    ("quote.csv", b'a,b,c\n1,"2,3\n4,5,6\n', "cannot read 'quote.csv'"),
    ("one.csv", b"abc\n1\n2\n", "at least an outcome and one input"),
    ("three.csv", b"x,y\n" + b"".join(f"{i},{i % 3}\n".encode() for i in range(30)), "no column has exactly two"),
    ("notes.docx", b"hello", "not a table"),
    ("empty.csv", b"", "is empty"),
])
def test_a_broken_upload_is_explained_inline(tmp_path, name, data, words):
    app, client = _client(tmp_path)
    r = _upload(client, name, data)
    # refused: a client without HTMX (a script, a form without scripts) is told so by the status too; a table
    # without a two-valued column is read, and the form says what is missing (no refusal)
    assert r.status_code == (200 if name == "three.csv" else 400)
    assert 'role="alert"' in r.text and words in unescape(r.text)
    r = client.post("/uploads", files={"file": (name, data, "text/csv")}, headers={"HX-Request": "true"})
    assert r.status_code == 200  # the page's own request: a fragment HTMX swaps in (it swaps only a 200)
    assert "data.csv" not in r.text  # the message names the user's file, not the app's copy of it
    app.state.jobs.shutdown()


def test_an_upload_over_the_limit_is_refused_and_nothing_is_kept(tmp_path):
    app, client = _client(tmp_path, max_upload_mb=0.001)  # about 1 kB; the heart-failure CSV is 12 kB
    r = _upload(client, "heart_failure.csv", HF_CSV)
    assert "upload limit of 0.001 MB" in r.text
    assert not list((tmp_path / "uploads").rglob("data.*"))
    app.state.jobs.shutdown()


def test_choosing_another_outcome_reloads_the_columns_and_refuses_a_bad_one(tmp_path):
    app, client = _client(tmp_path)
    upload_id = _upload_id(_upload(client, "heart_failure.csv", HF_CSV).text)
    r = client.get(f"/uploads/{upload_id}/columns", params={"target": "sex", "positive": "1"})
    assert "with sex = 1" in r.text and 'data-column="DEATH_EVENT"' in r.text
    r = client.get(f"/uploads/{upload_id}/columns", params={"target": "age"})
    assert 'role="alert"' in r.text and "exactly two classes" in r.text
    app.state.jobs.shutdown()


@pytest.mark.parametrize("fields, words", [
    ({"split": "50:50:0"}, "must not be empty"),
    ({"split": "a:b:c"}, "cannot read split"),
    ({"split": "nan:20:20"}, "needs three finite numbers"),
    ({"split": "99.9:0.05:0.05"}, "the selection and testing parts must not be empty"),  # 0 of 299 patients
    ({"split": "2:49:49"}, "too few to train a network"),
    ({"seed": "-3"}, "seed must be at least 0"),
    ({"selection": "bootstrap"}, "selection must be one of stable, cv, split"),
    ({"max_inputs": "0"}, "most inputs to keep must be at least 1"),
    ({"group:age": "imaging"}, "mark both imaging and clinical"),
    ({"exclude": ["DEATH_EVENT"], "target": "sex"}, ""),  # allowed: another outcome, the old one excluded
])
def test_the_run_form_is_validated_before_anything_runs(tmp_path, fields, words):
    app, client = _client(tmp_path)
    upload_id = _upload_id(_upload(client, "heart_failure.csv", HF_CSV).text)
    data = {"target": "DEATH_EVENT", "exclude": ["time"], "split": "60:20:20", "inputs": "all", "seed": "0"}
    data.update(fields)
    app.state.jobs.shutdown()  # nothing may run in this test: a queued job just stays queued
    r = client.post(f"/uploads/{upload_id}/run", data=data, headers={"HX-Request": "true"})
    if words:
        assert 'role="alert"' in r.text and words in r.text
        assert app.state.jobs.list() == []
    else:
        assert r.headers["HX-Redirect"].startswith("/jobs/")
        job = app.state.jobs.list()[0]
        assert job["title"] == "heart_failure: sex = 1 (all inputs, stable selection)" and job["state"] == "queued"
        options = app.state.jobs.request(job["id"])["options"]
        assert options["selection"] == "stable" and options["inputs"] == "all"  # the study's default


def test_the_results_page_shows_the_study_auc_and_offers_the_downloads(finished):
    app, client, job_id, status, workdir = finished
    assert status["state"] == "done", status
    assert status["networks"] > 0
    results = json.loads(client.get(f"/jobs/{job_id}/download/results.json").content)
    assert "time" not in results["inputs"]["all"] and results["dataset"]["target"] == "DEATH_EVENT"
    html = client.get(f"/jobs/{job_id}").text
    assert re.search(r'id="auc">([0-9.]+)<', html).group(1) == f"{results['test']['auc']:.3f}"
    assert 'hx-trigger="every 1s"' not in html  # finished: the page stops polling
    assert client.get(f"/jobs/{job_id}/download/report.pdf").content[:5] == b"%PDF-"
    assert "<html" in client.get(f"/jobs/{job_id}/report.html").text[:500].lower()
    listing = client.get("/jobs").text
    assert f'href="/jobs/{job_id}"' in listing and f"{results['test']['auc']:.3f}" in listing
    # which patients were tested: one row per patient, the parts' sizes those of results.json
    assert 'id="download-split"' in html
    split = pd.read_csv(io.BytesIO(client.get(f"/jobs/{job_id}/download/split.csv").content))
    assert split["part"].value_counts().to_dict() == {k: results["split"][k] for k in ("training", "selection",
                                                                                        "testing")}


def test_the_bundle_zip_holds_the_model_that_predicts_like_the_study(finished, tmp_path):
    from scintiml.bundle import load_bundle

    app, client, job_id, status, workdir = finished
    r = client.get(f"/jobs/{job_id}/download/model.zip")
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        zf.extractall(tmp_path)
    bundle = load_bundle(tmp_path / "model")
    assert bundle.inputs == status["summary"]["inputs"]
    frame = pd.read_csv(io.BytesIO(HF_CSV))
    original = load_bundle(workdir / "jobs" / job_id / "output" / "model").predict(frame)
    np.testing.assert_allclose(bundle.predict(frame)["probability"], original["probability"])


def test_predict_flags_inputs_outside_the_training_range(finished):
    from scintiml.bundle import load_bundle

    app, client, job_id, status, workdir = finished
    frame = pd.read_csv(io.BytesIO(HF_CSV)).head(20).copy()
    frame.insert(0, "pid", [f"P{i}" for i in range(20)])
    name = status["summary"]["inputs"][0]
    frame.loc[[3, 7], name] = frame[name].max() * 100  # far above anything the model was trained on
    expected = load_bundle(workdir / "jobs" / job_id / "output" / "model").predict(frame, id_column="pid")
    r = client.post("/predict", data={"model_job": job_id, "id_column": "pid"},
                    files={"file": ("new.csv", frame.to_csv(index=False).encode(), "text/csv")})
    n_out = int((expected["out_of_range"] != "").sum())
    assert n_out >= 2
    assert re.search(r'id="n-out-of-range">(\d+)<', r.text).group(1) == str(n_out)
    assert len(re.findall(r'<tr class="flag">', r.text)) == n_out
    run_id = re.search(r"/predictions/([0-9a-f]{12})/predictions.csv", r.text).group(1)
    written = pd.read_csv(io.BytesIO(client.get(f"/predictions/{run_id}/predictions.csv").content))
    np.testing.assert_allclose(written["probability"], expected["probability"])
    assert list(written["pid"]) == list(frame["pid"])


def test_predict_with_an_uploaded_bundle_and_a_table_missing_its_inputs(finished):
    app, client, job_id, status, workdir = finished
    bundle = client.get(f"/jobs/{job_id}/download/model.zip").content
    r = client.post("/predict", data={"model_job": ""}, files={
        "bundle": ("model.zip", bundle, "application/zip"), "file": ("new.csv", b"a,b\n1,2\n3,4\n", "text/csv")})
    assert 'role="alert"' in r.text and "lack the model's input" in unescape(r.text)
    r = client.post("/predict", data={"model_job": ""}, files={
        "bundle": ("model.zip", b"not a zip", "application/zip"), "file": ("new.csv", HF_CSV, "text/csv")})
    assert "model.zip downloaded from a study" in r.text


def test_a_zip_cannot_write_outside_its_folder(finished):
    app, client, job_id, status, workdir = finished
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../escaped.txt", "x")
        zf.writestr("model/bundle.json", "{}")
    client.post("/predict", data={"model_job": ""}, files={
        "bundle": ("model.zip", buf.getvalue(), "application/zip"), "file": ("new.csv", HF_CSV, "text/csv")})
    assert not list(workdir.rglob("escaped.txt")) and not (workdir.parent / "escaped.txt").exists()


@pytest.mark.parametrize("path", ["/jobs/../../etc", "/jobs/0123456789ab", "/jobs/NOTANID/status",
                                  "/predictions/x/predictions.csv"])
def test_unknown_jobs_are_404(finished, path):
    app, client, *_ = finished
    assert client.get(path).status_code == 404


def test_only_the_listed_downloads_are_served(finished):
    app, client, job_id, *_ = finished
    r = client.get(f"/jobs/{job_id}/download/request.json")
    assert r.status_code == 404 and "report.pdf, results.json, split.csv, model.zip" in r.text


def test_a_token_is_required_when_one_is_set(tmp_path):
    app, client = _client(tmp_path, token="s3cret")
    assert client.get("/studies/new").status_code == 401
    assert client.get("/studies/new", params={"token": "wrong"}).status_code == 401
    first = client.get("/studies/new", params={"token": "s3cret"})
    assert first.status_code == 200 and "scintiml_token" in first.headers["set-cookie"]
    assert client.get("/jobs").status_code == 200  # the cookie now carries it
    app.state.jobs.shutdown()


def test_jobs_left_unfinished_by_a_stopped_server_run_at_the_next_start(tmp_path):
    ran = []

    def runner(folder, request, progress):
        progress("counting", 0)
        progress("counting", 5)
        ran.append(request["n"])
        return {"n": request["n"]}

    first = JobStore(tmp_path, {"count": runner})
    first.shutdown(wait=False)  # the server stops before its worker picks the job up
    job_id = first.submit("count", {"n": 7})
    assert first.status(job_id)["state"] == "queued"
    second = JobStore(tmp_path, {"count": runner})  # a restart
    assert second.resumed == [job_id]
    status = second.wait(job_id, timeout=20)
    assert status["state"] == "done" and status["summary"] == {"n": 7} and status["networks"] == 5
    assert ran == [7]
    second.shutdown()


def test_a_failing_job_says_why(tmp_path):
    def user_error(folder, request, progress):
        raise ScintimlError("only 3 event(s); collect more patients")

    def bug(folder, request, progress):
        raise KeyError("oops")

    store = JobStore(tmp_path, {"user": user_error, "bug": bug}, workers=2)
    a, b = store.submit("user", {}), store.submit("bug", {})
    assert store.wait(a)["error"] == "only 3 event(s); collect more patients"
    assert "internal error (KeyError" in store.wait(b)["error"]
    assert "KeyError" in (store.folder(b) / "error.txt").read_text()
    with pytest.raises(ScintimlError, match="unknown job kind"):
        store.submit("nope", {})
    store.shutdown()


def test_app_studies_use_the_processes_it_was_started_with(tmp_path, monkeypatch):
    import scintiml.study

    seen = []
    real = scintiml.study.write_study

    def spy(*args, **kwargs):
        seen.append(kwargs.get("n_jobs"))
        return real(*args, **kwargs)

    monkeypatch.setattr(scintiml.study, "write_study", spy)
    small = pd.read_csv(io.BytesIO(HF_CSV))[["ejection_fraction", "serum_creatinine", "DEATH_EVENT"]]
    app, client = _client(tmp_path, study_jobs=2)
    upload_id = _upload_id(_upload(client, "hf.csv", small.to_csv(index=False).encode()).text)
    r = client.post(f"/uploads/{upload_id}/run", headers={"HX-Request": "true"}, data={
        "target": "DEATH_EVENT", "positive": "1", "split": "60:20:20", "inputs": "all", "selection": "split",
        "seed": "0"})
    status = _wait(client, r.headers["HX-Redirect"].rsplit("/", 1)[1])
    assert status["state"] == "done", status
    assert seen == [2]
    app.state.jobs.shutdown()


def test_serve_refuses_bad_settings_and_knows_local_addresses():
    with pytest.raises(ScintimlError, match="port must be between"):
        serve("/nonexistent", port=70000)
    with pytest.raises(ScintimlError, match="workers must be at least 1"):
        serve("/nonexistent", workers=0)
    with pytest.raises(ScintimlError, match="--jobs must be a number of processes"):
        serve("/nonexistent", study_jobs=0)
    with pytest.raises(ScintimlError, match="upload limit must be a positive number of MB up to 1e6, got inf"):
        serve("/nonexistent", max_upload_mb=float("inf"))
    assert is_local("127.0.0.1") and is_local("::1") and is_local("127.0.0.2")
    assert not is_local("0.0.0.0") and not is_local("10.0.0.5") and not is_local("example.org")
    assert app_url("::1", 80) == "http://[::1]:80/"


def test_cli_app_refuses_a_bad_port_in_one_line(capsys):
    from conftest import run_cli

    assert run_cli(["app", "--port", "70000", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "error: --port must be between 1 and 65535, got 70000" in err and "Traceback" not in err


def test_validate_runs_in_the_background_and_shows_the_external_auc(finished):
    from scintiml.bundle import load_bundle
    from scintiml.external import validate_bundle

    app, client, job_id, status, workdir = finished
    site = pd.read_csv(io.BytesIO(HF_CSV)).iloc[::2]  # stands in for another site's patients
    data = site.to_csv(index=False).encode()
    r = client.post("/validate", data={"model_job": job_id, "target": "outcome"},
                    files={"file": ("site_b.csv", data, "text/csv")})
    assert 'role="alert"' in r.text and "no outcome column 'outcome'" in unescape(r.text)
    r = client.post("/validate", data={"model_job": job_id}, headers={"HX-Request": "true"},
                    files={"file": ("site_b.csv", data, "text/csv")})
    validation_id = r.headers["HX-Redirect"].rsplit("/", 1)[1]
    assert _wait(client, validation_id)["state"] == "done"
    expected = validate_bundle(load_bundle(workdir / "jobs" / job_id / "output" / "model"),
                               site.reset_index(drop=True), "DEATH_EVENT").to_dict()
    html = client.get(f"/jobs/{validation_id}").text
    assert re.search(r'id="auc">([0-9.]+)<', html).group(1) == f"{expected['performance']['auc']:.3f}"
    assert re.search(r'id="verdict">([^<]+)<', html).group(1) == expected["verdict"]
    written = pd.read_csv(io.BytesIO(client.get(f"/jobs/{validation_id}/download/predictions.csv").content))
    assert len(written) == len(site)
    assert client.get(f"/jobs/{validation_id}/download/model.zip").status_code == 404


def test_triage_checks_its_folders_before_queueing(tmp_path):
    app, client = _client(tmp_path / "app")
    r = client.post("/triage", data={"model_dir": str(tmp_path / "nope"), "scans_dir": str(tmp_path)})
    assert 'role="alert"' in r.text and "does not exist on this machine" in r.text
    (tmp_path / "empty_model").mkdir()
    r = client.post("/triage", data={"model_dir": str(tmp_path / "empty_model"), "scans_dir": str(tmp_path)})
    assert "holds no CNN model bundle" in r.text
    assert app.state.jobs.list() == []
    assert client.get("/jobs/0123456789ab/summaries/x.png").status_code == 404
    app.state.jobs.shutdown()


def test_triage_job_ranks_a_folder_and_shows_the_unreadable_study_first(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    pydicom = pytest.importorskip("pydicom")
    from conftest import run_cli

    from scintiml.cnn import train_cnn
    from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans

    cases = simulate_perfusion_scans(16, prevalence=0.5, random_state=5)
    model = train_cnn(np.stack([c.stack() for c in cases]), np.array([c.label for c in cases]), VIEWS, width=4,
                      epochs=1, max_steps=1, seed=0)
    model_dir = model.save(tmp_path / "model")
    scans = tmp_path / "scans"
    assert run_cli(["simulate", "--out", str(scans), "--n", "3", "--prevalence", "0.5", "--seed", "4"]) == 0
    for f in (scans / "dicom").glob("SIM4-00003_*.dcm"):  # every file of one study with undecodable pixels
        ds = pydicom.dcmread(f)
        ds.PixelData = ds.PixelData[:10]
        ds.save_as(f)
    for f in (scans / "dicom").glob("SIM4-00001_*.dcm"):  # an id a spreadsheet would run as a formula
        ds = pydicom.dcmread(f)
        ds.PatientID = "=A17"
        ds.save_as(f)
    app, client = _client(tmp_path / "app")
    r = client.post("/triage", data={"model_dir": str(model_dir), "scans_dir": str(scans)},
                    headers={"HX-Request": "true"})
    job_id = r.headers["HX-Redirect"].rsplit("/", 1)[1]
    status = _wait(client, job_id)
    assert status["state"] == "done", status
    assert status["summary"]["n_studies"] == 3 and status["summary"]["n_not_triaged"] == 1
    html = unescape(client.get(f"/jobs/{job_id}").text)
    assert re.search(r'id="n-not-triaged">1<', html)
    rows = re.findall(r"<tr[^>]*><td class=\"num\">(\d+)</td><td>([^<]+)</td>", html)
    assert rows[0] == ("1", "SIM4-00003") and len(rows) == 3
    assert "cannot be read:" in html and html.count("<img src=") == 2
    # the page shows the id as read; the CSV a colleague opens in a spreadsheet holds it as text
    assert "=A17" in {pid for _, pid in rows}
    csv_text = next((tmp_path / "app").rglob("worklist.csv")).read_text()
    assert "'=A17" in csv_text
    app.state.jobs.shutdown()


def test_other_hosts_and_other_sites_are_refused(tmp_path):
    app, client = _client(tmp_path, allowed_hosts=("127.0.0.1", "localhost"))
    assert client.get("/studies/new", headers={"host": "127.0.0.1:8765"}).status_code == 200
    # DNS rebinding: a page at evil.example whose name now points at 127.0.0.1
    assert client.get("/studies/new", headers={"host": "evil.example:8765"}).status_code == 400
    # a form on another site posting into the app
    r = client.post("/uploads", headers={"host": "127.0.0.1:8765", "origin": "http://evil.example"},
                    files={"file": ("hf.csv", HF_CSV, "text/csv")})
    assert r.status_code == 403 and not list((tmp_path / "uploads").rglob("data.*"))
    # a sandboxed frame or a data: page posts with the opaque origin "null"
    r = client.post("/uploads", headers={"host": "127.0.0.1:8765", "origin": "null"},
                    files={"file": ("hf.csv", HF_CSV, "text/csv")})
    assert r.status_code == 403 and not list((tmp_path / "uploads").rglob("data.*"))
    r = client.post("/uploads", headers={"host": "127.0.0.1:8765", "origin": "http://127.0.0.1:8765"},
                    files={"file": ("hf.csv", HF_CSV, "text/csv")})
    assert r.status_code == 200 and "column-table" in r.text
    app.state.jobs.shutdown()


def test_a_chunked_upload_without_a_length_is_cut_off_at_the_limit(tmp_path):
    app, client = _client(tmp_path, max_upload_mb=0.5)
    boundary = "b0undary"

    def body():  # a multipart upload of 40 MB of CSV rows, streamed with no Content-Length
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
               "Content-Type: text/csv\r\n\r\na,b\r\n").encode()
        for _ in range(40):
            yield b"1,2\r\n" * (1 << 18)
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post("/uploads", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and "limit of 0.5 MB" in r.text
    assert not list((tmp_path / "uploads").iterdir())
    app.state.jobs.shutdown()


def test_the_body_limit_stops_passing_the_body_on_at_the_limit():
    import asyncio

    from scintiml.app.web import BodySizeLimit

    seen, answers = [], []

    async def inner(scope, receive, send):  # reads like a form parser: until the body ends or the client leaves
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            seen.append(len(message["body"]))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    chunks = [{"type": "http.request", "body": b"x" * 1000, "more_body": True} for _ in range(50)]
    delivered = []

    async def receive():
        delivered.append(1)
        return chunks.pop(0)

    async def send(message):
        answers.append(message)

    asyncio.run(BodySizeLimit(inner, limit=10_500, limit_mb=0.01)({"type": "http", "method": "POST"}, receive, send))
    assert sum(seen) == 10_000 and len(delivered) == 11  # 10 chunks passed on; the 11th crossed the limit
    assert answers[0]["status"] == 413 and b"limit of 0.01 MB" in answers[1]["body"]
    assert len(answers) == 2  # the inner app's own 200 was dropped


def test_a_zip_bomb_bundle_is_refused_and_nothing_is_kept(tmp_path):
    app, client = _client(tmp_path, max_upload_mb=1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model/weights.npz", b"\0" * (30 << 20))  # 30 MB of zeros: a 30 kB zip
        zf.writestr("model/bundle.json", "{}")
    assert len(buf.getvalue()) < 1 << 20
    r = client.post("/predict", data={"model_job": ""}, files={
        "bundle": ("model.zip", buf.getvalue(), "application/zip"), "file": ("new.csv", HF_CSV, "text/csv")})
    assert 'role="alert"' in r.text and "would unpack to 30 MB, more than 10 MB" in r.text
    assert not list((tmp_path / "predictions").iterdir())  # the refused request kept nothing
    r = _upload(client, "broken.csv", b"a,b\n1,2,3,4\n5\n")
    assert 'role="alert"' in r.text and not list((tmp_path / "uploads").iterdir())
    app.state.jobs.shutdown()


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
def test_xlsx_and_parquet_uploads_read_like_the_csv(tmp_path, suffix):
    frame = pd.read_csv(io.BytesIO(HF_CSV))
    path = tmp_path / f"hf{suffix}"
    if suffix == ".xlsx":
        pytest.importorskip("openpyxl")
        frame.to_excel(path, index=False)
    else:
        pytest.importorskip("pyarrow")
        frame.to_parquet(path, index=False)
    app, client = _client(tmp_path / "app")
    html = client.post("/uploads", files={"file": (path.name, path.read_bytes(), "application/octet-stream")}).text
    assert "<strong>96</strong> with DEATH_EVENT = 1" in html and "299 rows, 13 columns" in html
    app.state.jobs.shutdown()


def test_an_upload_announced_over_the_limit_is_refused_before_it_is_read(tmp_path):
    app, client = _client(tmp_path, max_upload_mb=0.001)
    big = b"x,y\n" + b"1,0\n" * 600_000  # 2.4 MB, over the limit plus the 1 MB allowance for the form
    r = client.post("/uploads", files={"file": ("big.csv", big, "text/csv")}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "limit of 0.001 MB" in r.text
    assert client.post("/uploads", files={"file": ("big.csv", big, "text/csv")}).status_code == 413
    assert not list((tmp_path / "uploads").rglob("*"))
    app.state.jobs.shutdown()


def _unlabelled_controls(page: str) -> list[str]:
    """Inputs, selects and buttons a screen reader could not name (no <label for>, no aria-label, no text)."""
    from html.parser import HTMLParser

    class Controls(HTMLParser):
        def __init__(self):
            super().__init__()
            self.labels, self.controls, self.button = set(), [], None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "label" and a.get("for"):
                self.labels.add(a["for"])
            elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
                self.controls.append((a.get("id") or "", a.get("aria-label") or "", a.get("name")))
            elif tag == "button":
                self.button = ""

        def handle_data(self, data):
            if self.button is not None:
                self.button += data

        def handle_endtag(self, tag):
            if tag == "button":
                if not self.button.strip():
                    self.controls.append(("", "", "button"))
                self.button = None

    parser = Controls()
    parser.feed(page)
    return [name for cid, aria, name in parser.controls if not aria and cid not in parser.labels]


def test_every_control_has_a_label(tmp_path):
    app, client = _client(tmp_path)
    pages = [client.get(p).text for p in ("/studies/new", "/predict", "/validate", "/triage")]
    pages.append(_upload(client, "heart_failure.csv", HF_CSV).text)  # the study form with its column pickers
    for page in pages:
        assert _unlabelled_controls(page) == []
    assert _unlabelled_controls('<input id="x" name="x"><label for="y">Y</label>') == ["x"]  # the check can fail
    app.state.jobs.shutdown()


def test_serve_says_when_its_port_is_taken_or_its_folder_cannot_be_made(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ScintimlError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve(tmp_path / "app", port=port, open_browser=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ScintimlError, match="cannot make the app folder"):
        serve(tmp_path / "file" / "app", open_browser=False)


def test_the_nested_cv_headline_is_shown_when_the_study_has_one(finished):
    import shutil

    app, client, job_id, status, workdir = finished
    copy = workdir / "jobs" / "abcdefabcdef"
    shutil.copytree(workdir / "jobs" / job_id, copy)
    results = json.loads((copy / "output" / "results.json").read_text())
    assert "nested" not in results or results["nested"] is None  # the split-judged study has none
    assert 'id="nested-auc"' not in client.get(f"/jobs/{job_id}").text
    results["nested"] = {"auc": 0.7654, "auc_ci95": [0.701, 0.83], "what": "nested 5-fold cross-validation"}
    (copy / "output" / "results.json").write_text(json.dumps(results))
    page = client.get("/jobs/abcdefabcdef").text
    assert re.search(r'id="nested-auc">([0-9.]+)<', page).group(1) == "0.765"
    assert "0.701–0.830" in page


def test_a_value_meaning_not_measured_is_flagged_on_the_columns_and_read_as_missing_by_the_run(tmp_path):
    small = pd.read_csv(io.BytesIO(HF_CSV))[["age", "ejection_fraction", "serum_creatinine", "DEATH_EVENT"]]
    small.loc[::25, "age"] = 0  # 12 patients whose age was "not recorded", written 0
    app, client = _client(tmp_path)
    upload_id = _upload_id(_upload(client, "hf.csv", small.to_csv(index=False).encode()).text)
    page = unescape(client.get(f"/uploads/{upload_id}/columns", params={"target": "DEATH_EVENT"}).text)
    assert "Check: input 'age': 12 patient(s) have 0, and no other value is below 40" in page
    r = client.post(f"/uploads/{upload_id}/run", data={
        "target": "DEATH_EVENT", "positive": "1", "split": "60:20:20", "inputs": "all", "selection": "split",
        "seed": "0", "missing": "age=0; serum_creatinine=abc"}, headers={"HX-Request": "true"})
    status = _wait(client, r.headers["HX-Redirect"].rsplit("/", 1)[1])
    assert status["state"] == "done", status
    job = next(p for p in tmp_path.rglob("results.json"))
    dataset = json.loads(job.read_text())["dataset"]
    assert dataset["missing_codes"] == {"age": [0.0], "serum_creatinine": ["abc"]}
    assert dataset["missing"]["age"] == 12
    assert "missing-value code abc matched no cell of 'serum_creatinine'" in json.loads(job.read_text())["warnings"]
    r = client.post(f"/uploads/{upload_id}/run", data={
        "target": "DEATH_EVENT", "positive": "1", "split": "60:20:20", "inputs": "all", "missing": "ag=0"},
        headers={"HX-Request": "true"})
    assert "did you mean 'age'" in unescape(r.text)
    app.state.jobs.shutdown()


def test_a_date_column_is_set_aside_on_the_columns_page_not_a_dead_end(tmp_path):
    small = pd.read_csv(io.BytesIO(HF_CSV))[["age", "ejection_fraction", "DEATH_EVENT"]]
    small.insert(0, "scan_date", [f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(len(small))])
    app, client = _client(tmp_path)
    upload_id = _upload_id(_upload(client, "hf.csv", small.to_csv(index=False).encode()).text)
    page = unescape(client.get(f"/uploads/{upload_id}/columns", params={"target": "DEATH_EVENT"}).text)
    assert "Left out (free text or dates, not numbers): scan_date" in page
    assert 'data-column="ejection_fraction"' in page


def test_validate_accepts_a_model_with_a_categorical_input(tmp_path):
    small = pd.read_csv(io.BytesIO(HF_CSV))[["age", "ejection_fraction", "DEATH_EVENT"]]
    small["ef_band"] = pd.cut(small.pop("ejection_fraction"), [0, 30, 45, 100], labels=["low", "mid", "high"]
                              ).astype(str)
    data = small.to_csv(index=False).encode()
    app, client = _client(tmp_path)
    upload_id = _upload_id(_upload(client, "hf.csv", data).text)
    r = client.post(f"/uploads/{upload_id}/run", headers={"HX-Request": "true"}, data={
        "target": "DEATH_EVENT", "positive": "1", "split": "60:20:20", "inputs": "all", "selection": "split",
        "seed": "0"})
    job_id = r.headers["HX-Redirect"].rsplit("/", 1)[1]
    assert _wait(client, job_id)["state"] == "done"
    # the model's inputs are one-hot ("ef_band=low"); the site's table has the column "ef_band" (it was refused)
    r = client.post("/validate", data={"model_job": job_id}, headers={"HX-Request": "true"},
                    files={"file": ("site.csv", data, "text/csv")})
    assert "HX-Redirect" in r.headers, unescape(r.text)
    assert _wait(client, r.headers["HX-Redirect"].rsplit("/", 1)[1])["state"] == "done"
    app.state.jobs.shutdown()


# --- sweep 9 of the app: 500s and copies of patient data left behind ------------------------------------------


def _damaged(zip_bytes: bytes, how: str) -> bytes:
    raw = bytearray(zip_bytes)
    if how == "crc":  # the first member's stored checksum no longer matches its bytes
        central = raw.find(b"PK\x01\x02")
        local = raw.find(b"PK\x03\x04")
        raw[central + 16] ^= 0xFF
        raw[local + 14] ^= 0xFF
        return bytes(raw)
    buf = io.BytesIO()  # a file named like the folder the bundle's members are in
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as good, zipfile.ZipFile(buf, "w") as bad:
        bad.writestr("model", "x")
        for member in good.infolist():
            bad.writestr(member, good.read(member))
    return buf.getvalue()


@pytest.mark.parametrize("how", ["crc", "clash"])
def test_a_damaged_bundle_zip_is_explained_and_nothing_is_kept(finished, how):
    app, client, job_id, status, workdir = finished
    bundle = _damaged(client.get(f"/jobs/{job_id}/download/model.zip").content, how)
    before = {p for p in workdir.rglob("*")}
    for path in ("/predict", "/validate"):
        r = client.post(path, data={"model_job": ""}, files={
            "bundle": ("model.zip", bundle, "application/zip"), "file": ("new.csv", HF_CSV, "text/csv")})
        assert r.status_code == 400 and 'role="alert"' in r.text
        assert "the bundle zip is damaged or not one scintiml wrote" in unescape(r.text)
    assert {p for p in workdir.rglob("*")} == before


def test_overlong_ids_and_unreachable_folders_are_not_found_not_a_500(finished, tmp_path):
    app, client, *_ = finished
    assert client.get("/uploads/" + "a" * 256 + "/columns").status_code == 404
    assert client.get("/predictions/" + "a" * 300 + "/predictions.csv").status_code == 404
    for model_dir in ("/" + "a" * 5000, "~nosuchuser_scintiml/x"):
        r = client.post("/triage", data={"model_dir": model_dir, "scans_dir": str(tmp_path)})
        assert r.status_code == 400 and "does not exist on this machine" in r.text


def test_validate_refuses_on_the_form_what_the_command_refuses_and_keeps_no_staging_copy(finished):
    app, client, job_id, status, workdir = finished
    site = pd.read_csv(io.BytesIO(HF_CSV)).iloc[::2].copy()
    cases = {
        "a model input as outcome": (site, {"target": status["summary"]["inputs"][0]}, "is one of the model's input"),
        "outcome coded 1/2": (site.assign(DEATH_EVENT=site["DEATH_EVENT"] + 1), {},
                              "but the model was trained on [0, 1]"),
        "id is the outcome": (site, {"id_column": "DEATH_EVENT"}, "the id column and the outcome are the same"),
        "one outcome only": (site.assign(DEATH_EVENT=0), {}, "no patient of this site has the event"),
    }
    staged = sorted((workdir / "uploads").iterdir())
    for label, (frame, fields, words) in cases.items():
        r = client.post("/validate", data={"model_job": job_id, **fields},
                        files={"file": ("site_b.csv", frame.to_csv(index=False).encode(), "text/csv")})
        assert 'role="alert"' in r.text and words in unescape(r.text), label
    r = client.post("/validate", data={"model_job": job_id}, headers={"HX-Request": "true"},
                    files={"file": ("site_b.csv", site.to_csv(index=False).encode(), "text/csv")})
    assert _wait(client, r.headers["HX-Redirect"].rsplit("/", 1)[1])["state"] == "done"
    assert sorted((workdir / "uploads").iterdir()) == staged  # refused or run, no copy of the site's table stays


def test_a_form_the_app_cannot_read_gets_its_page_without_echoing_the_upload(tmp_path):
    """FastAPI's own 422 answer is JSON repeating the input: a table of patients posted as a text field came back
    whole in the error body."""
    app, client = _client(tmp_path)
    secret = "pid,outcome\nQUIXOTE-99887766,1\n"
    r = client.post("/uploads", data={"file": secret})  # a text field where the page sends a file
    assert r.status_code == 422 and "text/html" in r.headers["content-type"]
    assert "QUIXOTE" not in r.text and "the form could not be read" in r.text
    r = client.get("/no/such/page")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    app.state.jobs.shutdown()


def test_uploads_never_run_are_forgotten_after_a_day_when_the_app_starts(tmp_path):
    import os
    import time

    old, fresh = tmp_path / "uploads" / "0123456789ab", tmp_path / "uploads" / "ba9876543210"
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "data.csv").write_text("pid,outcome\nP1,1\n")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    app, client = _client(tmp_path)
    assert not old.exists() and (fresh / "data.csv").exists()
    app.state.jobs.shutdown()


def test_the_app_without_python_multipart_names_the_extra_in_one_line(tmp_path, monkeypatch, capsys):
    # FastAPI printed its own lines and raised a RuntimeError: a traceback, exit 1
    import sys

    from conftest import run_cli

    monkeypatch.setitem(sys.modules, "python_multipart", None)
    monkeypatch.setitem(sys.modules, "multipart", None)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = run_cli(["app", "--folder", str(tmp_path / "app"), "--port", str(port), "--no-browser"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "pip install 'scintiml[app]'" in err, err
    assert "Traceback" not in err
