import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scintiml.bundle import load_bundle, save_bundle
from conftest import run_cli
from scintiml.datasets import make_mibg_cohort
from scintiml.errors import ScintimlError
from scintiml.report import write_report
from scintiml.study import run_study


@pytest.fixture(scope="module")
def mibg_study():
    # the published single-split workflow (fast); the cross-validated default is tested in tests/test_select.py
    return run_study(make_mibg_cohort(random_state=0), seed=0, selection="split")


def test_study_finds_the_true_inputs_and_states_the_rule(mibg_study):
    r = mibg_study.results
    assert set(r["inputs"]["selected"]) == {"delta_lvef", "planar_washout"}
    assert {c["input"] for c in r["rule"]["conditions"]} == {"delta_lvef", "planar_washout"}
    assert "delta_lvef <=" in r["rule"]["text"] and "planar_washout >=" in r["rule"]["text"]
    assert r["architecture"][0] == 2 and r["architecture"][-1] == 1
    assert r["readiness"]["verdict"] == "supported"  # planar washout (imaging) is one of the two true inputs


def test_results_schema(mibg_study):
    r = mibg_study.results
    for key in ("schema_version", "scintiml_version", "dataset", "split", "inputs", "architecture", "selection",
                "test", "rule", "baselines", "readiness", "timings", "environment", "warnings"):
        assert key in r
    assert r["environment"]["numpy"] == np.__version__ and r["environment"]["blas"]
    for key in ("n_patients", "n_inputs", "target", "positive", "n_events"):
        assert key in r["dataset"]
    for key in ("auc", "auc_ci95", "threshold", "sensitivity", "sensitivity_ci95", "specificity",
                "specificity_ci95", "accuracy"):
        assert key in r["test"]
    assert set(r["baselines"]) == {"logistic_regression", "random_forest", "gradient_boosting"}
    assert r["split"]["training"] + r["split"]["selection"] + r["split"]["testing"] == r["dataset"]["n_patients"]
    json.dumps(r, allow_nan=False)  # strict JSON: no NaN sneaks in


def test_bundle_round_trip(mibg_study, tmp_path):
    path = save_bundle(mibg_study, tmp_path / "model")
    bundle = load_bundle(path)
    cohort = mibg_study.cohort
    frame = cohort.X.copy()
    pred = bundle.predict(frame)
    expected = mibg_study.model.predict_proba(cohort.X[mibg_study.selected_inputs])[:, 1]
    np.testing.assert_allclose(pred["probability"], expected, rtol=0, atol=1e-12)
    assert (pred["above_threshold"] == (expected >= bundle.threshold)).all()
    # an input far outside the training range is named
    frame.loc[0, "planar_washout"] = 500.0
    assert bundle.predict(frame).loc[0, "out_of_range"] == "planar_washout"
    with pytest.raises(Exception, match="lack the model's input"):
        bundle.predict(frame.drop(columns=["delta_lvef"]))
    card = json.loads((path / "card.json").read_text())
    assert card["metrics"]["auc"] == mibg_study.results["test"]["auc"]
    assert "Known limits" in (path / "card.md").read_text()
    assert card["metrics"]["auc_ci_method"] == mibg_study.results["test"]["auc_ci_method"]
    assert "AUC interval: DeLong" in (path / "card.md").read_text()
    # the weights load without pickle
    with np.load(path / "weights.npz", allow_pickle=False) as npz:
        assert "coef_0" in npz.files


@pytest.fixture(scope="module")
def report(mibg_study, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    return folder, write_report(mibg_study.results, folder)


def test_report_files(mibg_study, report):
    pypdf = pytest.importorskip("pypdf")
    tmp_path, paths = report
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") >= 12
    assert mibg_study.results["rule"]["text"].replace("<", "&lt;").replace(">", "&gt;") in html
    assert len(list((tmp_path / "figures").glob("*.png"))) >= 12
    reader = pypdf.PdfReader(paths["pdf"])
    assert "WeasyPrint" in reader.metadata.get("/Producer", "")  # printed from the HTML, not assembled apart
    assert len(reader.pages) >= 5


def test_pdf_holds_the_same_headline_figures_as_the_html(mibg_study, report):
    """The PDF is the HTML printed: its text carries the testing AUC with CI, the inputs and the rule."""
    import html as html_module
    import re

    pypdf = pytest.importorskip("pypdf")
    _, paths = report
    page_text = html_module.unescape(re.sub(r"<[^>]+>", " ", paths["html"].read_text()))
    pdf_text = " ".join(page.extract_text() for page in pypdf.PdfReader(paths["pdf"]).pages)
    r = mibg_study.results
    auc, (lo, hi) = r["test"]["auc"], r["test"]["auc_ci95"]
    headline = [f"AUC {auc:.3f} (95 % CI {lo:.3f}–{hi:.3f})", ", ".join(r["inputs"]["selected"]), r["rule"]["text"],
                f"sensitivity {r['test']['sensitivity']:.2f}"]
    for text in (page_text, pdf_text):
        flat = " ".join(text.split())
        for fact in headline:
            assert fact in flat, fact


def _cli(args, capsys):
    return run_cli(args), capsys.readouterr()


def test_cli_study_and_predict(tmp_path, capsys):
    cohort = make_mibg_cohort(n_patients=300, random_state=1)
    frame = cohort.X.copy()
    frame.insert(0, "pid", cohort.ids)
    frame["outcome"] = cohort.y
    data = tmp_path / "cohort.csv"
    frame.to_csv(data, index=False)
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps(cohort.groups))
    out = tmp_path / "study"
    # one CV selection, not the default stable set: this test is of the command's files and options, and the
    # default pipeline is run end to end by test_resampled (the stable set cost 2-3 minutes here on 2 cores)
    code, _ = _cli(["study", str(data), "--target", "outcome", "--id", "pid", "--groups", str(groups),
                    "--protocol", "collimator=LEHR", "--selection", "cv", "--out", str(out)], capsys)
    assert code in (0, None)
    for name in ("results.json", "report.html", "report.pdf", "model/bundle.json", "model/weights.npz", "model/card.md"):
        assert (out / name).exists(), name
    written = json.loads((out / "results.json").read_text())
    assert written["protocol"] == {"collimator": "LEHR"}
    assert written["selection"]["mode"] == "cv" and written["order_selection"]["mode"] == "cv"  # --selection reached
    # which part each patient was in, by the table's ids, in the table's order; the parts as results.json counts them
    split = pd.read_csv(out / "split.csv", dtype={"id": str})
    assert list(split["id"]) == [str(i) for i in cohort.ids]
    counts = json.loads((out / "results.json").read_text())["split"]
    assert split["part"].value_counts().to_dict() == {k: counts[k] for k in ("training", "selection", "testing")}
    assert not (out / "model" / "split.csv").exists()  # the bundle holds no patient-level data
    # a non-empty output folder is refused, and left as it was
    before = sorted(p.name for p in out.iterdir())
    code, captured = _cli(["study", str(data), "--target", "outcome", "--id", "pid", "--out", str(out)], capsys)
    assert code == 2 and "error:" in captured.err and "--overwrite" in captured.err
    assert sorted(p.name for p in out.iterdir()) == before
    # predict, with a protocol mismatch warning
    pred_path = tmp_path / "pred.csv"
    code, captured = _cli(["predict", str(out / "model"), str(data), "--id", "pid", "--out", str(pred_path),
                           "--protocol", "collimator=MEGP"], capsys)
    assert code in (0, None)
    assert "differs from the training protocol" in captured.err
    pred = pd.read_csv(pred_path)
    assert list(pred.columns[:3]) == ["pid", "probability", "predicted_class"]
    assert len(pred) == 300
    code, captured = _cli(["predict", str(out / "model"), str(data), "--out", str(tmp_path / "p2.csv"),
                           "--protocol", "collimator=MEGP", "--strict-protocol"], capsys)
    assert code == 2 and "differs" in captured.err and not (tmp_path / "p2.csv").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--target", "nope"], "target column 'nope' not found"),
        (["--target", "outcome", "--inputs", "stepwise"], "--inputs must be one of"),
        (["--target", "outcome", "--split", "60:x:20"], "cannot read split"),
        (["--target", "outcome", "--protocol", "collimator"], "KEY=VALUE"),
        (["--target", "outcome", "--split", "80:20:0"], "must not be empty"),
        (["--target", "outcome", "--max-inputs", "0"], "--max-inputs must be a whole number of at least 1"),
        (["--target", "outcome", "--seed", "-1"], "--seed must be 0 or more"),
        (["--target", "outcome", "--jobs", "0"], "--jobs must be a number of processes"),
        (["--target", "outcome", "--split", "0:50:50"], "the training part must not be empty"),
        (["--target", "outcome", "--split", "0:0:0"], "gives every part a share of 0"),
        (["--target", "outcome", "--split", "2:48:50"], "give the training part a larger share"),
        (["--target", "outcome", "--split", "12:44:44"], "too few to train a network"),
        (["--target", "outcome", "--split", "80:15:5"], "too few to test on (at least 2 of each outcome)"),
        (["--target", "outcome", "--split", "nan:20:20"], "needs three finite numbers"),
        (["--target", "outcome", "--id", "outcome"], "the id column and the target are the same column"),
    ],
)
def test_cli_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, args, fragment):
    frame = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 7, "outcome": np.arange(40) % 2})
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "out"
    code, captured = _cli(["study", str(data), *args, "--out", str(out)], capsys)
    assert code == 2
    lines = [line for line in captured.err.strip().splitlines() if line.strip()]
    assert lines[0].startswith("error:") and fragment in captured.err.replace("\n", " ")
    assert "Traceback" not in captured.err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [data]


