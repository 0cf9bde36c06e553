import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from scintiml import load_cohort
from scintiml.errors import GroupsError
from scintiml.readiness import _corrected_interval, assess_readiness


def _cohort(imaging_signal: bool, seed: int, n: int = 400):
    rng = np.random.RandomState(seed)
    clinical = rng.normal(size=(n, 4))
    imaging = rng.normal(size=(n, 10))
    logit = -0.5 + 1.0 * clinical[:, 0] + 0.8 * clinical[:, 1]
    if imaging_signal:
        logit = logit + 1.4 * imaging[:, 0] + 1.0 * imaging[:, 1]
    y = rng.binomial(1, expit(logit))
    frame = pd.DataFrame(np.hstack([clinical, imaging]),
                         columns=[f"clin_{i}" for i in range(4)] + [f"img_{i}" for i in range(10)])
    frame["event"] = y
    return load_cohort(frame, "event", groups={"clinical": "clin_*", "imaging": "img_*"})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_imaging_with_signal_is_supported(seed):
    result = assess_readiness(_cohort(True, seed), random_state=seed)
    assert result.verdict == "supported"
    assert result.gain["ci95"][0] > 0
    assert result.group_importance["imaging"] > 0.02
    assert "CNN project" in result.message


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_imaging_noise_is_not_supported(seed):
    result = assess_readiness(_cohort(False, seed), random_state=seed)
    assert result.verdict == "not_supported"
    assert result.gain["ci95"][1] < 0.02
    assert "do not start" in result.message


def test_learning_curve_and_reasons():
    result = assess_readiness(_cohort(True, 0), random_state=0)
    curve = result.learning_curve
    assert curve["n_training"] == sorted(curve["n_training"])
    assert curve["auc"][-1] > curve["auc"][0] - 0.05
    assert any("cross-validation" in r for r in result.reasons)


def test_corrected_interval_is_wider_than_naive():
    diffs = np.random.RandomState(0).normal(0.05, 0.03, 20)
    mean, se, (lo, hi) = _corrected_interval(diffs, n_train=320, n_test=80)
    naive_se = diffs.std(ddof=1) / np.sqrt(20)
    assert se == pytest.approx(diffs.std(ddof=1) * np.sqrt(1 / 20 + 80 / 320))
    assert se > naive_se and lo < mean < hi


def test_missing_group_is_a_clear_error():
    cohort = _cohort(True, 0)
    cohort.groups.pop("imaging")
    with pytest.raises(GroupsError, match="needs an input group named 'imaging'"):
        assess_readiness(cohort)


def test_patients_to_settle_follows_the_stated_calculation():
    from scintiml.readiness import patients_to_settle

    # below the minimum gain: the half-width must shrink to (min_gain - gain)
    assert patients_to_settle(0.015, 0.0355, 303, 0.02) == (int(np.ceil(303 * (0.0355 / 0.005) ** 2)), 0.005)
    # above it: the half-width must shrink to the gain itself (interval excludes 0)
    assert patients_to_settle(0.04, 0.06, 200, 0.02) == (int(np.ceil(200 * (0.06 / 0.04) ** 2)), 0.04)
    # never fewer than one more patient, never more than 100 times the cohort
    assert patients_to_settle(0.10, 0.01, 200)[0] == 201
    assert patients_to_settle(0.0199, 0.05, 200)[0] == 20000


def test_inconclusive_advice_is_one_and_agrees_with_the_learning_curve():
    from scintiml.datasets import load_heart_disease

    cohort = load_heart_disease("cleveland")
    clinical = cohort.groups["clinical"]
    cohort = cohort.subset(clinical + ["thal"])  # ca (fluoroscopy) left out
    cohort.groups = {"clinical": clinical, "imaging": ["thal"]}
    result = assess_readiness(cohort, random_state=0)
    assert result.verdict == "inconclusive"
    lo, hi = result.gain["ci95"]
    half = (hi - lo) / 2
    margin = 0.02 - result.gain["mean"] if result.gain["mean"] < 0.02 else result.gain["mean"]
    # the figure in the message is the stated calculation, n' = n (h / m)^2
    assert result.patients_needed == int(np.ceil(303 * (half / margin) ** 2))
    assert f"about {result.patients_needed - 303} more" in result.message
    assert any("1/sqrt(n)" in r and f"{result.patients_needed} patients in all" in r for r in result.reasons)
    # and the message says what the learning curve says, not the opposite
    if result.more_patients_likely_help:
        assert "still rising" in result.message
    else:
        assert "flattened" in result.message and "would narrow the interval" in result.message
        assert not any("more patients would likely help" in r for r in result.reasons)


@pytest.mark.parametrize("interval, words", [((0.005, 0.015), "adds a small gain over the clinical inputs (+0.010"),
                                             ((-0.005, 0.015), "adds nothing measurable")])
def test_a_small_real_gain_is_not_called_nothing(monkeypatch, interval, words):
    import scintiml.readiness as readiness

    real = readiness._corrected_interval

    def fixed(values, n_train, n_test, *args):  # the AUCs as computed; the gain's interval as given
        mean, se, ci = real(values, n_train, n_test, *args)
        return (0.010, se, interval) if np.all(np.abs(values) < 0.5) else (mean, se, ci)

    monkeypatch.setattr(readiness, "_corrected_interval", fixed)
    result = assess_readiness(_cohort(False, 0, n=200), random_state=0, n_repeats=1)
    assert result.verdict == "not_supported" and words in result.message and "do not start" in result.message


def test_inputs_in_no_group_are_said_to_be_outside_the_comparison():
    from scintiml.study import _ungrouped_inputs_warning

    cohort = _cohort(True, 0, n=100)
    cohort.groups = {"clinical": ["clin_1", "clin_2", "clin_3"], "imaging": [f"img_{i}" for i in range(10)]}
    lines = _ungrouped_inputs_warning(cohort, ["clin_0", "img_0"])
    assert len(lines) == 1 and lines[0].startswith("1 input(s) are in neither the imaging nor the clinical group "
                                                   "(clin_0)")
    assert "the study's own model uses clin_0" in lines[0]
    cohort.groups["lab"] = ["clin_0"]  # a third group is outside the comparison too
    assert "(clin_0)" in _ungrouped_inputs_warning(cohort, ["clin_0", "img_0"])[0]
    cohort.groups = {"clinical": ["clin_0", "clin_1", "clin_2", "clin_3"], "imaging": cohort.groups["imaging"]}
    assert _ungrouped_inputs_warning(cohort, ["clin_0", "img_0"]) == []


def test_a_capped_sample_size_says_what_the_formula_gives(monkeypatch):
    import scintiml.readiness as readiness

    real = readiness._corrected_interval

    def at_the_line(values, n_train, n_test, *args):  # a gain just under 0.02 with a wide interval
        mean, se, ci = real(values, n_train, n_test, *args)
        return (0.0195, se, (-0.03, 0.069)) if np.all(np.abs(values) < 0.5) else (mean, se, ci)

    monkeypatch.setattr(readiness, "_corrected_interval", at_the_line)
    result = assess_readiness(_cohort(False, 0, n=200), random_state=0, n_repeats=1)
    assert result.verdict == "inconclusive" and result.patients_needed == 100 * 200
    formula = int(np.ceil(200 * (0.0495 / 0.001) ** 2))
    assert any(f"= {formula}, more than 100 times this cohort" in r for r in result.reasons)
