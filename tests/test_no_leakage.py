"""Canary tests: nothing fitted for a fold (or for the study's testing split) may depend on the held-out patients.

Each test changes ONLY the held-out patients (their outcomes permuted among themselves, their inputs replaced by
wild values or made missing), reruns with the same random_state, and checks that everything fitted on the
training patients is bit-for-bit the same. Each also checks that the change *was* felt where it should be (the
held-out AUC, or the folds that train on those patients), so the canary is live and the test can fail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.utils import check_random_state

from scintiml.cohort import impute_median, load_cohort
from scintiml.nested import nested_cross_validation
from scintiml.select import SelectedNetworkClassifier
from scintiml.split import Split, split_cohort
from scintiml.stages import (explain_stage, explore_stage, fit_stage, select_inputs_stage, select_order_stage,
                             split_stage)
from scintiml.stages.testing import baseline_models
from scintiml.study import run_study

INPUTS = ["a", "a_copy", "b", "n1", "n2", "n3"]


def make_frame(n=120, seed=0):
    """Two real inputs (``a`` with a near-copy ``a_copy``, |r| > 0.9, so the family logic runs), three noise
    inputs, missing values in two of them."""
    rng = np.random.RandomState(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    df = pd.DataFrame({"a": a, "a_copy": a + 0.05 * rng.normal(size=n), "b": b,
                       "n1": rng.normal(size=n), "n2": rng.normal(size=n), "n3": rng.normal(size=n)})
    df["event"] = rng.binomial(1, 1 / (1 + np.exp(-(1.5 * a - 1.2 * b))))
    df.loc[rng.rand(n) < 0.15, "n1"] = np.nan
    df.loc[rng.rand(n) < 0.10, "b"] = np.nan
    return df


def wild_inputs(df, rows, seed=1):
    """The same table with ``rows``' inputs replaced by huge values, a third of them missing."""
    rng = np.random.RandomState(seed)
    out = df.copy()
    values = 1e4 + 1e3 * rng.standard_normal((len(rows), len(INPUTS)))
    values[rng.rand(*values.shape) < 0.33] = np.nan
    out.loc[out.index[rows], INPUTS] = values
    return out


def permute_outcomes(df, rows, seed=2):
    """The same table with ``rows``' outcomes permuted among themselves (same counts, other patients)."""
    out = df.copy()
    y = out["event"].to_numpy().copy()
    perm = np.random.RandomState(seed).permutation(rows)
    y[rows] = y[perm]
    out["event"] = y
    assert (y[rows] != df["event"].to_numpy()[rows]).any()
    return out


# ---------------------------------------------------------------------------------------------------------------
# Nested cross-validation: a recording pipeline and recording baselines
# ---------------------------------------------------------------------------------------------------------------
PIPELINE_LOG: list[dict] = []
BASELINE_LOG: list[dict] = []
PROBE = pd.DataFrame(np.random.RandomState(7).normal(size=(15, len(INPUTS))), columns=INPUTS)
PROBE.iloc[::4, 3] = np.nan  # the fold's imputer is exercised on the probe too


class RecordingPipeline(SelectedNetworkClassifier):
    """The study's nested pipeline; each fit logs what it fitted (in fold order: nested runs serially)."""

    def fit(self, X, y):
        super().fit(X, y)
        PIPELINE_LOG.append({
            "train_rows": tuple(X.index), "inputs": list(self.selected_inputs_),
            "hidden": self.hidden_layer_sizes_, "imputer": self.imputer_.statistics_.copy(),
            "weights": self.network_.parameter_vector().copy(),
            "scaling": (self.network_.scaler_.offset.copy(), self.network_.scaler_.scale.copy()),
            "frequencies": self.input_selector_.frequencies_.copy(),
            "probe": self.predict_proba(PROBE)[:, 1].copy(),
        })
        return self


