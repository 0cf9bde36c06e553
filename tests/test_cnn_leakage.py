"""Canary tests of the planar CNN: nothing of a held-out patient may reach the network evaluated on them.

Each canary changes ONLY some patients (the testing ones' images or labels), retrains with the same seed, and checks
that what is fitted on the others — weights, temperature, worklist threshold, early-stopping history, protocol guard
and orientation templates — is bit for bit the same; each also checks that the change *was* felt (the testing
metrics move, or a change to the selection studies moves the threshold), so the canary is live. Training on the CPU
is deterministic for one machine and thread count: one torch thread here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
pytest.importorskip("pydicom")

from scintiml.cnn import patient_split, train_cnn  # noqa: E402
from scintiml.cnn.train import exact_copies, training_split  # noqa: E402
from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans  # noqa: E402
from scintiml.errors import SplitError  # noqa: E402
from scintiml.split import Split  # noqa: E402

#: Two epochs of three steps, early stopping allowed from epoch 1: small, but the selection loss picks the epoch.
FAST = dict(width=4, epochs=3, batch_size=4, patience=1, min_epochs=1, seed=3)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cohort():
    """24 studies of 20 patients: P0-P3 have two studies each (a follow-up), with the patient's one label."""
    cases = simulate_perfusion_scans(24, prevalence=0.5, random_state=7)
    X = np.stack([c.stack() for c in cases])
    y = np.array([c.label for c in cases])
    ids = [f"P{i // 2}" if i < 8 else f"P{i - 4}" for i in range(24)]
    y[1:8:2] = y[0:8:2]  # one outcome per patient
    return X, y, ids


@pytest.fixture(scope="module")
def baseline(cohort):
    X, y, ids = cohort
    return train_cnn(X, y, VIEWS, ids=ids, **FAST)


def _fitted(model):
    """Everything fitted before testing: weights, calibration, threshold, stopping history, protocol guard."""
    return {"weights": {k: v.clone() for k, v in model.network.state_dict().items()},
            "temperature": model.temperature, "threshold": model.threshold,
            "selection_losses": [h["selection_loss"] for h in model.report["history"]],
            "best_epoch": model.report["best_epoch"], "guard": model.guard.to_spec(),
            "templates": np.array(model.guard.templates)}


