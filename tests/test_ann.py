import itertools

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import check_estimator

from scintiml import ANNClassifier, split_cohort
from scintiml.ann.losses import LOSSES, REGULARIZATIONS, ErrorTerm
from scintiml.ann.network import ACTIVATIONS, Architecture
from scintiml.ann.quasi_newton import TrainingProblem
from scintiml.datasets import load_heart_failure, make_mibg_cohort


def _problem(loss, activation, reg, shared=True, seed=0):
    rng = np.random.RandomState(seed)
    n, k = 30, 3
    arch = Architecture((k, 4, 2, 1))
    y = (rng.rand(n) < 0.3).astype(float)
    y[:2] = [0, 1]
    X = rng.normal(size=(n, k)) if shared else rng.normal(size=(2, n, k))
    problem = TrainingProblem(arch, X, ErrorTerm.for_targets(loss, y), activation, reg, 0.05)
    theta = rng.normal(scale=0.7, size=(2, arch.n_params))
    return problem, theta


@pytest.mark.parametrize(
    "loss, activation, reg", list(itertools.product(LOSSES, ACTIVATIONS, REGULARIZATIONS))
)
def test_gradient_matches_finite_differences(loss, activation, reg):
    for shared in (True, False):
        problem, theta = _problem(loss, activation, reg, shared)
        idx = np.arange(2)
        f, g = problem.loss_and_gradient(theta, idx)
        np.testing.assert_allclose(f, problem.loss(theta, idx), rtol=1e-12)
        h = 1e-6
        numeric = np.zeros_like(theta)
        for p in range(theta.shape[1]):
            step = np.zeros_like(theta)
            step[:, p] = h
            numeric[:, p] = (problem.loss(theta + step, idx) - problem.loss(theta - step, idx)) / (2 * h)
        np.testing.assert_allclose(g, numeric, rtol=1e-4, atol=1e-7)


def test_weighted_squared_error_formula():
    # hand computation: 3 negatives, 1 positive -> w_pos = 3, normalisation 0.5 * 3 = 1.5
    y = np.array([0, 0, 0, 1.0])
    p = np.array([0.1, 0.2, 0.4, 0.7])
    term = ErrorTerm.for_targets("weighted_squared_error", y)
    z = np.log(p / (1 - p))[None, :]
    expected = (0.01 + 0.04 + 0.16 + 3 * 0.09) / 1.5
    np.testing.assert_allclose(term.value(z), [expected])
    # the trivial model (p = 0.5 for everyone) scores exactly 1
    np.testing.assert_allclose(term.value(np.zeros((1, 4))), [1.0])


def test_cross_entropy_matches_sklearn_log_loss():
    from sklearn.metrics import log_loss

    rng = np.random.RandomState(1)
    y = rng.randint(0, 2, 50).astype(float)
    z = rng.normal(size=(1, 50))
    term = ErrorTerm.for_targets("cross_entropy", y)
    np.testing.assert_allclose(term.value(z), [log_loss(y, 1 / (1 + np.exp(-z[0])))], rtol=1e-10)


def test_check_estimator_passes():
    check_estimator(ANNClassifier(max_iter=200))


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"regularization_weight": -1.0}, "'regularization_weight' parameter"),
        ({"loss": "hinge"}, "'loss' parameter of ANNClassifier must be a str among"),
        ({"activation": "softmax"}, "'activation' parameter"),
        ({"scaling": "robust"}, "'scaling' parameter"),
        ({"n_restarts": 0}, "'n_restarts' parameter"),
        ({"hidden_layer_sizes": (3, 0)}, "hidden_layer_sizes must hold positive integers"),
    ],
)
def test_bad_parameters_name_the_parameter(params, fragment):
    X = np.random.RandomState(0).normal(size=(20, 2))
    y = np.r_[np.zeros(10), np.ones(10)]
    with pytest.raises(ValueError, match=fragment):
        ANNClassifier(**params).fit(X, y)


def test_loss_error_lists_allowed_values():
    X = np.random.RandomState(0).normal(size=(20, 2))
    y = np.r_[np.zeros(10), np.ones(10)]
    with pytest.raises(ValueError) as info:
        ANNClassifier(loss="hinge").fit(X, y)
    for allowed in LOSSES:
        assert allowed in str(info.value)


