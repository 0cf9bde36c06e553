"""Wide tables: the stored / drawn correlation matrix is capped, redundancy groups are still found among all inputs."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from scintiml.cohort import Cohort
from scintiml.explore import correlation_with_outcome, redundancy, redundancy_groups
from scintiml.report.figures import FIGURES, figure_style
from scintiml.stages import explore_stage, split_stage
from scintiml.stages.explore import MAX_CORRELATION_INPUTS, correlation_inputs


def wide_cohort(n_inputs, n_patients=40, seed=0, missing=0.05):
    """``signal`` separates the outcome; ``weak_a`` (AUC 0.5 exactly) / ``weak_b`` are near-copies that carry
    nothing (even number of patients, events first)."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_patients // 2, int), np.zeros(n_patients - n_patients // 2, int)]
    X = pd.DataFrame(rng.normal(size=(n_patients, n_inputs)), columns=[f"x{i:04d}" for i in range(n_inputs)])
    X = X.rename(columns={"x0010": "signal", "x0020": "weak_a", "x0021": "weak_b"})
    X["signal"] += 3.0 * y
    X = X.mask(rng.random(X.shape) < missing)
    half = rng.normal(size=n_patients // 2)  # the same values in both outcome groups: AUC exactly 0.5
    X["weak_a"] = np.r_[half, half]
    X["weak_b"] = X["weak_a"] + 0.02 * rng.normal(size=n_patients)
    return Cohort(X=X, y=y, ids=np.arange(n_patients), target="event", positive=1)


def old_redundancy_groups(X, y, threshold=0.9, method="pearson"):
    """redundancy_groups as it was before the blockwise distance (the whole matrix), the reference."""
    corr = X.corr(method=method).abs().fillna(0.0).to_numpy()
    names = list(X.columns)
    dist = np.clip(1.0 - corr, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    dist = (dist + dist.T) / 2.0
    labels = fcluster(linkage(squareform(dist, checks=False), method="complete"), t=1.0 - threshold + 1e-12,
                      criterion="distance")
    outcome_r = correlation_with_outcome(X, y, method).abs()
    groups = []
    for label in np.unique(labels):
        members = [names[i] for i in np.flatnonzero(labels == label)]
        if len(members) < 2:
            continue
        representative = max(members, key=lambda m: (outcome_r.get(m, 0.0), -members.index(m)))
        sub = corr[np.ix_([names.index(m) for m in members], [names.index(m) for m in members])]
        groups.append({"members": members, "representative": representative,
                       "min_abs_r": float(sub[np.triu_indices(len(members), 1)].min())})
    return sorted(groups, key=lambda g: -len(g["members"]))


@pytest.fixture(scope="module")
def wide():
    cohort = wide_cohort(MAX_CORRELATION_INPUTS + 50)
    return cohort, explore_stage(split_stage(cohort)).results


def test_wide_matrix_is_capped_to_the_inputs_most_associated(wide):
    cohort, results = wide
    corr = results["correlation"]
    cap = MAX_CORRELATION_INPUTS
    assert corr["n_inputs"] == cohort.X.shape[1] == cap + 50
    assert len(corr["inputs"]) == cap and np.asarray(corr["matrix"]).shape == (cap, cap)
    assert "signal" in corr["inputs"] and str(cap) in corr["shown"] and "associated with the outcome" in corr["shown"]
    # the values are pandas' pairwise-complete correlations of those columns (and of the whole matrix)
    expected = cohort.X[corr["inputs"]].corr().to_numpy()
    np.testing.assert_array_equal(np.asarray(corr["matrix"], float), expected)
    whole = cohort.X.corr().loc[corr["inputs"], corr["inputs"]].to_numpy()
    np.testing.assert_array_equal(np.asarray(corr["matrix"], float), whole)
    # chosen by oriented AUC: every shown input is at least as strong as every input left out; table order kept
    auc = {r["input"]: r["auc_oriented"] for r in results["univariate"]}
    left_out = [c for c in cohort.X.columns if c not in corr["inputs"]]
    assert len(left_out) == 50
    assert min(auc[c] for c in corr["inputs"]) >= max(auc[c] for c in left_out)
    assert corr["inputs"] == [c for c in cohort.X.columns if c in set(corr["inputs"])]
    assert len(json.dumps(corr)) < 400_000  # 2,000 inputs stored all 86 MB


def test_wide_redundancy_groups_still_among_all_inputs(wide):
    cohort, results = wide
    groups = results["redundancy_groups"]
    assert groups == old_redundancy_groups(cohort.X, cohort.y)
    assert {"weak_a", "weak_b"} in [set(g["members"]) for g in groups]
    # the near-copies carry no signal: weak_a is outside the stored matrix, and they are still found
    assert "weak_a" not in results["correlation"]["inputs"]


def test_below_the_cap_nothing_changes():
    cohort = wide_cohort(30, seed=1)
    corr = explore_stage(split_stage(cohort)).results["correlation"]
    assert set(corr) == {"inputs", "matrix", "n_inputs"}
    assert corr["inputs"] == list(cohort.X.columns) and corr["n_inputs"] == 30
    np.testing.assert_array_equal(np.asarray(corr["matrix"], float), cohort.X.corr().to_numpy())


def test_heat_map_title_says_when_it_shows_a_subset(wide):
    _, results = wide
    draw = FIGURES["correlation_heatmap"][0]
    with figure_style():
        title = draw({"explore": results}).axes[0].get_title()
    assert title == (f"Correlation between the {MAX_CORRELATION_INPUTS} inputs most associated with the outcome "
                     f"(of {MAX_CORRELATION_INPUTS + 50})")
    small = {"inputs": ["a", "b"], "matrix": [[1.0, 0.2], [0.2, 1.0]]}  # an older results.json: no n_inputs
    with figure_style():
        assert draw({"explore": {"correlation": small}}).axes[0].get_title() == "Correlation between inputs"


def test_correlation_inputs_ties_by_name_and_unknown_last():
    table = pd.DataFrame({"input": ["b", "a", "c", "d"], "auc_oriented": [0.8, 0.8, 0.8, np.nan]})
    assert correlation_inputs(["e", "d", "c", "b", "a"], table, limit=2) == ["b", "a"]
    # "d" (NaN) and "e" (not in the table) come after every AUC, by name
    assert correlation_inputs(["e", "d", "c", "b", "a"], table, limit=4) == ["d", "c", "b", "a"]
    assert correlation_inputs(["c", "b"], table, limit=2) == ["c", "b"]


@pytest.mark.parametrize("seed, method", [(0, "pearson"), (1, "pearson"), (2, "pearson"), (3, "pearson"),
                                          (4, "spearman")])
@pytest.mark.filterwarnings("ignore:An input array is constant")  # scipy's spearmanr on the constant input
def test_blockwise_redundancy_groups_identical_to_the_whole_matrix(seed, method, monkeypatch):
    rng = np.random.default_rng(seed)
    n, k = 30, 90
    families = rng.normal(size=(n, 10))
    X = families[:, rng.integers(0, 10, k)] + rng.uniform(0.05, 0.5) * rng.normal(size=(n, k))
    X[rng.random((n, k)) < 0.15] = np.nan
    X[:, 4] = 2.0  # constant: r undefined (NaN)
    X[:, 8] = np.nan
    X[:2, 8] = [1.0, 2.0]  # two values: r of 1 with many
    X = pd.DataFrame(X, columns=[f"c{i}" for i in range(k)])
    y = (rng.random(n) < 0.5).astype(int)
    y[:2] = [0, 1]
    for threshold in (0.6, 0.9):
        old = old_redundancy_groups(X, y, threshold=threshold, method=method)
        assert old  # there is something to find
        for block in (7, 40, 512):  # many uneven blocks, three, and one
            monkeypatch.setattr(redundancy, "_BLOCK", block)
            assert redundancy_groups(X, y, threshold=threshold, method=method) == old


def test_blockwise_distance_bit_identical(monkeypatch):
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(25, 61)))
    X = X.mask(rng.random(X.shape) < 0.2)
    corr = X.corr().abs().fillna(0.0).to_numpy()
    dist = np.clip(1.0 - corr, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    whole = squareform((dist + dist.T) / 2.0, checks=False)
    for block in (1, 5, 60, 61, 512):
        monkeypatch.setattr(redundancy, "_BLOCK", block)
        assert np.array_equal(redundancy._condensed_distance(X, "pearson"), whole)
