"""The learning curve's "still rising" reading: a chance step at chance level is not a reason to collect patients."""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from scintiml.readiness import _learning_curve, _still_rising, default_learner


def _curve(n, seed, effect):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    y = rng.binomial(1, expit(effect * (X[:, 0] + X[:, 2])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _learning_curve(pd.DataFrame(X, columns=["c1", "c2", "i1", "i2"]), y, default_learner(),
                               np.random.RandomState(seed))


def test_the_curve_keeps_each_folds_auc_on_the_same_test_folds():
    curve = _curve(60, 0, 1.0)
    assert len(curve["fold_auc"]) == len(curve["auc"]) == 5
    for mean, folds in zip(curve["auc"], curve["fold_auc"]):
        assert len(folds) == 5 and mean == pytest.approx(np.nanmean(folds))


@pytest.mark.parametrize("seed", [3, 10])
def test_no_signal_at_60_patients_is_not_still_rising(seed):
    # seeds where the mean of the last step rose by more than 0.01 (the reading until 0.7.2 said "still rising")
    curve = _curve(60, seed, 0.0)
    assert curve["auc"][-1] - curve["auc"][-2] > 0.01
    assert not _still_rising(curve)


def test_a_real_rise_is_still_read_as_rising():
    # a steady rise well above chance, fold by fold
    folds = [[0.60, 0.62, 0.61, 0.63, 0.60], [0.70, 0.71, 0.69, 0.72, 0.70]]
    assert _still_rising({"auc": [0.612, 0.704], "fold_auc": folds})
    # the same rise but with a fold whose small subsample had one outcome only (NaN) is still read
    folds[0][2] = float("nan")
    assert _still_rising({"auc": [0.6125, 0.704], "fold_auc": folds})
