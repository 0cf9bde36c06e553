"""``ANNClassifier``: the Neural Designer binary-classification network as a scikit-learn estimator."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .expression import network_expression
from .losses import LOSSES, REGULARIZATIONS, ErrorTerm
from .network import ACTIVATIONS, Architecture
from .quasi_newton import TrainingProblem, TrainingResult, train_bfgs
from .scaling import SCALINGS, ScalingLayer


class ANNClassifier(ClassifierMixin, BaseEstimator):
    """Scaling layer → perceptron layers → one logistic (probabilistic) output neuron.

    The network of the published nuclear-medicine ANN studies (Neural Designer):
    inputs are scaled, pass through hidden perceptron layers, and a single
    logistic neuron gives the probability of the event. It is trained by
    quasi-Newton (BFGS) minimisation of a loss index = error term +
    neural-parameters norm, from ``n_restarts`` random starts trained together
    as one batched computation; the start with the lowest training loss is kept.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (6,)
        Neurons per hidden layer, e.g. ``(6, 1)`` or ``(3, 4, 1)``.
    activation : {"logistic", "tanh", "relu", "linear"}, default "logistic"
        Activation of the hidden layers. The output is always logistic.
    scaling : {"meanstd", "minmax", "none"}, default "meanstd"
        Scaling layer, fitted on the data given to ``fit``.
    loss : {"weighted_squared_error", "cross_entropy", "squared_error"}, default "weighted_squared_error"
        Error term; see :mod:`scintiml.ann.losses` for the exact formulas (OpenNN's).
    regularization : {"l2", "l1", "none"}, default "l2"
        Neural-parameters norm over all weights and biases.
    regularization_weight : float >= 0, default 0.01
        Weight of the norm in the loss index.
    solver : {"quasi_newton", "lbfgs"}, default "quasi_newton"
        ``quasi_newton``: batched BFGS with a backtracking Armijo line search
        (:mod:`scintiml.ann.quasi_newton`). ``lbfgs``: scipy's L-BFGS-B, one
        restart at a time (a second, independent optimiser).
    max_iter : int, default 1000
        Most iterations per restart.
    tol : float, default 1e-4
        Stop when the largest gradient component is below ``tol`` or the loss
        falls by less than ``tol × max(1, |loss|)`` for 5 consecutive
        iterations — an absolute fall of ``tol`` while the loss is below 1,
        as it nearly always is. (scikit-learn's MLP default.)
    n_restarts : int, default 1
        Random initialisations trained together; the lowest training loss is
        kept. Measured in ``benchmarks/bench_ann.py defaults`` (five splits
        each of a 300 × 44 synthetic set, SPECTF and heart failure;
        benchmarks/README.md): these defaults (tol 1e-4, one start) gave mean
        testing AUC 0.682 / 0.739 / 0.711 in 0.47–0.99 times (three runs) the
        fit time of ``MLPClassifier((6, 6, 6), solver="lbfgs")``; the former
        ones (tol 1e-6, 3 starts) 0.696 / 0.749 / 0.659 in 1.9–4.1 times it.
    max_selection_failures : int or None, default None
        With a selection set passed to ``fit``: stop a start after this many
        consecutive iterations without a new lowest selection error and keep
        its parameters at that lowest selection error (early stopping).
    random_state : int, RandomState or None, default None

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    scaler_ : ScalingLayer
    coefs_ : list of ndarray
        ``coefs_[i]`` has shape (fan_in, fan_out) for layer ``i``.
    intercepts_ : list of ndarray
    loss_ : float
        Final training loss index (error + regularisation).
    training_error_ : float
        Final training error (without the regularisation term).
    selection_error_ : float or None
        Error on the selection set at the returned parameters.
    loss_curve_ : ndarray
        Training loss index at each iteration of the kept start.
    selection_loss_curve_ : ndarray or None
        Selection error at each iteration of the kept start.
    n_iter_ : int
    restart_losses_ : ndarray of shape (n_restarts,)

    References
    ----------
    Neural Designer / OpenNN (Artelnics), loss index and quasi-Newton method.
    Nocedal J, Wright SJ. Numerical Optimization, 2nd ed. Springer 2006.

    Examples
    --------
    >>> from scintiml.datasets import load_heart_failure
    >>> cohort = load_heart_failure()
    >>> X = cohort.X[["ejection_fraction", "serum_creatinine"]]
    >>> model = ANNClassifier(hidden_layer_sizes=(3,), random_state=0).fit(X, cohort.y)
    >>> model.predict_proba(X).shape
    (299, 2)
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "scaling": [StrOptions(set(SCALINGS))],
        "loss": [StrOptions(set(LOSSES))],
        "regularization": [StrOptions(set(REGULARIZATIONS))],
        "regularization_weight": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"quasi_newton", "lbfgs"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_restarts": [Interval(Integral, 1, None, closed="left")],
        "max_selection_failures": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(6,),
        activation="logistic",
        scaling="meanstd",
        loss="weighted_squared_error",
        regularization="l2",
        regularization_weight=0.01,
        solver="quasi_newton",
        max_iter=1000,
        tol=1e-4,
        n_restarts=1,
        max_selection_failures=None,
        random_state=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.scaling = scaling
        self.loss = loss
        self.regularization = regularization
        self.regularization_weight = regularization_weight
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.n_restarts = n_restarts
        self.max_selection_failures = max_selection_failures
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def _hidden_sizes(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
        if any(not isinstance(s, Integral) or s < 1 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must hold positive integers, e.g. (6,) or (3, 4, 1); got {self.hidden_layer_sizes!r}"
            )
        return tuple(int(s) for s in sizes)

    def fit(self, X, y, selection=None):
        """Train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), two classes
        selection : tuple (X_selection, y_selection), optional
            Instances used only to measure the selection error during training
            (and for early stopping when ``max_selection_failures`` is set).

        Returns
        -------
        self
        """
        self._validate_params()
        hidden = self._hidden_sizes()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            found = "1 class" if len(self.classes_) == 1 else f"{len(self.classes_)} classes"
            raise ValueError(
                f"Only binary classification is supported: y must have exactly 2 classes, got {found} "
                f"({self.classes_.tolist()[:5]}); recode the outcome as event / no event"
            )
        t = y_index.astype(float)
        self.scaler_ = ScalingLayer.fit(X, self.scaling)
        Xs = self.scaler_.transform(X)
        arch = Architecture((X.shape[1], *hidden, 1))
        rng = check_random_state(self.random_state)
        theta0 = arch.initial_parameters(self.n_restarts, rng)
        problem = TrainingProblem(
            arch=arch, X=Xs, error=ErrorTerm.for_targets(self.loss, t), activation=self.activation,
            regularization=self.regularization, regularization_weight=float(self.regularization_weight),
        )
        if selection is not None:
            X_sel, y_sel = selection
            X_sel = validate_data(self, X_sel, reset=False, dtype=np.float64)
            y_sel = np.asarray(y_sel)
            unknown = set(np.unique(y_sel)) - set(self.classes_)
            if unknown:
                raise ValueError(f"selection targets hold classes {sorted(unknown)} absent from training")
            problem.X_selection = self.scaler_.transform(X_sel)
            problem.error_selection = ErrorTerm.for_targets(self.loss, (y_sel == self.classes_[1]).astype(float))
        if self.solver == "quasi_newton":
            result = train_bfgs(
                problem, theta0, max_iter=self.max_iter, tol=self.tol,
                max_selection_failures=self.max_selection_failures if selection is not None else None,
            )
        else:
            result = _train_lbfgs(problem, theta0, self.max_iter, self.tol)
        best = int(np.argmin(result.loss))
        self._set_parameters(arch, result.theta[best])
        self.architecture_ = arch.sizes
        self.restart_losses_ = result.loss.copy()
        self.loss_ = float(result.loss[best])
        self.training_error_ = float(problem.error_only(result.theta[best:best + 1], np.array([best]))[0])
        self.selection_error_ = None if result.selection_error is None else float(result.selection_error[best])
        self.loss_curve_ = result.loss_curves[best]
        self.selection_loss_curve_ = result.selection_curves[best] if selection is not None else None
        self.n_iter_ = int(result.n_iter[best])
        self.converged_ = bool(result.converged[best]) if result.converged is not None else True
        return self

    def _set_parameters(self, arch: Architecture, theta: np.ndarray) -> None:
        self.coefs_, self.intercepts_ = [], []
        for w, b in arch.unpack(theta[None, :]):
            self.coefs_.append(w[0].copy())
            self.intercepts_.append(b[0].copy())

    def parameter_vector(self) -> np.ndarray:
        """All weights and biases in the layout of :class:`~scintiml.ann.network.Architecture`."""
        check_is_fitted(self)
        return np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(self.coefs_, self.intercepts_)])

    # -------------------------------------------------------------- predict
    def decision_function(self, X):
        """Logit of the event probability (the output neuron's combination)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        a = self.scaler_.transform(X)
        n_layers = len(self.coefs_)
        for i, (w, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            z = a @ w + b
            if i == n_layers - 1:
                return z[:, 0]
            a = _ACT[self.activation](z)
        raise AssertionError("unreachable")

    def predict_proba(self, X):
        """Probabilities ``[P(classes_[0]), P(classes_[1])]``; ``classes_[1]`` is the event."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """Class at probability threshold 0.5."""
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) >= 0.0).astype(int)]

    def expression(self, feature_names=None, language: str = "text") -> str:
        """The trained network written out as formulas (Neural Designer's *expression*).

        Parameters
        ----------
        feature_names : list of str, optional
            Input names; default ``feature_names_in_`` or ``x0, x1, ...``.
        language : {"text", "python"}
            ``text``: one line per neuron, fit for a spreadsheet or a paper.
            ``python``: source of a self-contained ``def probability(...)``.
        """
        check_is_fitted(self)
        if feature_names is None:
            feature_names = getattr(self, "feature_names_in_", None)
        if feature_names is None:
            feature_names = [f"x{i}" for i in range(self.n_features_in_)]
        return network_expression(
            list(map(str, feature_names)), self.scaler_, self.coefs_, self.intercepts_, self.activation, language
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


_ACT = {
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
}


def _train_lbfgs(problem: TrainingProblem, theta0: np.ndarray, max_iter: int, tol: float) -> TrainingResult:
    """scipy L-BFGS-B on each restart in turn (the reference optimiser)."""
    thetas, losses, iters, curves, sel_curves = [], [], [], [], []
    for i in range(theta0.shape[0]):
        curve: list[float] = []
        sel_curve: list[float] = []
        idx = np.array([i])

        def fun(th):
            f, g = problem.loss_and_gradient(th[None, :], idx)
            return float(f[0]), g[0]

        def record(intermediate_result):
            # one point per iteration, like the quasi-Newton curves: training loss and selection error
            curve.append(float(intermediate_result.fun))
            if problem.X_selection is not None:
                sel_curve.append(float(problem.selection_error(intermediate_result.x[None, :], idx)[0]))

        res = minimize(
            fun, theta0[i], jac=True, method="L-BFGS-B",
            options={"maxiter": max_iter, "gtol": tol, "ftol": tol}, callback=record,
        )
        thetas.append(res.x)
        losses.append(res.fun)
        iters.append(res.nit)
        curves.append(np.asarray(curve))
        sel_curves.append(np.asarray(sel_curve))
    theta = np.asarray(thetas)
    sel = problem.selection_error(theta, np.arange(len(theta))) if problem.X_selection is not None else None
    return TrainingResult(theta, np.asarray(losses), np.asarray(iters), curves, sel_curves, sel,
                          np.ones(len(theta), dtype=bool))