class RecordingBaseline(ClassifierMixin, BaseEstimator):
    """A baseline behind nested's per-fold median imputer: logs the (imputed) training matrix it was given and
    its predictions on a fixed probe."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y):
        self.fitted_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.fitted_.classes_
        BASELINE_LOG.append({"X": np.array(X, copy=True), "y": np.array(y, copy=True),
                             "probe": self.fitted_.predict_proba(np.nan_to_num(PROBE.to_numpy()))[:, 1]})
        return self

    def predict_proba(self, X):
        return self.fitted_.predict_proba(X)


def _run_nested(df, n_splits=3, random_state=0):
    PIPELINE_LOG.clear()
    BASELINE_LOG.clear()
    cohort = load_cohort(df, "event")
    pipeline = RecordingPipeline(n_pairs=2, cv=3, max_neurons=2, max_layers=1, n_restarts=1, random_state=0)
    baselines = {"logistic_regression": RecordingBaseline(baseline_models(0)["logistic_regression"]),
                 "gradient_boosting": RecordingBaseline(baseline_models(0)["gradient_boosting"])}
    res = nested_cross_validation(pipeline, cohort.X, cohort.y, baselines=baselines, n_splits=n_splits,
                                  random_state=random_state)
    return res, list(PIPELINE_LOG), list(BASELINE_LOG)


def _nested_folds(y, n_splits=3, random_state=0):
    """The outer folds exactly as nested_cross_validation draws them (its seed comes from random_state only)."""
    seed = int(check_random_state(random_state).randint(0, 2**31 - 1))
    return list(RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=1, random_state=seed).split(np.zeros(len(y)), y))


def _same_fit(a, b):
    assert a["train_rows"] == b["train_rows"]
    assert a["inputs"] == b["inputs"] and a["hidden"] == b["hidden"]
    np.testing.assert_array_equal(a["imputer"], b["imputer"])
    np.testing.assert_array_equal(a["scaling"][0], b["scaling"][0])
    np.testing.assert_array_equal(a["scaling"][1], b["scaling"][1])
    np.testing.assert_array_equal(a["weights"], b["weights"])
    pd.testing.assert_frame_equal(a["frequencies"], b["frequencies"])
    np.testing.assert_array_equal(a["probe"], b["probe"])


def _same_baseline(a, b):
    np.testing.assert_array_equal(a["X"], b["X"])
    np.testing.assert_array_equal(a["y"], b["y"])
    np.testing.assert_array_equal(a["probe"], b["probe"])


def test_nested_fold_ignores_held_out_inputs():
    """Wild / missing inputs for the held-out patients of outer fold 0 leave fold 0's imputation medians, near-copy
    families and selection frequencies (stability selection), one-SE choices, scaling layer, network weights and
    both baselines (imputer + their own scaling) exactly as they were.

    Catches: imputation/scaling/correlation (|r| >= 0.9 families) fitted on all rows instead of the fold's
    training rows, the pipeline or a baseline fitted on the wrong rows, a probe prediction of fold 0 moved."""
    df = make_frame()
    folds = _nested_folds(df["event"].to_numpy())
    held_out = folds[0][1]
    base, fits, bases = _run_nested(df)
    new, fits2, bases2 = _run_nested(wild_inputs(df, held_out))
    assert [tuple(sorted(te)) for _, te in _nested_folds(df["event"].to_numpy())] == \
        [tuple(sorted(te)) for _, te in folds]
    assert fits[0]["train_rows"] == tuple(np.sort(folds[0][0])) and not set(held_out) & set(fits[0]["train_rows"])
    _same_fit(fits[0], fits2[0])
    _same_baseline(bases[0], bases2[0])  # logistic regression, fold 0
    _same_baseline(bases[1], bases2[1])  # gradient boosting, fold 0
    # live canary: the folds that TRAIN on those patients did change, and fold 0's held-out predictions did
    assert not np.array_equal(fits[1]["imputer"], fits2[1]["imputer"])
    assert not np.array_equal(bases[2]["X"], bases2[2]["X"])
    assert base.fold_aucs[0] != new.fold_aucs[0]


def _fold_preserving_swaps(y, test_rows):
    """Pairs of neighbouring patients (rows i, i+1), both held out in this fold, with different outcomes:
    swapping their outcomes keeps every patient's rank within its class, hence the stratified folds."""
    inside = set(test_rows.tolist())
    pairs, used = [], set()
    for i in sorted(inside):
        if i + 1 in inside and y[i] != y[i + 1] and not {i, i + 1} & used:
            pairs.append((i, i + 1))
            used |= {i, i + 1}
    return pairs


