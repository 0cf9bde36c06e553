"""Findings of a hostile-input sweep (session 18) on outputs: --overwrite replaced one kind of scintiml output with
another (a study deleted for a recalibrated bundle), predict wrote CSV under a .tsv or .npz name and over a file of a
study, a split that adds up to 110 was rescaled without a word, and a compressed table was "an unknown file type"."""

from __future__ import annotations

import os
import warnings

import pandas as pd
import pytest

from conftest import run_cli
from scintiml.cohort import read_table
from scintiml.errors import CohortFileError
from scintiml.io.atomic import OUTPUT_MARKER, output_kind
from scintiml.split import parse_ratios


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from scintiml.datasets import make_mibg_cohort
    from scintiml.study import write_study

    root = tmp_path_factory.mktemp("outputs18")
    cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    write_study(cohort, root / "study", inputs="all", readiness=False, pdf=False)
    data = cohort.X.assign(event=cohort.y)
    data.to_csv(root / "site.csv", index=False)
    return root


def test_the_marker_records_the_kind_of_output(study):
    assert output_kind(study / "study") == "study" and output_kind(study / "study" / "model") == "model bundle"
    assert output_kind(study) is None  # no marker


def test_overwrite_replaces_an_output_of_its_own_kind_only(study, capsys):
    site = str(study / "site.csv")
    assert run_cli(["recalibrate", str(study / "study" / "model"), site, "--target", "event",
                    "--out", str(study / "recal")]) == 0
    results = (study / "study" / "results.json").read_bytes()
    assert run_cli(["recalibrate", str(study / "recal"), site, "--target", "event", "--out", str(study / "study"),
                    "--overwrite"]) == 2
    assert "holds a scintiml study, and this command writes a model bundle" in capsys.readouterr().err
    assert (study / "study" / "results.json").read_bytes() == results  # nothing changed
    assert run_cli(["validate", str(study / "study" / "model"), site, "--target", "event", "--no-pdf",
                    "--out", str(study / "recal"), "--overwrite"]) == 2
    assert "holds a scintiml model bundle, and this command writes a validation" in capsys.readouterr().err
    # the same kind is replaced, as --overwrite says
    assert run_cli(["recalibrate", str(study / "study" / "model"), site, "--target", "event",
                    "--out", str(study / "recal"), "--overwrite", "--method", "intercept"]) == 0


def test_predict_writes_tab_separated_for_a_tsv_name_and_refuses_other_formats(study, capsys):
    model, site = str(study / "study" / "model"), str(study / "site.csv")
    assert run_cli(["predict", model, site, "--out", str(study / "p.tsv")]) == 0
    tsv = pd.read_csv(study / "p.tsv", sep="\t")
    assert len(tsv) == 200 and "probability" in tsv.columns
    assert run_cli(["predict", model, site, "--out", str(study / "p.npz")]) == 2
    assert "names a .npz file" in capsys.readouterr().err and not (study / "p.npz").exists()


def test_predict_does_not_replace_a_file_of_a_scintiml_output(study, capsys):
    model, site = str(study / "study" / "model"), str(study / "site.csv")
    target = study / "study" / "split.csv"
    if not target.exists():  # any file the study wrote
        target = next(p for p in (study / "study").iterdir() if p.suffix == ".csv")
    before = target.read_bytes()
    assert (study / "study" / OUTPUT_MARKER).is_file()
    assert run_cli(["predict", model, site, "--out", str(target), "--overwrite"]) == 2
    assert "lies in the scintiml study folder" in capsys.readouterr().err
    assert target.read_bytes() == before


def test_a_split_that_misses_100_is_warned_of_and_proportions_are_not():
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        assert parse_ratios("60:20:30") == pytest.approx((60 / 110, 20 / 110, 30 / 110))
        parse_ratios("0.6:0.2:0.3")
        parse_ratios("60:20:20"), parse_ratios("3:1:1"), parse_ratios("0.6:0.2:0.2"), parse_ratios("1:1:0")
    assert [str(w.message)[:40] for w in said] == ["split '60:20:30' adds up to 110, not 100",
                                                   "split '0.6:0.2:0.3' adds up to 1.1, not "]


@pytest.mark.parametrize("name", ["t.csv.gz", "t.csv"])
def test_a_gzip_compressed_table_is_named_as_one(tmp_path, name):
    import gzip

    (tmp_path / name).write_bytes(gzip.compress(b"a,b\n1,2\n"))
    with pytest.raises(CohortFileError, match="is a gzip-compressed file, not a table; decompress it first"):
        read_table(tmp_path / name)


def test_a_killed_runs_temporary_is_removed_by_the_next_run_and_no_other(tmp_path):
    import subprocess
    import sys

    from scintiml.io.atomic import _HOST, _hold, atomic_dir

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process that no longer exists, as after SIGKILL
    target = tmp_path / "study"
    orphan = tmp_path / f".study.tmp-{_HOST}-{dead.pid}-0123456789ab"
    (orphan / "figures").mkdir(parents=True)
    live = tmp_path / f".study.tmp-{_HOST}-{os.getpid()}-0123456789ab"  # a run still writing
    other_host = tmp_path / f".study.tmp-00000000-{dead.pid}-0123456789ab"  # a shared drive's other machine
    old = tmp_path / ".study.tmp-0123456789ab"  # named before 0.7.5: no process to judge by
    other_output = tmp_path / f".report.tmp-{_HOST}-{dead.pid}-0123456789ab"
    # a live run in another container: its process id means nothing here, but it holds the folder's lock
    other_namespace = tmp_path / f".study.tmp-{_HOST}-{dead.pid}-fedcba987654"
    crafted = tmp_path / f".study.tmp-{_HOST}-{10 ** 20}-0123456789ab"  # no process can have this id
    for folder in (live, other_host, old, other_output, other_namespace, crafted):
        folder.mkdir()
    held = _hold(other_namespace)
    try:
        with atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text("done")
    finally:
        os.close(held)
    assert not orphan.exists()
    assert all(p.exists() for p in (live, other_host, old, other_output, other_namespace, crafted))
    assert (target / "a.txt").is_file()


def test_a_long_output_name_leaves_room_for_its_temporary(tmp_path):
    from scintiml.io.atomic import atomic_dir, atomic_file

    name = "p" * 240  # a legal name (255 at most); its temporary once added 34 characters and was refused
    with atomic_file(tmp_path / f"{name}.csv") as tmp:
        tmp.write_text("a\n1\n")
    with atomic_dir(tmp_path / name) as tmp:
        (tmp / "x").write_text("1")
    assert (tmp_path / f"{name}.csv").is_file() and (tmp_path / name / "x").is_file()
