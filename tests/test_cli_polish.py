"""What a new user's walk through the command line met: the help of a bare group, option names in messages, the
drift table off a terminal, the model card's text, the demo's silence and its hint about input groups."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scintiml.cli import main


def _run(args: list[str]) -> int:
    """``scintiml ARGS`` in-process; the exit status (0 when main() returns)."""
    saved, sys.argv = sys.argv, ["scintiml", *args]
    try:
        main()
    except SystemExit as exc:
        return exc.code or 0
    finally:
        sys.argv = saved
    return 0


@pytest.mark.parametrize("args, usage, command", [([], "scintiml [OPTIONS] COMMAND [ARGS]...", "demo"),
                                                  (["cnn"], "scintiml cnn [OPTIONS] COMMAND [ARGS]...", "drift")])
def test_a_group_without_its_command_prints_the_help_as_help(args, usage, command, capfd):
    # it printed "error: Usage: ... Commands: simulate ... deid ..." flattened into one line
    assert _run(args) == 2  # click's own convention for a group given no command
    err = capfd.readouterr().err
    lines = err.splitlines()
    # (the program's name is pytest's in-process: only its end is checked)
    assert lines[0].startswith("Usage: ") and lines[0].endswith(usage) and "error:" not in err
    assert "Commands:" in lines and any(line.split()[:1] == [command] for line in lines) and len(lines) > 5


def test_the_command_line_names_its_own_options_first(tmp_path, capfd):
    # "drop them with exclude=[...] (CLI: --exclude) ... pass one as id_column=... (CLI: --id)" at the shell
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"code": [f"P-{i:04d}" for i in range(60)], "a": rng.normal(size=60),
                          "y": np.tile([0, 1], 30)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert _run(["describe", str(tmp_path / "t.csv"), "--target", "y"]) == 2
    err = capfd.readouterr().err
    assert err.startswith("error: input column(s) 'code'") and err.count("\n") == 1
    assert "drop them with --exclude COLUMN (Python: exclude=[...])" in err
    assert "pass one as --id COLUMN (Python: id_column=...)" in err
    assert "(CLI:" not in err


def test_the_library_message_keeps_its_python_form():
    from scintiml.cohort import load_cohort
    from scintiml.errors import ScintimlError

    frame = pd.DataFrame({"code": [f"P-{i:04d}" for i in range(60)], "a": np.arange(60.0), "y": np.tile([0, 1], 30)})
    with pytest.raises(ScintimlError, match=r"exclude=\[\.\.\.\] \(CLI: --exclude\)"):
        load_cohort(frame, "y")


def test_the_drift_table_is_printed_whole_off_a_terminal(monkeypatch, capsys):
    # rich squeezed it to 80 columns off a terminal: "protoc…", "0.912 (0.8…"; print(width=160) is capped at 80
    pytest.importorskip("torch")
    import scintiml.cnn.workflow as workflow

    row = {"protocol": "reference (LEHR, 128 x 128, anterior first)", "auc": 0.912, "auc_ci_low": 0.851,
           "auc_ci_high": 0.973, "delong_p_vs_reference": 1.0, "calibration_in_the_large": -0.12,
           "calibration_slope": 0.97, "sensitivity": 0.95, "sensitivity_ci_low": 0.87, "sensitivity_ci_high": 0.99,
           "specificity": 0.61, "specificity_ci_low": 0.52, "specificity_ci_high": 0.70, "breaks_promise": False,
           "specificity_drop": True}
    monkeypatch.setattr(workflow, "write_drift_table", lambda *a, **k: pd.DataFrame([row]))
    assert _run(["cnn", "drift", "no-model-needed", "--n", "10"]) == 0
    text = capsys.readouterr().out
    assert "…" not in text
    for cell in (row["protocol"], "0.912 (0.851-0.973)", "0.95 (0.87-0.99)", "0.61 (0.52-0.70)",
                 "kept, specificity down", "cal. intercept"):
        assert cell in text


def test_the_model_card_is_markdown_not_html():
    # card.md read "Nadeau &amp; Bengio": HTML escaping in a Markdown file
    from scintiml.bundle.card import markdown_text

    assert markdown_text("corrected resampled t (Nadeau & Bengio 2003)") == \
        "corrected resampled t (Nadeau & Bengio 2003)"
    inert = markdown_text("<script>x</script> &amp;")
    assert "<script>" not in inert and "&lt;" not in inert and "\\&amp;" in inert  # still no tag, no reference


def test_the_cnn_card_is_markdown_not_html():
    pytest.importorskip("torch")
    from scintiml.cnn.bundle import card_markdown

    text = card_markdown({"data": "sim & co: <b>16</b> studies", "views": ["ANT"], "protocol": {"a": "b"}})
    assert "- data: sim & co: \\<b\\>16\\</b\\> studies" in text and "&amp;" not in text


def _fake_study(calls: list):
    """write_study's stand-in: says its stages, returns a study of no input groups (no readiness)."""
    def write_study(cohort, out, progress=None, **options):
        for stage in ("split", "explore", "input selection", "report"):
            progress(stage, 0)
        calls.append(cohort.name)
        results = {"dataset": {"name": cohort.name}, "inputs": {"selected": ["age"]}, "architecture": [1, 1, 1],
                   "test": {"auc": 0.7, "auc_ci95": [0.6, 0.8]}, "rule": {"text": "age >= 70"}, "readiness": None,
                   "warnings": []}
        return SimpleNamespace(results=results)
    return write_study


def test_the_demo_says_its_stages_off_a_terminal_and_a_hint_it_can_follow(tmp_path, monkeypatch, capfd):
    # `make demo` printed nothing for ~2 minutes off a terminal, then told to use --groups, which demo has not
    import scintiml.study as study_module

    calls: list = []
    monkeypatch.setattr(study_module, "write_study", _fake_study(calls))
    assert _run(["demo", "--out", str(tmp_path / "d")]) == 0
    captured = capfd.readouterr()
    assert calls  # the stand-in ran
    stages = [line.split(" (after")[0] for line in captured.err.splitlines() if line.startswith("stage:")]
    assert stages == ["stage: split", "stage: explore", "stage: input selection", "stage: report"]
    out = captured.out.splitlines()
    assert out[0].startswith(calls[0]) and out[-1].startswith("report: ")  # the summary line still comes first
    hint = next(line for line in out if line.startswith("deep learning: not assessed"))
    assert "scintiml demo --cohort heart-disease" in hint and "give them with --groups FILE" not in hint