def test_console_script_exit_code(tmp_path):
    exe = Path(sys.executable).with_name("scintiml")
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    res = subprocess.run([str(exe), "describe", str(tmp_path / "missing.csv"), "--target", "y"],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().startswith("error:") and "does not exist" in res.stderr


def test_report_renders_in_headless_chromium(mibg_study, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed (Debian packages chromium, chromium-driver; .ci/run installs them)")
    write_report(mibg_study.results, tmp_path, pdf=False)
    page = tmp_path / "report.html"
    # Every image must decode: a script counts images whose naturalWidth is 0 and writes the count into the DOM.
    html = page.read_text().replace(
        "</body>",
        "<script>window.addEventListener('load', () => { const bad = [...document.images]"
        ".filter(i => !i.complete || i.naturalWidth === 0).length; document.title = 'BROKEN=' + bad + "
        "' TOTAL=' + document.images.length; });</script></body>",
    )
    page.write_text(html)
    res = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'prof'}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=30000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert "BROKEN=0 TOTAL=" in res.stdout, res.stdout[-500:]
    total = int(res.stdout.split("TOTAL=")[1].split("<")[0].split()[0])
    assert total >= 12
    console_errors = [line for line in res.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    assert not console_errors


def test_cli_predict_bad_input(mibg_study, tmp_path, capsys):
    model_dir = save_bundle(mibg_study, tmp_path / "model")
    frame = mibg_study.cohort.X.drop(columns=["planar_washout"])
    data = tmp_path / "new.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "pred.csv"
    code, captured = _cli(["predict", str(model_dir), str(data), "--out", str(out)], capsys)
    assert code == 2 and captured.err.startswith("error:") and "planar_washout" in captured.err
    assert not out.exists()
    code, captured = _cli(["predict", str(tmp_path), str(data), "--out", str(out)], capsys)
    assert code == 2 and "not a scintiml model bundle" in captured.err


def test_cli_never_writes_into_or_over_an_input(mibg_study, tmp_path, capsys):
    model_dir = save_bundle(mibg_study, tmp_path / "model")
    data = tmp_path / "new.csv"
    mibg_study.cohort.X.to_csv(data, index=False)
    before = (model_dir / "bundle.json").read_bytes()
    code, captured = _cli(["predict", str(model_dir), str(data), "--out", str(model_dir / "bundle.json"),
                           "--overwrite"], capsys)
    assert code == 2 and "lies inside the input folder" in captured.err
    assert (model_dir / "bundle.json").read_bytes() == before
    # a groups file kept inside the folder --out would replace
    frame = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 7, "outcome": np.arange(40) % 2})
    frame.to_csv(data, index=False)
    (tmp_path / "out").mkdir()
    groups = tmp_path / "out" / "groups.json"
    groups.write_text('{"imaging": ["a"], "clinical": ["b"]}')
    code, captured = _cli(["study", str(data), "--target", "outcome", "--groups", str(groups), "--out",
                           str(tmp_path / "out"), "--overwrite"], capsys)
    assert code == 2 and "groups.json" in captured.err and groups.exists()
    # a file where the study's folder goes: refused before the study runs, the file kept
    (tmp_path / "afile.txt").write_text("mine")
    code, captured = _cli(["study", str(data), "--target", "outcome", "--out", str(tmp_path / "afile.txt"),
                           "--overwrite"], capsys)
    assert code == 2 and "is a file; give a folder path" in captured.err
    assert (tmp_path / "afile.txt").read_text() == "mine"


def test_the_environment_records_the_blas_thread_count_in_force():
    # on large tables the thread count alone changes the last bits of the products: results.json must say it
    from threadpoolctl import threadpool_limits

    from scintiml.stages.results import environment_section

    with threadpool_limits(limits=1, user_api="blas"):
        assert {lib["threads"] for lib in environment_section()["blas"]} == {1}
    with threadpool_limits(limits=2, user_api="blas"):
        assert {lib["threads"] for lib in environment_section()["blas"]} == {2}