def test_nested_fold_ignores_held_out_outcomes():
    """Outcomes swapped among the held-out patients of one outer fold leave that fold's fitted pipeline (inputs,
    stability frequencies, architecture, weights) and its baselines unchanged.

    Catches: the outcome of a held-out patient reaching the fold's selection, one-SE rule, early stopping,
    class weights or a baseline (e.g. fitting on y instead of y[train])."""
    df = make_frame()
    y = df["event"].to_numpy()
    folds = _nested_folds(y)
    f = max(range(3), key=lambda k: len(_fold_preserving_swaps(y, folds[k][1])))
    pairs = _fold_preserving_swaps(y, folds[f][1])
    assert len(pairs) >= 3
    swapped = df.copy()
    y2 = y.copy()
    for i, j in pairs:
        y2[i], y2[j] = y[j], y[i]
    swapped["event"] = y2
    # the canary is valid: same folds, only this fold's held-out outcomes differ
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, _nested_folds(y2)))
    base, fits, bases = _run_nested(df)
    new, fits2, bases2 = _run_nested(swapped)
    _same_fit(fits[f], fits2[f])
    _same_baseline(bases[2 * f], bases2[2 * f])
    _same_baseline(bases[2 * f + 1], bases2[2 * f + 1])
    assert base.fold_aucs[f] != new.fold_aucs[f]
    others = [k for k in range(3) if k != f]  # they train on the swapped patients: their fits must move
    assert any(not np.array_equal(fits[k]["weights"], fits2[k]["weights"]) for k in others)
    assert any(not np.array_equal(bases[2 * k]["y"], bases2[2 * k]["y"]) for k in others)


# ---------------------------------------------------------------------------------------------------------------
# The study's single testing split
# ---------------------------------------------------------------------------------------------------------------
def _fixed_split(df, random_state=0):
    cohort = load_cohort(df, "event")
    return split_cohort(cohort, random_state=random_state)


def _rule(results):
    rule = results["rule"]
    return [(c["input"], c["op"], c["value"]) for c in rule["conditions"]], rule["join"], rule["found_on"]


def test_study_split_mode_ignores_testing_patients():
    """run_study (published single-split workflow) with the testing patients' outcomes permuted and their inputs
    made wild or missing: training medians, selected inputs and their history, architecture, network weights,
    scaling, Youden threshold (selection part), importance, best single predictor, best pair, clinical rule and
    training ranges are all unchanged; only the testing figures move.

    Catches: cohort-wide imputation medians, the threshold or the rule fitted with testing patients, the
    univariate ranking (best single predictor) or best pair chosen on testing, scaling fitted on all patients."""
    df = make_frame()
    split = _fixed_split(df)
    test_rows = split.testing
    changed = wild_inputs(permute_outcomes(df, test_rows), test_rows)
    kw = dict(split=split, inputs="growing", selection="split", readiness=False, random_state=0)
    r1 = run_study(load_cohort(df, "event"), **kw)
    r2 = run_study(load_cohort(changed, "event"), **kw)
    a, b = r1.results, r2.results
    assert r1.selected_inputs == r2.selected_inputs
    # a column blanked only in testing gains an imputation value: the training median, as every other one
    train_medians = load_cohort(df, "event").X.iloc[split.training].median()
    for medians in (r1.medians, r2.medians):
        assert medians == {c: float(train_medians[c]) for c in medians}
    assert set(r1.medians) <= set(r2.medians)
    assert r1.training_ranges == r2.training_ranges
    assert a["selection"] == b["selection"]  # every candidate and its selection loss
    assert a["network"] == b["network"] and a["selection_auc"] == b["selection_auc"]
    assert a["order_selection"]["history"] == b["order_selection"]["history"]
    assert a["architecture"] == b["architecture"]
    np.testing.assert_array_equal(r1.model.parameter_vector(), r2.model.parameter_vector())
    np.testing.assert_array_equal(r1.model.scaler_.offset, r2.model.scaler_.offset)
    assert r1.stages["fitted"].threshold == r2.stages["fitted"].threshold
    np.testing.assert_array_equal(r1.stages["fitted"].p_selection, r2.stages["fitted"].p_selection)
    assert a["importance"] == b["importance"]
    assert a["best_single_predictor"]["input"] == b["best_single_predictor"]["input"]
    assert a["best_single_predictor"]["auc_training_selection"] == b["best_single_predictor"]["auc_training_selection"]
    for key in ("inputs", "selection_auc"):
        assert a["best_combination"][key] == b["best_combination"][key]
    assert _rule(a) == _rule(b)
    assert a["partial_dependence"] == b["partial_dependence"]
    # live canary: the testing evaluation did see the change
    assert a["test"]["auc"] != b["test"]["auc"]


