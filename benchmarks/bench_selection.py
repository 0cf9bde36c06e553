"""Growing input selection against scikit-learn's SequentialFeatureSelector(MLPClassifier(lbfgs)).

On the teaching mIBG cohort (84 inputs, 2 true), training 60 %, selection 20 %.
scintiml: InputSelector(method="growing") (candidates batched, 3 restarts each).
scikit-learn: SequentialFeatureSelector(MLPClassifier(solver="lbfgs", hidden (3,)),
direction="forward", cv=5) asked for the same number of inputs.
Both pick on the training patients; the inputs each picked are then judged the
same way: a (3,) ANNClassifier trained on them, AUC on the selection patients.

Run: python benchmarks/bench_selection.py
"""

from __future__ import annotations

import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import SequentialFeatureSelector
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scintiml import ANNClassifier, split_cohort
from scintiml.datasets import make_mibg_cohort
from scintiml.select import InputSelector


def judge(cols, X_tr, y_tr, X_se, y_se):
    m = ANNClassifier(hidden_layer_sizes=(3,), random_state=0).fit(X_tr[cols], y_tr)
    return roc_auc_score(y_se, m.predict_proba(X_se[cols])[:, 1])


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    cohort = make_mibg_cohort(random_state=0)
    s = split_cohort(cohort, random_state=0)
    X, y = cohort.X, cohort.y
    X_tr, y_tr, X_se, y_se = X.iloc[s.training], y[s.training], X.iloc[s.selection], y[s.selection]

    t = time.perf_counter()
    ours = InputSelector(method="growing", random_state=0).fit(X_tr, y_tr, selection=(X_se, y_se))
    ours_t = time.perf_counter() - t
    k = max(2, len(ours.selected_inputs_))

    mlp = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=200,
                                                        random_state=0))
    sfs = SequentialFeatureSelector(mlp, n_features_to_select=k, direction="forward", scoring="roc_auc", cv=5,
                                    n_jobs=None)
    t = time.perf_counter()
    sfs.fit(X_tr, y_tr)
    sk_t = time.perf_counter() - t
    sk_cols = list(X.columns[sfs.get_support()])
    p = X.shape[1]
    sk_fits = sum(p - i for i in range(k)) * 5  # candidates per step x folds

    print(f"{'method':34s} {'networks':>8s} {'wall s':>8s} {'net/s':>8s} {'sel. AUC':>8s}  inputs")
    print(f"{'scintiml growing (3 restarts)':34s} {ours.n_networks_:8d} {ours_t:8.2f} {ours.n_networks_ / ours_t:8.0f} "
          f"{judge(ours.selected_inputs_, X_tr, y_tr, X_se, y_se):8.3f}  {ours.selected_inputs_}")
    print(f"{'sklearn SFS forward, cv=5':34s} {sk_fits:8d} {sk_t:8.2f} {sk_fits / sk_t:8.0f} "
          f"{judge(sk_cols, X_tr, y_tr, X_se, y_se):8.3f}  {sk_cols}")
    # Raw batched throughput: 512 random 5-input subsets x 3 restarts trained as one computation.
    import numpy as np

    from scintiml.select.candidates import CandidateData, default_estimator, train_candidates

    rng = np.random.RandomState(0)
    data = CandidateData.build(X_tr.to_numpy(), y_tr, X_se.to_numpy(), y_se, "meanstd", seed=0)
    subsets = [list(rng.choice(p, 5, replace=False)) for _ in range(512)]
    t = time.perf_counter()
    res = train_candidates(data, subsets, default_estimator(), 3, rng)
    raw_t = time.perf_counter() - t
    print(f"{'scintiml batch of 512 x 3 (5 inputs)':34s} {res.n_networks:8d} {raw_t:8.2f} {res.n_networks / raw_t:8.0f}")
    print(f"throughput ratio (networks/s): {(ours.n_networks_ / ours_t) / (sk_fits / sk_t):.1f}x; "
          f"wall-time ratio scintiml/sklearn: {ours_t / sk_t:.3f}")


if __name__ == "__main__":
    main()
