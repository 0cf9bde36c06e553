"""The FastAPI application: pages, HTMX fragments and downloads.

Every page is a Jinja2 template; the interactive parts are HTMX requests that return a fragment, so the pages
work with the keyboard and without any script but the vendored ``htmx.min.js``. Nothing is fetched from
elsewhere: the app is meant to run on the user's machine with patient data that never leave it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib.util
import json
import re
import secrets
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..cohort import load_cohort, read_table
from ..missing_codes import parse_missing_codes
from ..errors import ScintimlError
from ..io import atomic_dir, atomic_file, spreadsheet_safe
from ..stages.results import not_a_finding
from ..stages.split import split_stage
from .jobs import JobNotFoundError, JobStore, is_app_id, new_id
from .pipeline import check_study_options, run_study_job, run_triage_job, run_validation_job
from .tables import column_report, outcome_candidates

HERE = Path(__file__).parent
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet", ".pq")
SELECTION_CHOICES = (("stable", "Inputs chosen in most of 20 resampled selections, network by cross-validation "
                                "(recommended; slower)"),
                     ("cv", "One cross-validated selection over the training and selection patients"),
                     ("split", "The one selection part (the published workflow; faster)"))
INPUT_METHODS = (("growing", "Growing inputs (add the best input one at a time)"),
                 ("pruning", "Pruning inputs (start from all, remove the least useful)"),
                 ("genetic", "Genetic algorithm"),
                 ("all", "No selection: keep every input"))
GROUP_CHOICES = ("", "imaging", "clinical")
TOKEN_COOKIE = "scintiml_token"


@dataclass
class AppConfig:
    """Where the app keeps its jobs and how it guards them.

    Parameters
    ----------
    workdir : path
        Folder for uploads, jobs and predictions (one folder per job).
    token : str, optional
        When set, every request must carry it (``?token=`` once, then a cookie); :func:`serve` sets one
        whenever the app is bound to anything but the local machine.
    max_upload_mb : float
        Largest upload accepted.
    workers : int
        Studies run at the same time; more wait in the queue.
    study_jobs : int
        Processes each study uses for its resampled selections and nested cross-validation (``-1``: every
        core), as ``scintiml study --jobs``; the results do not change, only the time.
    allowed_hosts : tuple of str, optional
        Host names the requests must be addressed to (``Host`` header); :func:`serve` sets the loopback names
        when bound to this machine, so a web page elsewhere cannot reach the app through DNS rebinding.

    Examples
    --------
    >>> AppConfig(workdir="/tmp/scintiml-app").max_upload_mb
    50.0
    """

    workdir: str | Path
    token: str | None = None
    max_upload_mb: float = 50.0
    workers: int = 1
    allowed_hosts: tuple[str, ...] | None = None
    study_jobs: int = 1


class UploadTooLargeError(ScintimlError):
    """The uploaded file is over the app's size limit."""


def too_large(limit_mb: float) -> str:
    """The end of every "too large" sentence: the limit, and the two ways around it."""
    return (f"this app's upload limit of {limit_mb:g} MB; start the app with a larger --max-upload-mb or upload "
            "fewer columns")


#: What a multipart form adds around the file (field names, boundaries) on top of the upload limit.
FORM_MARGIN = 1 << 20


class BodySizeLimit:
    """ASGI middleware: a request body past ``limit`` bytes is cut off while it arrives, and answered 413.

    The guard's Content-Length check refuses a declared oversize body before it is read; a chunked body
    declares no length, and Starlette's form parser would spool all of it to disk before the app could count
    it. Here the body is counted as it is received: past the limit the app sees the client go away (its own
    answer is dropped) and the client gets the limit in one sentence.
    """

    def __init__(self, app, limit: int, limit_mb: float) -> None:
        self.app, self.limit, self.limit_mb = app, limit, limit_mb

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        state = {"received": 0, "over": False, "started": False}

        async def counted_receive():
            if state["over"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.limit:
                    state["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if state["over"]:
                return  # the app's answer to a body it never saw whole: ours goes out instead
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:  # noqa: BLE001 - whatever the app raised on the cut body, the answer is the limit
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            text = f"the upload is larger than {too_large(self.limit_mb)}".encode()
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(text)).encode()), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": text})


