"""The browser app in a real browser: headless Chromium driven by Selenium against uvicorn on a free port.

Skipped (with the reason) where chromium / chromedriver or selenium are absent; .ci/run installs them.
Set SCINTIML_SCREENSHOTS=<folder> to save a screenshot of each page (docs/app.md uses them).
"""

import json
import os
import shutil
import socket
import threading
import time
import zipfile
from importlib.resources import files
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from scintiml.app import AppConfig, create_app  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian chromium + chromium-driver (apt-get install chromium "
                                       "chromium-driver; .ci/run installs them)")
HF_CSV = Path(str(files("scintiml.datasets").joinpath("data", "heart_failure.csv")))
SHOTS = os.environ.get("SCINTIML_SCREENSHOTS")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app (two study workers) served by uvicorn in a thread: ``(base url, app, workdir)``."""
    workdir = tmp_path_factory.mktemp("app")
    app = create_app(AppConfig(workdir=workdir, workers=2))
    # The test binds the port and hands uvicorn the bound socket: a port probed free and released could be taken by
    # another parallel test worker before the server bound it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", app, workdir
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()
    app.state.jobs.shutdown(wait=False)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


def _shot(driver, name: str, full_page: bool = True) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    if full_page:  # grow the window to the page so the screenshot holds all of it
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(max(height, 800), 4000))
    driver.execute_script("window.scrollTo(0, 0); document.activeElement.blur()")
    driver.save_screenshot(str(Path(SHOTS) / f"app_{name}.png"))
    driver.set_window_size(1280, 1000)


def _upload(driver, base: str, path: Path, wait: WebDriverWait) -> None:
    driver.get(f"{base}/studies/new")
    driver.find_element(By.ID, "file").send_keys(str(path))
    driver.find_element(By.ID, "upload").click()


def _start_study(driver, base, wait, method="growing"):
    """Upload the heart-failure CSV, choose DEATH_EVENT = 1, exclude `time`, run; the job's id."""
    _upload(driver, base, HF_CSV, wait)
    wait.until(EC.presence_of_element_located((By.ID, "column-table")))
    Select(driver.find_element(By.ID, "target")).select_by_value("DEATH_EVENT")
    wait.until(EC.text_to_be_present_in_element((By.ID, "event-count"), "with DEATH_EVENT = 1"))
    time_box = driver.find_element(By.CSS_SELECTOR, 'input[name="exclude"][value="time"]')
    if not time_box.is_selected():
        time_box.click()
    assert time_box.is_selected()
    Select(driver.find_element(By.ID, "inputs")).select_by_value(method)
    if method == "growing":
        _shot(driver, "new_study")  # the form as a user finds it: the default selection mode
    Select(driver.find_element(By.ID, "selection")).select_by_value("split")  # the published, faster workflow
    driver.find_element(By.ID, "run").click()
    wait.until(EC.url_contains("/jobs/"))
    return driver.current_url.rsplit("/", 1)[1]


def test_a_broken_csv_shows_its_error_inline_with_the_keyboard(server, browser, tmp_path):
    base, app, workdir = server
    broken = tmp_path / "broken.csv"
    broken.write_text("id,outcome,x\n1,0,5\n2,1,6\n3,0,7,8,9\n")
    browser.get(f"{base}/studies/new")
    field = browser.find_element(By.ID, "file")
    field.send_keys(str(broken))
    # keyboard only: Tab from the file field reaches the labelled upload button; Enter presses it
    browser.execute_script("arguments[0].focus()", field)
    ActionChains(browser).send_keys(Keys.TAB).perform()
    focused = browser.switch_to.active_element
    assert focused.get_attribute("id") == "upload"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    error = WebDriverWait(browser, 20).until(EC.visibility_of_element_located((By.ID, "upload-error")))
    assert "cannot read 'broken.csv'" in error.text and error.get_attribute("role") == "alert"
    assert browser.current_url.endswith("/studies/new")  # inline: the page did not change
    label = browser.find_element(By.CSS_SELECTOR, 'label[for="file"]')
    assert label.text == "Table file"
    _shot(browser, "upload_error", full_page=False)


