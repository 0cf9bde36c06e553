"""Near copies of a study filed as another patient's: the same acquisition exported again (another bit depth or
rescale, another window, shifted by a pixel or two, resampled to another matrix, with a little noise added, saved as
a PNG) must stay in one part of the split, and a split given by hand that separates them is refused; different
patients must not be taken for copies.

The cohort is 60 simulated six-view studies (the simulator the threshold was measured on, docs/cnn.md "Copies of a
study"). Each test was seen to fail with the part of the check it covers switched off (the near-copy search, the
threshold, the fingerprint's independence of other studies, the small-view guard, the field-of-view cells, the refusal
of a split given by hand, the merge in the default split, the single search in ``cnn train``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

pytest.importorskip("torch")
pytest.importorskip("monai")

from scintiml.cnn import copies, patient_split, train_cnn  # noqa: E402
from scintiml.cnn.copies import (NEAR_COPY_THRESHOLD, find_copies, near_copies, similarity,  # noqa: E402
                                 study_fingerprints)
from scintiml.cnn.train import _check_split, training_split  # noqa: E402
from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans  # noqa: E402
from scintiml.errors import SplitError  # noqa: E402
from scintiml.split import Split  # noqa: E402

N = 60


@pytest.fixture(scope="module")
def cohort():
    """60 different simulated patients (40 % PE, mimics among the others), one six-view study each."""
    cases = simulate_perfusion_scans(N, prevalence=0.4, random_state=2027)
    X = np.stack([c.stack() for c in cases])
    y = np.array([c.label for c in cases])
    return X, y, [f"P{i}" for i in range(N)]


def _view_max(x: np.ndarray) -> np.ndarray:
    return x.max(axis=(-2, -1), keepdims=True)


def _shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    return np.stack([ndimage.shift(v, (dy, dx), order=0, mode="constant", cval=0.0) for v in x])


def _zoom(x: np.ndarray, size: int) -> np.ndarray:
    return np.stack([ndimage.zoom(v, size / v.shape[0], order=1, grid_mode=True, mode="nearest") for v in x])


def _rng(x: np.ndarray) -> np.random.Generator:
    """A noise stream of the study's own: copies of two studies must not share the noise added to them (they would
    then be each other's copies)."""
    return np.random.default_rng(int(x.sum()) % 2**32)


def _binned(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), 64, 2, 64, 2).sum(axis=(2, 4))


#: The re-exports the brief lists, each as a function of one study (views, 128, 128) of counts to what the copy holds.
REEXPORTS = {
    "8-bit with a rescale slope": lambda x: np.round(x / (x.max() / 255)) * (x.max() / 255),
    "12-bit with slope and intercept": lambda x: np.round(x / (x.max() / 4095)) * 0.37 + 12.5,
    "window 0-70 % of each view's maximum, 8-bit": lambda x: np.round(255 * np.clip(x / _view_max(x), 0, 0.7) / 0.7),
    "window 10-85 %, 16-bit": lambda x: np.round(65535 * (np.clip(x / _view_max(x), 0.1, 0.85) - 0.1) / 0.75),
    "shifted 1 pixel across": lambda x: _shift(x, 0, 1),
    "shifted 1 pixel down": lambda x: _shift(x, 1, 0),
    "shifted 1 pixel diagonally": lambda x: _shift(x, -1, 1),
    "shifted 2 pixels diagonally": lambda x: _shift(x, 2, -2),
    "binned to 64 x 64 and resampled back to 128": lambda x: _zoom(_binned(x), 128),
    "resampled to 96 x 96 and back": lambda x: _zoom(_zoom(x, 96), 128),
    "Gaussian noise, SD 2 % of each view's maximum": lambda x: np.clip(x + _rng(x).normal(0, 0.02, x.shape)
                                                                       * _view_max(x), 0, None),
    "Poisson noise drawn again on the counts": lambda x: _rng(x).poisson(x).astype(float),
    "PNG, 8-bit per view": lambda x: np.round(255 * x / _view_max(x)),
    "PNG, 16-bit per study": lambda x: np.round(65535 * x / x.max()),
}