def test_stages_rerun_by_hand_give_the_same_study(mibg_study):
    """run_study is only its stages: calling them by hand gives the same results, and one can be replaced."""
    from scintiml.stages import (assemble_results, explain_stage, explore_stage, fit_stage, readiness_stage,
                                 select_inputs_stage, select_order_stage, split_stage, test_stage)

    cohort = mibg_study.cohort
    data = split_stage(cohort, random_state=0)
    assert np.array_equal(data.split.testing, mibg_study.split.testing)
    explored = explore_stage(data)
    chosen = select_inputs_stage(data, "growing", random_state=0)
    order = select_order_stage(data, chosen.selected, random_state=0)
    fitted = fit_stage(data, chosen.selected, order.hidden_layer_sizes, random_state=0)
    testing = test_stage(data, fitted, random_state=0)
    explained = explain_stage(data, fitted, explored.univariate_fit, random_state=0)
    readiness = readiness_stage(cohort, random_state=0)
    results = assemble_results(data, explored, chosen, order, fitted, testing, explained, readiness, 0)
    # everything but the clock is the same, readiness's cross-validated AUCs included
    assert results["readiness"]["verdict"] == mibg_study.results["readiness"]["verdict"]
    skip = {"timings"}
    expected = {k: v for k, v in mibg_study.results.items() if k not in skip}
    assert {k: v for k, v in results.items() if k not in skip} == expected
    # replace one stage: a fixed input list, the rest unchanged
    fixed = fit_stage(data, ["delta_lvef"], (1,), random_state=0)
    assert fixed.model.architecture_ == (1, 1, 1) and test_stage(data, fixed).test["n"] == len(data.split.testing)


def test_partial_dependence_is_the_mean_prediction_over_a_grid(mibg_study):
    from scintiml.explain import partial_dependence_curves

    X = mibg_study.cohort.X[mibg_study.selected_inputs].iloc[:60].fillna(0)
    curves = partial_dependence_curves(mibg_study.model, X, n_points=4)
    col = mibg_study.selected_inputs[0]
    g = curves[col]["grid"][2]
    by_hand = mibg_study.model.predict_proba(X.assign(**{col: g}))[:, 1].mean()
    assert curves[col]["mean_probability"][2] == pytest.approx(by_hand, abs=1e-12)
    assert curves[col]["grid"][0] == pytest.approx(np.quantile(X[col], 0.05))


def test_predefined_split_keeps_the_published_testing_part():
    from scintiml.datasets import load_heart_failure, load_spectf
    from scintiml.errors import SplitError
    from scintiml.split import predefined_split

    cohort = load_spectf()
    s = predefined_split(cohort, random_state=0)
    assert np.array_equal(s.testing, cohort.predefined_split["testing"])
    assert sorted(np.r_[s.training, s.selection]) == sorted(cohort.predefined_split["training"])
    with pytest.raises(SplitError, match="no predefined split"):
        predefined_split(load_heart_failure())


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"ratios": (0.8, 0.2)}, "a split has three parts"),
        ({"seed": -1}, "--seed must be 0 or more"),  # the older name of random_state is checked too
        ({"n_jobs": 0}, "--jobs must be"),
        ({"selection": "bootstrap"}, "--selection must be one of"),
    ],
)
def test_run_study_refuses_impossible_options_before_any_work(kwargs, fragment):
    from scintiml.errors import ScintimlError

    cohort = make_mibg_cohort(n_patients=60, random_state=0).subset(["delta_lvef", "age"])
    with pytest.raises(ScintimlError, match=fragment):
        run_study(cohort, readiness=False, **kwargs)


def test_cli_study_warns_of_an_input_that_may_leak_the_outcome(tmp_path, capsys):
    cohort = make_mibg_cohort(n_patients=120, random_state=0)
    frame = cohort.X[["delta_lvef", "age"]].copy()
    frame["outcome"] = cohort.y
    frame["marker_x"] = cohort.y + 0.01 * np.random.RandomState(0).normal(size=len(frame))
    frame["followup_days"] = np.random.RandomState(1).randint(30, 900, size=len(frame))
    data = tmp_path / "leak.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "study"
    code, captured = _cli(["study", "--no-pdf", str(data), "--target", "outcome", "--selection", "split", "--inputs",
                           "all", "--out", str(out)], capsys)
    assert code == 0
    err = captured.err.replace("\n", " ")
    assert "'marker_x' separates the outcome almost alone" in err
    assert "'followup_days': its name suggests it is known only after the outcome" in err
    assert "'age'" not in err and "'delta_lvef'" not in err  # ordinary inputs are not flagged
    assert any("marker_x" in w for w in json.loads((out / "results.json").read_text())["warnings"])


