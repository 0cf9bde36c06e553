"""Resampled selection: CV folds in one batch, padded architectures, stability selection, nested CV."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.utils.estimator_checks import check_estimator

from scintiml import ANNClassifier
from scintiml.ann import Architecture, train_networks
from scintiml.datasets import load_heart_failure, make_mibg_cohort
from scintiml.evaluate import wilson_interval
from scintiml.nested import nested_cross_validation
from scintiml.readiness import corrected_interval
from scintiml.select import (InputSelector, OrderSelector, SelectedNetworkClassifier, StabilitySelector,
                             near_copy_families)
from scintiml.select.candidates import CandidateData, train_architectures, train_candidates


@pytest.fixture(scope="module")
def small_mibg():
    cohort = make_mibg_cohort(n_patients=300, random_state=1)
    cols = ["delta_lvef", "planar_washout", "age", "bmi", "heart_rate", "early_hm_ratio", "late_hm_ratio"]
    return cohort.X[cols], cohort.y


def _checks_failed(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    return [r["check_name"] for r in results if r["status"] == "failed"]


def test_check_estimator_passes_for_the_selectors():
    assert _checks_failed(InputSelector(cv=2, trials=1, max_selection_failures=2, random_state=0)) == []
    assert _checks_failed(OrderSelector(cv=2, trials=1, max_neurons=2, max_layers=1, random_state=0)) == []
    # the API conventions, not the selections: the fewest resamples and starts (with the defaults the test took 149 s
    # beside other work, 16 s now)
    assert _checks_failed(SelectedNetworkClassifier(cv=2, max_neurons=2, max_layers=1, n_pairs=1, n_restarts=1,
                                                    random_state=0)) == []


def test_cv_fold_losses_are_the_networks_trained_on_each_fold(small_mibg):
    # a candidate's fold loss is the selection error of a network trained on that fold's rows only
    X, y = small_mibg
    data = CandidateData.cross_validated(X.to_numpy(), y.astype(float), n_splits=3, seed=5, random_state=0)
    res = train_candidates(data, [[0, 1]], ANNClassifier(hidden_layer_sizes=(3,)), trials=1,
                           random_state=np.random.RandomState(0))
    assert res.fold_loss.shape == (1, 3) and res.selection_loss[0] == pytest.approx(res.fold_loss.mean())
    Xs = data.X[:, [0, 1]]
    for f in range(3):
        train = data.training_weights[f] > 0
        theta0 = Architecture((2, 3, 1)).initial_parameters(1, np.random.RandomState(f))
        alone = train_networks(Xs[train], data.y[train], (3,), initial_parameters=theta0,
                               selection=(Xs[~train], data.y[~train]))
        # a different start, the same fold: a loss of the same size (these are not seeds of one another)
        assert abs(alone.selection_error[0] - res.fold_loss[0, f]) < 0.25
    # out-of-fold per-instance terms average to the mean fold loss (equal-size folds up to one patient)
    assert res.selection_terms[0].mean() == pytest.approx(res.selection_loss[0], rel=0.02)


def test_padded_architectures_are_the_smaller_networks(small_mibg):
    X, y = small_mibg
    data = CandidateData.cross_validated(X.to_numpy()[:, :2], y.astype(float), n_splits=3, seed=1, random_state=0)
    est = ANNClassifier(hidden_layer_sizes=(3,))
    together = train_architectures(data, [(1,), (4,), (2, 1), (3, 3)], est, trials=1, seed=7)
    alone = train_architectures(data, [(1,)], est, trials=1, seed=7)
    # (1,) padded to width 4 gives what it gives alone (float32 hidden layers: a wider sum rounds differently)
    assert together.selection_loss[0] == pytest.approx(alone.selection_loss[0], rel=1e-4)
    assert together.n_networks == 4 * 3


def test_order_selection_one_se_rule_picks_the_smallest_within_one_se(small_mibg):
    X, y = small_mibg
    order = OrderSelector(max_neurons=4, max_layers=2, cv=3, random_state=0).fit(X[["delta_lvef", "planar_washout"]], y)
    h = order.history_
    best = h.loc[h["selection_loss"].idxmin()]
    within = h[h["selection_loss"] <= best["selection_loss"] + best["selection_se"]]
    assert h.loc[h["chosen"], "n_parameters"].item() == within["n_parameters"].min()


def test_cv_selection_keeps_exactly_the_true_pair(small_mibg):
    X, y = small_mibg
    for method in ("growing", "pruning"):
        chosen = InputSelector(method=method, random_state=0).fit(X, y).selected_inputs_
        assert chosen == ["delta_lvef", "planar_washout"], method


def test_too_few_events_for_the_folds_is_a_clear_error():
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    y = np.r_[np.ones(3), np.zeros(17)]
    with pytest.raises(ValueError, match="5-fold cross-validation needs at least 5 patients of each outcome"):
        InputSelector(random_state=0).fit(X, y)


def test_near_copy_families_are_connected_components():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=200), rng.normal(size=200)
    chain = [a, a + 0.4 * rng.normal(size=200)]
    chain.append(chain[1] + 0.4 * rng.normal(size=200))  # |r| with a below 0.9, with its neighbour above
    X = np.column_stack([*chain, b])
    assert abs(np.corrcoef(X[:, 0], X[:, 2])[0, 1]) < 0.9 < abs(np.corrcoef(X[:, 1], X[:, 2])[0, 1])
    assert near_copy_families(X).tolist() == [0, 0, 0, 1]


def test_stability_frequencies_counts_and_wilson_intervals(small_mibg):
    X, y = small_mibg
    stable = StabilitySelector(random_state=0).fit(X, y)  # the default: 10 pairs, 20 selections
    f = stable.frequencies_.set_index("input")
    assert len(stable.runs_) == 20
    for name in X.columns:
        n = sum(name in run for run in stable.runs_)
        assert f.loc[name, "n_selected"] == n
        assert (f.loc[name, "ci95_low"], f.loc[name, "ci95_high"]) == pytest.approx(wilson_interval(n, 20))
    assert stable.selected_inputs_ == ["delta_lvef", "planar_washout"]
    assert stable.same_set_share_ == sum(run == stable.selected_inputs_ for run in stable.runs_) / 20


def test_stability_pools_near_copies_and_keeps_the_most_chosen_member():
    rng = np.random.RandomState(3)
    n = 300
    signal = rng.normal(size=n)
    copy = signal + 0.05 * rng.normal(size=n)  # |r| ~ 0.999: one family
    noise = rng.normal(size=(n, 3))
    y = (signal + 0.7 * rng.normal(size=n) > 0).astype(int)
    X = pd.DataFrame(np.column_stack([signal, copy, noise]), columns=["signal", "copy", "n1", "n2", "n3"])
    stable = StabilitySelector(n_pairs=3, random_state=0).fit(X, y)
    f = stable.frequencies_.set_index("input")
    assert f.loc["signal", "family"] == f.loc["copy", "family"]
    assert f.loc["signal", "family_frequency"] == 1.0
    kept = [c for c in ("signal", "copy") if c in stable.selected_inputs_]
    assert len(kept) == 1
    assert f.loc[kept[0], "n_selected"] == max(f.loc["signal", "n_selected"], f.loc["copy", "n_selected"])


def test_nested_cv_matches_a_hand_loop_and_the_corrected_interval():
    cohort = load_heart_failure()
    X, y = cohort.X[["ejection_fraction", "serum_creatinine", "age"]], cohort.y
    res = nested_cross_validation(LogisticRegression(max_iter=1000), X, y, n_splits=4, n_repeats=2,
                                  baselines={"lr": LogisticRegression(C=0.01, max_iter=1000)}, random_state=3)
    seed = np.random.RandomState(3).randint(0, 2**31 - 1)
    by_hand = []
    for train, test in RepeatedStratifiedKFold(n_splits=4, n_repeats=2, random_state=seed).split(X, y):
        m = LogisticRegression(max_iter=1000).fit(X.iloc[train], y[train])
        by_hand.append(roc_auc_score(y[test], m.predict_proba(X.iloc[test])[:, 1]))
    np.testing.assert_allclose(res.fold_aucs, by_hand)
    mean, _, ci = corrected_interval(np.array(by_hand), len(y) * 3 // 4, len(y) - len(y) * 3 // 4)
    assert res.auc == pytest.approx(mean)
    assert res.auc_ci95[0] == pytest.approx(ci[0], abs=2e-3) and res.auc_ci95[1] == pytest.approx(ci[1], abs=2e-3)
    diff = np.array(res.fold_aucs) - np.array(res.baselines["lr"]["fold_aucs"])
    assert res.baselines["lr"]["network_minus_baseline"] == pytest.approx(diff.mean())
    summary = res.to_dict()  # what the report prints: the method that gave this interval, and "repeated 2 times"
    assert summary["interval"] == "corrected resampled t (Nadeau & Bengio 2003)"
    assert "4-fold stratified cross-validation, repeated 2 times" in summary["what"]


def test_same_seed_same_result(small_mibg):
    X, y = small_mibg
    a = StabilitySelector(n_pairs=2, random_state=4).fit(X, y)
    b = StabilitySelector(n_pairs=2, random_state=4).fit(X, y)
    assert a.runs_ == b.runs_
    pd.testing.assert_frame_equal(a.frequencies_, b.frequencies_)
    p = SelectedNetworkClassifier(cv=3, max_neurons=2, max_layers=1, random_state=2).fit(X, y).predict_proba(X)
    q = SelectedNetworkClassifier(cv=3, max_neurons=2, max_layers=1, random_state=2).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p, q)


def test_parallel_selections_give_the_serial_result_and_report_each_one(small_mibg):
    X, y = small_mibg
    ticks = []
    serial = StabilitySelector(n_pairs=2, random_state=4).fit(X, y)
    parallel = StabilitySelector(n_pairs=2, n_jobs=2, random_state=4).fit(X, y, progress=ticks.append)
    assert parallel.runs_ == serial.runs_ and ticks == [1, 1, 1, 1]
    pd.testing.assert_frame_equal(parallel.frequencies_, serial.frequencies_)


def test_nested_cv_in_parallel_equals_the_serial_loop_fold_by_fold():
    cohort = load_heart_failure()
    X, y = cohort.X[["ejection_fraction", "serum_creatinine", "age"]], cohort.y
    ticks = []
    kw = dict(baselines={"lr": LogisticRegression(C=0.01, max_iter=1000)}, n_splits=4, n_repeats=2, random_state=3)
    serial = nested_cross_validation(LogisticRegression(max_iter=1000), X, y, **kw)
    parallel = nested_cross_validation(LogisticRegression(max_iter=1000), X, y, n_jobs=2, progress=ticks.append, **kw)
    assert parallel.fold_aucs == serial.fold_aucs and parallel.baselines == serial.baselines
    assert len(set(serial.fold_aucs)) > 1 and ticks == [1] * 8  # distinct folds, each reported once, in order


def _study_without_timings(result):
    r = dict(result.results)
    r.pop("timings")
    return r


def test_study_default_stable_inputs_cv_pick_nested_headline_and_the_same_result_with_two_jobs():
    from scintiml.study import run_study

    cohort = make_mibg_cohort(n_patients=250, random_state=2).subset(["delta_lvef", "planar_washout", "age", "bmi"])
    a = run_study(cohort, readiness=False, random_state=1)
    r = a.results
    assert r["selection"]["mode"] == "stable" and r["selection"]["n_folds"] == 5
    stability = r["selection"]["stability"]
    assert len(stability["runs"]) == 20
    assert {f["input"] for f in stability["frequencies"]} == set(cohort.inputs)
    # kept: the inputs chosen in at least the threshold share of the 20 runs, recomputed from the runs themselves
    counted = {name: sum(name in run for run in stability["runs"]) / 20 for name in cohort.inputs}
    assert sorted(r["inputs"]["selected"]) == sorted(n for n, share in counted.items()
                                                     if share >= stability["threshold"])
    assert r["inputs"]["selected"] == ["delta_lvef", "planar_washout"]
    cv_rows = [row for row in r["selection"]["history"] if row["accepted"]]
    assert cv_rows and r["selection"]["cv_selected"] == cv_rows[-1]["inputs"]  # the traced CV selection's pick
    nested = r["nested"]
    assert len(nested["fold_aucs"]) == 5 and nested["auc"] == pytest.approx(np.mean(nested["fold_aucs"]))
    assert set(nested["baselines"]) == {"logistic_regression", "random_forest", "gradient_boosting"}
    b = run_study(cohort, readiness=False, random_state=1, n_jobs=2)  # two processes: the very same study
    assert _study_without_timings(a) == _study_without_timings(b)


def test_study_cv_mode_keeps_the_cross_validated_pick_and_reports_frequencies_beside():
    from scintiml.study import run_study

    cohort = make_mibg_cohort(n_patients=250, random_state=2).subset(["delta_lvef", "planar_washout", "age", "bmi"])
    r = run_study(cohort, readiness=False, random_state=1, selection="cv").results
    assert r["selection"]["mode"] == "cv" and r["inputs"]["selected"] == r["selection"]["cv_selected"]
    assert r["inputs"]["selected"] == ["delta_lvef", "planar_washout"]
    assert len(r["selection"]["stability"]["runs"]) == 20 and len(r["nested"]["fold_aucs"]) == 5


def test_the_pipeline_takes_its_inputs_from_the_selection_it_names(small_mibg):
    from scintiml.select import resampled_selector

    X, y = small_mibg
    seed = int(np.random.RandomState(5).randint(0, 2**31 - 1))  # the pipeline's first draw: its selection's seed
    model = SelectedNetworkClassifier(n_pairs=2, cv=3, max_neurons=2, max_layers=1, random_state=5).fit(X, y)
    alone = StabilitySelector(resampled_selector("growing"), n_pairs=2, random_state=seed).fit(X, y)
    named = [[X.columns[int(name[1:])] for name in run] for run in model.input_selector_.runs_]  # it saw x0, x1, ...
    assert model.selected_inputs_ == alone.selected_inputs_ and named == alone.runs_
    single = SelectedNetworkClassifier(stability=False, cv=3, max_neurons=2, max_layers=1, random_state=5).fit(X, y)
    assert single.selected_inputs_ == InputSelector(cv=3, random_state=seed).fit(X, y).selected_inputs_


def test_the_vote_removes_the_noise_single_lowest_loss_selections_keep():
    # 300 patients, the true pair among 40 pure-noise inputs: a selection that takes the lowest loss keeps some
    # noise now and then, a different input each time, and none of it reaches the threshold
    cohort = make_mibg_cohort(n_patients=300, random_state=0)
    rng = np.random.RandomState(12345)  # not the cohort's own seed: its stream would replay the cohort's draws
    X = cohort.X[["delta_lvef", "planar_washout"]].copy()
    for j in range(40):
        X[f"noise{j:02d}"] = rng.normal(size=len(X))
    stable = StabilitySelector(random_state=0).fit(X, cohort.y)  # the default: 20 selections, threshold 0.55
    noisy_runs = [run for run in stable.runs_ if set(run) - {"delta_lvef", "planar_washout"}]
    assert noisy_runs, "expected at least one lowest-loss selection to keep a noise input"
    assert stable.selected_inputs_ == ["delta_lvef", "planar_washout"]


def _html_text(path):
    import re

    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", path.read_text()))


def test_when_nothing_is_stable_the_most_chosen_family_is_kept_and_the_study_and_report_say_so(monkeypatch, tmp_path):
    import functools

    import scintiml.stages.select as select_stage
    from scintiml.report import write_report
    from scintiml.select.stability import stable_support
    from scintiml.study import run_study

    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(120, 4)), columns=["a", "b", "c", "d"])  # pure noise
    y = rng.randint(0, 2, 120)
    stable = StabilitySelector(n_pairs=2, threshold=1.0, random_state=0).fit(X, y)
    assert stable.selected_inputs_ == []  # no input chosen in all four selections
    support = stable_support(stable)
    f = stable.frequencies_.set_index("input")
    top = f["family_frequency"].max()
    assert support.sum() == 1 and f.loc[X.columns[support][0], "family_frequency"] == top
    # the study, with a threshold no input can reach: it keeps that input, warns, and the report says so
    monkeypatch.setattr(select_stage, "StabilitySelector", functools.partial(StabilitySelector, threshold=1.0))
    cohort = make_mibg_cohort(n_patients=250, random_state=2).subset(["age", "bmi", "heart_rate"])  # not linked
    result = run_study(cohort, readiness=False, random_state=1)
    st = result.results["selection"]["stability"]
    assert st["stable_inputs"] == [] and st["fallback_input"] is not None
    assert result.results["inputs"]["selected"] == [st["fallback_input"]]
    freq = {row["input"]: row["family_frequency"] for row in st["frequencies"]}
    assert freq[st["fallback_input"]] == max(freq.values())
    warnings_ = result.results["warnings"]
    assert any("no input was chosen in at least 100 % of the 20 resampled selections" in w for w in warnings_)
    assert not any("one cross-validated selection (one-SE rule) kept" in w for w in warnings_)
    paths = write_report(result.results, tmp_path, pdf=False)
    text = _html_text(paths["html"])
    assert f"the study kept the one chosen most often, {st['fallback_input']}" in text
    assert "inputs chosen in at least 100 % of them: none" in text


def test_more_stable_inputs_than_max_inputs_keeps_the_families_chosen_most_often(monkeypatch, small_mibg):
    import functools

    import scintiml.stages.select as select_stage
    from scintiml.cohort import Cohort
    from scintiml.stages import select_inputs_stage, split_stage

    X, y = small_mibg
    weak = X[["age", "bmi", "heart_rate", "early_hm_ratio", "late_hm_ratio"]].reset_index(drop=True)  # no true input:
    cohort = Cohort(X=weak, y=np.asarray(y), ids=np.arange(len(y)).astype(str),  # the selections disagree
                    target="event", positive=1)
    data = split_stage(cohort, random_state=0)
    monkeypatch.setattr(select_stage, "StabilitySelector", functools.partial(StabilitySelector, threshold=0.05))
    chosen = select_inputs_stage(data, max_inputs=2, selection="stable", random_state=0)
    st = chosen.info["stability"]
    assert len(st["stable_inputs"]) > 2 and len(chosen.selected) == 2
    assert sorted(st["capped"]) == sorted(set(st["stable_inputs"]) - set(chosen.selected))
    freq = {row["input"]: row["family_frequency"] for row in st["frequencies"]}
    assert min(freq[c] for c in chosen.selected) >= max(freq[c] for c in st["capped"])
    assert any("more than max_inputs = 2" in w for w in data.warnings)
    # the pipeline obeys the limit too
    model = SelectedNetworkClassifier(max_inputs=1, n_pairs=2, cv=3, max_neurons=2, max_layers=1,
                                      random_state=0).fit(X, y)
    assert len(model.selected_inputs_) == 1


def test_the_ranking_puts_a_family_taking_turns_before_inputs_chosen_more_often_alone():
    # near-copies that take turns are each chosen less often than the family: the ranking pools them
    rng = np.random.RandomState(3)
    n = 300
    signal = rng.normal(size=n)
    copy = signal + 0.05 * rng.normal(size=n)
    weak = rng.normal(size=n)
    y = (signal + 0.5 * weak + 0.7 * rng.normal(size=n) > 0).astype(int)
    X = pd.DataFrame(np.column_stack([signal, copy, weak, rng.normal(size=(n, 2))]),
                     columns=["signal", "copy", "weak", "n1", "n2"])
    stable = StabilitySelector(n_pairs=3, random_state=0).fit(X, y)
    f = stable.frequencies_.set_index("input")
    first = X.columns[stable.ranking_[0]]
    assert first in ("signal", "copy") and f.loc[first, "family_frequency"] == f["family_frequency"].max()
    assert len(stable.ranking_) == len(set(f["family"]))  # one representative per family


def test_study_split_mode_is_the_published_workflow():
    from scintiml.study import run_study

    cohort = make_mibg_cohort(n_patients=250, random_state=2).subset(["delta_lvef", "planar_washout", "age"])
    r = run_study(cohort, readiness=False, random_state=1, selection="split").results
    assert r["selection"]["mode"] == "split" and r["selection"]["n_folds"] == 1
    assert r["selection"]["tolerance"] == 0.03
    assert "stability" not in r["selection"] and "nested" not in r


def test_stability_section_reports_each_resampled_rule_and_the_modal_form():
    from scintiml.stages import split_stage
    from scintiml.stages.select import stability_section

    data = split_stage(make_mibg_cohort(n_patients=300, random_state=1).subset(["delta_lvef", "planar_washout", "age"]))
    st = stability_section(data, n_pairs=2)
    assert len(st["rules"]) == 4
    # the teaching truth is the AND rule: the modal form names both inputs with their directions
    assert st["modal_rule_form"] == "delta_lvef <= and planar_washout >="
    assert st["modal_rule_form_share"] == sum(
        ("delta_lvef <=" in r and "planar_washout >=" in r and " and " in r) for r in st["rules"]) / 4


def test_nested_cv_refuses_mismatched_or_malformed_arguments_and_takes_a_numpy_table():
    from scintiml.errors import ScintimlError

    cohort = load_heart_failure()
    X, y = cohort.X[["ejection_fraction", "serum_creatinine"]], cohort.y
    # 5 outcomes fewer than rows: the folds were drawn on y and the last rows of X never used, without a word
    with pytest.raises(ScintimlError, match="X has 299 patients but y has 294 outcome"):
        nested_cross_validation(LogisticRegression(), X, y[:-5], random_state=0)
    with pytest.raises(ScintimlError, match="n_splits must be a whole number of at least 2; got '3'"):
        nested_cross_validation(LogisticRegression(), X, y, n_splits="3")
    with pytest.raises(ScintimlError, match="random_state must be a whole number"):
        nested_cross_validation(LogisticRegression(), X, y, random_state="a")
    as_frame = nested_cross_validation(LogisticRegression(), X, y, n_splits=3, random_state=0)
    as_array = nested_cross_validation(LogisticRegression(), X.to_numpy(), y, n_splits=3, random_state=0)
    assert as_array.fold_aucs == as_frame.fold_aucs