def test_each_listed_re_export_filed_as_another_patient_is_caught_and_nothing_else(cohort):
    # one search over the cohort and a re-export of a different study for each kind, each under a new PatientID
    X, _, ids = cohort
    kinds = list(REEXPORTS)
    originals = [3 * k + 1 for k in range(len(kinds))]
    counts = np.concatenate([X, np.stack([REEXPORTS[kind](X[i].astype(float)) for kind, i in zip(kinds, originals)])])
    found = find_copies(counts, ids + [f"COPY{i}" for i in originals])
    assert found.exact == []
    similarity_of = {(i, j): s for i, j, s in found.near}
    missed = [kind for k, (kind, i) in enumerate(zip(kinds, originals)) if (i, N + k) not in similarity_of]
    assert missed == []
    assert len(found.near) == len(kinds)  # no other pair: no copy taken for another study's, no patients for copies
    assert min(similarity_of.values()) >= NEAR_COPY_THRESHOLD


def test_a_copy_resampled_to_another_matrix_keeps_its_fingerprint(cohort):
    # a split holds one matrix; a study exported at 256 x 256 (or binned to 64 x 64) is still the same acquisition
    X, _, _ = cohort
    for i in (5, 29):
        x = X[i].astype(float)
        for other in (_zoom(x, 256), _binned(x)):
            assert min(similarity(x, other), similarity(other, x)) >= 0.9


def test_different_patients_are_not_taken_for_copies(cohort):
    X, y, ids = cohort
    # every pair's similarity, searched as the split searches it: none near the threshold, with a margin
    every = near_copies(X, ids, threshold=-1.0)
    assert len(every) == N * (N - 1) // 2
    assert max(s for _, _, s in every) < NEAR_COPY_THRESHOLD / 2
    # and the default split (which searches them itself) is exactly the split by patient: nothing merged, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = training_split(X, y, ids, 0), patient_split(y, ids, 0)
    assert all(np.array_equal(p, q) for p, q in zip((a.training, a.selection, a.testing),
                                                     (b.training, b.selection, b.testing)))


@pytest.fixture(scope="module")
def with_copies(cohort):
    """The cohort and re-exports of ten of its studies, each filed under a new PatientID (a merged record, another
    pseudonym): a different re-export for each."""
    X, y, ids = cohort
    originals = list(range(0, 50, 5))
    kinds = list(REEXPORTS)
    made = [REEXPORTS[kinds[k]](X[i].astype(float)) for k, i in enumerate(originals)]
    counts = np.concatenate([X, np.stack(made)])
    return counts, np.r_[y, y[originals]], ids + [f"COPY{i}" for i in originals], originals


def test_near_copies_are_kept_in_their_originals_part_with_a_warning_naming_them(with_copies):
    counts, labels, names, originals = with_copies
    pairs = [(i, N + k) for k, i in enumerate(originals)]
    # the split by patient alone cannot see them: it puts some copies in another part than their original
    plain = patient_split(labels, names, 0)
    owner = {i: k for k, part in enumerate((plain.training, plain.selection, plain.testing)) for i in part}
    assert any(owner[i] != owner[j] for i, j in pairs)
    with pytest.warns(UserWarning, match=r"10 pairs of studies of different patients are near copies .* the studies at "
                                         r"index 0 and 60, PatientIDs 'P0' and 'COPY0' \(similarity [01]\.\d\d\)"):
        split = training_split(counts, labels, names, 0)
    owner = {i: k for k, part in enumerate((split.training, split.selection, split.testing)) for i in part}
    assert len(owner) == len(counts)
    assert all(owner[i] == owner[j] for i, j in pairs)


def test_a_split_given_by_hand_that_separates_a_near_copy_pair_is_refused(with_copies):
    counts, labels, names, originals = with_copies
    everything = np.arange(len(counts))
    copy_of_5 = N + originals.index(5)
    testing, selection = np.r_[5, 55:N], np.arange(50, 55)  # study 5 tested ...
    training = np.setdiff1d(everything, np.r_[testing, selection])  # ... its copy, filed as COPY5, trained on
    assert copy_of_5 in training
    with pytest.raises(SplitError, match=rf"near copies of one acquisition in two parts \(the studies at index 5 and "
                                         rf"{copy_of_5}, PatientIDs 'P5' and 'COPY5': testing and training; "
                                         r"noise-fingerprint similarity [01]\.\d\d >= 0\.30\)"):
        train_cnn(counts, labels, VIEWS, ids=names, split=Split(training, selection, testing), width=4, epochs=1,
                  max_steps=1)
    # the same split with the copy moved beside its original is accepted (the check, not the split's shape, refused)
    kept = Split(np.setdiff1d(training, [copy_of_5]), selection, np.r_[testing, copy_of_5])
    _check_split(kept, len(counts), names, counts, find_copies(counts, names))