def test_study_in_the_browser_a_second_job_while_it_runs_and_the_bundle(server, browser):
    base, app, workdir = server
    wait = WebDriverWait(browser, 120)
    first = _start_study(browser, base, wait)
    # live progress: stage and networks trained, polled by HTMX
    stage = WebDriverWait(browser, 30).until(EC.presence_of_element_located((By.ID, "job-stage")))
    assert stage.text
    assert app.state.jobs.status(first)["state"] in ("queued", "running")
    if SHOTS:  # a picture with networks already trained
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "job-networks").text not in ("", "0"))
    _shot(browser, "progress", full_page=False)

    # leave the page (a closed tab) and start a second study while the first runs
    second = _start_study(browser, base, wait, method="all")
    assert second != first
    assert app.state.jobs.status(first)["state"] != "done" or app.state.jobs.status(second)["state"] != "done"

    # come back to the first: the run went on without its tab
    browser.get(f"{base}/jobs/{first}")
    auc = wait.until(EC.visibility_of_element_located((By.ID, "auc")))
    results = json.loads((workdir / "jobs" / first / "output" / "results.json").read_text())
    assert auc.text == f"{results['test']['auc']:.3f}"
    assert "time" not in results["inputs"]["all"]
    assert browser.find_element(By.CSS_SELECTOR, "iframe.report").get_attribute("title") == "Study report"
    _shot(browser, "results")

    # download the bundle from the page
    browser.find_element(By.ID, "download-bundle").click()
    deadline = time.monotonic() + 30
    zips = []
    while time.monotonic() < deadline and not zips:
        zips = [p for p in Path(browser.downloads).glob("*.zip")]
        time.sleep(0.2)
    assert zips, "the bundle was not downloaded"
    with zipfile.ZipFile(zips[0]) as zf:
        assert {"model/bundle.json", "model/weights.npz"} <= set(zf.namelist())

    # the second study finishes too, with its own result
    browser.get(f"{base}/jobs/{second}")
    auc2 = wait.until(EC.visibility_of_element_located((By.ID, "auc")))
    results2 = json.loads((workdir / "jobs" / second / "output" / "results.json").read_text())
    assert auc2.text == f"{results2['test']['auc']:.3f}" and results2["selection"]["method"] == "all"
    browser.get(f"{base}/jobs")
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "job-table")),
                                     message=browser.page_source[:2000])
    rows = browser.find_elements(By.CSS_SELECTOR, "#job-table tbody tr")
    assert len(rows) == 2 and all("done" in r.text for r in rows), browser.page_source[:3000]
    _shot(browser, "jobs", full_page=False)


def test_predict_flags_out_of_range_patients_and_validate_shows_a_verdict(server, browser, tmp_path):
    import pandas as pd

    base, app, workdir = server
    done = [j for j in app.state.jobs.list() if j["state"] == "done"]
    if not done:
        pytest.skip("needs the study of the previous test")
    frame = pd.read_csv(HF_CSV).head(12)
    name = done[-1]["summary"]["inputs"][0]
    frame.loc[[2, 5], name] = frame[name].max() * 100
    path = tmp_path / "new_patients.csv"
    frame.to_csv(path, index_label="pid")
    browser.get(f"{base}/predict")
    Select(browser.find_element(By.ID, "model_job")).select_by_value(done[-1]["id"])
    browser.find_element(By.ID, "file").send_keys(str(path))
    browser.find_element(By.ID, "id_column").send_keys("pid")
    browser.find_element(By.ID, "predict").click()
    count = WebDriverWait(browser, 30).until(EC.visibility_of_element_located((By.ID, "n-out-of-range")))
    flagged = browser.find_elements(By.CSS_SELECTOR, "#prediction-table tr.flag")
    assert int(count.text) == len(flagged) >= 2
    assert any(name in row.text and "trained on" in row.text for row in flagged)
    _shot(browser, "predict")

    # validate the same model on half of the patients (standing in for another site's)
    site = tmp_path / "site_b.csv"
    pd.read_csv(HF_CSV).iloc[::2].to_csv(site, index=False)
    browser.get(f"{base}/validate")
    Select(browser.find_element(By.ID, "model_job")).select_by_value(done[-1]["id"])
    browser.find_element(By.ID, "file").send_keys(str(site))
    browser.find_element(By.ID, "validate").click()
    verdict = WebDriverWait(browser, 60).until(EC.visibility_of_element_located((By.ID, "verdict")))
    job_id = browser.current_url.rsplit("/", 1)[1]
    expected = json.loads((workdir / "jobs" / job_id / "output" / "validation.json").read_text())
    assert verdict.text == expected["verdict"]
    _shot(browser, "validate")
