"""``cnn train --split-from``: a split given again from the file ``--split-csv`` writes (an earlier model's split, or
one made by hand), checked as a split given by hand is."""

from __future__ import annotations

import re

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from conftest import run_cli  # noqa: E402
from scintiml.cnn.workflow import read_split_file  # noqa: E402
from scintiml.errors import ScintimlError  # noqa: E402

QUICK = ["--epochs", "1", "--max-steps", "1"]


@pytest.fixture(scope="module")
def first_split(tmp_path_factory):
    """16 simulated studies trained once with the default split, its parts written by --split-csv."""
    root = tmp_path_factory.mktemp("split_from")
    assert run_cli(["simulate", "--out", str(root / "sim"), "--n", "16", "--prevalence", "0.5", "--seed", "3"]) == 0
    assert run_cli(["cnn", "train", str(root / "sim"), "--out", str(root / "m0"), *QUICK,
                    "--split-csv", str(root / "parts.csv")]) == 0
    return root, pd.read_csv(root / "parts.csv", dtype=str)


def _train_with(root, table, name, capsys):
    path = root / f"{name}.csv"
    table.to_csv(path, index=False)
    code = run_cli(["cnn", "train", str(root / "sim"), "--out", str(root / name), *QUICK, "--split-from", str(path),
                    "--split-csv", str(root / f"{name}_written.csv")])
    return code, capsys.readouterr().err


def test_the_same_file_gives_the_same_parts_and_an_edited_one_moves_the_study(first_split, capsys):
    root, parts = first_split
    code, _ = _train_with(root, parts, "again", capsys)
    assert code == 0
    again = pd.read_csv(root / "again_written.csv", dtype=str)
    assert dict(zip(again["study_instance_uid"], again["part"])) == dict(zip(parts["study_instance_uid"],
                                                                             parts["part"]))
    # one testing study moved to training by hand: the model is trained on it
    moved = parts.copy()
    k = moved.index[moved["part"] == "testing"][0]
    moved.loc[k, "part"] = " Training "  # read without regard to case and spaces
    code, _ = _train_with(root, moved, "moved", capsys)
    assert code == 0
    written = pd.read_csv(root / "moved_written.csv", dtype=str).set_index("study_instance_uid")["part"]
    assert written[moved.loc[k, "study_instance_uid"]] == "training"
    assert (written == "testing").sum() == (parts["part"] == "testing").sum() - 1


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.drop(index=t.index[0]), r"names no part for 1 of the 16 studies to train on \(Study Instance UID '"),
    (lambda t: t.assign(part=t["part"].where(t.index != 0, "validation")), r"part 'validation' for study '.*'; it must "
                                                                           r"be one of training, selection, testing"),
    (lambda t: t.drop(columns=["part"]), r"no column 'part'; it needs study_instance_uid and part"),
    (lambda t: pd.concat([t, t.iloc[[0]].assign(part="testing" if t["part"].iloc[0] != "testing" else "training")]),
     r"is named twice, in the \w+ and the \w+ part"),
])
def test_a_bad_split_file_is_refused_in_one_line_before_training(first_split, capsys, edit, message):
    root, parts = first_split
    code, err = _train_with(root, edit(parts), "bad", capsys)
    assert code == 2 and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
    assert re.search(message, err.replace("\n", " ")), err
    assert not (root / "bad").exists()


def test_read_split_file_keeps_uids_as_text(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("study_instance_uid,part\n1.20,training\n1.2,testing\n")
    assert read_split_file(path) == {"1.20": "training", "1.2": "testing"}
    path.write_text("study_instance_uid,part\n,training\n")
    with pytest.raises(ScintimlError, match="line 2: no study_instance_uid"):
        read_split_file(path)