def test_a_studys_fingerprint_and_a_pairs_similarity_do_not_depend_on_the_other_studies(cohort):
    X, _, _ = cohort
    together = study_fingerprints(X)
    alone = np.concatenate([study_fingerprints(X[i:i + 1]) for i in range(10)])
    among_others = study_fingerprints(np.concatenate([X[::-1], X[:7] * 3.0]))[:N][::-1]
    np.testing.assert_allclose(alone, together[:10], rtol=0, atol=1e-6)
    np.testing.assert_allclose(among_others, together, rtol=0, atol=1e-6)
    # and a pair is found with the same similarity whether 60 other studies are searched with it or none
    copy = REEXPORTS["shifted 1 pixel diagonally"](X[11].astype(float))
    pair = near_copies(np.stack([X[11], copy]))
    in_cohort = [p for p in near_copies(np.concatenate([X, copy[None]])) if p[1] == N]
    assert len(pair) == len(in_cohort) == 1 and in_cohort[0][0] == 11
    assert abs(pair[0][2] - in_cohort[0][2]) < 1e-5


def test_views_smaller_than_the_fingerprint_grid_are_not_searched():
    # 4 x 4 views upsampled to 64 x 64 cells hold 16 values a view: random studies came out "alike" and the split
    # merged every patient into one part (found while writing the check)
    x = np.random.default_rng(0).poisson(5.0, (40, 1, 4, 4)).astype(float)
    assert near_copies(x) == []
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        split = training_split(x, np.array([0, 1] * 20), None, 0)
    assert not [w for w in said if "cop" in str(w.message)]  # no copy warned of (small parts are)
    assert sum(len(p) for p in (split.training, split.selection, split.testing)) == 40


def test_cnn_train_searches_the_copies_once(cohort, tmp_path, monkeypatch):
    """``cnn train`` (train_from_folder) made the split, then train_cnn checked it: the copies were searched twice."""
    pytest.importorskip("pydicom")
    from scintiml.cnn import workflow
    from scintiml.imaging import PlanarStudy
    from scintiml.imaging.nm_iod import write_nm_study

    X, y, ids = cohort
    for i in range(16):
        study = PlanarStudy(views=dict(zip(VIEWS, X[i])), pixel_spacing_mm=3.125, patient_id=ids[i])
        write_nm_study(study, tmp_path / "data" / "dicom" / f"study{i:02d}")
    (tmp_path / "data" / "labels.csv").write_text("patient_id,pe\n" + "".join(f"{ids[i]},{y[i]}\n" for i in range(16)))
    calls = {"exact": 0, "near": 0}
    exact, near = copies.exact_copies, copies.near_copies

    def count(kind, function):
        def spy(*args, **kwargs):
            calls[kind] += 1
            return function(*args, **kwargs)
        return spy

    monkeypatch.setattr(copies, "exact_copies", count("exact", exact))
    monkeypatch.setattr(copies, "near_copies", count("near", near))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        workflow.train_from_folder(tmp_path / "data", tmp_path / "model", width=4, epochs=1, max_steps=1)
    assert calls == {"exact": 1, "near": 1}


def _burned(X: np.ndarray) -> np.ndarray:
    """Every view with the same block of 'text' burned in at the view's maximum (an annotation the camera stamps)."""
    mask = np.zeros(X.shape[-2:], bool)
    letters = np.random.RandomState(0)
    mask[4:12, 4:40] = letters.rand(8, 36) > 0.5
    mask[-10:-4, -30:-4] = letters.rand(6, 26) > 0.5
    out = X.astype(float).copy()
    out[..., mask] = np.broadcast_to(_view_max(out), out.shape)[..., mask]
    return out