def _differences(a, b) -> list[str]:
    out = [k for k in ("temperature", "threshold", "selection_losses", "best_epoch", "guard") if a[k] != b[k]]
    if not np.array_equal(a["templates"], b["templates"]):
        out.append("templates")
    if any(not torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"]):
        out.append("weights")
    return out


def _parts(split: Split, ids) -> list[set[str]]:
    return [{str(ids[i]) for i in part} for part in (split.training, split.selection, split.testing)]


def test_the_default_split_keeps_each_patients_studies_in_one_part(cohort, baseline):
    X, y, ids = cohort
    split = training_split(X, y, ids, FAST["seed"])
    training, selection, testing = _parts(split, ids)
    assert not (training & selection) and not (training & testing) and not (selection & testing)
    assert sorted(np.r_[split.training, split.selection, split.testing]) == list(range(len(ids)))
    # and the model trained was tested on exactly the studies of its testing patients, both studies of P0-P3 alike
    tested = baseline.report["test_probabilities"]["ids"]
    assert sorted(tested) == sorted(ids[i] for i in split.testing)
    assert all(tested.count(p) == ids.count(p) for p in set(tested))


def test_changing_only_the_testing_patients_images_changes_nothing_fitted(cohort, baseline):
    X, y, ids = cohort
    split = training_split(X, y, ids, FAST["seed"])
    rng = np.random.default_rng(0)
    changed = X.copy()
    changed[split.testing] = rng.poisson(X[split.testing] * 0.7)  # other acquisitions of the testing patients
    model = train_cnn(changed, y, VIEWS, ids=ids, **FAST)
    assert _differences(_fitted(baseline), _fitted(model)) == []
    # live: the testing patients' probabilities did change
    assert model.report["test_probabilities"]["probability"] != baseline.report["test_probabilities"]["probability"]
    # and the canary can fail: the same change to the selection patients moves the stopping history and threshold
    control = X.copy()
    control[split.selection] = rng.poisson(X[split.selection] * 0.7)
    moved = _differences(_fitted(baseline), _fitted(train_cnn(control, y, VIEWS, ids=ids, **FAST)))
    assert {"selection_losses", "temperature", "threshold"} <= set(moved)


def test_changing_only_the_testing_patients_labels_changes_nothing_fitted(cohort, baseline):
    # A stratified split depends on every label (that is what stratifying is), so the split is held fixed here:
    # the one the default would make, given explicitly; with it the same seed must give the same model as before.
    X, y, ids = cohort
    split = training_split(X, y, ids, FAST["seed"])
    flipped = y.copy()
    flipped[split.testing] = 1 - flipped[split.testing]
    model = train_cnn(X, flipped, VIEWS, ids=ids, split=split, **FAST)
    assert _differences(_fitted(baseline), _fitted(model)) == []
    assert model.report["test_probabilities"]["labels"] != baseline.report["test_probabilities"]["labels"]
    assert model.report["metrics"]["auc"] != baseline.report["metrics"]["auc"]


def test_copies_of_a_study_filed_under_another_patient_stay_in_their_originals_part(cohort):
    X, y, ids = cohort
    # the first eight single-study patients filed again under new PatientIDs (a merged record, another pseudonym)
    originals = list(range(8, 16))
    counts = np.concatenate([X, X[originals]])
    labels = np.r_[y, y[originals]]
    names = list(ids) + [f"COPY{i}" for i in originals]
    assert exact_copies(counts) == [[i, 24 + k] for k, i in enumerate(originals)]
    # patient_split alone cannot see copies: it puts some of them in another part than their original
    plain = patient_split(labels, names, 0)
    owner = {i: k for k, part in enumerate((plain.training, plain.selection, plain.testing)) for i in part}
    assert any(owner[i] != owner[24 + k] for k, i in enumerate(originals))
    with pytest.warns(UserWarning, match="8 studies are exact copies of another"):
        split = training_split(counts, labels, names, 0)
    owner = {i: k for k, part in enumerate((split.training, split.selection, split.testing)) for i in part}
    assert all(owner[i] == owner[24 + k] for k, i in enumerate(originals))
    assert len(owner) == len(counts)
    # train_cnn uses that split: no copy of a tested study among the training or selection studies
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = train_cnn(counts, labels, VIEWS, ids=names, width=4, epochs=1, max_steps=1, seed=0)
    tested = set(model.report["test_probabilities"]["ids"])
    for k, i in enumerate(originals):
        assert (names[i] in tested) == (names[24 + k] in tested)


def test_a_cohort_without_copies_is_split_exactly_as_patient_split_splits_it(cohort):
    X, y, ids = cohort
    for given in (ids, None):
        a, b = training_split(X, y, given, 5), patient_split(y, given, 5)
        assert all(np.array_equal(p, q) for p, q in zip((a.training, a.selection, a.testing),
                                                         (b.training, b.selection, b.testing)))


@pytest.mark.parametrize("make, words", [
    (lambda n, ids: Split(np.arange(0, 14), np.arange(10, 19), np.arange(19, n)),
     "the studies at index 10, 11, 12, 13 in both the training and the selection part"),
    # by study, while ids say that studies 0 and 1 are one patient's
    (lambda n, ids: Split(np.r_[1, np.arange(8, 18)], np.arange(18, n), np.arange(0, 1)),
     r"one patient's studies in two parts \(the studies at index 0 and 1"),
    (lambda n, ids: Split(np.arange(0, 12), np.arange(12, 18), np.arange(18.0, n)), "whole numbers from 0 to 23"),
    (lambda n, ids: Split(np.arange(0, 12), np.arange(12, 18), np.arange(18, n + 1)), "whole numbers from 0 to 23"),
])
def test_an_explicit_split_that_lets_a_study_or_patient_reach_two_parts_is_refused(cohort, make, words):
    X, y, ids = cohort
    with pytest.raises(SplitError, match=words):
        train_cnn(X, y, VIEWS, ids=ids, split=make(len(y), ids), width=4, epochs=1, max_steps=1)


def test_an_explicit_split_with_copies_in_two_parts_is_refused(cohort):
    X, y, ids = cohort
    counts = X.copy()
    counts[23] = counts[8]  # study 8 filed again as P19's
    split = Split(np.arange(8, 20), np.arange(0, 8), np.arange(20, 24))
    with pytest.raises(SplitError, match=r"exact copies of one study .* \(the studies at index 8 and 23"):
        train_cnn(counts, y, VIEWS, ids=ids, split=split, width=4, epochs=1, max_steps=1)


def test_a_studys_probability_does_not_depend_on_the_other_studies_scored_with_it(cohort, baseline):
    # batch normalisation in evaluation mode: a triage batch (or the testing part) cannot inform its own scores
    X, _, _ = cohort
    alone = np.array([baseline.predict_proba(X[i:i + 1])[0] for i in range(3)])
    together = baseline.predict_proba(np.concatenate([X[:3], X[3:, :, :, ::-1]]))[:3]  # beside mirrored studies
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)  # float sums of another batch size, no more


