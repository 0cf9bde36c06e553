"""The tabular bundle on the one bundle format: round trip, and every kind of damage refused in one line."""

import json
import shutil

import numpy as np
import pytest

from conftest import run_cli
from scintiml.bundle import load_bundle, save_bundle
from scintiml.bundle.format import sha256_file
from scintiml.bundle.tabular import spec_digest
from scintiml.datasets import make_mibg_cohort
from scintiml.errors import BundleError
from scintiml.study import run_study


@pytest.fixture(scope="module")
def study():
    cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout", "age"])
    return run_study(cohort, inputs="all", readiness=False, random_state=0)


@pytest.fixture(scope="module")
def pristine(study, tmp_path_factory):
    return save_bundle(study, tmp_path_factory.mktemp("b") / "model")


@pytest.fixture
def bundle_dir(pristine, tmp_path):
    return shutil.copytree(pristine, tmp_path / "model")


def _head(folder):
    return json.loads((folder / "bundle.json").read_text())


def _write_head(folder, head, rehash_spec=True):
    if rehash_spec:
        head["spec"]["spec_sha256"] = spec_digest(head["spec"])
    # an infinite number written the way JSON parsers accept it (1e999), not as the refused literal Infinity
    (folder / "bundle.json").write_text(json.dumps(head).replace("Infinity", "1e999"))


def _rehash_files(folder):
    """What a careful vandal does: recompute every file's checksum so only the content checks can catch it."""
    head = _head(folder)
    head["files"] = {name: sha256_file(folder / name) for name in head["files"]}
    _write_head(folder, head, rehash_spec=False)


