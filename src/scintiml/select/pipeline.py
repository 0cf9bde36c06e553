"""The whole selection pipeline as one estimator: inputs → hidden layers → network."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.impute import SimpleImputer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..ann import ANNClassifier
from .inputs import InputSelector
from .order import OrderSelector
from .stability import StabilitySelector, resampled_selector, stable_support

#: Random starts of the study's final network (the best training loss is kept). The study's fit stage and this
#: pipeline share it, so that the nested headline refits the study's procedure with the study's settings (each
#: outer fold's final network is trained on all its training patients; the study's on its training part).
FINAL_RESTARTS = 5


class SelectedNetworkClassifier(ClassifierMixin, BaseEstimator):
    """Median imputation → input selection → order selection → the network, fitted in one call.

    This is what nested cross-validation evaluates: every outer fold refits
    the selections on its own training patients, so the estimate includes the
    optimism of choosing inputs and architecture (Varma & Simon 2006).

    Parameters
    ----------
    method : {"growing", "pruning", "genetic", "all"}, default "growing"
        ``all`` keeps every input (order selection and the network only).
    stability : bool, default True
        The inputs are those chosen in at least 55 % of ``2 * n_pairs``
        resampled selections (:class:`StabilitySelector`, ``method`` inside,
        lowest loss each); where none reaches it, the family chosen most
        often, and never more than ``max_inputs`` (the families chosen most
        often). ``False``: one cross-validated :class:`InputSelector` with the
        one-SE rule picks them.
    n_pairs : int, default 10
        Complementary half-sample pairs of the stability selection.
    cv : int >= 2 or "split", default 5
        How :class:`OrderSelector` (and, with ``stability=False``,
        :class:`InputSelector`) judge candidates.
    max_inputs : int, optional
    max_neurons, max_layers : int, default 8, 2
        Architectures tried by :class:`OrderSelector`.
    n_restarts : int, default 5
        Random starts of the final network, as in the study's own final fit
        (:data:`FINAL_RESTARTS`).
    random_state : int, RandomState or None

    Attributes
    ----------
    selected_inputs_ : list of str
    input_selector_ : StabilitySelector or InputSelector or None
        The fitted input selection (``None`` with ``method="all"``).
    hidden_layer_sizes_ : tuple of int
    network_ : ANNClassifier
    imputer_ : SimpleImputer
    classes_ : ndarray

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=1)
    >>> X = cohort.X[["delta_lvef", "planar_washout", "age"]]
    >>> model = SelectedNetworkClassifier(cv=3, max_neurons=2, max_layers=1, random_state=0).fit(X, cohort.y)
    >>> model.selected_inputs_, model.predict_proba(X).shape
    (['delta_lvef', 'planar_washout'], (200, 2))
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"growing", "pruning", "genetic", "all"})],
        "stability": ["boolean"],
        "n_pairs": [Interval(Integral, 1, None, closed="left")],
        "cv": [Interval(Integral, 2, None, closed="left"), StrOptions({"split"})],
        "max_inputs": [Interval(Integral, 1, None, closed="left"), None],
        "max_neurons": [Interval(Integral, 1, None, closed="left")],
        "max_layers": [Interval(Integral, 1, 3, closed="both")],
        "n_restarts": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, method="growing", stability=True, n_pairs=10, cv=5, max_inputs=None, max_neurons=8,
                 max_layers=2, n_restarts=FINAL_RESTARTS, random_state=None):
        self.method = method
        self.stability = stability
        self.n_pairs = n_pairs
        self.cv = cv
        self.max_inputs = max_inputs
        self.max_neurons = max_neurons
        self.max_layers = max_layers
        self.n_restarts = n_restarts
        self.random_state = random_state

    def fit(self, X, y):
        """Impute, select inputs, select the hidden layers and train the network on ``X, y``."""
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            found = "1 class" if len(self.classes_) == 1 else f"{len(self.classes_)} classes"
            raise ValueError(f"Only binary classification is supported: y must have exactly 2 classes, got {found}; "
                             "recode the outcome as event / no event")
        rng = check_random_state(self.random_state)
        seeds = rng.randint(0, 2**31 - 1, size=3)
        self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True).fit(X)
        Xi = self.imputer_.transform(X)
        # an input constant on these patients (a one-hot level only held-out patients have) carries nothing and
        # would only change the random draws of every candidate: it is left out before any selection
        varying = np.flatnonzero(np.ptp(Xi, axis=0) > 0) if len(Xi) else np.arange(X.shape[1])
        if not len(varying):
            varying = np.arange(X.shape[1])
        if self.method == "all":
            self.input_selector_ = None
            chosen = np.ones(len(varying), dtype=bool)
        elif self.stability:
            self.input_selector_ = StabilitySelector(resampled_selector(self.method, self.max_inputs),
                                                     n_pairs=self.n_pairs, random_state=int(seeds[0])).fit(
                                                         Xi[:, varying], y)
            chosen = stable_support(self.input_selector_, self.max_inputs)
        else:
            self.input_selector_ = InputSelector(method=self.method, cv=self.cv, max_inputs=self.max_inputs,
                                                 random_state=int(seeds[0])).fit(Xi[:, varying], y)
            chosen = self.input_selector_.support_
        self.support_ = np.zeros(X.shape[1], dtype=bool)  # the choice among the varying inputs, over all of X
        self.support_[varying[chosen]] = True
        names = getattr(self, "feature_names_in_", None)
        names = list(names) if names is not None else [f"x{i}" for i in range(X.shape[1])]
        self.selected_inputs_ = [names[j] for j in np.flatnonzero(self.support_)]
        Xs = Xi[:, self.support_]
        order = OrderSelector(max_neurons=self.max_neurons, max_layers=self.max_layers, cv=self.cv,
                              random_state=int(seeds[1])).fit(Xs, y)
        self.hidden_layer_sizes_ = tuple(order.hidden_layer_sizes_)
        self.network_ = ANNClassifier(hidden_layer_sizes=self.hidden_layer_sizes_, n_restarts=self.n_restarts,
                                      random_state=int(seeds[2])).fit(Xs, y)
        return self

    def predict_proba(self, X):
        """Probabilities ``[P(classes_[0]), P(classes_[1])]`` from the selected inputs."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite="allow-nan")
        return self.network_.predict_proba(self.imputer_.transform(X)[:, self.support_])

    def predict(self, X):
        """Class at probability 0.5."""
        check_is_fitted(self)
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags
