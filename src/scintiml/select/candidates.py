"""Train many candidate networks (input subsets × folds × restarts) as one batched computation.

A candidate is judged on cross-validation folds (or on the single selection
split, which is one "fold"): every fold × restart of every candidate is one
network of the same batch of :func:`scintiml.ann.train_networks`, with its own
instance weights (its training rows) and selection weights (its validation
rows) over the same patients.

Input subsets of different sizes share one batch: each subset is padded to the
largest size with a column of zeros whose first-layer weights start at 0.
Those weights then receive no gradient from the data (their input is 0) nor
from the norm (its gradient at 0 is 0), so they stay exactly 0 and a padded
candidate *is* the smaller network.

Batches can be sent through joblib, so ``joblib.parallel_config(backend="dask")``
(or Ray) spreads the fits over a cluster without code changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from ..ann import ANNClassifier, Architecture, ErrorTerm, ScalingLayer, train_networks
from ..ann.network import forward
from ..errors import ScintimlError

#: Largest gathered input array of one batch, in values (float32): bounds memory on wide cohorts.
MAX_BATCH_VALUES = 30_000_000


def binary_target(y: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    """The two classes of ``y`` and the 0/1 event indicator (the second class is the event).

    A ``ScintimlError`` (a ``ValueError``) names ``task`` when ``y`` does not hold exactly two classes.

    Examples
    --------
    >>> classes, t = binary_target(np.array([2, 1, 2]), "model selection")
    >>> classes.tolist(), t.tolist()
    ([1, 2], [1.0, 0.0, 1.0])
    """
    classes = np.unique(y)
    if len(classes) != 2:
        found = "1 class" if len(classes) == 1 else f"{len(classes)} classes"
        raise ScintimlError(f"{task} needs a binary outcome (two classes), got {found} "
                            f"{classes.tolist()[:5]}; recode the outcome as event / no event")
    return classes, (y == classes[1]).astype(float)


def prepare_data(selector, X, y, selection, rng: np.random.RandomState, seed: int | None = None):
    """Validate a selector's instances, build its folds and scale the inputs once.

    With ``selection=(X_sel, y_sel)``: the single selection split (one fold).
    Otherwise ``selector.cv``: an int ``K`` gives stratified K-fold
    cross-validation repeated ``selector.n_repeats`` times over ``X``;
    ``"split"`` holds out 25 % of ``X`` (stratified: the 60:20 of 60:20:20).
    Returns ``(data, estimator)``: the :class:`CandidateData` and the candidate networks' settings.
    """
    X, y = validate_data(selector, X, y, dtype=np.float64)
    classes, t = binary_target(y, "model selection")
    estimator = clone(selector.estimator) if selector.estimator is not None else default_estimator()
    scaling = estimator.get_params()["scaling"]
    cv = getattr(selector, "cv", "split")
    if selection is not None or cv == "split":
        if selection is None:
            X, X_sel, t, t_sel = train_test_split(X, t, test_size=0.25, stratify=t, random_state=rng)
        else:
            X_sel = validate_data(selector, selection[0], reset=False, dtype=np.float64)
            y_sel = np.asarray(selection[1])
            if len(y_sel) != len(X_sel):
                raise ValueError(f"the selection part has {len(X_sel)} rows of inputs but {len(y_sel)} outcomes")
            # labels coded otherwise than y's (0/1 against "yes"/"no") would all read as non-events: every
            # candidate judged on the wrong outcome, without a word (ANNClassifier.fit refuses them the same way)
            unknown = set(np.unique(y_sel).tolist()) - set(np.asarray(classes).tolist())
            if unknown:
                raise ValueError(f"selection targets hold classes {sorted(map(str, unknown))} absent from training "
                                 f"({[str(c) for c in classes]}); code both parts' outcomes the same way")
            t_sel = (y_sel == classes[1]).astype(float)
        data = CandidateData.build(X, t, X_sel, t_sel, scaling, seed=seed)
    else:
        data = CandidateData.cross_validated(X, t, int(cv), int(getattr(selector, "n_repeats", 1)), scaling,
                                             seed=seed, random_state=rng)
    return data, estimator


def default_estimator() -> ANNClassifier:
    """The network used to judge candidates when none is given: 3 logistic neurons, L2 norm 0.01."""
    return ANNClassifier(hidden_layer_sizes=(3,))


@dataclass
class CandidateData:
    """Scaled inputs of all the patients a selector sees, and its folds as instance weights.

    ``X`` holds the inputs scaled once (scaling is per input, so subsets need
    not refit it) plus a last column of zeros (padding). Fold ``f`` trains on
    the rows where ``training_weights[f] > 0`` and is judged on the rows where
    ``selection_weights[f] > 0``.
    """

    X: np.ndarray  # (N, p + 1)
    y: np.ndarray  # (N,)
    training_weights: np.ndarray  # (F, N)
    selection_weights: np.ndarray  # (F, N)
    seed: int | None = None  # master seed of the common initial weights

    @classmethod
    def build(cls, X_train, y_train, X_sel, y_sel, scaling: str, seed: int | None = None) -> "CandidateData":
        """The single selection split: train on ``X_train``, judge on ``X_sel`` (scaling fitted on training)."""
        scaler = ScalingLayer.fit(X_train, scaling)
        X = np.vstack([scaler.transform(X_train), scaler.transform(X_sel)])
        n_tr, n_se = len(X_train), len(X_sel)
        fold = np.r_[np.ones(n_tr), np.zeros(n_se)][None, :]
        return cls(np.column_stack([X, np.zeros(len(X))]), np.r_[np.asarray(y_train, float), np.asarray(y_sel, float)],
                   fold, 1.0 - fold, seed)

    @classmethod
    def cross_validated(cls, X, y, n_splits: int = 5, n_repeats: int = 1, scaling: str = "meanstd",
                        seed: int | None = None, random_state=None) -> "CandidateData":
        """Stratified ``n_splits``-fold cross-validation, repeated ``n_repeats`` times.

        The scaling is fitted once on all rows: it uses the inputs only, never the
        outcome, so the validation folds leak nothing about the outcome into it.
        """
        y = np.asarray(y, float)
        smallest = int(min(y.sum(), len(y) - y.sum()))
        if smallest < n_splits:
            raise ScintimlError(
                f"{n_splits}-fold cross-validation needs at least {n_splits} patients of each outcome; "
                f"the rarer outcome has {smallest}. Use fewer folds (e.g. cv=3) or the selection split (cv='split'; "
                f"in a study: --selection split)"
            )
        rng = check_random_state(random_state)
        splitter = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats,
                                           random_state=int(rng.randint(0, 2**31 - 1)))
        folds = list(splitter.split(np.zeros(len(y)), y))
        train_w = np.zeros((len(folds), len(y)))
        for f, (tr, _) in enumerate(folds):
            train_w[f, tr] = 1.0
        X = ScalingLayer.fit(X, scaling).transform(X)
        return cls(np.column_stack([X, np.zeros(len(X))]), y, train_w, 1.0 - train_w, seed)

    @property
    def n_inputs(self) -> int:
        return self.X.shape[1] - 1

    @property
    def n_folds(self) -> int:
        return self.training_weights.shape[0]

    def fold_rows(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """Each fold's rows of one part (``"training"`` or ``"selection"``) as ``(F, n)`` indices and 0/1
        weights, padded to the largest fold with weight-0 copies of row 0 (folds differ by one patient at most):
        gathering only a fold's own rows saves the arithmetic on the rows it does not use."""
        weights = self.training_weights if part == "training" else self.selection_weights
        used = [np.flatnonzero(w > 0) for w in weights]
        n = max(len(u) for u in used)
        rows = np.zeros((len(used), n), dtype=int)
        mask = np.zeros((len(used), n))
        for f, u in enumerate(used):
            rows[f, : len(u)] = u
            mask[f, : len(u)] = weights[f, u]
        return rows, mask

    @property
    def training_rows(self) -> np.ndarray:
        """Rows of the first fold's training part (the training patients of a single split)."""
        return np.flatnonzero(self.training_weights[0] > 0)


@dataclass
class CandidateResults:
    """What every candidate scored; the selection loss is the mean over folds."""

    training_loss: np.ndarray  # (C,) training error (without the norm), mean over folds
    fold_loss: np.ndarray  # (C, F) selection error of each fold
    selection_loss: np.ndarray  # (C,) mean over folds
    selection_se: np.ndarray  # (C,) standard error of that mean
    selection_auc: np.ndarray  # (C,) mean over folds of the validation AUC
    selection_terms: np.ndarray  # (C, M): per-instance out-of-fold terms, mean = selection loss
    n_networks: int  # networks trained (candidates × folds × restarts)


def standard_error(fold_loss: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """Standard error of each candidate's selection loss (the mean over folds).

    Estimated from the per-instance out-of-fold terms, ``sd(terms) / sqrt(M)``
    over the ``M`` patients judged, rather than from the spread of the ``F``
    fold losses (Hastie et al. 2009 §7.10): the two estimate the same
    quantity, but five fold losses give it with 4 degrees of freedom and the
    one-SE rule then swings with the luck of the best candidate's folds
    (measured on teaching cohorts, seeds 0-4: a best SE of 0.03 in one seed,
    0.10 in another, with noise inputs kept where it was small).
    """
    m = terms.shape[1]
    return terms.std(axis=1, ddof=1) / np.sqrt(m) if m > 1 else np.zeros(len(terms))


def margin_of(tolerance: str | float, loss: float, se: float) -> float:
    """Selection loss a smaller candidate may give up against the reference.

    ``"1se"``: the reference's standard error (the one-standard-error rule of
    Breiman et al. 1984); a float: that fraction of the reference loss.
    """
    return float(se) if tolerance == "1se" else float(tolerance) * float(loss)


def paired_difference(terms: np.ndarray, reference: np.ndarray, tolerance: str | float) -> tuple[float, float]:
    """Mean paired difference (candidate − reference) of per-instance selection terms, and its margin.

    Both candidates are judged on the same patients (the same folds), so their
    difference is measured far more precisely than either loss. ``"1se"``: the
    margin is one standard error of that paired difference; a float: that
    fraction of the reference loss.
    """
    d = np.asarray(terms) - np.asarray(reference)
    if tolerance == "1se":
        margin = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else 0.0
    else:
        margin = float(tolerance) * float(np.mean(reference))
    return float(d.mean()), margin


def _common_initial_parameters(
    arch: Architecture, idx: np.ndarray, trial_of_row: np.ndarray, n_inputs: int, trials: int, seed: int
) -> np.ndarray:
    """Initial weights drawn once per restart for *all* inputs, then gathered per subset.

    Common random numbers: two candidates that differ by one input (and every
    fold of one candidate) start from the same weights on the inputs they share,
    so the difference between their selection losses reflects the input, not
    the luck of the initialisation (and a subset always gets the same result).
    Padded inputs start at 0.
    """
    rng = check_random_state(seed)
    slices = arch.slices()
    hidden = arch.sizes[1]
    master_w1 = rng.uniform(-1.0, 1.0, size=(trials, n_inputs + 1, hidden))
    master_w1[:, n_inputs] = 0.0
    rest = [rng.uniform(-1.0, 1.0, size=(trials, a * b)) for _, _, (a, b) in slices[1:]]
    n_rows = idx.shape[0]
    theta0 = np.zeros((n_rows, arch.n_params))
    w_slice, _, (_, fan_out) = slices[0]
    fan_in = (idx != n_inputs).sum(axis=1)  # the candidate's real number of inputs, padding excluded
    bound = np.sqrt(6.0 / (fan_in + fan_out))[:, None, None]
    theta0[:, w_slice] = (bound * master_w1[trial_of_row[:, None], idx]).reshape(n_rows, -1)
    for (w, _, (a, b)), draws in zip(slices[1:], rest):
        theta0[:, w] = np.sqrt(6.0 / (a + b)) * draws[trial_of_row]
    return theta0


def _fold_aucs(z: np.ndarray, y: np.ndarray, selection_weights: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of logits ``z (C, F, N)`` on each fold's selection rows: ``(C, F)``."""
    out = np.full(z.shape[:2], np.nan)
    for f in range(z.shape[1]):
        rows = selection_weights[f] > 0
        yf = y[rows]
        n_pos = yf.sum()
        n_neg = len(yf) - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = rankdata(z[:, f, rows], axis=1)
        out[:, f] = (ranks[:, yf == 1].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return out


def _train_chunk(
    data: CandidateData, padded: np.ndarray, hidden: tuple[int, ...], params: dict, trials: int, seed: int
) -> tuple[np.ndarray, ...]:
    n_cand, k = padded.shape
    n_folds = data.n_folds
    arch = Architecture((k, *hidden, 1))
    # network order: candidate, then fold, then restart
    idx = np.repeat(padded, n_folds * trials, axis=0)  # (B, k) input columns
    fold_of_row = np.tile(np.repeat(np.arange(n_folds), trials), n_cand)
    trial_of_row = np.tile(np.arange(trials), n_cand * n_folds)
    tr_rows, tr_w = data.fold_rows("training")
    se_rows, se_w = data.fold_rows("selection")

    def gather(rows):  # (B, n, k) float32: each network its fold's rows and its subset's columns
        # float32 inputs: the hidden layers run in float32 (see network.forward); the optimiser stays float64.
        return np.ascontiguousarray(data.X[rows[fold_of_row][:, :, None], idx[:, None, :]], dtype=np.float32)

    Xtr, Xse = gather(tr_rows), gather(se_rows)
    y_se = data.y[se_rows[fold_of_row]]
    theta0 = _common_initial_parameters(arch, idx, trial_of_row, data.n_inputs, trials, seed)
    result = train_networks(
        Xtr, data.y[tr_rows[fold_of_row]], hidden, initial_parameters=theta0, training_weights=tr_w[fold_of_row],
        selection=(Xse, y_se), selection_weights=se_w[fold_of_row],
        loss=params["loss"], activation=params["activation"], regularization=params["regularization"],
        regularization_weight=float(params["regularization_weight"]), max_iter=params["max_iter"], tol=params["tol"],
    )
    # per candidate and fold, the restart with the lowest training loss
    loss = result.loss.reshape(n_cand * n_folds, trials)
    rows = np.arange(n_cand * n_folds) * trials + np.argmin(loss, axis=1)
    problem = result.problem
    train_err = problem.error_only(result.theta[rows], rows).reshape(n_cand, n_folds).mean(axis=1)
    fold_loss = result.selection_error[rows].reshape(n_cand, n_folds)
    z, _ = forward(arch, result.theta[rows], Xse[rows], params["activation"])  # (C*F, n_se)
    return (train_err, fold_loss) + _judged(data, z.reshape(n_cand, n_folds, -1), params["loss"], se_rows, se_w)


def _judged(data: CandidateData, z: np.ndarray, loss: str, se_rows: np.ndarray, se_w: np.ndarray):
    """Mean fold AUC ``(C,)`` and per-patient out-of-fold terms ``(C, M)`` from selection logits ``z (C, F, n)``.

    A patient's term is its share of its fold's selection loss scaled so that the
    mean over the fold's patients is that fold's loss (averaged over repeats)."""
    n_cand, n_folds, _ = z.shape
    terms = np.zeros((n_cand, data.y.size))
    seen = np.zeros(data.y.size)
    aucs = np.full((n_cand, n_folds), np.nan)
    for f in range(n_folds):
        real = se_w[f] > 0
        r = se_rows[f, real]
        term = ErrorTerm.for_weights(loss, data.y[r], se_w[f, real][None, :])
        terms[:, r] += term.instance_terms(z[:, f, real])
        seen[r] += 1
        yf = data.y[r]
        n_pos = yf.sum()
        n_neg = len(yf) - n_pos
        if n_pos and n_neg:
            ranks = rankdata(z[:, f, real], axis=1)
            aucs[:, f] = (ranks[:, yf == 1].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    judged = seen > 0
    mean_auc = np.full(n_cand, np.nan)
    valid = np.isfinite(aucs).any(axis=1)  # folds with one class only have no AUC
    mean_auc[valid] = np.nanmean(aucs[valid], axis=1)
    return mean_auc, terms[:, judged] / seen[judged]


def train_candidates(
    data: CandidateData,
    subsets: list[list[int]],
    estimator: ANNClassifier,
    trials: int,
    random_state: np.random.RandomState,
    n_jobs: int | None = None,
    hidden: tuple[int, ...] | None = None,
) -> CandidateResults:
    """Train every subset on every fold ``trials`` times; per fold keep the restart with the lowest training loss."""
    params = estimator.get_params()
    hidden = tuple(hidden if hidden is not None else np.atleast_1d(params["hidden_layer_sizes"]).tolist())
    k = max(len(s) for s in subsets)
    padded = np.full((len(subsets), k), data.n_inputs, dtype=int)
    for i, s in enumerate(subsets):
        padded[i, : len(s)] = s
    per_candidate = data.n_folds * trials * data.X.shape[0] * k
    n_chunks = max(1, -(-len(subsets) * per_candidate // MAX_BATCH_VALUES))
    if n_jobs and n_jobs != 1:
        n_chunks = max(n_chunks, min(len(subsets), abs(int(n_jobs)) if n_jobs > 0 else 8))
    chunks = np.array_split(np.arange(len(subsets)), min(n_chunks, len(subsets)))
    seed = data.seed if data.seed is not None else int(random_state.randint(0, 2**31 - 1))
    if len(chunks) == 1 or not n_jobs or n_jobs == 1:
        parts = [_train_chunk(data, padded[c], hidden, params, trials, seed) for c in chunks]
    else:
        parts = Parallel(n_jobs=n_jobs)(
            delayed(_train_chunk)(data, padded[c], hidden, params, trials, seed) for c in chunks
        )
    train_err, fold_loss, aucs, terms = (np.concatenate([p[i] for p in parts]) for i in range(4))
    return CandidateResults(
        training_loss=train_err, fold_loss=fold_loss, selection_loss=fold_loss.mean(axis=1),
        selection_se=standard_error(fold_loss, terms), selection_auc=aucs, selection_terms=terms,
        n_networks=len(subsets) * trials * data.n_folds,
    )


def _padded_layout(hidden: tuple[int, ...], widths: tuple[int, ...], n_inputs: int) -> np.ndarray:
    """0/1 mask of the parameters of ``hidden`` inside the wider layout ``widths`` (same depth)."""
    big = Architecture((n_inputs, *widths, 1))
    real = (n_inputs, *hidden, 1)
    mask = np.zeros(big.n_params)
    for layer, (w, b, (fan_in, fan_out)) in enumerate(big.slices()):
        used_in, used_out = real[layer], real[layer + 1]
        m = np.zeros((fan_in, fan_out))
        m[:used_in, :used_out] = 1.0
        mask[w] = m.ravel()
        mask[b] = (np.arange(fan_out) < used_out).astype(float)
    return mask


def train_architectures(
    data: CandidateData, architectures: list[tuple[int, ...]], estimator: ANNClassifier, trials: int, seed: int
) -> CandidateResults:
    """Train every architecture on every fold ``trials`` times, all architectures of one depth in ONE batch.

    Narrower architectures are laid out in the widest one of their depth with
    the missing neurons' weights held at 0 (:func:`scintiml.ann.train_networks`'s
    ``parameter_mask``), which leaves them exactly the smaller network.
    """
    params = estimator.get_params()
    rng = check_random_state(seed)
    n_inputs = data.n_inputs
    X = np.ascontiguousarray(data.X[:, :-1], dtype=np.float32)
    n_folds = data.n_folds
    out: dict[tuple[int, ...], tuple] = {}
    for depth in sorted({len(a) for a in architectures}):
        group = [a for a in architectures if len(a) == depth]
        widths = tuple(max(a[i] for a in group) for i in range(depth))
        big = Architecture((n_inputs, *widths, 1))
        reps = n_folds * trials
        theta0 = np.zeros((len(group) * reps, big.n_params))
        mask = np.zeros_like(theta0)
        for g, hidden in enumerate(group):
            m = _padded_layout(hidden, widths, n_inputs)
            real = Architecture((n_inputs, *hidden, 1)).initial_parameters(trials, rng)  # one draw per restart
            rows = slice(g * reps, (g + 1) * reps)
            theta0[rows][:, m > 0] = np.tile(real, (n_folds, 1))
            mask[rows] = m
        fold_of_row = np.tile(np.repeat(np.arange(n_folds), trials), len(group))
        result = train_networks(
            X, data.y, widths, initial_parameters=theta0, parameter_mask=mask,
            training_weights=data.training_weights[fold_of_row], selection_weights=data.selection_weights[fold_of_row],
            loss=params["loss"], activation=params["activation"], regularization=params["regularization"],
            regularization_weight=float(params["regularization_weight"]), max_iter=params["max_iter"],
            tol=params["tol"], memory=10 if big.n_params > 40 else 0,  # dense (P, P) updates of padded nets cost more
        )
        loss = result.loss.reshape(len(group) * n_folds, trials)
        rows = np.arange(len(group) * n_folds) * trials + np.argmin(loss, axis=1)
        train_err = result.problem.error_only(result.theta[rows], rows).reshape(len(group), n_folds).mean(axis=1)
        fold_loss = result.selection_error[rows].reshape(len(group), n_folds)
        z, _ = forward(big, result.theta[rows], X, params["activation"])
        sel_term = ErrorTerm.for_weights(params["loss"], data.y, data.selection_weights[fold_of_row[rows]])
        judged = data.selection_weights.sum(axis=0) > 0
        per = sel_term.instance_terms(z).reshape(len(group), n_folds, -1).mean(axis=1)[:, judged]
        terms = per * judged.sum() / data.y.size
        fold_aucs = _fold_aucs(z.reshape(len(group), n_folds, -1), data.y, data.selection_weights)
        for g, hidden in enumerate(group):
            auc = float(np.nanmean(fold_aucs[g])) if np.isfinite(fold_aucs[g]).any() else np.nan
            out[hidden] = (train_err[g], fold_loss[g], auc, terms[g])
    train_err, fold_loss, aucs, terms = (np.array([out[a][i] for a in architectures]) for i in range(4))
    return CandidateResults(
        training_loss=train_err, fold_loss=fold_loss, selection_loss=fold_loss.mean(axis=1),
        selection_se=standard_error(fold_loss, terms), selection_auc=aucs, selection_terms=terms,
        n_networks=len(architectures) * trials * n_folds,
    )