def _study_runner(folder: Path, request: dict[str, Any], progress, n_jobs: int = 1) -> dict[str, Any]:
    """Job kind ``study``: load the uploaded table with the chosen options and run the whole study."""
    progress("reading the table", 0)
    cohort = load_cohort(folder / "input" / request["data_file"], request["target"], positive=request["positive"],
                         id_column=request.get("id_column"), groups=request.get("groups") or None,
                         exclude=request.get("exclude", []), name=request.get("name"),
                         missing_codes=request.get("missing_codes") or None)
    results = run_study_job(cohort, folder / "output", request["options"], progress, n_jobs=n_jobs)
    t = results["test"]
    return {"auc": t["auc"], "auc_ci95": t["auc_ci95"], "inputs": results["inputs"]["selected"],
            "nested_auc": (results.get("nested") or {}).get("auc"),
            "architecture": results["architecture"],
            "rule": results["rule"].get("text", "") + not_a_finding(results),
            "verdict": (results.get("readiness") or {}).get("message")}


def _validate_runner(folder: Path, request: dict[str, Any], progress) -> dict[str, Any]:
    """Job kind ``validate``: the model bundle (copied into the job) on another site's patients."""
    v = run_validation_job(folder / "input" / "model", folder / "input" / request["data_file"], request["target"],
                           folder / "output", request.get("options", {}), progress)
    p = v["performance"]
    return {"auc": p["auc"], "auc_ci95": p["auc_ci95"], "verdict": v["verdict"], "n": p["n"]}


def _triage_runner(folder: Path, request: dict[str, Any], progress) -> dict[str, Any]:
    """Job kind ``triage``: the CNN worklist of a folder of planar studies (both read where they are)."""
    return run_triage_job(Path(request["model_dir"]), Path(request["scans_dir"]), folder / "output", progress)


#: What each kind of job offers for download (besides a study's model.zip).
DOWNLOADS = {"study": ("report.pdf", "results.json", "split.csv"), "validate": ("report.pdf", "validation.json", "predictions.csv"),
             "triage": ("worklist.csv",)}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def create_app(config: AppConfig) -> FastAPI:
    """Build the web app (jobs resume from ``config.workdir`` as it starts).

    Parameters
    ----------
    config : AppConfig

    Returns
    -------
    fastapi.FastAPI
        ``app.state.jobs`` is the :class:`~scintiml.app.jobs.JobStore`.

    Examples
    --------
    >>> import tempfile
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(AppConfig(workdir=tempfile.mkdtemp()))
    >>> TestClient(app).get("/studies/new").status_code
    200
    >>> app.state.jobs.shutdown()
    """
    workdir = Path(config.workdir)
    uploads = workdir / "uploads"
    predictions = workdir / "predictions"
    for folder in (uploads, predictions):
        folder.mkdir(parents=True, exist_ok=True)
    _forget_stale_uploads(uploads)
    study_runner = functools.partial(_study_runner, n_jobs=config.study_jobs)
    jobs = JobStore(workdir, {"study": study_runner, "validate": _validate_runner, "triage": _triage_runner},
                    workers=config.workers)
    limit = int(config.max_upload_mb * 1024 * 1024)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        jobs.shutdown(wait=False)  # a running study is left "running" on disk and is queued again next start

    app = FastAPI(title="scintiml", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.add_middleware(BodySizeLimit, limit=limit + FORM_MARGIN, limit_mb=config.max_upload_mb)
    app.state.jobs = jobs
    app.state.config = config
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["fmt"] = _fmt
    templates.env.filters["pct"] = lambda v: f"{100 * v:.0f} %"

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def refuse(request: Request, message: str, template: str = "_upload_error.html") -> HTMLResponse:
        """A refused form: the message in place for the page's own (HTMX) request, which swaps in only a 200; a
        400 for any other client (a form posted without scripts, a script), so a refusal never reads as success."""
        return page(request, template, message=message,
                    status_code=200 if request.headers.get("hx-request") else 400)

    # --- guard ---------------------------------------------------------------------------------
    @app.middleware("http")
    async def require_token(request: Request, call_next):
        host = request.headers.get("host", "")
        if config.allowed_hosts and host.rsplit(":", 1)[0] not in config.allowed_hosts:
            return PlainTextResponse(f"this app answers only to {', '.join(config.allowed_hosts)}", status_code=400)
        origin = request.headers.get("origin")
        if request.method == "POST" and origin and (origin == "null" or origin.split("://", 1)[-1] != host):
            # another web site posting into the app from the user's browser; "null" is what a sandboxed frame
            # or a data: page sends (the app's own pages send their origin: it sets no no-referrer policy)
            return PlainTextResponse("requests from other web sites are refused", status_code=403)
        length = request.headers.get("content-length", "")
        if request.method == "POST" and length.isdigit() and int(length) > limit + FORM_MARGIN:
            # refused before the body is read: a huge upload is never spooled to disk
            message = f"the upload is larger than {too_large(config.max_upload_mb)}"
            return page(request, "_upload_error.html", message=message,
                        status_code=200 if request.headers.get("hx-request") else 413)
        if not config.token:
            return await call_next(request)
        given = (request.query_params.get("token") or request.headers.get("x-scintiml-token")
                 or request.cookies.get(TOKEN_COOKIE) or "")
        if not secrets.compare_digest(given.encode(), config.token.encode()):
            return PlainTextResponse("token required: open the address printed when `scintiml app` started "
                                     "(it ends in ?token=...)", status_code=401)
        response = await call_next(request)
        if request.query_params.get("token"):  # remember it, so links inside the app need not carry it
            response.set_cookie(TOKEN_COOKIE, config.token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(JobNotFoundError)
    async def job_not_found(request: Request, exc: JobNotFoundError):
        return page(request, "message.html", status_code=404, title="Not found", message=str(exc))

    @app.exception_handler(RequestValidationError)
    async def form_not_understood(request: Request, exc: RequestValidationError):
        # FastAPI's own answer is JSON that repeats the whole input: an uploaded table of patients included
        return page(request, "message.html", status_code=422, title="Form not understood",
                    message="the form could not be read (a field is missing or is not what the page sends); reload "
                            "the page and send it again")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # a malformed multipart body, too many fields, an unknown address: the app's page, not a JSON body
        return page(request, "message.html", status_code=exc.status_code, title="Not possible",
                    message=str(exc.detail)[:300])

    # --- pages ---------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/studies/new", status_code=303)

    @app.get("/studies/new", response_class=HTMLResponse)
    def new_study(request: Request):
        return page(request, "new_study.html", title="New study", max_upload_mb=config.max_upload_mb)

    @app.post("/uploads", response_class=HTMLResponse)
    async def upload(request: Request, file: UploadFile | None = None):
        """Store the table, read it, and return the study form (or the problem, in plain words)."""
        try:
            upload_id, frame, name = await _save_upload(file, uploads, limit, config.max_upload_mb)
            candidates = outcome_candidates(frame)
            target = candidates[0] if candidates else None
            report, report_error = _try_report(frame, target, None, None)
        except ScintimlError as exc:
            return refuse(request, str(exc))
        return page(request, "_configure.html", upload_id=upload_id, filename=name, frame=frame,
                    columns=[str(c) for c in frame.columns], candidates=candidates, target=target,
                    report=report, report_error=report_error, methods=INPUT_METHODS, groups=GROUP_CHOICES,
                    selections=SELECTION_CHOICES,
                    id_guess=_id_guess(frame))

    @app.get("/uploads/{upload_id}/columns", response_class=HTMLResponse)
    def columns(request: Request, upload_id: str, target: str = "", positive: str = "", id_column: str = ""):
        """The event-value picker and the column table for the outcome and id now chosen."""
        frame, _ = _load_upload(uploads, upload_id)
        report, report_error = _try_report(frame, target or None, positive or None, id_column or None)
        return page(request, "_columns.html", upload_id=upload_id, report=report, report_error=report_error,
                    groups=GROUP_CHOICES)

    @app.post("/uploads/{upload_id}/run", response_class=HTMLResponse)
    async def run(request: Request, upload_id: str):
        """Validate the whole form (as the study would), then queue the study and go to its page."""
        from ..split import parse_ratios

        form = await request.form()
        frame, data_file = _load_upload(uploads, upload_id)
        try:
            target = str(form.get("target") or "")
            if not target:
                raise ScintimlError("choose the outcome column (the yes/no result the study predicts)")
            id_column = str(form.get("id_column") or "") or None
            exclude = [str(c) for c in form.getlist("exclude") if str(c) != target and str(c) != id_column]
            method = str(form.get("inputs") or "growing")
            if method not in dict(INPUT_METHODS):
                raise ScintimlError(f"unknown selection method {method!r}")
            ratios = parse_ratios(str(form.get("split") or "60:20:20"))
            seed = _int_field(form.get("seed"), "seed", default=0, low=0)
            max_inputs = _int_field(form.get("max_inputs"), "most inputs to keep", default=None, low=1)
            options = {"ratios": list(ratios), "inputs": method, "seed": seed, "max_inputs": max_inputs,
                       "selection": str(form.get("selection") or "stable")}
            check_study_options(options)
            groups: dict[str, list[str]] = {}
            for key, value in form.multi_items():
                if key.startswith("group:") and value in GROUP_CHOICES[1:] and key[6:] not in exclude:
                    groups.setdefault(str(value), []).append(key[6:])
            if len(groups) == 1:
                raise ScintimlError(f"only {next(iter(groups))} inputs were marked; mark both imaging and "
                                    "clinical inputs (for the deep-learning verdict) or neither")
            text = _text_exclusions(frame, target, id_column)
            codes = parse_missing_codes([c for c in str(form.get("missing") or "").split(";") if c.strip()])
            cohort = load_cohort(frame, target, positive=str(form.get("positive") or "") or None,
                                 id_column=id_column, groups=groups or None, exclude=sorted(set(exclude + text)),
                                 missing_codes=codes)
            # the study's own first stage, on the same seed: a split that leaves a part empty (or the training
            # part too small) is refused here, before a job is made (it takes milliseconds)
            split_stage(cohort, ratios, random_state=seed)
        except ScintimlError as exc:
            return refuse(request, str(exc), "_run_error.html")
        name = Path(_upload_meta(uploads, upload_id)).stem
        job_id = jobs.submit("study", {
            "data_file": data_file.name, "target": target, "positive": _plain(cohort.positive),
            "id_column": id_column, "exclude": sorted(set(exclude + text)), "groups": groups, "name": name,
            "options": options, "missing_codes": codes,
        }, files={data_file.name: data_file}, title=f"{name}: {target} = {_plain(cohort.positive)} ({method} inputs, {options['selection']} selection)")
        url = f"/jobs/{job_id}"
        if request.headers.get("hx-request"):
            return Response(status_code=200, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    @app.get("/jobs", response_class=HTMLResponse)
    def job_list(request: Request):
        return page(request, "jobs.html", title="Studies", jobs=jobs.list())

    @app.get("/jobs/{job_id}", response_class=HTMLResponse)
    def job_page(request: Request, job_id: str):
        return page(request, "job.html", title="Study", **_job_context(jobs, job_id))

    @app.get("/jobs/{job_id}/status", response_class=HTMLResponse)
    def job_status(request: Request, job_id: str):
        return page(request, "_status.html", **_job_context(jobs, job_id))

    @app.get("/jobs/{job_id}/status.json")
    def job_status_json(job_id: str) -> dict[str, Any]:
        return jobs.status(job_id)

    @app.get("/jobs/{job_id}/report.html")
    def job_report(job_id: str):
        return FileResponse(_output_file(jobs, job_id, "report.html"), media_type="text/html")

    @app.get("/jobs/{job_id}/download/{name}")
    def job_download(job_id: str, name: str):
        if name == "model.zip":
            return FileResponse(_model_zip(jobs, job_id), media_type="application/zip",
                                filename=f"scintiml-model-{job_id}.zip")
        allowed = DOWNLOADS.get(jobs.status(job_id)["kind"], ())
        if name not in allowed:
            offered = ", ".join(allowed + (("model.zip",) if "results.json" in allowed else ()))
            raise JobNotFoundError(f"no download {name!r}; this job offers {offered}")
        return FileResponse(_output_file(jobs, job_id, name), filename=name)

    # --- predict ---------------------------------------------------------------------------------
    @app.get("/predict", response_class=HTMLResponse)
    def predict_page(request: Request):
        done = [j for j in jobs.list() if j["kind"] == "study" and j["state"] == "done"]
        return page(request, "predict.html", title="Predict", models=done, max_upload_mb=config.max_upload_mb)

    @app.post("/predict", response_class=HTMLResponse)
    async def predict(request: Request):
        from ..bundle import load_bundle

        form = await request.form()
        run_id = new_id()
        folder = predictions / run_id
        try:
            folder.mkdir()
            bundle = load_bundle(await _chosen_bundle(form, jobs, folder, limit, config.max_upload_mb))
            id_column = str(form.get("id_column") or "").strip() or None
            _, frame, name = await _save_upload(form.get("file"), folder, limit, config.max_upload_mb, keep_id=True,
                                                id_column=id_column)
            table = bundle.predict(frame, id_column=id_column, warn=False)
            with atomic_file(folder / "predictions.csv") as tmp:
                spreadsheet_safe(table).to_csv(tmp, index=False)
        except ScintimlError as exc:
            shutil.rmtree(folder, ignore_errors=True)  # a refused request keeps nothing (an unpacked zip included)
            return refuse(request, _user_words(str(exc), folder, form))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        n_out = int((table["out_of_range"] != "").sum())
        return page(request, "_predictions.html", table=table, run_id=run_id, n_out=n_out, inputs=bundle.inputs,
                    ranges=bundle.spec["training_ranges"], id_column=id_column, filename=name,
                    batch_warnings=table.attrs.get("warnings", []))

    @app.get("/predictions/{run_id}/predictions.csv")
    def prediction_file(run_id: str):
        if not is_app_id(run_id) or not (predictions / run_id / "predictions.csv").is_file():
            raise JobNotFoundError(f"no predictions {run_id[:40]!r}")
        return FileResponse(predictions / run_id / "predictions.csv", filename="predictions.csv", media_type="text/csv")

    # --- validate and triage: pages that say what they need -------------------------------------------
    @app.get("/validate", response_class=HTMLResponse)
    def validate_page(request: Request):
        available = importlib.util.find_spec("scintiml.external") is not None
        done = [j for j in jobs.list() if j["kind"] == "study" and j["state"] == "done"]
        return page(request, "validate.html", title="Validate at another site", available=available, models=done,
                    max_upload_mb=config.max_upload_mb)

    @app.post("/validate", response_class=HTMLResponse)
    async def validate(request: Request):
        """Check the model and the table now (errors inline), then validate in the background."""
        from ..bundle import load_bundle

        form = await request.form()
        staging = uploads / new_id()
        try:
            staging.mkdir()
            bundle_dir = await _chosen_bundle(form, jobs, staging, limit, config.max_upload_mb)
            bundle = load_bundle(bundle_dir)
            id_column = str(form.get("id_column") or "").strip() or None
            _, frame, name = await _save_upload(form.get("file"), staging, limit, config.max_upload_mb, keep_id=True,
                                                id_column=id_column)
            target = str(form.get("target") or "").strip() or str(bundle.spec.get("target", ""))
            if target not in frame.columns:
                raise ScintimlError(f"{name!r} has no outcome column {target!r}; the other site's table needs the "
                                    f"outcome to validate against (columns: {', '.join(map(str, frame.columns))})")
            if id_column and id_column not in frame.columns:
                raise ScintimlError(f"{name!r} has no id column {id_column!r}")
            from ..external.missing import absent_inputs

            missing = absent_inputs(frame, bundle.inputs)  # a one-hot "sex=M" comes from "sex", as in the CLI
            if missing:
                raise ScintimlError(f"{name!r} lacks the model's input column(s) {missing}")
            from ..external.validate import check_site_table

            check_site_table(bundle, frame, target, id_column)  # what the command refuses before any work
        except ScintimlError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            return refuse(request, _user_words(str(exc), staging, form))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # an unforeseen failure keeps no copy of the site's patients
            raise
        data_file = next(staging.glob("data.*"))
        # the validation report names the data file: keep the user's name (made safe) inside the job
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).stem)[:80] or "data"
        job_name = f"{safe}{data_file.suffix}"
        try:
            job_id = jobs.submit("validate", {"data_file": job_name, "target": target,
                                              "options": {"id_column": id_column}},
                                 files={job_name: data_file, "model": bundle_dir},
                                 title=f"validation on {name}")
        finally:  # the job holds its own copy: the staging copy of the other site's patients is not kept
            shutil.rmtree(staging, ignore_errors=True)
        url = f"/jobs/{job_id}"
        if request.headers.get("hx-request"):
            return Response(status_code=200, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    @app.get("/triage", response_class=HTMLResponse)
    def triage_page(request: Request):
        runs = [j for j in jobs.list() if j["kind"] == "triage"]
        return page(request, "triage.html", title="CNN triage worklist", runs=runs)

    @app.post("/triage", response_class=HTMLResponse)
    async def triage(request: Request):
        """Check both folders now (errors inline), then rank the studies in the background."""
        form = await request.form()
        model_dir, scans_dir = _local_folder(form.get("model_dir")), _local_folder(form.get("scans_dir"))
        typed = {k: str(form.get(k) or "").strip()[:200] for k in ("model_dir", "scans_dir")}
        problem = None
        if model_dir is None:
            problem = f"the model folder {typed['model_dir']!r} does not exist on this machine; give the folder " \
                      "`scintiml cnn train --out` wrote"
        elif not ((model_dir / "bundle.json").is_file() or (model_dir / "config.json").is_file()):
            problem = f"{str(model_dir)!r} holds no CNN model bundle (bundle.json); give the folder of `scintiml cnn train`"
        elif scans_dir is None:
            problem = f"the scans folder {typed['scans_dir']!r} does not exist on this machine; give a folder of NM " \
                      "DICOM files"
        if problem:
            return refuse(request, problem)
        job_id = jobs.submit("triage", {"model_dir": str(model_dir.resolve()), "scans_dir": str(scans_dir.resolve())},
                             title=f"worklist of {scans_dir.name}")
        url = f"/jobs/{job_id}"
        if request.headers.get("hx-request"):
            return Response(status_code=200, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    @app.get("/jobs/{job_id}/summaries/{filename}")
    def triage_image(job_id: str, filename: str):
        folder = jobs.folder(job_id) / "output" / "summaries"
        path = folder / filename
        if Path(filename).name != filename or not filename.endswith(".png") or not path.is_file():
            raise JobNotFoundError(f"no summary image {filename!r} in job {job_id}")
        return FileResponse(path, media_type="image/png")

    return app


# --- helpers (module level, so each is small and testable) -----------------------------------------
async def _save_upload(file, folder: Path, limit: int, limit_mb: float, keep_id: bool = False,
                       id_column: str | None = None):
    """Stream an upload to disk under the size limit and read it as a table: ``(id, frame, original name)``;
    ``id_column``, when known, is read as text (leading zeros kept)."""
    if file is None or not getattr(file, "filename", ""):
        raise ScintimlError("choose a file first: a CSV, XLSX or Parquet table with one row per patient")
    name = Path(file.filename).name
    suffix = Path(name).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ScintimlError(f"{name!r} is not a table this app reads; upload a .csv, .tsv, .xlsx or .parquet file")
    upload_id = new_id()
    target_dir = folder if keep_id else folder / upload_id
    target_dir.mkdir(parents=True, exist_ok=True)
    try:
        return upload_id, *await _store_and_read(file, target_dir / f"data{suffix}", name, limit, limit_mb,
                                                 id_column)
    except ScintimlError:
        if not keep_id:  # a refused upload leaves nothing behind (the caller clears a folder it made)
            shutil.rmtree(target_dir, ignore_errors=True)
        raise


async def _store_and_read(file, path: Path, name: str, limit: int, limit_mb: float,
                          id_column: str | None) -> tuple[pd.DataFrame, str]:
    target_dir = path.parent
    size = 0
    with atomic_file(path, overwrite=True) as tmp:
        with open(tmp, "wb") as fh:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise UploadTooLargeError(f"{name!r} is larger than {too_large(limit_mb)}")
                fh.write(chunk)
    if size == 0:
        path.unlink()
        raise ScintimlError(f"{name!r} is empty; upload the table with its header row and one row per patient")
    (target_dir / "name.txt").write_text(name, encoding="utf-8")
    try:
        frame = read_table(path, text_columns=(id_column,) if id_column else ())
    except ScintimlError as exc:  # name the user's file, not the app's copy of it
        raise type(exc)(str(exc).replace(str(path), name).replace(repr(path.name), repr(name))) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.shape[1] < 2 or frame.shape[0] < 2:
        raise ScintimlError(
            f"{name!r} was read as {frame.shape[0]} row(s) × {frame.shape[1]} column(s); a study needs a header "
            "row, one row per patient and at least an outcome and one input column (is the separator a comma?)")
    return frame, name


#: How long an uploaded table waits for its study to be started (seconds). A study, a validation or a prediction
#: keeps its own copy; what stays in ``uploads/`` is a table someone read and never ran, i.e. patient data
#: nobody uses.
STALE_UPLOAD_S = 24 * 3600


def _forget_stale_uploads(uploads: Path, max_age_s: float = STALE_UPLOAD_S) -> None:
    """Remove the upload folders not touched for ``max_age_s`` (run when the app starts)."""
    import time

    now = time.time()
    for folder in uploads.iterdir():
        with contextlib.suppress(OSError):
            if folder.is_dir() and not folder.is_symlink() and now - folder.stat().st_mtime > max_age_s:
                shutil.rmtree(folder, ignore_errors=True)


def _local_folder(value) -> Path | None:
    """A folder on this machine typed into a form, user home expanded; None for one the file system cannot even
    look at (a name too long, a ``~user`` that does not exist: a 500 before) or that is no folder."""
    try:
        path = Path(str(value or "").strip()).expanduser()
        return path if str(value or "").strip() and path.is_dir() else None
    except (OSError, RuntimeError, ValueError):
        return None


def _load_upload(uploads: Path, upload_id: str) -> tuple[pd.DataFrame, Path]:
    if not is_app_id(upload_id):
        raise JobNotFoundError(f"no upload {upload_id[:40]!r}")
    found = sorted((uploads / upload_id).glob("data.*"))
    if not found:
        raise JobNotFoundError(f"no upload {upload_id!r}; upload the table again")
    frame = read_table(found[0])
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, found[0]


def _upload_meta(uploads: Path, upload_id: str) -> str:
    path = uploads / upload_id / "name.txt"
    return path.read_text(encoding="utf-8") if path.is_file() else "study"


def _try_report(frame, target, positive, id_column):
    if not target:
        return None, "no column has exactly two values; the outcome must be yes/no (recode it, e.g. 0/1)"
    if target in frame.columns and positive is not None and str(positive) not in set(map(str, frame[target])):
        positive = None  # left over from the outcome chosen before: pick the default for this one
    try:
        return column_report(frame, target, positive=positive, id_column=id_column), None
    except ScintimlError as exc:
        return None, str(exc)


def _text_exclusions(frame: pd.DataFrame, target: str, id_column: str | None) -> list[str]:
    from .tables import text_columns

    return text_columns(frame, skip=[target] + ([id_column] if id_column else []))


def _id_guess(frame: pd.DataFrame) -> str:
    """A column named like an id whose values are all present and unique."""
    for c in frame.columns:
        low = str(c).lower()
        if (low in {"id", "patient", "patient_id", "patientid", "mrn", "subject"} or low.endswith("_id")) \
                and frame[c].notna().all() and frame[c].is_unique:
            return str(c)
    return ""


def _int_field(value: Any, label: str, default, low: int):
    text = str(value or "").strip()
    if not text:
        return default
    try:
        number = int(text)
    except ValueError:
        raise ScintimlError(f"{label} must be a whole number, got {text!r}") from None
    if number < low:
        raise ScintimlError(f"{label} must be at least {low}, got {number}")
    return number


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _job_context(jobs: JobStore, job_id: str) -> dict[str, Any]:
    status = jobs.status(job_id)
    context: dict[str, Any] = {"job": status, "job_request": jobs.request(job_id), "summary_lines": []}
    output = jobs.folder(job_id) / "output"
    context["has_pdf"] = (output / "report.pdf").is_file()
    context["has_split"] = (output / "split.csv").is_file()  # studies written before 0.6.1 have none
    if status["state"] == "done" and status["kind"] == "study":
        from ..report.writer import summary_lines

        results = json.loads((output / "results.json").read_text(encoding="utf-8"))
        context["results"] = results
        context["summary_lines"] = summary_lines(results)
    elif status["state"] == "done" and status["kind"] == "triage":
        shown = output / "worklist.json"  # the ids as read (worklist.csv puts a ' before "=A1" for spreadsheets)
        table = (pd.DataFrame(json.loads(shown.read_text(encoding="utf-8"))) if shown.is_file()
                 else pd.read_csv(output / "worklist.csv", dtype={"patient_id": str}))
        if "summary_png" in table:
            table["summary_png"] = [Path(str(p)).name if isinstance(p, str) else "" for p in table["summary_png"]]
        context["worklist"] = table.to_dict(orient="records")
    elif status["state"] == "done" and status["kind"] == "validate":
        context["validation"] = json.loads((output / "validation.json").read_text(encoding="utf-8"))
    return context


def _output_file(jobs: JobStore, job_id: str, name: str) -> Path:
    path = jobs.folder(job_id) / "output" / name
    if not path.is_file():
        raise JobNotFoundError(f"job {job_id} has no {name} (is it finished?)")
    return path


def _model_zip(jobs: JobStore, job_id: str) -> Path:
    """The job's model bundle as one zip (made once, atomically, beside the job's outputs)."""
    folder = jobs.folder(job_id)
    target = folder / "model.zip"
    model = folder / "output" / "model"
    if not target.is_file():
        if not model.is_dir():
            raise JobNotFoundError(f"job {job_id} has no model bundle (is it finished?)")
        with atomic_file(target, overwrite=True) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(model.rglob("*")):
                if path.is_file():
                    zf.write(path, f"model/{path.relative_to(model)}")
    return target


async def _chosen_bundle(form, jobs: JobStore, folder: Path, limit: int, limit_mb: float) -> Path:
    """The bundle folder a form names: an uploaded zip (unpacked into ``folder``) or a finished study's model."""
    model_job = str(form.get("model_job") or "")
    bundle_upload = form.get("bundle")
    if getattr(bundle_upload, "filename", ""):
        return await _unzip_bundle(bundle_upload, folder, limit, limit_mb)
    if model_job:
        return jobs.folder(model_job) / "output" / "model"
    raise ScintimlError("choose a model: one of your finished studies, or upload a bundle (.zip)")


def _user_words(message: str, folder: Path, form) -> str:
    """A message about the app's unpacked copy of an uploaded bundle, naming the user's zip instead."""
    upload = form.get("bundle")
    name = getattr(upload, "filename", "") or "the uploaded bundle"
    inside = str(folder / "bundle")
    return message.replace(inside + "/", f"{Path(name).name}: ").replace(inside, Path(name).name)


#: An uploaded bundle zip may unpack to at most this many times the upload limit.
MAX_BUNDLE_EXPANSION = 10


async def _unzip_bundle(upload, folder: Path, limit: int, limit_mb: float) -> Path:
    """Unpack an uploaded bundle zip safely (no absolute paths, no ``..``) and return the bundle folder."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLargeError(f"the bundle is larger than the upload limit of {limit_mb:g} MB")
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ScintimlError("the bundle must be the model.zip downloaded from a study's results page") from None
    # a bundle's JSON and arrays unpack to a few times the zip at most; a zip bomb to a thousand times
    most = MAX_BUNDLE_EXPANSION * limit
    declared = sum(m.file_size for m in archive.infolist())
    if declared > most:
        raise UploadTooLargeError(f"the bundle zip would unpack to {declared / 2**20:.0f} MB, more than "
                                  f"{most / 2**20:.0f} MB ({MAX_BUNDLE_EXPANSION} x the upload limit); upload the "
                                  "model.zip downloaded from a study's results page")
    try:
        return _unpack(archive, folder, most)
    except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, NotImplementedError, zlib.error) as exc:
        # a bad CRC, an encrypted member, a corrupt stream, a member named like a folder or too long — but a full
        # or read-only disk of the app's own is the app's problem, not the zip's
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT):
            raise
        reason = " ".join(str(exc).split())[:120]
        raise ScintimlError(f"the bundle zip is damaged or not one scintiml wrote ({reason}); download model.zip "
                            "again from the study's results page") from None


def _unpack(archive: zipfile.ZipFile, folder: Path, most: int) -> Path:
    """The members of a bundle zip under ``folder/bundle`` (no absolute paths, no ``..``), counted as they unpack."""
    written = 0
    with atomic_dir(folder / "bundle", overwrite=True) as tmp:
        for member in archive.infolist():
            parts = Path(member.filename).parts
            if member.is_dir() or Path(member.filename).is_absolute() or ".." in parts:
                continue
            dest = tmp.joinpath(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(dest, "wb") as out:
                while chunk := src.read(1 << 20):  # counted, not trusted to the declared sizes
                    written += len(chunk)
                    if written > most:
                        raise UploadTooLargeError(f"the bundle zip unpacks to more than {most / 2**20:.0f} MB; "
                                                  "upload the model.zip downloaded from a study's results page")
                    out.write(chunk)
    from ..bundle.format import SPEC_FILE

    for candidate in [folder / "bundle", *sorted((folder / "bundle").iterdir())]:
        if (candidate / SPEC_FILE).is_file():
            return candidate
    raise ScintimlError(f"the zip holds no {SPEC_FILE}; upload the model.zip downloaded from a study's results page")