def test_train_from_folder_reads_the_guards_protocol_from_training_patients_only(cohort, tmp_path, monkeypatch):
    """A collimator and a pixel spacing seen only in a testing patient's study must not widen the protocol guard
    (triage would score such studies, though the network never trained on one); a patient's two studies, each
    under its own StudyInstanceUID, stay in one part."""
    from scintiml.cnn import workflow
    from scintiml.imaging import PlanarStudy
    from scintiml.imaging.nm_iod import write_nm_study

    X, y, ids = cohort
    counts, labels, names = X[:16], y[:16], ids[:16]  # P0-P3 two studies each, P4-P11 one
    testing = _parts(patient_split(labels, names, 0), names)[2]
    odd = sorted(testing)[0]
    for i, (views, pid) in enumerate(zip(counts, names)):
        other = pid == odd
        study = PlanarStudy(views=dict(zip(VIEWS, views)), pixel_spacing_mm=4.0 if other else 3.125,
                            patient_id=pid, metadata={"collimator": "LEGP" if other else "LEHR"})
        write_nm_study(study, tmp_path / "data" / "dicom" / f"study{i:02d}")
    pd.DataFrame({"patient_id": names, "pe": labels}).drop_duplicates().to_csv(tmp_path / "data" / "labels.csv",
                                                                               index=False)
    seen = {}

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return train_cnn(*args, **kwargs)

    monkeypatch.setattr(workflow, "train_cnn", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model, _ = workflow.train_from_folder(tmp_path / "data", tmp_path / "model", width=4, epochs=1, max_steps=1)
    assert odd in model.report["test_probabilities"]["ids"]  # the odd patient was a testing one, as planned
    assert model.guard.collimators == ["LEHR"]
    assert model.guard.pixel_spacing_mm == [3.125, 3.125]
    split = seen["split"]
    parts = _parts(split, seen["ids"])
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert sum(len(p) for p in (split.training, split.selection, split.testing)) == 16


def test_a_study_named_twice_in_one_part_is_refused(cohort):
    # a testing part of [8, 8, 8, 9] was accepted: the study counted three times, its intervals too narrow
    X, y, ids = cohort
    split = Split(np.arange(8, 20), np.arange(0, 8), np.array([20, 20, 21, 22, 23]))
    with pytest.raises(SplitError, match=r"testing part names the study at index 20 more than once"):
        train_cnn(X, y, VIEWS, ids=ids, split=split, width=4, epochs=1, max_steps=1)


def test_copies_are_found_by_their_bytes_whatever_their_totals_and_never_loop_on_nan():
    # studies stopped at a preset count share every view's total: compared pair by pair it was quadratic; a
    # study holding NaN never equalled itself and the loop never ended
    rng = np.random.default_rng(0)
    counts = rng.poisson(4.0, (400, 2, 8, 8)).astype(float)
    counts[:, :, 0, 0] += 1000 - counts.sum(axis=(2, 3))  # every view's total exactly 1000
    counts[399], counts[7] = counts[3], counts[5]
    counts[10, 0, 1, 1] = counts[11, 0, 1, 1] = np.nan
    counts[11] = counts[10]
    assert exact_copies(counts) == [[3, 399], [5, 7], [10, 11]]
    with pytest.warns(UserWarning, match=r"3 studies are exact copies .* PatientID\(s\) 'P3', 'P399'"):
        training_split(counts, np.arange(400) % 2, [f"P{i}" for i in range(400)], 0)
