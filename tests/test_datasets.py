import hashlib
from importlib.resources import files

import numpy as np
import pytest

from scintiml import split_cohort
from scintiml.datasets import load_heart_failure, load_spectf, make_extravasation_cohort, make_mibg_cohort


def test_spectf_shape_events_and_uci_split():
    cohort = load_spectf()
    assert cohort.X.shape == (267, 44)
    assert cohort.n_events == 212
    split = cohort.uci_split
    assert len(split["training"]) == 80 and len(split["testing"]) == 187
    # UCI's training set is balanced: 40 normal, 40 abnormal
    assert cohort.y[split["training"]].sum() == 40
    assert cohort.y[split["testing"]].sum() == 172
    assert "Kurgan" in cohort.citation
    assert cohort.groups["imaging"] == cohort.inputs


def test_bundled_files_are_the_published_ones():
    data = files("scintiml.datasets").joinpath("data")
    digest = hashlib.sha256(data.joinpath("spectf.csv").read_bytes()).hexdigest()
    assert digest == "b00cee166857e576e3b7bac3b25298f8206b3492287be2c0f6901ccbf633e827"
    digest = hashlib.sha256(data.joinpath("heart_failure.csv").read_bytes()).hexdigest()
    assert digest == "9c73cea7468ff5d517801ec050fe9993da5912fce4b56f296f8df3b38dd75912"


def test_heart_failure_drops_time_by_default():
    cohort = load_heart_failure()
    assert cohort.X.shape == (299, 11)
    assert cohort.n_events == 96
    assert "time" not in cohort.inputs
    assert any("leak" in n for n in cohort.notes)
    assert "time" in load_heart_failure(include_time=True).inputs


def test_mibg_truth():
    cohort = make_mibg_cohort(n_patients=400, random_state=1)
    assert cohort.n_inputs == 84
    assert set(cohort.truth["inputs"]) <= set(cohort.inputs)
    assert "planar_washout" in cohort.groups["imaging"] and "delta_lvef" in cohort.groups["clinical"]
    assert set(cohort.groups["imaging"]) | set(cohort.groups["clinical"]) == set(cohort.inputs)
    # the rule holds: events concentrate where both conditions hold
    X, y = cohort.X, cohort.y
    both = (X["delta_lvef"] <= -10) & (X["planar_washout"] >= 30)
    assert y[both].mean() > 0.7 and y[~both].mean() < 0.2
    # same seed, same cohort
    np.testing.assert_array_equal(make_mibg_cohort(400, random_state=1).X, X)


def test_extravasation_families_are_redundant_and_others_are_not():
    cohort = make_extravasation_cohort(random_state=0)
    assert cohort.X.shape == (863, 45)
    corr = cohort.X.corr().abs()
    family_of = {m: f for f, ms in cohort.truth["families"].items() for m in ms}
    for a in corr.columns:
        for b in corr.columns:
            if a >= b:
                continue
            same = a in family_of and family_of.get(a) == family_of.get(b)
            assert (corr.loc[a, b] > 0.95) == same, (a, b, corr.loc[a, b])


def test_split_is_stratified_and_reproducible():
    cohort = load_heart_failure()
    split = split_cohort(cohort, random_state=3)
    counts = split.counts(cohort.y)
    assert counts["training"]["n"] + counts["selection"]["n"] + counts["testing"]["n"] == 299
    for part in ("training", "selection", "testing"):
        rate = counts[part]["events"] / counts[part]["n"]
        assert abs(rate - 96 / 299) < 0.02
    assert abs(counts["training"]["n"] - 0.6 * 299) <= 2
    all_rows = np.concatenate([split.training, split.selection, split.testing])
    assert len(np.unique(all_rows)) == 299
    again = split_cohort(cohort, random_state=3)
    np.testing.assert_array_equal(split.testing, again.testing)


def test_split_warns_on_few_events():
    y = np.r_[np.zeros(100), np.ones(12)].astype(int)
    with pytest.warns(UserWarning, match="only 2 event"):
        split_cohort(y, random_state=0)