def _weights(folder):
    with np.load(folder / "weights.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _set_weight(folder, name, value):
    arrays = _weights(folder)
    arrays[name] = value(arrays[name])
    np.savez(folder / "weights.npz", **arrays)


def _nan(a):
    a = a.copy()
    a.flat[0] = np.nan
    return a


def _inf(a):
    a = a.copy()
    a.flat[-1] = np.inf
    return a


def _edit_spec(key, value, rehash_spec=True):
    def edit(folder):
        head = _head(folder)
        head["spec"][key] = value
        _write_head(folder, head, rehash_spec)
    return edit


def _literal_nan_threshold(folder):
    text = (folder / "bundle.json").read_text()
    head = _head(folder)
    old = json.dumps(head["spec"]["threshold"])
    (folder / "bundle.json").write_text(text.replace(f'"threshold": {old}', '"threshold": NaN', 1))
    assert "NaN" in (folder / "bundle.json").read_text()


def _truncate(folder):
    data = (folder / "weights.npz").read_bytes()
    (folder / "weights.npz").write_bytes(data[: len(data) // 2])


def _pickled(folder):
    arrays = _weights(folder)
    arrays["coef_0"] = np.array([{"payload": "code"}], dtype=object)
    np.savez(folder / "weights.npz", **arrays)  # np.savez pickles object arrays


def _edit_card(folder):
    card = json.loads((folder / "card.json").read_text())
    card["metrics"]["auc"] = 0.99
    (folder / "card.json").write_text(json.dumps(card))


def _both(damage):
    def run(folder):
        damage(folder)
        _rehash_files(folder)
    return run


DAMAGE = {
    "nan weight": (_both(lambda f: _set_weight(f, "coef_0", _nan)), "NaN or infinite"),
    "nan weight, checksum not recomputed": (lambda f: _set_weight(f, "coef_0", _nan), "does not match its checksum"),
    "inf weight": (_both(lambda f: _set_weight(f, "intercept_1", _inf)), "NaN or infinite"),
    "inf scaling": (_edit_spec("scaler", {"method": "meanstd", "offset": [0, 0, 0], "scale": [1, 1e999, 1]}),
                    "NaN or infinite"),
    "zero scaling": (_edit_spec("scaler", {"method": "meanstd", "offset": [0, 0, 0], "scale": [1, 0, 1]}),
                     "scale <= 0"),
    "nan threshold, literal NaN": (_literal_nan_threshold, "not valid JSON"),
    "nan threshold, spec checksum recomputed": (_edit_spec("threshold", "NaN"), "threshold is nan"),
    "nan threshold, spec checksum not recomputed": (_edit_spec("threshold", "NaN", rehash_spec=False), "was edited"),
    "inf threshold": (_edit_spec("threshold", 1e999), "threshold is inf"),
    "threshold outside (0, 1)": (_edit_spec("threshold", 1.5), "outside (0, 1)"),
    "edited spec, valid value": (_edit_spec("threshold", 0.9, rehash_spec=False), "was edited"),
    "edited card": (_edit_card, "'card.json' does not match its checksum"),
    "wrong weight shape": (_both(lambda f: _set_weight(f, "coef_0", lambda a: np.vstack([a, a[:1]]))), "has shape"),
    "missing weight array": (_both(lambda f: np.savez(f / "weights.npz", coef_0=_weights(f)["coef_0"])),
                             "lacks 'intercept_0'"),
    "architecture not fitting the inputs": (_edit_spec("architecture", [4, 2, 1]), "does not fit its 3 inputs"),
    "nan training range": (_edit_spec("training_ranges", {"delta_lvef": [0, "NaN"], "planar_washout": [0, 1],
                                                          "age": [0, 1]}), "NaN or infinite"),
    "missing file": (lambda f: (f / "weights.npz").unlink(), "is missing 'weights.npz'"),
    "truncated npz": (_truncate, "does not match its checksum"),
    "truncated npz, checksum recomputed": (_both(_truncate), "truncated or damaged"),
    "pickle-bearing npz": (_both(_pickled), "pickled objects"),
    "bundle.json not JSON": (lambda f: (f / "bundle.json").write_text("{not json"), "not valid JSON"),
    "another kind": (lambda f: _write_head(f, {**_head(f), "kind": "planar-cnn"}), "not a 'tabular-ann' one"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_tampered_bundle_is_refused_in_one_line(bundle_dir, damage):
    load_bundle(bundle_dir)  # intact before the damage
    edit, fragment = DAMAGE[damage]
    edit(bundle_dir)
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_dir)
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_not_a_folder_is_refused(tmp_path):
    file = tmp_path / "model.zip"
    file.write_bytes(b"PK")
    with pytest.raises(BundleError, match="is not a folder"):
        load_bundle(file)


def test_round_trip_predicts_what_the_study_model_predicts(study, pristine):
    bundle = load_bundle(pristine)
    X = study.cohort.X
    np.testing.assert_allclose(bundle.predict(X)["probability"], study.model.predict_proba(X[bundle.inputs])[:, 1],
                               rtol=0, atol=1e-12)
    spec = _head(pristine)["spec"]
    assert _head(pristine)["kind"] == "tabular-ann"
    # drift summary on the training patients, checked against numpy by hand
    train = X.iloc[study.split.training]["delta_lvef"]
    summary = spec["training_summary"]["delta_lvef"]
    assert summary["mean"] == pytest.approx(train.mean()) and summary["sd"] == pytest.approx(train.std(ddof=1))
    assert summary["quantiles"]["0.95"] == pytest.approx(np.quantile(train, 0.95))
    assert summary["missing_share"] == pytest.approx(train.isna().mean())


def test_cli_predict_refuses_a_damaged_bundle_in_one_line(bundle_dir, study, tmp_path, capsys):
    data = tmp_path / "new.csv"
    study.cohort.X.to_csv(data, index=False)
    _both(lambda f: _set_weight(f, "coef_0", _nan))(bundle_dir)
    out = tmp_path / "pred.csv"
    code = run_cli(["predict", str(bundle_dir), str(data), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "NaN or infinite" in err and not out.exists()


@pytest.mark.parametrize("cell, fragment", [(np.inf, "infinite values"), (1e300, "beyond")])
def test_cli_predict_refuses_values_training_refuses(pristine, study, tmp_path, capsys, cell, fragment):
    frame = study.cohort.X.copy()
    frame.iloc[4, 0] = cell
    data = tmp_path / "new.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "pred.csv"
    code = run_cli(["predict", str(pristine), str(data), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and fragment in err and not out.exists()
    (tmp_path / "folder").mkdir()
    code = run_cli(["predict", str(pristine), str(data), "--out", str(tmp_path / "folder"), "--overwrite"])
    assert code == 2 and "is a folder; give a file name" in capsys.readouterr().err