def test_stable_and_cv_selection_ignore_testing_patients():
    """The resampled modes' stages (stability selection over training + selection patients, the one cross-validated
    selection with its one-SE rule beside it, order selection by 5-fold CV, the final fit, the explained rule)
    with the testing patients' outcomes permuted and inputs made wild: frequencies, runs, near-copy families,
    one-SE pick, architecture, weights, threshold and rule thresholds are unchanged.

    Catches: data.fit_rows including testing rows, stability half-samples or near-copy families drawn from all
    patients, the inner CV's scaling or folds built over testing patients."""
    df = make_frame()
    split = _fixed_split(df)
    changed = wild_inputs(permute_outcomes(df, split.testing), split.testing)

    def run(frame):
        data = split_stage(load_cohort(frame, "event"), split=split, random_state=0)
        chosen = select_inputs_stage(data, "growing", None, 0, selection="stable")
        order = select_order_stage(data, chosen.selected, max_neurons=2, max_layers=1, random_state=0,
                                   selection="stable")
        fitted = fit_stage(data, chosen.selected, order.hidden_layer_sizes, n_restarts=1, random_state=0)
        explained = explain_stage(data, fitted, explore_stage(data).univariate_fit, n_repeats=2, random_state=0)
        return data, chosen, order, fitted, explained

    d1, c1, o1, f1, e1 = run(df)
    d2, c2, o2, f2, e2 = run(changed)
    assert all(d2.medians[c] == v for c, v in d1.medians.items())
    pd.testing.assert_frame_equal(d1.X.iloc[d1.fit_rows], d2.X.iloc[d2.fit_rows])
    assert c1.selected == c2.selected
    s1, s2 = c1.info["stability"], c2.info["stability"]
    assert s1["frequencies"] == s2["frequencies"]  # includes each input's near-copy family label
    assert s1["runs"] == s2["runs"] and s1["rules"] == s2["rules"]
    assert c1.info["cv_selected"] == c2.info["cv_selected"]
    assert c1.info["history"] == c2.info["history"]
    assert (c1.info["best_selection_loss"], c1.info["best_selection_se"]) == \
        (c2.info["best_selection_loss"], c2.info["best_selection_se"])
    assert o1.info["history"] == o2.info["history"]
    np.testing.assert_array_equal(f1.model.parameter_vector(), f2.model.parameter_vector())
    assert f1.threshold == f2.threshold
    assert _rule(e1) == _rule(e2)
    assert not np.array_equal(f1.p_testing, f2.p_testing)  # live canary


def test_impute_median_ignores_other_rows():
    """Training medians see only the training rows: changing (or blanking) every other row's value leaves them.

    Catches: medians over the whole cohort (``X.median()``) instead of ``X.iloc[fit_rows]``."""
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"x": rng.normal(size=50), "z": rng.normal(size=50)})
    X.loc[[1, 5, 30, 40], "x"] = np.nan
    train = np.arange(30)
    filled, medians = impute_median(X, train)
    other = X.copy()
    other.loc[30:, "x"] = 1e6
    other.loc[45:, "z"] = np.nan
    filled2, medians2 = impute_median(other, train)
    assert medians["x"] == medians2["x"] == float(X["x"].iloc[train].median())
    pd.testing.assert_frame_equal(filled.iloc[train], filled2.iloc[train])


def test_an_input_without_training_values_is_not_filled_from_held_out_patients():
    # impute_median fell back to the median of *all* patients for an input no training patient had: changing
    # only held-out values moved the training patients' fill value (and the scaling layer and the bundle's)
    X = pd.DataFrame({"lab": [np.nan] * 6 + [10.0, 20.0], "a": np.arange(8.0)})
    train = np.arange(6)
    filled, used = impute_median(X, train)
    other = X.copy()
    other.loc[6:, "lab"] = [1000.0, 2000.0]
    filled_other, used_other = impute_median(other, train)
    assert used["lab"] == used_other["lab"] == 0.0
    assert filled_other["lab"].iloc[train].tolist() == filled["lab"].iloc[train].tolist()