def _mibg_two_inputs(seed=0):
    cohort = make_mibg_cohort(600, random_state=seed)
    split = split_cohort(cohort, random_state=seed)
    X = cohort.X[["delta_lvef", "planar_washout"]]
    return cohort, split, X


def test_mibg_two_true_inputs_reach_the_ceiling():
    cohort, split, X = _mibg_two_inputs()
    y = cohort.y
    model = ANNClassifier(hidden_layer_sizes=(6, 1), random_state=0).fit(X.iloc[split.training], y[split.training])
    auc = roc_auc_score(y[split.testing], model.predict_proba(X.iloc[split.testing])[:, 1])
    ceiling = roc_auc_score(y[split.testing], cohort.truth["probability"][split.testing])
    assert auc >= ceiling - 0.02, (auc, ceiling)
    assert model.architecture_ == (2, 6, 1, 1)
    assert list(model.feature_names_in_) == ["delta_lvef", "planar_washout"]


def test_same_seed_identical_weights_other_seed_different():
    cohort, split, X = _mibg_two_inputs()
    fit = lambda seed: ANNClassifier(hidden_layer_sizes=(6, 1), random_state=seed).fit(X, cohort.y)
    a, b, c = fit(7), fit(7), fit(8)
    np.testing.assert_array_equal(a.parameter_vector(), b.parameter_vector())
    assert not np.allclose(a.parameter_vector(), c.parameter_vector())


def test_quasi_newton_reaches_the_same_minimum_as_scipy_lbfgs():
    cohort = load_heart_failure()
    X = cohort.X[["ejection_fraction", "serum_creatinine", "age"]]
    ours = ANNClassifier(hidden_layer_sizes=(3,), n_restarts=1, tol=1e-9, random_state=0).fit(X, cohort.y)
    ref = ANNClassifier(hidden_layer_sizes=(3,), n_restarts=1, tol=1e-9, solver="lbfgs", random_state=0).fit(X, cohort.y)
    assert abs(ours.loss_ - ref.loss_) < 1e-3 * ref.loss_
    assert ours.loss_curve_[0] > ours.loss_ and np.all(np.diff(ours.loss_curve_) <= 1e-12)


def test_restarts_keep_the_lowest_training_loss():
    cohort = load_heart_failure()
    model = ANNClassifier(hidden_layer_sizes=(4,), n_restarts=4, random_state=3).fit(cohort.X, cohort.y)
    assert model.loss_ == pytest.approx(model.restart_losses_.min())


def test_early_stopping_on_selection_set():
    cohort = make_mibg_cohort(300, random_state=2)
    split = split_cohort(cohort, random_state=2)
    X, y = cohort.X, cohort.y
    sel = (X.iloc[split.selection], y[split.selection])
    full = ANNClassifier(hidden_layer_sizes=(6,), regularization="none", random_state=0, n_restarts=1)
    full.fit(X.iloc[split.training], y[split.training], selection=sel)
    early = clone(full).set_params(max_selection_failures=5)
    early.fit(X.iloc[split.training], y[split.training], selection=sel)
    # early stopping ends sooner and returns the parameters at the lowest selection error
    assert early.n_iter_ < full.n_iter_
    assert early.selection_error_ == pytest.approx(early.selection_loss_curve_.min())
    assert early.selection_error_ <= full.selection_error_
    assert len(full.selection_loss_curve_) == len(full.loss_curve_)