def test_burned_in_text_does_not_merge_every_patient_into_one_part(cohort):
    # a text block stamped at one place made every pair of studies 'alike' (0.84): every patient would have been
    # merged into one group, and the split left with one part
    X, y, ids = cohort
    counts = _burned(X[:30])
    assert similarity(counts[0], counts[1]) > 0.5  # the text alone makes them alike ...
    found = find_copies(counts, ids[:30])
    assert found.crowded == list(range(30)) and found.near == [] and found.groups() == []  # ... but nothing is merged
    with pytest.warns(UserWarning, match=r"30 studies are alike to the studies of more than 2 other patients.* "
                                         r"burned into the views"):
        split = training_split(counts, y[:30], ids[:30], 0)
    plain = patient_split(y[:30], ids[:30], 0)  # split by patient, as if no copy were found
    assert all(np.array_equal(a, b) for a, b in zip((split.training, split.selection, split.testing),
                                                     (plain.training, plain.selection, plain.testing)))
    # a split given by hand is not refused for them
    _check_split(split, 30, ids[:30], counts, found)


def test_a_real_near_copy_among_clean_studies_is_not_crowded(with_copies):
    counts, _, names, originals = with_copies
    found = find_copies(counts, names)
    assert found.crowded == [] and len(found.near) == len(originals)


# --- the review of the guard (session 17): each test fails on the guard as first landed ---

def test_a_chain_through_patients_with_several_studies_is_crowded():
    # A's study like B's, B's other study like C's, C's other like D's: the split would merge four patients, though
    # no study had more than one partner and no chain of studies more than two
    ids = ["A", "B", "B", "C", "C", "D"]
    assert copies.crowded_studies([(0, 1, 0.6), (2, 3, 0.6), (4, 5, 0.6)], ids, 6) == set(range(6))


def test_an_exact_copy_does_not_make_a_real_near_copy_crowded(cohort):
    # scan 0 stored twice byte for byte, at half the bit depth and shifted by a pixel, no PatientIDs: four "patients"
    # were counted for one acquisition, all four crowded, and the copies split apart
    X, y, _ = cohort
    x = X[0].astype(float)
    counts = np.concatenate([np.stack([x, x, np.round(x / 2), _shift(x, 0, 1)]), X[1:40].astype(float)])
    labels = np.r_[[y[0]] * 4, y[1:40]]
    found = find_copies(counts)
    assert found.exact == [[0, 1]] and found.crowded == [] and {(i, j) for i, j, _ in found.near} >= {(0, 2), (2, 3)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(4):
            split = training_split(counts, labels, None, seed, copies=found)
            parts = {k for k, part in enumerate((split.training, split.selection, split.testing))
                     if set(part) & {0, 1, 2, 3}}
            assert len(parts) == 1, seed


def test_copies_found_with_other_ids_are_refused():
    counts = np.zeros((3, 1, 8, 8))
    found = copies.Copies(3, ids=None)
    with pytest.raises(ValueError, match="copies were found with other PatientIDs than the split's"):
        found.check(3, ["A", "A", "B"])
    assert copies.Copies(3, ids=("A", "A", "B")).check(3, np.array(["A", "A", "B"])).n == 3
    with pytest.raises(ValueError, match="copies were found with other PatientIDs"):
        _check_split(Split([0], [1], [2]), 3, ["A", "B", "C"], counts, found)


def test_a_hand_split_cannot_separate_copies_linked_through_a_study_it_leaves_out():
    # 0 like 1 and 1 like 2 (0 and 2 below the threshold): 1 left out, 0 trained on and 2 tested was accepted
    linked = copies.Copies(8, near=[(0, 1, 0.6), (1, 2, 0.6)], threshold=0.45)
    split = Split(np.array([0, 3, 4]), np.array([5, 6]), np.array([2, 7]))
    with pytest.raises(SplitError, match=r"studies linked by near copies .*\(the studies at index 0 and 2: training "
                                         r"and testing"):
        _check_split(split, 8, None, np.zeros((8, 1, 8, 8)), linked)


def test_ids_of_the_wrong_length_or_no_view_are_refused_in_one_sentence(cohort):
    X, y, ids = cohort
    with pytest.raises(ValueError, match="ids gives 2 PatientIDs for 6 studies; give one per study"):
        find_copies(X[:6], ids[:2])
    with pytest.raises(ValueError, match="ids gives 8 PatientIDs for 6 studies"):
        training_split(X[:6], y[:6], ids[:8], 0)
    with pytest.raises(ValueError, match=r"counts holds no view \(shape \(4, 0, 64, 64\)\)"):
        find_copies(np.zeros((4, 0, 64, 64)))
