"""The drift guard of predict/validate against sampling noise: a batch drawn from the training population is
reported shifted with a chance of at most about ALPHA (5 %), a real shift still is (scintiml.external.drift)."""

import doctest
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scintiml.bundle.tabular import training_summary
from scintiml.datasets import load_heart_failure
from scintiml.external import drift
from scintiml.external.drift import ALPHA, OUTSIDE_FLAG, SMD_FLAG, batch_drift, input_shift
from scintiml.external.validate import bundle_training_summary


def _bundle(train: pd.DataFrame) -> SimpleNamespace:
    """What batch_drift reads of a bundle: the training summary, the training range and the inputs."""
    ranges = {c: [float(train[c].min()), float(train[c].max())] for c in train}
    return SimpleNamespace(spec={"training_summary": training_summary(train), "training_ranges": ranges},
                           inputs=list(train.columns))


def _old_rule(table: pd.DataFrame) -> bool:
    """Any input shifted under the former rule: |SMD| >= 0.1, > 5 % outside the range or missing up 10 points."""
    return bool(((table["smd"].abs() >= SMD_FLAG) | (table["outside_range_share"].fillna(0) > OUTSIDE_FLAG)
                 | (table["missing_change"] >= 0.10)).any())


def _population(rng, n: int) -> pd.DataFrame:
    """A known population: three normal inputs, a 0/1 input (30 %) and a lognormal (skewed) one, 5 % missing."""
    frame = pd.DataFrame({"x0": rng.normal(0, 1, n), "x1": rng.normal(50, 10, n), "x2": rng.normal(5, 2, n),
                          "flag": rng.binomial(1, 0.3, n).astype(float), "skewed": rng.lognormal(0, 0.5, n)})
    frame.loc[rng.rand(n) < 0.05, "x2"] = np.nan
    return frame


def test_batches_from_the_training_population_rarely_raise_an_alarm():
    # independent new patients from the training patients' own population: the null hypothesis, exactly
    rng = np.random.RandomState(0)
    bundle = _bundle(_population(rng, 200))
    for n in (20, 48, 100):
        new_alarms = old_alarms = 0
        reps = 300
        for _ in range(reps):
            table, lines = batch_drift(bundle, _population(rng, n))
            new_alarms += bool(table["shifted"].any())
            assert bool(lines) == bool(table["shifted"].any())
            old_alarms += _old_rule(table)
        # measured here: the old rule raised an alarm on 99.7 % (n = 20), 98 % (n = 48) and 95 % (n = 100) of
        # these batches; the new rule on 3.0 %, 3.3 % and 2.7 % (2000 batches each: 2.4-3.0 %; nominal ALPHA 5 %;
        # 300 batches give a binomial SE of about 1.3 points, hence the margin)
        assert old_alarms / reps > 0.9
        assert new_alarms / reps <= ALPHA + 0.03, (n, new_alarms / reps)


def test_random_subsets_of_the_heart_failure_training_table_raise_no_alarm():
    # the tester's case: the bundled heart-failure table (299 patients, 11 inputs) is the training table and
    # random subsets of it are predicted. Measured here: the old rule raised an alarm on 100 % of the subsets of 48
    # and 93 % of those of 100; the new rule on none (a subset varies less than new patients would: conservative)
    X = load_heart_failure().X.astype(float)
    bundle = _bundle(X)
    rng = np.random.RandomState(0)
    for n in (48, 100):
        reps = 100
        alarms = old = 0
        for _ in range(reps):
            table, _ = batch_drift(bundle, X.iloc[rng.choice(len(X), n, replace=False)])
            alarms += bool(table["shifted"].any())
            old += _old_rule(table)
        assert old / reps > 0.8
        assert alarms / reps <= ALPHA, (n, alarms / reps)


def test_a_half_sd_shift_in_a_batch_of_100_is_still_reported():
    rng = np.random.RandomState(1)
    bundle = _bundle(_population(rng, 200))
    reps, found, others = 50, 0, 0
    for _ in range(reps):
        batch = _population(rng, 100)
        batch["x1"] += 5.0  # +0.5 training SD
        table, lines = batch_drift(bundle, batch)
        shifted = table.set_index("input")["shifted"]
        found += bool(shifted["x1"])
        others += int(shifted.drop("x1").sum())
        if shifted["x1"]:
            assert any(line.startswith("input 'x1' differs from the training patients: SMD +") for line in lines)
    # z = 0.5 / sqrt(1/100 + 1/200) = 4.1 against a critical 2.9 (15 checks): power about 0.9 (0.90 in 500)
    assert found / reps >= 0.75
    assert others / reps <= 0.1
    row = table.set_index("input").loc["x1"]
    assert row["smd_se"] > 0 and abs(row["smd"]) > SMD_FLAG