def test_version_names_scintiml_and_the_libraries_its_numbers_depend_on(capsys):
    from importlib import metadata

    import scintiml

    assert run_cli(["--version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"scintiml {scintiml.__version__}"
    assert f"scikit-learn {metadata.version('scikit-learn')}" in lines[1] and len(lines) == 2


def _cohort_from(frame, target="ev"):
    from scintiml.cohort import load_cohort

    return load_cohort(frame, target)


def test_pure_noise_is_said_to_be_no_signal_and_its_rule_not_a_finding():
    from scintiml.report.writer import headline, summary_lines
    from scintiml.study import run_study

    rng = np.random.default_rng(11)
    noise = pd.DataFrame(rng.normal(size=(300, 4)).round(3), columns=["a", "b", "c", "d"])
    noise["ev"] = rng.integers(0, 2, 300)
    r = run_study(_cohort_from(noise), inputs="all", readiness=False, random_state=0).results
    lo, hi = r["test"]["auc_ci95"]
    assert lo <= 0.5 and r["signal"]["verdict"] == "not distinguishable from chance"
    assert r["signal"]["basis"] == "testing part" and r["warnings"][0].startswith("no signal the patients can")
    rule_line = next(line for line in headline(r) if line.startswith("rule:"))
    assert "not a finding" in rule_line and summary_lines(r)[0].startswith("No signal")
    # a real signal is said to be one
    from scintiml.datasets import make_mibg_cohort

    strong = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    r = run_study(strong, inputs="all", readiness=False, random_state=0).results
    assert r["test"]["auc_ci95"][0] > 0.5 and r["signal"]["verdict"] == "above chance"
    assert "not a finding" not in " ".join(headline(r)) and not r["warnings"][:1] == [r["signal"]["message"]]


def test_the_rule_is_judged_on_measured_values_and_a_mostly_missing_input_is_warned_of():
    from scintiml.study import run_study

    rng = np.random.default_rng(3)
    n = 300
    x0, x1 = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame({"x0": x0.round(3), "x1": x1.round(3)})
    frame["ev"] = (x0 + x1 + rng.normal(size=n) > 0).astype(int)
    frame.loc[rng.random(n) < 0.8, "x0"] = np.nan  # measured in one patient in five
    study = run_study(_cohort_from(frame), inputs="all", readiness=False, random_state=0)
    r = study.results
    assert any(w.startswith("input 'x0' is missing for 8") for w in r["warnings"])
    # recompute the rule's testing figures by hand on the raw values: a missing value meets no condition
    testing = frame.iloc[study.split.testing]
    called = np.ones(len(testing), bool) if r["rule"]["join"] == "and" else np.zeros(len(testing), bool)
    for c in r["rule"]["conditions"]:
        v = testing[c["input"]].to_numpy(float)
        holds = (v <= c["value"]) if c["op"] == "<=" else (v >= c["value"])  # NaN: False
        called = called & holds if r["rule"]["join"] == "and" else called | holds
    y = testing["ev"].to_numpy()
    assert r["rule"]["test"]["sensitivity"] == pytest.approx((called & (y == 1)).sum() / (y == 1).sum())
    assert r["rule"]["test"]["specificity"] == pytest.approx((~called & (y == 0)).sum() / (y == 0).sum())
    inputs = [c["input"] for c in r["rule"]["conditions"]]
    assert r["rule"]["test"]["patients_missing_a_rule_input"] == int(testing[inputs].isna().any(axis=1).sum())
    # a threshold found on the measured values, not at the median filled in for the network
    for c in r["rule"]["conditions"]:
        if c["input"] == "x0":
            assert c["value"] != pytest.approx(study.medians["x0"], abs=1e-3)


def test_the_headline_figure_is_said_beside_the_testing_split_figure_in_the_summary_and_terminal():
    """The report calls the nested figure the one to quote: its first paragraph and the terminal's first lines
    must say it (before, the summary quoted only the one split's AUC and the terminal put it after the warnings)."""
    from scintiml.report.writer import headline, summary_lines

    r = {"dataset": {"name": "demo", "n_patients": 100, "n_events": 30, "target": "ev", "positive": 1},
         "inputs": {"selected": ["a"], "all": ["a", "b"]}, "architecture": [1, 1, 1], "split": {
             "training": 60, "selection": 20, "testing": 20}, "selection": {"method": "growing"},
         "test": {"n": 20, "auc": 0.7, "auc_ci95": [0.5, 0.9], "threshold": 0.3, "sensitivity": 0.5,
                  "sensitivity_ci95": [0.2, 0.8], "specificity": 0.6, "specificity_ci95": [0.3, 0.8]},
         "best_single_predictor": {"input": "a", "direction": "higher", "test_auc": 0.7, "test_auc_ci95": [0.5, 0.9]},
         "rule": {"text": "a >= 3", "test": {}}, "readiness": None,
         "nested": {"auc": 0.744, "auc_ci95": [0.61, 0.87], "n_splits": 5, "n_repeats": 1, "baselines": {
             "logistic_regression": {"auc": 0.75, "network_minus_baseline": -0.006, "difference_ci95": [-0.1, 0.09]},
             "random_forest": {"auc": 0.731, "network_minus_baseline": 0.013, "difference_ci95": [-0.05, 0.08]}}}}
    terminal = headline(r)
    assert terminal[2] == ("headline (nested cross-validation, selection included): AUC 0.744 (0.610-0.870), "
                           "5-fold; best baseline logistic regression 0.750 on the same folds, difference -0.006 "
                           "(-0.100 to +0.090)")
    assert terminal[3] == "rule: a >= 3"
    summary = summary_lines(r)
    assert summary[2].startswith("Whole pipeline, selection included, by nested cross-validation (the figure to "
                                 "quote): AUC 0.744 (0.610–0.870)")
    assert summary[3].startswith("On the 20 testing patients (one split): AUC 0.700")
    del r["nested"]  # a study without the nested stage says only the split's figure
    assert not any("nested" in line for line in headline(r) + summary_lines(r))


def test_names_with_dollar_signs_are_drawn_as_names_not_mathtext(tmp_path):
    # matplotlib reads "$...$" as mathtext: an invalid one ("cost_$_^_$") crashed the report after the whole study
    # had run, a valid one drew another name than the column's
    from scintiml.cohort import load_cohort

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2))
    frame = pd.DataFrame({"cost_$_^_$": x[:, 0], r"a$\badcmd$": x[:, 1],
                          "y": (x[:, 0] + rng.normal(size=120) > 0).astype(int)})
    study = run_study(load_cohort(frame, target="y"), selection="split", inputs="all", readiness=False)
    paths = write_report(study.results, tmp_path, pdf=False)
    assert (tmp_path / "report.html").exists() and paths