def _graded(n=120, seed=0):
    rng = np.random.RandomState(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    df = pd.DataFrame({"a": a, "b": b, "n1": rng.normal(size=n)})
    df["event"] = rng.binomial(1, 1 / (1 + np.exp(-(1.5 * a - 1.2 * b))))
    df["grade"] = rng.choice(["low", "mid"], n)
    return df


@pytest.mark.parametrize("level", ["high", "zz"])  # 'high' sorts first (the reference); 'zz' adds a column
def test_a_level_only_testing_patients_have_leaves_the_network_alone(level):
    # load_cohort one-hot encodes over every patient: a level only testing patients had made a column (or the
    # reference) that changed the training inputs and so the weights and the threshold
    df = _graded()
    split = split_cohort(load_cohort(df, "event"), random_state=0)
    changed = df.copy()
    changed.loc[changed.index[split.testing[:3]], "grade"] = level
    kw = dict(split=split, inputs="all", selection="split", readiness=False, random_state=0)
    first, again = run_study(load_cohort(df, "event"), **kw), run_study(load_cohort(changed, "event"), **kw)
    assert first.results["architecture"] == again.results["architecture"]
    np.testing.assert_array_equal(first.model.parameter_vector(), again.model.parameter_vector())
    assert first.stages["fitted"].threshold == again.stages["fitted"].threshold
    said = [w for w in again.results["warnings"] if w.startswith("grade: level(s)")]
    assert said == [f"grade: level(s) '{level}' occur only among the selection and testing patients (3); no training "
                    "patient has them, so they are read as a missing value of 'grade' (imputed with the training "
                    "medians, as predict reads a level it never saw)"]
    assert again.cohort.categories["grade"] == ["low", "mid"]  # what the bundle records: predict flags the level
    assert "one-hot encoded categorical input 'grade' (2 levels in the training part, reference 'low')" in \
        again.results["dataset"]["notes"]


def test_the_study_tests_a_level_training_never_saw_as_its_bundle_predicts_it(tmp_path):
    # the study read a testing patient's unseen level as the reference; predict imputes it (and flags it): the
    # testing AUC must be the figure of the model as it will be used. Level 'c' is the common one, so its
    # training median (1) differs from the reference's 0 and the two readings differ.
    from scintiml.bundle import load_bundle, save_bundle

    df = _graded()
    df["grade"] = np.random.RandomState(3).choice(["a", "b", "c", "c", "c"], len(df))
    split = split_cohort(load_cohort(df, "event"), random_state=0)
    changed = df.copy()
    odd = changed.index[split.testing[:4]]
    changed.loc[odd, "grade"] = "d"
    study = run_study(load_cohort(changed, "event"), split=split, inputs="all", selection="split",
                      readiness=False, random_state=0)
    bundle = load_bundle(save_bundle(study, tmp_path / "model"))
    assert bundle.categories["grade"] == ["a", "b", "c"]
    frame = changed.loc[odd].drop(columns="event")
    testing = dict(zip(split.testing, study.stages["fitted"].p_testing))
    with pytest.warns(UserWarning, match=r"input 'grade' holds level\(s\) the model never saw \('d' x4\)"):
        predicted = bundle.predict(frame)["probability"]
    np.testing.assert_allclose(predicted, [testing[i] for i in split.testing[:4]])


def test_a_nested_fold_ignores_a_level_only_its_held_out_patients_have():
    df = _graded()
    train = np.arange(90)
    changed = df.copy()
    changed.loc[[95, 100, 110], "grade"] = "zz"  # outside the fold's training rows
    fits = []
    for frame in (df, changed):
        X = load_cohort(frame, "event").X
        model = SelectedNetworkClassifier(n_pairs=2, cv=3, max_neurons=2, max_layers=1, n_restarts=1,
                                          random_state=0).fit(X.iloc[train], frame["event"].to_numpy()[train])
        fits.append(model.network_.parameter_vector())
    np.testing.assert_array_equal(*fits)
