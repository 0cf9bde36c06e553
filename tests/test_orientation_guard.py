"""Per-view orientation checks of the CNN protocol guard (one view mirrored or upside down, swapped view labels).

Before these checks, only a wholly mirrored study was flagged: each altered study below scored ``ok``.
"""

from __future__ import annotations

import numpy as np
import pytest

from scintiml.cnn.guard import ProtocolGuard
from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans
from scintiml.imaging import PlanarStudy

I = {v: i for i, v in enumerate(VIEWS)}


@pytest.fixture(scope="module")
def guard_and_studies():
    template = np.stack([c.stack() for c in simulate_perfusion_scans(20, random_state=0)])
    unseen = np.stack([c.stack() for c in simulate_perfusion_scans(6, random_state=8888)])
    return ProtocolGuard.from_training(template, VIEWS), unseen


def _orientation(problems: list[str]) -> list[str]:
    return [p for p in problems if any(w in p for w in ("mirrored", "upside", "swapped"))]


def test_correctly_acquired_studies_pass(guard_and_studies):
    guard, unseen = guard_and_studies
    assert [guard.check_counts(x) for x in unseen] == [[]] * len(unseen)


@pytest.mark.parametrize("view", ["ANT", "RAO", "RPO"])
def test_one_mirrored_view_is_named(guard_and_studies, view):
    guard, unseen = guard_and_studies
    x = unseen[0].copy()
    x[I[view]] = x[I[view]][:, ::-1]
    assert _orientation(guard.check_counts(x)) == [f"view {view} looks mirrored"]


def test_upside_down_study_and_view_are_flagged(guard_and_studies):
    guard, unseen = guard_and_studies
    assert guard.check_counts(unseen[1][:, ::-1, :]) == ["upside-down (top-bottom flipped) views"]
    x = unseen[1].copy()
    x[I["POST"]] = x[I["POST"]][::-1]
    assert guard.check_counts(x) == ["view POST looks upside down"]


@pytest.mark.parametrize("a, b", [("RAO", "LAO"), ("RPO", "LPO"), ("POST", "RPO")])
def test_swapped_view_labels_are_flagged(guard_and_studies, a, b):
    guard, unseen = guard_and_studies
    x = unseen[2].copy()
    x[[I[a], I[b]]] = x[[I[b], I[a]]]
    assert guard.check_counts(x) == [f"views {a} and {b} look swapped"]


def test_wholly_mirrored_study_keeps_its_one_message(guard_and_studies):
    guard, unseen = guard_and_studies
    assert guard.check_counts(unseen[3][:, :, ::-1]) == ["mirrored (left-right flipped) views"]
    study = PlanarStudy(views={v: unseen[3][I[v]][:, ::-1] for v in VIEWS})
    assert guard.check(study) == ["mirrored (left-right flipped) views"]