def test_the_model_card_keeps_user_text_inert(tmp_path):
    # a line break in a column name forged a heading in card.md; <script>, links and backticks passed through
    from scintiml.bundle.card import card_markdown, model_card

    cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    names = {"delta_lvef": "lvef\n## Injected <script>x</script>", "planar_washout": "wash `out` [a](javascript:b)"}
    cohort.X = cohort.X.rename(columns=names)
    study = run_study(cohort, inputs="all", readiness=False, protocol={"isotope": "I-123\n# forged"})
    study.results["dataset"]["missing_codes"] = {names["delta_lvef"]: [-9.0]}  # the "read as missing" line
    text = card_markdown(model_card(study.results))
    assert not [line for line in text.splitlines() if line.lstrip("# ").startswith(("Injected", "forged"))]
    # the rule is one code span (its text is shown, never rendered, in CommonMark), whatever backticks it holds
    rule = next(line for line in text.splitlines() if line.startswith("- ``"))
    assert rule.endswith(" ``") and rule.count("``") == 2
    outside = text.replace(rule, "")
    assert "<script>" not in outside and not re.search(r"(?<!\\)\]\(javascript:", outside)  # "\](" is no link
    assert "\\<script\\>" in text  # said, not run


def test_no_signal_is_the_first_thing_the_terminal_says(tmp_path, capfd):
    # the README promises it first; it came sixth, after the figures it makes meaningless
    rng = np.random.default_rng(1)
    pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80), "y": rng.integers(0, 2, 80)}).to_csv(
        tmp_path / "noise.csv", index=False)
    assert run_cli(["study", "--no-pdf", str(tmp_path / "noise.csv"), "--target", "y",
                    "--out", str(tmp_path / "out")]) == 0
    err = capfd.readouterr().err.splitlines()
    assert err[0].startswith("warning: no signal the patients can support")
    assert sum(line.startswith("warning: no signal") for line in err) == 1  # said once


def test_a_wide_study_draws_figures_of_bounded_size(tmp_path):
    # 500 inputs kept (--inputs all): a partial-dependence figure of 1903 x 86,768 pixels, importance and network
    # drawings of 31 and 39 million pixels, 116 s; past ~540 inputs the PDF left the figure out
    from PIL import Image

    from scintiml.cohort import load_cohort

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 45))
    frame = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(45)])
    frame["y"] = (X[:, 0] + rng.normal(size=80) > 0).astype(int)
    study = run_study(load_cohort(frame, target="y"), selection="split", inputs="all", readiness=False)
    assert len(study.results["partial_dependence"]) == 12 and len(study.results["importance"]) == 45
    write_report(study.results, tmp_path, pdf=False)
    for name in ("importance", "network", "partial_dependence"):
        width, height = Image.open(tmp_path / "figures" / f"{name}.png").size
        assert width * height < 6e6, (name, width, height)


