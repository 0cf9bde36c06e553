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
