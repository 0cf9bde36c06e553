"""Missing-value codes: named ones read as missing in the study and in every use of its model; suspected ones
warned of, and ordinary zeros left alone."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from scintiml.bundle import load_bundle, save_bundle
from scintiml.bundle.tabular import spec_digest
from scintiml.cohort import load_cohort
from scintiml.datasets import make_mibg_cohort
from scintiml.errors import BundleError, TargetColumnError
from scintiml.external import validate_bundle
from scintiml.missing_codes import apply_missing_codes, parse_missing_codes, suspected_codes
from scintiml.study import run_study

CODED = np.arange(0, 200, 16)  # 13 patients whose washout was "not measured", written 0


@pytest.fixture(scope="module")
def table():
    cohort = make_mibg_cohort(n_patients=200, random_state=0)
    frame = cohort.X[["delta_lvef", "planar_washout", "age"]].copy()
    frame.insert(0, "pid", [f"P{i:03d}" for i in range(len(frame))])
    frame["outcome"] = np.where(cohort.y == 1, "yes", "no")
    frame.loc[CODED, "planar_washout"] = 0.0
    return frame


@pytest.fixture(scope="module")
def coded_study(table):
    cohort = load_cohort(table, "outcome", id_column="pid", missing_codes={"planar_washout": 0})
    return run_study(cohort, inputs="all", readiness=False, random_state=0)


def test_parse_cli_codes_and_refuse_half_specs():
    assert parse_missing_codes(["chol=0", "-9", " sodium = 999 ", "smoking=unknown"]) == {
        "chol": [0.0], "*": [-9.0], "sodium": [999.0], "smoking": ["unknown"]}
    with pytest.raises(TargetColumnError, match="names no column"):
        parse_missing_codes(["=0"])
    with pytest.raises(TargetColumnError, match="gives no value"):
        parse_missing_codes(["chol="])
    with pytest.raises(TargetColumnError, match="finite"):
        parse_missing_codes(["chol=inf"])


def test_named_code_is_missing_counted_and_imputed_by_the_median_of_the_measured(table):
    cohort = load_cohort(table, "outcome", id_column="pid", missing_codes={"planar_washout": 0})
    assert cohort.X["planar_washout"].isna().sum() == len(CODED)
    assert cohort.missing["planar_washout"] == len(CODED)
    assert f"planar_washout (0 x{len(CODED)})" in " ".join(cohort.notes)
    assert cohort.missing_codes == {"planar_washout": [0.0]}
    assert not any("planar_washout" in w for w in cohort.warnings)  # named: no longer suspected
    # the other inputs untouched (age holds no 0; delta_lvef's values are left as they are)
    pd.testing.assert_series_equal(cohort.X["delta_lvef"], table["delta_lvef"].reset_index(drop=True))
    measured = table["planar_washout"].drop(index=CODED)
    assert cohort.X["planar_washout"].dropna().tolist() == measured.tolist()


def test_unnamed_code_is_warned_of_with_the_fix_and_nothing_changed(table):
    cohort = load_cohort(table, "outcome", id_column="pid")
    assert cohort.X["planar_washout"].isna().sum() == 0  # only the user knows what 0 means: nothing changed
    lowest = table["planar_washout"].drop(index=CODED).min()
    [line] = [w for w in cohort.warnings if "planar_washout" in w]
    assert f"{len(CODED)} patient(s) have 0, and no other value is below {lowest:g}" in line
    assert "--missing planar_washout=0" in line


@pytest.mark.parametrize("values, flagged", [
    (np.r_[np.round(np.linspace(0.1, 4.0, 40), 1), [0.0] * 10], False),  # ST depression: 0 is a measurement
    (np.r_[np.arange(1, 6).repeat(8), [0] * 5], False),  # a 0-5 count: 0 is one step below 1
    (np.r_[np.arange(32, 80), [9]], False),  # a lone 9 below 32: an outlier, not a code (codes are impossible)
    (np.r_[np.arange(20, 90), [999] * 3], True),  # 999 above ages 20-89
    (np.r_[np.arange(20, 90), [-9] * 3], True),  # -9 below them
    (np.r_[[0, 1] * 30, [9] * 2], False),  # a yes/no column: too few values to call anything out of line
    (np.r_[np.arange(100, 300, 2.5), [0.0]], False),  # one odd value: an outlier or a typo, not a recurring code
    (np.r_[np.arange(100, 300, 2.5), [0.0] * 2], True),  # two 0s among blood pressures of 100 and more
    (np.r_[np.arange(85, 400), [0.0] * 20, [-1.0] * 3], True),  # two codes at one end (0 and -1)
    (np.r_[np.arange(85, 400), [99999.0] * 2, [999.0] * 2], True),  # and at the other
    (np.r_[np.round(np.linspace(-2.6, 6.2, 60), 1), [-9.0] * 3], True),  # -9 below a measure that goes negative
])
def test_suspected_codes_only_where_a_code_is_out_of_line(values, flagged):
    assert bool(suspected_codes(pd.DataFrame({"x": values.astype(float)}))) is flagged


def test_every_input_code_and_words_never_touch_outcome_id_or_booleans():
    frame = pd.DataFrame({"id": [-9, 2, 3], "a": [-9.0, 1.0, 2.0], "b": ["unknown", "x", "-9"],
                          "flag": [True, False, True], "y": [-9, 0, 1]})
    out, counts = apply_missing_codes(frame, {"*": [-9, "unknown", 1]}, skip=["id", "y"])
    assert out["id"].tolist() == [-9, 2, 3] and out["y"].tolist() == [-9, 0, 1]
    assert out["flag"].tolist() == [True, False, True]  # TRUE is no code 1
    assert np.isnan(out.loc[0, "a"]) and np.isnan(out.loc[1, "a"])  # -9 and 1 both named
    assert pd.isna(out.loc[0, "b"]) and out.loc[1, "b"] == "x" and pd.isna(out.loc[2, "b"])
    assert counts == {"a": {"-9": 1, "1": 1}, "b": {"unknown": 1, "-9": 1}}
    assert frame.loc[0, "a"] == -9.0  # the caller's frame is never modified


def test_codes_for_outcome_id_or_absent_columns_are_refused_by_name(table):
    with pytest.raises(TargetColumnError, match="outcome or the patient id"):
        load_cohort(table, "outcome", id_column="pid", missing_codes={"outcome": "no"})
    with pytest.raises(TargetColumnError, match="did you mean 'planar_washout'"):
        load_cohort(table, "outcome", id_column="pid", missing_codes={"planar_wahsout": 0})
    cohort = load_cohort(table, "outcome", id_column="pid", missing_codes={"age": -1})
    assert "missing-value code -1 matched no cell of 'age'" in cohort.warnings


def test_subset_keeps_codes_outcome_values_and_its_own_warnings(table):
    cohort = load_cohort(table, "outcome", id_column="pid", missing_codes={"age": 999})
    assert any("planar_washout" in w for w in cohort.warnings)
    part = cohort.subset(["delta_lvef", "age"])
    assert part.outcome_values == ["no", "yes"] and part.missing_codes == {"age": [999.0]}
    assert not any("planar_washout" in w for w in part.warnings)  # a dropped input's warning goes with it
    assert "missing-value code 999 matched no cell of 'age'" in part.warnings


def test_the_model_reads_new_patients_with_the_training_codes(coded_study, table, tmp_path):
    bundle = load_bundle(save_bundle(coded_study, tmp_path / "model"))
    assert bundle.missing_codes == {"planar_washout": [0.0]}
    new = table.head(40)
    as_nan = new.assign(planar_washout=new["planar_washout"].replace(0.0, np.nan))
    coded, unknown = bundle.predict(new, id_column="pid"), bundle.predict(as_nan, id_column="pid")
    # a 0 is exactly a missing value: imputed with the training median, never fed to the network as 0
    np.testing.assert_array_equal(coded["probability"], unknown["probability"])
    assert (coded["imputed"] == "planar_washout").sum() == int((new["planar_washout"] == 0).sum()) > 0
    zero = (new["planar_washout"] == 0).to_numpy()
    # 0 lies below the training range; read as missing, it is not called out of range
    assert not coded["out_of_range"][zero].str.contains("planar_washout").any()
    # external validation reads them the same way
    site = table.iloc[100:]
    a = validate_bundle(bundle, site, "outcome", id_column="pid")
    b = validate_bundle(bundle, site.assign(planar_washout=site["planar_washout"].replace(0.0, np.nan)), "outcome",
                        id_column="pid")
    assert a.performance["auc"] == b.performance["auc"]
    assert "read as missing (not measured)" in (tmp_path / "model" / "card.md").read_text()


def test_a_bundle_with_damaged_codes_is_refused(coded_study, tmp_path):
    folder = save_bundle(coded_study, tmp_path / "model")
    head = json.loads((folder / "bundle.json").read_text())
    head["spec"]["missing_codes"] = {"planar_washout": [{"__class__": "os.system"}]}
    head["spec"]["spec_sha256"] = spec_digest(head["spec"])
    (folder / "bundle.json").write_text(json.dumps(head))
    with pytest.raises(BundleError, match="missing_codes"):
        load_bundle(folder)


def test_cli_study_records_the_codes_and_refuses_a_bad_one_in_one_line(table, tmp_path, capsys):
    data = tmp_path / "cohort.csv"
    table.to_csv(data, index=False)
    code = run_cli(["study", "--no-pdf", str(data), "--target", "outcome", "--id", "pid", "--inputs", "all",
                    "--selection", "split", "--missing", "planar_washout=0", "--out", str(tmp_path / "s")])
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "s" / "results.json").read_text())
    assert results["dataset"]["missing_codes"] == {"planar_washout": [0.0]}
    assert results["dataset"]["missing"]["planar_washout"] == len(CODED)
    assert load_bundle(tmp_path / "s" / "model").missing_codes == {"planar_washout": [0.0]}
    capsys.readouterr()
    code = run_cli(["study", "--no-pdf", str(data), "--target", "outcome", "--missing", "washout=0",
                    "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and "did you mean 'planar_washout'" in err
    assert not (tmp_path / "t").exists()


def test_a_bundle_reads_codes_only_in_the_columns_its_model_reads(coded_study, tmp_path):
    from scintiml.bundle.tabular import Bundle

    bundle = load_bundle(save_bundle(coded_study, tmp_path / "model"))
    # a code for every input, and one for a column the model never reads (the id, excluded at training)
    wide = Bundle(spec={**bundle.spec, "missing_codes": {"*": [0.0], "pid": [0.0]}}, model=bundle.model,
                  card=bundle.card)
    site = pd.DataFrame({"pid": [0, 1, 2], "planar_washout": [0.0, 30.0, 0.0], "delta_lvef": [0.0, -12.0, 3.0],
                         "age": [60, 70, 80], "died": [0, 1, 0], "comment_score": [0, 0, 5]})
    read = wide.read_as_trained(site, id_column="pid")
    assert read["planar_washout"].isna().tolist() == [True, False, True]
    assert read["delta_lvef"].isna().tolist() == [True, False, False]  # an input: the code for every input applies
    # never the id, never a site's outcome whatever it is called, never a column the model does not read
    for column in ("pid", "died", "comment_score"):
        assert read[column].tolist() == site[column].tolist()
    assert wide.predict(site, id_column="pid")["pid"].tolist() == [0, 1, 2]


def test_a_bundle_with_codes_is_format_3_so_older_readers_refuse_it(coded_study, tmp_path):
    with_codes = json.loads((save_bundle(coded_study, tmp_path / "a") / "bundle.json").read_text())
    assert with_codes["format_version"] == 3
    plain = run_study(make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"]),
                      inputs="all", readiness=False, random_state=0)
    assert json.loads((save_bundle(plain, tmp_path / "b") / "bundle.json").read_text())["format_version"] == 2


@pytest.mark.parametrize("codes, words", [
    ({"planar_washout": [10 ** 400]}, "missing_codes"),
    ({"": [0.0]}, "missing_codes"),
    ({"outcome": ["no"]}, "missing_codes"),
    ({"planar_washout": []}, "missing_codes"),
])
def test_damaged_codes_are_refused_when_the_bundle_is_loaded(coded_study, tmp_path, codes, words):
    folder = save_bundle(coded_study, tmp_path / "model")
    head = json.loads((folder / "bundle.json").read_text())
    head["spec"]["missing_codes"] = codes
    head["spec"]["spec_sha256"] = spec_digest(head["spec"])
    (folder / "bundle.json").write_text(json.dumps(head))
    with pytest.raises(BundleError, match=words):
        load_bundle(folder)


def test_codes_print_exactly_and_arrive_in_any_container():
    from scintiml.missing_codes import normalise_missing_codes, unused_codes

    assert normalise_missing_codes({"a": np.array([0, -9]), "b": {-9, 0}, "c": pd.Series([999]), "d": (1.5,)}) == {
        "a": [0.0, -9.0], "b": [-9.0, 0.0], "c": [999.0], "d": [1.5]}
    with pytest.raises(TargetColumnError, match="number or a word"):
        normalise_missing_codes({"a": b"0"})
    frame = pd.DataFrame({"a": [0.0, 1234567.0, 5.0]})
    out, counts = apply_missing_codes(frame, {"a": [-0.0, 1234567, 1234568]})
    assert counts == {"a": {"0": 1, "1234567": 1}}  # -0 is 0; two 7-digit codes never print alike
    assert unused_codes({"a": [-0.0, 1234567, 1234568]}, counts) == ["missing-value code 1234568 matched no cell of 'a'"]
    levels = pd.DataFrame({"cat": pd.Categorical(["unknown", "x", "y", "unknown"])})
    assert apply_missing_codes(levels, {"cat": "unknown"})[1] == {"cat": {"unknown": 2}}  # no empty levels listed


def test_a_code_for_every_input_that_empties_a_yes_no_column_is_warned_of(table):
    frame = table.assign(diabetes=np.arange(len(table)) % 3 == 0).astype({"diabetes": int})
    cohort = load_cohort(frame, "outcome", id_column="pid", missing_codes=0)
    [line] = [w for w in cohort.warnings if "'diabetes'" in w]
    n_zero = int((frame["diabetes"] == 0).sum())
    assert f"the code 0 given for every input blanked {n_zero} of the {len(frame)} values of 'diabetes'" in line
    assert not any("'planar_washout' (" in w for w in cohort.warnings)  # its 13 zeros are 6.5 %: a code, no warning


def test_decimal_comma_codes_and_site_column_codes_on_the_cli(table, tmp_path, capsys):
    data = tmp_path / "cohort.csv"
    frame = table.assign(hospital=np.where(np.arange(len(table)) % 2, "north", "south"))
    frame.assign(**{c: frame[c].map(lambda v: f"{v}".replace(".", ",")) for c in ("delta_lvef", "planar_washout")}
                 ).to_csv(data, index=False, sep=";")
    code = run_cli(["describe", str(data), "--target", "outcome", "--id", "pid", "--exclude", "hospital",
                    "--decimal-comma", "--missing", "planar_washout=0,0"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"planar_washout (0 x{len(CODED)})" in out.out
    code = run_cli(["study", "--no-pdf", str(data), "--target", "outcome", "--id", "pid", "--site-column", "hospital",
                    "--decimal-comma", "--missing", "hospital=north", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and "names the site column 'hospital'" in err and "Traceback" not in err


def test_predict_reads_the_models_own_text_code_as_missing_not_as_an_odd_cell(tmp_path):
    # "ND" named at training was refused by predict's number-format check ("name it so: --missing ..."), an option
    # predict does not have: the model already holds the code
    from scintiml.bundle.predict import predict_file
    from scintiml.study import write_study

    cohort = make_mibg_cohort(n_patients=200, random_state=0)
    frame = cohort.X[["delta_lvef", "planar_washout"]].copy().astype(object)
    frame.loc[[3, 17, 40], "planar_washout"] = "ND"
    frame["outcome"] = cohort.y
    frame.to_csv(tmp_path / "train.csv", index=False)
    trained = load_cohort(tmp_path / "train.csv", "outcome", missing_codes={"planar_washout": ["ND"]})
    write_study(trained, tmp_path / "study", inputs="all", readiness=False, pdf=False)
    frame.drop(columns="outcome").iloc[:50].to_csv(tmp_path / "new.csv", index=False)
    run = predict_file(tmp_path / "study" / "model", tmp_path / "new.csv", tmp_path / "p.csv")
    assert len(run.predictions) == 50 and run.predictions["imputed"].iloc[3] == "planar_washout"


def test_a_tie_between_two_codes_names_the_first_in_column_order_whatever_the_hash_seed():
    # three inputs with a 0, three with a 999 — more than MAX_SUSPECT_LINES, so one line names the commonest code;
    # on a tie it used to be whichever string a set yielded first, which changes with PYTHONHASHSEED
    import subprocess
    import sys

    script = (
        "import numpy as np, pandas as pd\n"
        "from scintiml.missing_codes import suspected_codes\n"
        "rng = np.random.RandomState(0)\n"
        "cols = {}\n"
        "for j in range(3):\n"
        "    v = rng.randint(200, 400, 60).astype(float); v[:3] = 0; cols[f'zero{j}'] = v\n"
        "for j in range(3):\n"
        "    v = rng.randint(10, 50, 60).astype(float); v[:3] = 999; cols[f'nine{j}'] = v\n"
        "print(suspected_codes(pd.DataFrame(cols))[0])\n"
    )
    said = set()
    for seed in ("0", "1", "2", "3", "4", "5"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        said.add(out.stdout.strip())
    assert len(said) == 1, said
    assert "most often 0)" in said.pop()


def test_the_one_line_summary_names_inputs_whose_names_hold_an_apostrophe():
    rng = np.random.RandomState(0)
    cols = {}
    for j in range(6):
        v = rng.randint(200, 400, 60).astype(float)
        v[:3] = 0
        cols[f"doctor's score {j}"] = v
    (line,) = suspected_codes(pd.DataFrame(cols))
    assert "(\"doctor's score 0\", \"doctor's score 1\"" in line, line