def test_long_input_names_are_shortened_in_the_figures_not_in_the_results(tmp_path):
    # 300-character names: an importance figure 5,444 pixels wide and a heat map of 4,853 x 4,690
    from PIL import Image

    from scintiml.cohort import load_cohort

    rng = np.random.default_rng(0)
    names = [f"lesion_{i}_" + "radiomic_feature_" * 17 + f"view_{i}" for i in range(3)]
    frame = pd.DataFrame(rng.normal(size=(80, 3)), columns=names)
    frame["y"] = (frame[names[0]] + rng.normal(size=80) > 0).astype(int)
    study = run_study(load_cohort(frame, target="y"), selection="split", inputs="all", readiness=False)
    assert {x["group"] for x in study.results["importance"]} == set(names)  # results keep every name whole
    write_report(study.results, tmp_path, pdf=False)
    for name in ("importance", "correlation_heatmap", "network", "partial_dependence"):
        path = tmp_path / "figures" / f"{name}.png"
        if path.exists():
            width, _ = Image.open(path).size
            assert width < 2600, (name, width)


def test_the_model_card_carries_the_nested_headline_it_tells_people_to_quote(mibg_study):
    # the card gave only the one split's testing AUC (0.967 on 5 events) while the report's headline was 0.840
    from scintiml.bundle.card import card_markdown, model_card

    r = json.loads(json.dumps(mibg_study.results))
    r["nested"] = {"auc": 0.744, "auc_ci95": [0.61, 0.87], "n_splits": 5, "n_repeats": 1, "what": "whole pipeline",
                   "interval": "corrected resampled t (Nadeau & Bengio 2003)", "baselines": {
                       "logistic_regression": {"auc": 0.75, "network_minus_baseline": -0.006,
                                               "difference_ci95": [-0.1, 0.09]},
                       "random_forest": {"auc": 0.731, "network_minus_baseline": 0.013,
                                         "difference_ci95": [-0.05, 0.08]}}}
    card = model_card(r)
    assert card["headline"]["auc"] == 0.744 and card["headline"]["best_baseline"]["name"] == "logistic_regression"
    text = card_markdown(card)
    assert "## Headline: nested cross-validation (the figure to quote; 95 % CI)" in text
    assert "- AUC 0.744 (0.61–0.87): whole pipeline (corrected resampled t (Nadeau & Bengio 2003))" in text
    assert "logistic regression 0.750; network − baseline -0.006 (-0.100 to +0.090)" in text
    assert "the nested cross-validation headline, over all patients, is the figure to quote" in text
    assert text.index("Headline") < text.index("Metrics on the testing instances (one split")
    del r["nested"]  # a study run without it: no headline section, the old limit sentence
    assert "Headline" not in card_markdown(model_card(r)) and model_card(r)["headline"] is None


def test_a_range_with_a_negative_end_is_written_with_to():
    from scintiml.report.writer import _fmt

    assert _fmt([-0.217, 0.149]) == "-0.217 to 0.149" and _fmt([0.2, 0.9], 2) == "0.20–0.90"


def test_an_infinite_likelihood_ratio_and_a_bandless_roc_are_said_as_such(mibg_study):
    # a perfectly separated testing part: LR+ printed "n/a" beside the interval 2.649-634.602 (now "∞" and
    # "x–∞"), and the ROC legend promised a "95 % confidence band" that had no width
    from scintiml.report.figures import FIGURES
    from scintiml.report.writer import render_html

    r = json.loads(json.dumps(mibg_study.results))
    r["test"]["lr_positive"], r["test"]["lr_positive_ci95"] = None, [4.5, None]
    html = render_html(r, {name: "" for name in FIGURES})
    assert "∞ (no non-event called positive)</td><td class=\"num\">4.500–∞" in html
    r["test"]["lr_negative"], r["test"]["lr_negative_ci95"] = None, [2.0, None]  # every non-event called positive
    assert "∞ (no non-event called negative)</td><td class=\"num\">2.000–∞" in render_html(r, {n: "" for n in FIGURES})
    band = r["test"]["roc"]["band"]
    band["lower"] = band["upper"] = [1.0] * len(band["upper"])
    fig = FIGURES["roc"][0](r)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "no bootstrap band: every resample is separated" in labels and "95 % confidence band" not in labels


