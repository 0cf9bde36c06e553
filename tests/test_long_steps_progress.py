"""The steps before a CNN's first epoch report their progress: reading thousands of DICOM files and the near-copy
search each took minutes on a department's archive with the progress bar standing still."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_cli
from scintiml.cnn.copies import find_copies, near_copies
from scintiml.imaging.ingest import read_studies


def _recorder():
    calls = []
    return calls, lambda *args: calls.append(args)


def test_near_copy_search_reports_each_block_and_finds_the_same_pairs():
    x = np.random.default_rng(4).poisson(40.0, (5, 1, 64, 64)).astype(float)
    x[3] = np.round(x[0] / 2)  # a copy at half the bit depth
    calls, record = _recorder()
    found = near_copies(x, block=2, progress=record)
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert [(i, j) for i, j, _ in found] == [(i, j) for i, j, _ in near_copies(x)] == [(0, 3)]
    calls, record = _recorder()
    assert [(i, j) for i, j, _ in find_copies(x, progress=record).near] == [(0, 3)]
    assert calls[-1] == (5, 5)


def test_reading_reports_every_file_from_none_to_all(tmp_path):
    pytest.importorskip("pydicom")
    assert run_cli(["simulate", "--out", str(tmp_path / "sim"), "--n", "3", "--seed", "1"]) == 0
    files = [p for p in (tmp_path / "sim" / "dicom").rglob("*") if p.is_file()]
    calls, record = _recorder()
    studies, _ = read_studies(tmp_path / "sim" / "dicom", progress=record)
    assert len(studies) == 3
    assert calls[0] == (0, len(files)) and calls[-1] == (len(files), len(files))
    done = [k for k, _ in calls]
    assert done == sorted(done) and len(calls) == len(files) + 1


def test_cnn_training_reports_reading_then_the_copy_search(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    from scintiml.cnn.workflow import train_from_folder

    assert run_cli(["simulate", "--out", str(tmp_path / "sim"), "--n", "16", "--prevalence", "0.5", "--seed", "3"]) == 0
    calls, record = _recorder()
    model, _ = train_from_folder(tmp_path / "sim", tmp_path / "model", epochs=1, max_steps=1, steps=record)
    whats = [c[0] for c in calls]
    assert set(whats) == {"reading", "copies"}
    assert whats.index("copies") > len(whats) - 1 - whats[::-1].index("reading")  # every read before the search
    assert calls[-1] == ("copies", 16, 16)
    assert (tmp_path / "model").is_dir()