def test_a_tiny_batch_reports_only_what_noise_cannot_explain():
    rng = np.random.RandomState(2)
    train = _population(rng, 200)
    bundle = _bundle(train)
    lo, hi = train["x1"].min(), train["x1"].max()
    # five patients from the population: an SMD of 0.3 or more is common and means nothing at this size
    # (measured: the old rule alarmed on every such batch, the new one on 3.3 %)
    alarms = sum(bool(batch_drift(bundle, _population(rng, 5))[0]["shifted"].any()) for _ in range(300))
    assert alarms / 300 <= ALPHA + 0.05
    # +3 SD in x1 for five patients: far beyond the noise (z about 6.7) — reported, with the rest left alone
    batch = _population(rng, 5)
    batch["x1"] = 80.0 + rng.normal(0, 1, 5)
    table, lines = batch_drift(bundle, batch)
    shifted = table.set_index("input")["shifted"]
    assert shifted["x1"] and [line for line in lines if line.startswith("input 'x1' differs")]
    # +0.5 SD in five patients: not told from noise, no alarm
    batch = _population(rng, 5)
    batch["x1"] = 55.0 + rng.normal(0, 1, 5)
    assert not batch_drift(bundle, batch)[0].set_index("input").loc["x1", "shifted"]
    # one of five just beyond the training maximum (20 % > 5 %) happens to 1 batch in ~20 per input: not an alarm
    batch = pd.DataFrame({"x1": [50.0, 48.0, 52.0, 45.0, hi + 0.5]})
    row = input_shift(bundle_training_summary(bundle), batch).set_index("input").loc["x1"]
    assert row["outside_range_share"] == 0.2 and not row["shifted"]
    # all five outside the range at both ends (SMD about 0): that no batch of the population does
    batch = pd.DataFrame({"x1": [lo - 30, lo - 20, hi + 20, hi + 30, hi + 25]})
    row = input_shift(bundle_training_summary(bundle), batch).set_index("input").loc["x1"]
    assert row["outside_range_share"] == 1.0 and row["shifted"]
    # missing values: one of five (20 % against 5 % in training) is noise; 30 of 100 is not
    batch = _population(rng, 5)
    batch["x2"] = [np.nan, 5.0, 4.0, 6.0, 5.5]
    assert not input_shift(bundle_training_summary(bundle), batch).set_index("input").loc["x2", "shifted"]
    batch = _population(rng, 100)
    batch.loc[:29, "x2"] = np.nan
    assert input_shift(bundle_training_summary(bundle), batch).set_index("input").loc["x2", "shifted"]


def test_the_table_keeps_its_columns_and_adds_the_smd_standard_error():
    rng = np.random.RandomState(3)
    train = _population(rng, 200)
    table = input_shift(training_summary(train), _population(rng, 50))
    assert list(table.columns) == ["input", "n", "mean_training", "mean_new", "smd", "smd_se", "ks_statistic",
                                   "ks_p_value", "outside_range_share", "missing_share_training",
                                   "missing_share_new", "missing_change", "shifted"]
    # SE of the SMD for a batch of n against N training patients: sqrt(1/n + 1/N) in training SDs
    row = table.set_index("input").loc["x0"]
    pooled_to_training = row["smd_se"] / np.sqrt(1 / 50 + 1 / 200)
    assert 0.8 < pooled_to_training < 1.25
    # a summary without the training n (hand-made): the training figures are taken as exact
    summary = {"x0": {"mean": 0.0, "sd": 1.0}}
    row = input_shift(summary, pd.DataFrame({"x0": rng.normal(0, 1, 50)})).iloc[0]
    assert row["smd_se"] * np.sqrt(50) == pytest.approx(1.0, rel=0.25)


def test_the_doctests_of_the_drift_module_pass():
    result = doctest.testmod(drift, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0