def test_notebook_arguments_get_a_specific_error_before_any_work():
    # a DataFrame or a path where a Cohort is needed failed deep in the split (IndexError, "invalid literal")
    from scintiml.errors import SplitError

    cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    frame = cohort.X.assign(outcome=cohort.y)
    cases = [({"cohort": frame}, "run_study needs a Cohort, got DataFrame; read the table first with "
                                 "scintiml.load_cohort"),
             ({"cohort": cohort, "random_state": "a"}, "--seed must be a whole number"),
             ({"cohort": cohort, "random_state": 1.5}, "--seed must be a whole number"),
             ({"cohort": cohort, "max_inputs": "3"}, "--max-inputs must be a whole number of at least 1, got '3'"),
             ({"cohort": cohort, "protocol": ["a=b"]}, "protocol must be a mapping of KEY to VALUE"),
             ({"cohort": cohort, "split": (1, 2, 3)}, "split must be a scintiml Split")]
    for kwargs, message in cases:
        with pytest.raises(ScintimlError, match=re.escape(message)):
            run_study(**kwargs, inputs="all", readiness=False)
    with pytest.raises(SplitError, match="cannot read split '60:x:20'"):
        run_study(cohort, ratios="60:x:20", inputs="all", readiness=False)
    # the command line's form of the ratios is read as it is there
    assert run_study(cohort, ratios="60:20:20", inputs="all", readiness=False).results["split"]["testing"] == 40


def test_reprs_say_what_a_result_is_in_one_line(mibg_study):
    # a notebook cell ending in a result printed 87,000 characters (StudyResult), 28,000 (BinaryEvaluation)
    text = repr(mibg_study)
    test = mibg_study.results["test"]
    assert len(text) < 300 and f"testing AUC {test['auc']:.3f}" in text and str(mibg_study.selected_inputs) in text
    cohort = mibg_study.cohort
    assert repr(cohort) == (f"Cohort({cohort.name!r}: {len(cohort.y)} patients, {int(cohort.y.sum())} with "
                            f"{cohort.target} = {cohort.positive}, {cohort.X.shape[1]} inputs)")
    from scintiml.evaluate import evaluate_binary

    ev = evaluate_binary(np.r_[np.ones(10), np.zeros(20)], np.linspace(0, 1, 30), threshold=0.5)
    assert len(repr(ev)) < 200 and repr(ev).startswith(f"BinaryEvaluation(n=30, events=10, AUC {ev.auc.auc:.3f}")


def test_a_machine_without_the_pdf_library_still_gets_the_html_report(mibg_study, tmp_path, monkeypatch,
                                                                         no_pango):
    # WeasyPrint raises OSError "cannot load library 'libpango-1.0-0'" where pango is missing: the whole study ran
    # and then nothing was written, not even report.html
    import sys

    with pytest.warns(UserWarning, match="report.pdf not written: the PDF writer cannot start here .*libpango"):
        paths = write_report(mibg_study.results, tmp_path)
    assert sorted(paths) == ["html"] and (tmp_path / "report.html").stat().st_size > 10_000
    assert not (tmp_path / "report.pdf").exists()
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # not installed at all: the same
    with pytest.warns(UserWarning, match="report.pdf not written"):
        assert sorted(write_report(mibg_study.results, tmp_path / "again")) == ["html"]


def test_a_study_beyond_the_measured_sizes_says_so_first_and_logs_its_stages(tmp_path, capfd, monkeypatch):
    # 50,000 x 10 printed nothing for 8 minutes over a pipe (no bar where stderr is no terminal): it looked hung.
    # The measured bound is lowered here so that a small study stands in for a large one.
    import scintiml.study as study_module

    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])
    frame["y"] = (frame["a"] + rng.normal(size=80) > 0).astype(int)
    frame.to_csv(tmp_path / "c.csv", index=False)
    args = ["study", "--no-pdf", str(tmp_path / "c.csv"), "--target", "y", "--inputs", "all", "--selection", "split"]
    assert run_cli([*args, "--out", str(tmp_path / "within")]) == 0
    err = capfd.readouterr().err.splitlines()
    assert not [line for line in err if line.startswith("stage:") or "larger than the largest measured" in line]
    monkeypatch.setattr(study_module, "MEASURED_INPUTS", 2)
    assert run_cli([*args, "--out", str(tmp_path / "beyond")]) == 0
    err = capfd.readouterr().err.splitlines()
    assert err[0].startswith("warning: this cohort (80 patients x 3 inputs) is larger than the largest measured")
    stages = [line.split(" (after")[0] for line in err if line.startswith("stage:")]
    assert stages[:4] == ["stage: split", "stage: explore", "stage: input selection", "stage: order selection"]
    assert stages[-1] == "stage: report"
    # --no-pdf: the report without its PDF
    assert (tmp_path / "beyond" / "report.html").exists() and not (tmp_path / "beyond" / "report.pdf").exists()