def test_works_in_sklearn_tools():
    cohort = load_heart_failure()
    X, y = cohort.X, cohort.y
    pipe = make_pipeline(FunctionTransformer(np.log1p), ANNClassifier(hidden_layer_sizes=(2,), random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and np.all(scores > 0.5)
    grid = GridSearchCV(ANNClassifier(random_state=0), {"hidden_layer_sizes": [(1,), (3,)]}, cv=2).fit(X, y)
    assert grid.best_params_["hidden_layer_sizes"] in [(1,), (3,)]


def test_string_labels():
    cohort = load_heart_failure()
    labels = np.where(cohort.y == 1, "died", "alive")
    model = ANNClassifier(hidden_layer_sizes=(2,), random_state=0).fit(cohort.X, labels)
    assert list(model.classes_) == ["alive", "died"]
    assert set(model.predict(cohort.X)) <= {"alive", "died"}


@pytest.mark.parametrize("hidden", [(3,), (3, 2)])
@pytest.mark.parametrize("activation", ["logistic", "tanh", "relu", "linear"])
def test_expression_reproduces_predictions(hidden, activation):
    cohort = load_heart_failure()
    X = cohort.X[["ejection_fraction", "serum_creatinine"]]
    model = ANNClassifier(hidden_layer_sizes=hidden, activation=activation, random_state=0).fit(X, cohort.y)
    namespace: dict = {}
    exec(model.expression(language="python"), namespace)
    got = np.array([namespace["probability"](a, b) for a, b in X.to_numpy()])
    np.testing.assert_allclose(got, model.predict_proba(X)[:, 1], rtol=1e-12, atol=1e-14)
    text = model.expression()
    assert "scaled_ejection_fraction = (ejection_fraction - " in text
    assert text.strip().splitlines()[-1].startswith("probability = logistic(")


def test_lbfgs_selection_curve_has_one_point_per_iteration():
    cohort = load_heart_failure()
    split = split_cohort(cohort, random_state=0)
    X, y = cohort.X, cohort.y
    model = ANNClassifier(hidden_layer_sizes=(3,), solver="lbfgs", n_restarts=1, random_state=0)
    model.fit(X.iloc[split.training], y[split.training], selection=(X.iloc[split.selection], y[split.selection]))
    assert len(model.selection_loss_curve_) == len(model.loss_curve_) > 1


def test_train_networks_fold_weights_equal_training_on_the_fold_alone():
    from scintiml.ann import train_networks

    rng = np.random.RandomState(3)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=60) > 0).astype(float)
    arch = Architecture((3, 4, 1))
    theta0 = arch.initial_parameters(2, rng)
    fold = np.arange(60) % 3 == 0
    weights = np.stack([~fold, fold]).astype(float)
    together = train_networks(X, y, (4,), initial_parameters=theta0, training_weights=weights,
                              selection_weights=1 - weights)
    for b, rows in enumerate([~fold, fold]):
        alone = train_networks(X[rows], y[rows], (4,), initial_parameters=theta0[b:b + 1],
                               selection=(X[~rows], y[~rows]))
        np.testing.assert_allclose(together.theta[b], alone.theta[0], rtol=1e-6, atol=1e-8)
        assert together.selection_error[b] == pytest.approx(alone.selection_error[0], rel=1e-8)


def test_train_networks_bootstrap_counts_equal_repeated_rows():
    from scintiml.ann import train_networks

    rng = np.random.RandomState(4)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] + rng.normal(size=40) > 0).astype(float)
    counts = rng.multinomial(40, np.full(40, 1 / 40))
    theta0 = Architecture((2, 3, 1)).initial_parameters(1, rng)
    weighted = train_networks(X, y, (3,), initial_parameters=theta0, training_weights=counts[None, :])
    rows = np.repeat(np.arange(40), counts)
    repeated = train_networks(X[rows], y[rows], (3,), initial_parameters=theta0)
    assert weighted.loss[0] == pytest.approx(repeated.loss[0], rel=1e-7)
    np.testing.assert_allclose(weighted.theta, repeated.theta, rtol=1e-5, atol=1e-7)


def test_train_networks_refuses_ambiguous_batch():
    from scintiml.ann import train_networks

    X = np.zeros((10, 2))
    with pytest.raises(ValueError, match="ambiguous"):
        train_networks(X, np.r_[np.zeros(5), np.ones(5)], (2,), n_networks=3, training_weights=np.ones((2, 10)))


def test_an_input_constant_in_training_does_not_saturate_the_network():
    # 0.1 in every training row: its float mean is one rounding step off, the old "standard deviation" 2.8e-17
    # scaled a new patient's 0.3 to ~7e15 and every such patient got the same probability
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.normal(size=200), np.full(200, 0.1)])
    y = (X[:, 0] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    model = ANNClassifier(hidden_layer_sizes=(2,), random_state=0).fit(X, y)
    new = np.column_stack([np.linspace(-2, 2, 6), np.full(6, 0.3)])
    same = np.column_stack([np.linspace(-2, 2, 6), np.full(6, 0.1)])
    # the constant input is ignored: patients are ranked by the input the model learned, whatever the other holds
    np.testing.assert_allclose(model.predict_proba(new)[:, 1], model.predict_proba(same)[:, 1], atol=1e-9)
    assert np.ptp(model.predict_proba(new)[:, 1]) > 0.5
