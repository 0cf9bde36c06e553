"""A generated corpus of bad, hostile and ordinary inputs for every ``scintiml`` command (issue #15).

Each :class:`Case` builds its own files in a fresh folder and names the command line to run. The runner
(``test_corpus.py``) runs every case in-process through :func:`scintiml.cli.main` and asserts: no traceback,
exit 0 or 2, exactly one ``error:`` line on failure (holding ``match`` when given), no output left behind on
failure, and for accepted inputs the right result (``check``: event class, row counts, PHI absence ...).

``klass`` is the issue's class number (1 de-identification, 2 outcome, 3 duplicate names, 4 corrupt bundles,
5 message printer, 6 predict vs study, 7 ordinary mistakes, 8 radiomics, 9 dialects, 10 limits; 0 ordinary
accepted input). Random CSV shapes come from :func:`random_table_cases` (a seeded generator whose oracle
knows the right answer); the hypothesis test beside the runner draws more shapes from the same oracle.
"""

from __future__ import annotations

import csv
import io
import json
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

Check = Callable[[Path, str, str], None]


@dataclass
class Case:
    name: str
    klass: int
    build: Callable[[Path, "Assets"], list[str]]  # writes files under the case folder, returns argv
    expect: str = "error"  # "error", "ok", or "either" (fuzzed bytes: refused in one line or accepted)
    match: str | None = None  # substring of the error line
    check: Check | None = None  # for accepted inputs: the result is right
    outputs: tuple[str, ...] = ()  # paths (relative to the case folder) that must not exist after a failure


@dataclass
class Assets:
    """Things shared by many cases, made once: a trained bundle, its training CSV, DICOM studies, masks."""

    root: Path
    bundle: Path = field(default=None)  # type: ignore[assignment]
    train_csv: Path = field(default=None)  # type: ignore[assignment]
    dicom: Path = field(default=None)  # type: ignore[assignment]
    masks: Path = field(default=None)  # type: ignore[assignment]
    key: Path = field(default=None)  # type: ignore[assignment]
    results: dict = field(default_factory=dict)


def run(argv: list[str]) -> tuple[int, str, str]:
    """``scintiml ARGV`` in-process: (exit status, stdout, stderr); a traceback becomes status -1."""
    import contextlib
    import io

    from scintiml.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except BaseException:  # noqa: BLE001 - a traceback is exactly what the corpus looks for
            err.write("Traceback (most recent call last):\n" + traceback.format_exc())
            code = -1
    return code, out.getvalue(), err.getvalue()


# --------------------------------------------------------------------------- tables
def base_rows(n: int = 40, seed: int = 0) -> list[dict]:
    rng = np.random.RandomState(seed)
    return [{"pid": f"P{i:03d}", "age": float(round(rng.normal(60, 10))), "washout": round(rng.normal(25, 8), 3),
             "hm_ratio": round(rng.normal(2.2, 0.3), 3), "outcome": int(i >= n // 2)} for i in range(n)]


def write_csv(path: Path, header: list[str], rows: list[list], delimiter: str = ",") -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def table(path: Path, outcome: list | None = None, extra: dict | None = None, delimiter: str = ",",
          header_pad: str = "") -> Path:
    rows = base_rows()
    cols = ["pid", "age", "washout", "hm_ratio", "outcome"]
    data = [[r[c] for c in cols] for r in rows]
    if outcome is not None:
        for row, value in zip(data, outcome):
            row[4] = value
    for name, values in (extra or {}).items():
        cols.append(name)
        for row, value in zip(data, values):
            row.append(value)
    return write_csv(path, [header_pad + c + header_pad for c in cols], data, delimiter)


def describe(path: Path, *more: str) -> list[str]:
    return ["describe", str(path), "--target", "outcome", "--id", "pid", *more]


def said(events: int, positive: str, patients: int = 40) -> Check:
    """describe printed the right patient count, event count and event value."""
    def check(case_dir: Path, out: str, err: str) -> None:
        assert f"{patients} patients, {events} events" in out, out
        assert f"(outcome = {positive})" in out, out
    return check


# --------------------------------------------------------------------------- class 2: the outcome rule
def outcome_cases() -> list[Case]:
    cases = []
    codings = [  # (name, event value, non-event value, expected printed event — the table's own spelling — or None for refusal)
        ("int 1/0", 1, 0, "1"), ("float 1.0/0.0", 1.0, 0.0, "1.0"), ("text 1/0", "1", "0", "1"),
        ("yes/no", "yes", "no", "'yes'"), ("Yes/No", "Yes", "No", "'Yes'"), ("YES/no", "YES", "no", "'YES'"),
        ("true/false", "true", "false", "True"), ("TRUE/FALSE", "TRUE", "FALSE", "True"),
        ("True/False", "True", "False", "True"), (" yes /no ", " yes ", "no ", "'yes'"),
        ("1/2", 2, 1, None), ("2/1", 1, 2, None), ("PE/no PE", "PE", "no PE", None), ("a/b", "a", "b", None),
        ("pos/neg", "pos", "neg", None), ("dead/alive", "dead", "alive", None), ("-1/1", 1, -1, None),
        ("0/2", 2, 0, None), ("Y/N", "Y", "N", None), ("1.0/2.0", 2.0, 1.0, None),
    ]
    for i, (name, event, other, printed) in enumerate(codings):
        for majority in (False, True):  # the event as minority and as majority: size never decides
            n_events = 28 if majority else 12
            values = [event] * n_events + [other] * (40 - n_events)

            def build(d, a, values=values):
                return describe(table(d / "t.csv", values))
            if printed is None:
                cases.append(Case(f"outcome {name} (events {n_events}) needs --positive", 2, build,
                                  match="--positive"))
            else:
                cases.append(Case(f"outcome {name} (events {n_events})", 2, build, "ok",
                                  check=said(n_events, printed)))
    # the same codings with --positive given are accepted with the named event
    for name, event, other, positive, printed in [("1/2 --positive 2", 2, 1, "2", "2"),
                                                  ("PE --positive PE", "PE", "no PE", "PE", "'PE'"),
                                                  ("1/0 --positive 0", 0, 1, "0", "0"),
                                                  ("a/b --positive A (case)", "a", "b", "A", "'a'")]:
        values = [event] * 15 + [other] * 25
        cases.append(Case(f"outcome {name}", 2, lambda d, a, v=values, p=positive:
                          describe(table(d / "t.csv", v), "--positive", p), "ok", check=said(15, printed)))
    cases.append(Case("outcome --positive not a value", 2, lambda d, a: describe(table(d / "t.csv"), "--positive",
                                                                                 "7"), match="not a value"))
    cases.append(Case("outcome three classes", 2, lambda d, a: describe(table(d / "t.csv", [0, 1, 2] * 14)),
                      match="exactly two classes"))
    cases.append(Case("outcome one class", 2, lambda d, a: describe(table(d / "t.csv", [1] * 40)),
                      match="exactly two classes"))
    cases.append(Case("outcome with a missing value", 2, lambda d, a: describe(table(d / "t.csv", [""] + [0, 1] * 20)),
                      match="missing for 1"))
    cases.append(Case("outcome yes/no/maybe", 2, lambda d, a: describe(table(d / "t.csv", ["yes", "no", "maybe"] * 14)),
                      match="exactly two classes"))
    return cases


# --------------------------------------------------------------------------- class 3: duplicate names
def duplicate_cases() -> list[Case]:
    cases = []
    for dup in ("outcome", "age", "pid", "washout"):
        def build(d, a, dup=dup):
            rows = base_rows()
            cols = ["pid", "age", "washout", "hm_ratio", "outcome", dup]
            return describe(write_csv(d / "t.csv", cols, [[r[c] for c in cols] for r in rows]))
        cases.append(Case(f"duplicated column {dup}", 3, build, match="appears twice"))
    for pad in (" ", "  ", "\t"):
        def build(d, a, pad=pad):
            rows = base_rows()
            cols = ["pid", "age", "washout", "hm_ratio", "outcome", "age"]
            return describe(write_csv(d / "t.csv", cols[:-1] + [pad + "age"], [[r[c] for c in cols] for r in rows]))
        cases.append(Case(f"duplicated column after trimming {pad!r}", 3, build, match="appears twice"))
    for level in ("y", "z"):
        def build(d, a, level=level):
            grade = ["x", "y", "z"] * 13 + ["x"]
            return describe(table(d / "t.csv", extra={"grade": grade, f"grade={level}": list(range(40))}))
        cases.append(Case(f"one-hot name collision grade={level}", 3, build, match="same name"))
    cases.append(Case("one-hot-like name without collision", 3, lambda d, a: describe(table(
        d / "t.csv", extra={"dose=high": list(range(40))})), "ok", check=said(20, "1")))
    return cases


# --------------------------------------------------------------------------- class 5: the printer
def printer_cases() -> list[Case]:
    cases = []
    for text in ("[/]", "a:b:c", "[bold]x[/bold]", ":smile:", "[red]", "back\\slash\\", "[/]x[/]"):
        cases.append(Case(f"target name {text!r} echoed literally", 5,
                          lambda d, a, t=text: ["describe", str(table(d / "t.csv")), "--target", t],
                          match=f"target column {text!r} not found"))
        cases.append(Case(f"file name {text!r} echoed literally", 5,
                          lambda d, a, t=text: ["describe", str(d / f"no{t}.csv"), "--target", "outcome"],
                          match=repr(f"no{text}.csv")[1:-1]))  # paths are quoted with repr in messages

        def build(d, a, t=text):
            return describe(table(d / "t.csv", extra={f"col{t}": [0, 1] * 20}))

        def check(case_dir, out, err, t=text):
            assert "40 patients, 20 events" in out
        cases.append(Case(f"column name {text!r} accepted", 5, build, "ok", check=check))
    return cases


# --------------------------------------------------------------------------- class 9: dialects
def dialect_cases() -> list[Case]:
    cases = []
    for delim in (";", "\t", "|", ","):
        cases.append(Case(f"delimiter {delim!r} sniffed", 9, lambda d, a, x=delim: describe(
            table(d / "t.csv", delimiter=x)), "ok", check=said(20, "1")))
        cases.append(Case(f"delimiter {delim!r} with padded header", 9, lambda d, a, x=delim: describe(
            table(d / "t.csv", delimiter=x, header_pad=" ")), "ok", check=said(20, "1")))
    decimal = [f"{v:.2f}".replace(".", ",") for v in np.linspace(10, 40, 40)]
    cases.append(Case("decimal commas named as the cause", 9, lambda d, a: describe(
        table(d / "t.csv", extra={"uptake": decimal}, delimiter=";")), match="decimal comma"))
    cases.append(Case("decimal commas (comma-delimited, quoted) named", 9, lambda d, a: describe(
        table(d / "t.csv", extra={"uptake": decimal})), match="decimal comma"))
    cases.append(Case("decimal commas read with --decimal-comma", 9, lambda d, a: describe(
        table(d / "t.csv", extra={"uptake": decimal}, delimiter=";"), "--decimal-comma"), "ok", check=said(20, "1")))
    percent = [f"{v:.0f}%" for v in np.linspace(10, 90, 40)]
    cases.append(Case("percent signs read with --percent", 9, lambda d, a: describe(
        table(d / "t.csv", extra={"ef": percent}), "--percent"), "ok", check=said(20, "1")))
    cases.append(Case("percent signs named as the cause", 9, lambda d, a: describe(
        table(d / "t.csv", extra={"ef": percent})), match="percentages"))
    few_percent = ["45%", "50%"] * 20  # few levels: would be one-hot encoded as a category without the check
    cases.append(Case("two-level percent column named, not one-hot", 9, lambda d, a: describe(
        table(d / "t.csv", extra={"ef": few_percent})), match="percentages"))
    for marker in ("?", "NA", "-", "", "N/A", "null", "."):
        values = [marker] + [str(v) for v in range(39)]

        def check(case_dir, out, err, m=marker):
            assert "40 patients, 20 events" in out and "read as missing" in out, out
        cases.append(Case(f"missing marker {marker!r}", 9, lambda d, a, v=values: describe(
            table(d / "t.csv", extra={"lvef": v})), "ok", check=check))
    cases.append(Case("a single ? in a numeric column", 9, lambda d, a: describe(
        table(d / "t.csv", extra={"lvef": ["?"] + list(range(39))})), "ok", check=said(20, "1")))
    cases.append(Case("free text refused", 9, lambda d, a: describe(
        table(d / "t.csv", extra={"note": [f"note {i}" for i in range(40)]})), match="free text"))
    cases.append(Case("TRUE/FALSE input accepted as booleans", 9, lambda d, a: describe(
        table(d / "t.csv", extra={"smoker": ["TRUE", "FALSE", "false"] * 13 + ["TRUE"]})), "ok",
        check=said(20, "1")))
    cases.append(Case("trailing delimiter on every line", 9, lambda d, a: describe(_trailing(d / "t.csv")), "ok",
                      check=said(20, "1")))
    cases.append(Case("rows longer than the header", 9, lambda d, a: describe(_long_rows(d / "t.csv")),
                      match="more fields"))
    cases.append(Case("UTF-8 BOM", 9, lambda d, a: describe(_bom(d / "t.csv")), "ok", check=said(20, "1")))
    cases.append(Case("TSV file", 9, lambda d, a: describe(table(d / "t.tsv", delimiter="\t")), "ok",
                      check=said(20, "1")))
    cases.append(Case("TXT with semicolons", 9, lambda d, a: describe(table(d / "t.txt", delimiter=";")), "ok",
                      check=said(20, "1")))
    cases.append(Case("semicolon file, target misspelt", 9, lambda d, a: ["describe", str(table(
        d / "t.csv", delimiter=";")), "--target", "outcom"], match="did you mean 'outcome'"))
    return cases


def _trailing(path: Path) -> Path:
    table(path)
    path.write_text("".join(line + ",\n" for line in path.read_text().splitlines()))
    return path


def _long_rows(path: Path) -> Path:
    table(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0]] + [line + ",9" for line in lines[1:]]) + "\n")
    return path


def _bom(path: Path) -> Path:
    table(path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return path


# --------------------------------------------------------------------------- class 10: limits and odd files
def limit_cases() -> list[Case]:
    cases = []

    def fifo(d, a):
        os.mkfifo(d / "pipe.csv")
        return describe(d / "pipe.csv")
    cases.append(Case("named pipe refused, no hang", 10, fifo, match="not a regular file"))
    cases.append(Case("character device refused", 10, lambda d, a: describe(Path("/dev/zero")),
                      match="not a regular file"))

    def devlink(d, a):
        (d / "zero.csv").symlink_to("/dev/zero")
        return describe(d / "zero.csv")
    cases.append(Case("link to a device refused", 10, devlink, match="not a regular file"))

    def loop(name):
        def build(d, a):
            (d / "a").symlink_to(d / "b")
            (d / "b").symlink_to(d / "a")
            return {"model": ["predict", str(d / "a"), str(a.train_csv), "--out", str(d / "p.csv")],
                    "data": ["predict", str(a.bundle), str(d / "a"), "--out", str(d / "p.csv")],
                    "out": ["cnn", "triage", str(a.bundle), str(a.dicom), "--out", str(d / "a")]}[name]
        return build
    for name, words in (("model", "not a folder"), ("data", "loop"), ("out", "loop")):
        cases.append(Case(f"symlink loop as the {name}", 10, loop(name), match=words, outputs=("p.csv",)))

    def sparse(d, a):
        path = d / "huge.csv"
        with open(path, "wb") as fh:
            fh.truncate(101 * 2**20)
        return describe(path)
    cases.append(Case("101 MB file refused with the limit", 10, sparse, match="up to 100 MB"))
    cases.append(Case("empty file", 10, lambda d, a: describe(_write(d / "e.csv", b"")), match="empty"))
    cases.append(Case("header only", 10, lambda d, a: describe(_write(d / "h.csv", b"pid,age,outcome\n")),
                      match="no patient rows"))
    cases.append(Case("binary file", 10, lambda d, a: describe(_write(d / "b.csv", bytes(range(256)) * 4)),
                      match="binary"))
    cases.append(Case("not UTF-8", 10, lambda d, a: describe(_write(d / "l.csv", "pid,\xe2ge,outcome\n1,2,0\n"
                                                                     .encode("latin-1"))), match="UTF-8"))
    cases.append(Case("folder given as data", 10, lambda d, a: describe(d), match="is a folder"))
    cases.append(Case("missing file", 10, lambda d, a: describe(d / "nope.csv"), match="does not exist"))
    cases.append(Case("unknown suffix", 10, lambda d, a: describe(_write(d / "t.sav", b"x")),
                      match="unknown file type"))
    cases.append(Case("corrupt xlsx", 10, lambda d, a: describe(_write(d / "t.xlsx", b"PK\x03\x04junk")),
                      match="is not a workbook Excel can have written"))
    cases.append(Case("corrupt parquet", 10, lambda d, a: describe(_write(d / "t.parquet", b"PAR1junk")),
                      match="cannot read"))
    cases.append(Case("+inf in an input", 10, lambda d, a: describe(table(
        d / "t.csv", extra={"x": ["inf"] + list(range(39))})), match="infinite"))
    cases.append(Case("-inf in an input", 10, lambda d, a: describe(table(
        d / "t.csv", extra={"x": ["-inf"] + list(range(39))})), match="infinite"))
    cases.append(Case("1e307 in an input", 10, lambda d, a: describe(table(
        d / "t.csv", extra={"x": ["1e307"] + list(range(39))})), match="beyond"))
    cases.append(Case("-1e300 in an input", 10, lambda d, a: describe(table(
        d / "t.csv", extra={"x": ["-1e300"] + list(range(39))})), match="beyond"))
    cases.append(Case("duplicate patient id", 10, lambda d, a: describe(_dup_id(d / "t.csv")), match="duplicated id"))
    cases.append(Case("too few events", 10, lambda d, a: describe(table(d / "t.csv", [1] * 5 + [0] * 35)),
                      match="only 5 event"))
    return cases


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _dup_id(path: Path) -> Path:
    table(path)
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace("P001", "P000")
    path.write_text("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------- class 7: ordinary mistakes
def option_cases() -> list[Case]:
    cases = []

    def study(*more, data=None, out="out"):
        def build(d, a):
            return ["study", str(data(d) if data else table(d / "t.csv")), "--target", "outcome", "--id", "pid",
                    "--out", str(d / out), *more]
        return build
    for opt, match in [(("--max-inputs", "0"), "--max-inputs"), (("--max-inputs", "-2"), "--max-inputs"),
                       (("--seed", "-1"), "--seed"), (("--seed", "99999999999"), "--seed"),
                       (("--split", "98:1:1"), "split"), (("--split", "60:40:0"), "split"),
                       (("--split", "1:2"), "split"), (("--split", "a:b:c"), "split"), (("--split", "-1:1:1"), "split"),
                       (("--split", "0:0:0"), "split"), (("--inputs", "magic"), "--inputs"),
                       (("--protocol", "nokeyvalue"), "KEY=VALUE"), (("--protocol", "=x"), "KEY=VALUE"),
                       (("--protocol", "a=1", "--protocol", "a=2"), "given twice"),
                       (("--max-inputs", "x"), "max-inputs"), (("--seed", "abc"), "seed"), (("--bogus",), "bogus")]:
        cases.append(Case(f"study {' '.join(opt)}", 7, study(*opt), match=match, outputs=("out",)))
    cases.append(Case("study --out unwritable", 7, study(out="/proc/scintiml/out"), match="cannot write"))
    cases.append(Case("study --out is the input file", 7, lambda d, a: [
        "study", str(table(d / "t.csv")), "--target", "outcome", "--out", str(d / "t.csv")], match="input"))
    cases.append(Case("study --out holds the input", 7, lambda d, a: [
        "study", str(table(d / "t.csv")), "--target", "outcome", "--out", str(d)], match="input"))

    def nonempty(d, a):
        (d / "out").mkdir()
        (d / "out" / "keep.txt").write_text("mine")
        return ["study", str(table(d / "t.csv")), "--target", "outcome", "--id", "pid", "--out", str(d / "out")]

    def kept(case_dir, out, err):
        assert (case_dir / "out" / "keep.txt").read_text() == "mine"
    cases.append(Case("study --out not empty", 7, nonempty, match="--overwrite"))
    cases.append(Case("study --groups missing file", 7, study("--groups", "nope.yaml"), match="nope.yaml",
                      outputs=("out",)))

    def bad_groups(d, a):
        (d / "g.yaml").write_text("imaging: [nothing_like_this]\n")
        return study("--groups", str(d / "g.yaml"))(d, a)
    cases.append(Case("study --groups matching nothing", 7, bad_groups, match="matches no input", outputs=("out",)))

    def yaml_code(d, a):
        (d / "g.yaml").write_text("!!python/object/apply:os.system ['touch pwned']\n")
        return study("--groups", str(d / "g.yaml"))(d, a)
    cases.append(Case("study --groups YAML code probe", 7, yaml_code, match="groups", outputs=("out", "pwned")))

    def alias_bomb(d, a):
        lines = ['a0: &a0 ["age", "age", "age", "age", "age", "age", "age", "age", "age"]']
        lines += [f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 9) + "]" for k in range(1, 9)]
        (d / "g.yaml").write_text("\n".join(lines + ["clinical: *a8"]) + "\n")  # a0 is fine, a1 nests
        return study("--groups", str(d / "g.yaml"))(d, a)
    cases.append(Case("study --groups YAML alias bomb (9^9 names)", 7, alias_bomb, match="text only",
                      outputs=("out",)))

    def groups_list(d, a):
        (d / "g.json").write_text("[1, 2]")
        return study("--groups", str(d / "g.json"))(d, a)
    cases.append(Case("study --groups JSON list", 7, groups_list, match="groups must map", outputs=("out",)))
    cases.append(Case("study target missing", 7, lambda d, a: [
        "study", str(table(d / "t.csv")), "--target", "nope", "--out", str(d / "out")], match="not found",
        outputs=("out",)))
    cases.append(Case("study no arguments", 7, lambda d, a: ["study"], match="Missing"))
    cases.append(Case("unknown command", 7, lambda d, a: ["frobnicate"], match="No such command"))
    for opt, match in [(("--cohort", "nope"), "--cohort"), (("--seed", "-5"), "--seed")]:
        cases.append(Case(f"demo {' '.join(opt)}", 7, lambda d, a, o=opt: ["demo", "--out", str(d / "out"), *o],
                          match=match, outputs=("out",)))
    cases.append(Case("demo --out unwritable", 7, lambda d, a: ["demo", "--out", "/proc/scintiml-demo"],
                      match="cannot write"))
    for opt, match in [(("--n", "-3"), "--n"), (("--n", "0"), "--n"), (("--prevalence", "2"), "prevalence"),
                       (("--prevalence", "-0.1"), "prevalence"), (("--counts", "0"), "counts"),
                       (("--scatter", "1"), "scatter"), (("--collimator-fwhm", "-1"), "collimator"),
                       (("--layout", "cube"), "layout"), (("--mimic-share", "3"), "mimic"),
                       (("--n", "x"), "--n"), (("--seed", "-1"), "--seed"), (("--seed", "4294967296"), "--seed")]:
        cases.append(Case(f"simulate {' '.join(opt)}", 7, lambda d, a, o=opt: ["simulate", "--out", str(d / "sim"), *o],
                          match=match, outputs=("sim",)))

    def sim_nonempty(d, a):
        (d / "sim").mkdir()
        (d / "sim" / "x").write_text("mine")
        return ["simulate", "--out", str(d / "sim"), "--n", "1"]
    cases.append(Case("simulate --out not empty", 7, sim_nonempty, match="overwrite"))
    cases.append(Case("simulate --out unwritable", 7, lambda d, a: ["simulate", "--out", "/proc/scintiml-sim"],
                      match="cannot write"))
    # cnn: every refusal must come before torch trains anything
    for opt, match in [(("--epochs", "0"), "--epochs"), (("--epochs", "-1"), "--epochs"),
                       (("--max-steps", "0"), "--max-steps"), (("--views", ""), "--views"),
                       (("--views", "ANT,ANT"), "--views"), (("--architecture", "vgg"), "--architecture"),
                       (("--seed", "-1"), "--seed")]:
        cases.append(Case(f"cnn train {' '.join(opt)}", 7, lambda d, a, o=opt: [
            "cnn", "train", str(a.dicom), "--out", str(d / "m"), *o], match=match, outputs=("m",)))
    cases.append(Case("cnn train missing data folder", 7, lambda d, a: [
        "cnn", "train", str(d / "nope"), "--out", str(d / "m")], outputs=("m",)))

    def word_labels(d, a):  # yes/no and true/false are read as the study reads them since 0.6; other words not
        (d / "labels.csv").write_text("patient_id,pe\nPAT1,maybe\nPAT2,no\n")
        return ["cnn", "train", str(a.dicom), "--labels", str(d / "labels.csv"), "--out", str(d / "m"),
                "--epochs", "1", "--max-steps", "1"]
    cases.append(Case("cnn train labels in words", 7, word_labels, match="accepted codings", outputs=("m",)))
    for opt, match in [(("--n", "0"), "--n"), (("--n", "-4"), "--n"), (("--n", "5"), "--n"),
                       (("--seed", "-1"), "--seed")]:
        cases.append(Case(f"cnn drift {' '.join(opt)}", 7, lambda d, a, o=opt: [
            "cnn", "drift", str(d / "model"), *o], match=match))
    cases.append(Case("cnn drift missing model", 7, lambda d, a: ["cnn", "drift", str(d / "model")]))
    cases.append(Case("cnn triage missing model", 7, lambda d, a: [
        "cnn", "triage", str(d / "model"), str(a.dicom), "--out", str(d / "w.csv")], outputs=("w.csv",)))
    def labels_in_out(d, a):
        (d / "L").mkdir()
        _write(d / "L" / "labels.csv", b"patient_id,pe\nPAT1,1\nPAT2,0\n")
        return ["cnn", "train", str(a.dicom), "--labels", str(d / "L" / "labels.csv"), "--out", str(d / "L"),
                "--overwrite"]

    cases.append(Case("cnn train --out is the folder of the labels file", 7, labels_in_out, match="input"))

    def other_matrix(d, a):
        _write(d / "labels.csv", b"patient_id,pe\nPAT1,1\nPAT2,0\n")
        return ["cnn", "train", str(a.dicom), "--labels", str(d / "labels.csv"), "--views", "ANT,POST", "--out",
                str(d / "m")]
    cases.append(Case("cnn train on studies of another matrix", 7, other_matrix, match="128 x 128",
                      outputs=("m",)))
    cases.append(Case("cnn triage tabular bundle as model", 7, lambda d, a: [
        "cnn", "triage", str(a.bundle), str(a.dicom), "--out", str(d / "w.csv")], outputs=("w.csv",)))
    for argv, match in [
        (["validate", "{bundle}", "{csv}", "--target", "outcome", "--out", "{d}/v", "--max-missing", "2"],
         "--max-missing"),
        (["validate", "{d}/none", "{csv}", "--target", "outcome", "--out", "{d}/v"], None),
        (["validate", "{bundle}", "{d}/none.csv", "--target", "outcome", "--out", "{d}/v"], None),
        (["validate", "{bundle}", "{csv}", "--target", "nope", "--out", "{d}/v", "--no-pdf"], None),
        (["validate", "{bundle}", "{csv}", "--target", "outcome", "--out", "{csv}"], None),
        (["recalibrate", "{bundle}", "{csv}", "--target", "outcome", "--out", "{d}/r", "--method", "magic"],
         "--method"),
        (["recalibrate", "{bundle}", "{csv}", "--target", "outcome", "--out", "{d}/r", "--max-missing", "-1"],
         "--max-missing"),
        (["recalibrate", "{d}/none", "{csv}", "--target", "outcome", "--out", "{d}/r"], None),
        (["recalibrate", "{bundle}", "{csv}", "--target", "outcome", "--out", "{bundle}"], None),
        (["app", "--port", "70000", "--no-browser"], "--port"), (["app", "--port", "0", "--no-browser"], "--port"),
        (["app", "--workers", "0", "--no-browser"], "--workers"),
        (["app", "--max-upload-mb", "-1", "--no-browser"], "--max-upload-mb"),
        (["triage", "{d}/none", "--pacs", "{d}/none.yaml", "--out", "{d}/t"], None),
        (["listen", "{d}/none", "--config", "{d}/none.yaml"], None),
    ]:
        def build(d, a, argv=argv):
            return [x.format(d=d, bundle=a.bundle, csv=a.train_csv) for x in argv]
        cases.append(Case(" ".join(argv[:1] + [x for x in argv[1:] if not x.startswith("{")]), 7, build,
                          match=match, outputs=("v", "r", "t")))
    return cases


# --------------------------------------------------------------------------- class 4 and 6: predict
def predict_cases() -> list[Case]:
    cases = []

    def predict(data_fn, *more, out="p.csv", model=None):
        def build(d, a):
            return ["predict", str(model(d, a) if model else a.bundle), str(data_fn(d, a)), "--out", str(d / out),
                    *more]
        return build

    def rows_written(n):
        def check(case_dir, out, err):
            lines = (case_dir / "p.csv").read_text().splitlines()
            assert len(lines) == n + 1, len(lines)
            assert f"{n} predictions written" in out
        return check
    cases.append(Case("predict its own training CSV (one-hot, TRUE/FALSE, header spaces)", 6,
                      predict(lambda d, a: a.train_csv, "--id", "pid"), "ok", check=rows_written(60)))

    def semicolon_copy(d, a):
        text = a.train_csv.read_text().replace(",", ";")
        return _write(d / "s.csv", text.encode())
    cases.append(Case("predict the training CSV saved with semicolons", 6, predict(semicolon_copy), "ok",
                      check=rows_written(60)))

    def no_spaces(d, a):
        text = a.train_csv.read_text().splitlines()
        text[0] = ",".join(c.strip() for c in text[0].split(","))
        return _write(d / "n.csv", ("\n".join(text) + "\n").encode())
    cases.append(Case("predict without the header spaces", 6, predict(no_spaces), "ok", check=rows_written(60)))

    def lower_bool(d, a):
        return _write(d / "b.csv", a.train_csv.read_text().replace("TRUE", "true").replace("FALSE", "false").encode())
    cases.append(Case("predict with true/false in lower case", 6, predict(lower_bool), "ok", check=rows_written(60)))

    def same_scores(case_dir, out, err):
        import pandas as pd
        mine = pd.read_csv(case_dir / "p.csv")["probability"]
        ref = pd.read_csv(case_dir / "ref.csv")["probability"]
        np.testing.assert_allclose(mine.to_numpy(), ref.to_numpy())

    def bool_vs_numeric(d, a):
        # TRUE/FALSE text and 1/0 numbers must score the same patients the same way
        import pandas as pd
        from scintiml.bundle import load_bundle
        from scintiml.cohort import read_table
        frame = read_table(a.train_csv)
        load_bundle(a.bundle).predict(frame).to_csv(d / "ref.csv", index=False)
        text = a.train_csv.read_text().replace("TRUE", "1").replace("FALSE", "0")
        return ["predict", str(a.bundle), str(_write(d / "num.csv", text.encode())), "--out", str(d / "p.csv")]
    cases.append(Case("predict TRUE/FALSE equals 1/0", 6, bool_vs_numeric, "ok", check=same_scores))

    def drop_col(d, a):
        text = a.train_csv.read_text().splitlines()
        return _write(d / "x.csv", ("\n".join(",".join(l.split(",")[:-2]) for l in text) + "\n").encode())
    def validated(case_dir, out, err):
        result = json.loads((case_dir / "v" / "validation.json").read_text())
        text = json.dumps(result)
        assert '"n": 60' in text and '"n_events": 30' in text, text[:400]
    cases.append(Case("validate on its own training CSV (one-hot, TRUE/FALSE, YES/No)", 6, lambda d, a: [
        "validate", str(a.bundle), str(a.train_csv), "--target", "outcome", "--out", str(d / "v"), "--no-pdf"],
        "ok", check=validated))

    def recalibrated(case_dir, out, err):
        assert (case_dir / "r" / "bundle.json").is_file()
    cases.append(Case("recalibrate on its own training CSV", 6, lambda d, a: [
        "recalibrate", str(a.bundle), str(a.train_csv), "--target", "outcome", "--out", str(d / "r")], "ok",
        check=recalibrated))
    cases.append(Case("predict data lacking an input", 6, predict(drop_col), match="lack", outputs=("p.csv",)))
    cases.append(Case("predict --out is the data file", 7, lambda d, a: [
        "predict", str(a.bundle), str(_copy(a.train_csv, d / "t.csv")), "--out", str(d / "t.csv")], match="input"))
    cases.append(Case("predict --out inside the bundle", 7, lambda d, a: [
        "predict", str(_copy_bundle(a.bundle, d / "m")), str(a.train_csv), "--out", str(d / "m")], match="input"))

    def existing(d, a):
        (d / "p.csv").write_text("mine")
        return ["predict", str(a.bundle), str(a.train_csv), "--out", str(d / "p.csv")]
    cases.append(Case("predict --out exists", 7, existing, match="--overwrite"))
    cases.append(Case("predict --id missing", 7, predict(lambda d, a: a.train_csv, "--id", "nope"), match="nope",
                      outputs=("p.csv",)))
    cases.append(Case("predict missing model", 4, predict(lambda d, a: a.train_csv, model=lambda d, a: d / "none"),
                      outputs=("p.csv",)))
    # class 4: tampered bundles (each copied, damaged, then used)
    for name, damage in TAMPERINGS.items():
        cases.append(Case(f"predict with a bundle: {name}", 4, predict(
            lambda d, a: a.train_csv, model=lambda d, a, f=damage: _damaged(a.bundle, d / "m", f)),
            outputs=("p.csv",)))
    return cases


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def _copy_bundle(src: Path, dst: Path) -> Path:
    import shutil
    shutil.copytree(src, dst)
    return dst


def _damaged(src: Path, dst: Path, damage: Callable[[Path], None]) -> Path:
    _copy_bundle(src, dst)
    damage(dst)
    return dst


def _edit_spec(edit: Callable[[dict], None], rehash: bool = True) -> Callable[[Path], None]:
    """Edit bundle.json's spec; with ``rehash`` its digest is recomputed, so only the value checks can refuse it."""
    def damage(folder: Path) -> None:
        from scintiml.bundle.tabular import spec_digest
        head = json.loads((folder / "bundle.json").read_text())
        edit(head["spec"])
        if rehash:
            try:
                head["spec"]["spec_sha256"] = spec_digest(head["spec"])
            except ValueError:  # NaN/inf cannot be digested as strict JSON: leave the old digest
                pass
        (folder / "bundle.json").write_text(json.dumps(head))
    return damage


def _weights(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    """Rewrite weights.npz and update its sha256, so only the value checks can refuse it."""
    def damage(folder: Path) -> None:
        import hashlib
        with np.load(folder / "weights.npz") as z:
            arrays = {k: z[k].copy() for k in z.files}
        edit(arrays)
        np.savez(folder / "weights.npz", **arrays)
        head = json.loads((folder / "bundle.json").read_text())
        head["files"]["weights.npz"] = hashlib.sha256((folder / "weights.npz").read_bytes()).hexdigest()
        (folder / "bundle.json").write_text(json.dumps(head))
    return damage


def _set(key, value):
    def edit(spec):
        spec[key] = value
    return edit


def _arr(key, fn):
    def edit(arrays):
        arrays[key] = fn(arrays[key])
    return edit


TAMPERINGS: dict[str, Callable[[Path], None]] = {
    "NaN threshold": _edit_spec(_set("threshold", float("nan"))),
    "inf threshold": _edit_spec(_set("threshold", float("inf"))),
    "threshold 1.5": _edit_spec(_set("threshold", 1.5)),
    "threshold -0.2": _edit_spec(_set("threshold", -0.2)),
    "threshold text": _edit_spec(_set("threshold", "high")),
    "threshold edited without rehash": _edit_spec(_set("threshold", 0.01), rehash=False),
    "no inputs": _edit_spec(_set("inputs", [])),
    "inputs not a list": _edit_spec(_set("inputs", "age")),
    "architecture mismatch": _edit_spec(_set("architecture", [9, 3, 1])),
    "architecture text": _edit_spec(_set("architecture", "big")),
    "unknown activation": _edit_spec(_set("activation", "relu6x")),
    "scaler scale zero": _edit_spec(lambda s: s["scaler"].__setitem__("scale", [0.0] * len(s["scaler"]["scale"]))),
    "scaler wrong length": _edit_spec(lambda s: s["scaler"].__setitem__("offset", [1.0])),
    "scaler missing": _edit_spec(lambda s: s.pop("scaler")),
    "training ranges missing": _edit_spec(lambda s: s.pop("training_ranges")),
    "classes three": _edit_spec(_set("classes", [0, 1, 2])),
    "NaN weights": _weights(_arr("coef_0", lambda w: w * np.nan)),
    "inf weights": _weights(_arr("coef_0", lambda w: w + np.inf)),
    "inf intercept": _weights(_arr("intercept_1", lambda w: w + np.inf)),
    "weights wrong shape": _weights(_arr("coef_0", lambda w: np.zeros((2, 2)))),
    "weights missing array": _weights(lambda arrays: arrays.pop("coef_1")),
    "weights.npz random bytes": lambda f: (f / "weights.npz").write_bytes(os.urandom(300)),
    "weights.npz deleted": lambda f: (f / "weights.npz").unlink(),
    "weights.npz holds a pickle": _weights(_arr("coef_0", lambda w: np.array([{"x": 1}], dtype=object))),
    "bundle.json deleted": lambda f: (f / "bundle.json").unlink(),
    "bundle.json truncated": lambda f: (f / "bundle.json").write_text((f / "bundle.json").read_text()[:100]),
    "bundle.json is a list": lambda f: (f / "bundle.json").write_text("[]"),
    "bundle.json kind cnn": lambda f: (f / "bundle.json").write_text(
        (f / "bundle.json").read_text().replace('"tabular-ann"', '"cnn-planar"')),
    "bundle.json NaN literal": lambda f: (f / "bundle.json").write_text(
        (f / "bundle.json").read_text().replace('"threshold": ', '"threshold": NaN, "x": ', 1)),
    "card.md edited": lambda f: (f / "card.md").write_text("edited"),
    "bundle.json binary": lambda f: (f / "bundle.json").write_bytes(os.urandom(200)),
}


# --------------------------------------------------------------------------- class 1: deid
def deid_cases() -> list[Case]:
    cases = []

    def deid(build_input, *more, out="out", key=None):
        def build(d, a):
            src = build_input(d, a)
            return ["deid", str(src), str(d / out), "--key", str(key(d, a) if key else a.key), *more]
        return build

    def hostile(d, a):
        """Studies with PHI in folder and file names, plus non-DICOM, truncated, UID-less and duplicate files."""
        import pydicom
        src = d / "in"
        folder = src / "Doe_Jane_12345678 [/]"
        folder.mkdir(parents=True)
        good = sorted(a.dicom.rglob("*.dcm"))
        for i, path in enumerate(good[:2]):
            ds = pydicom.dcmread(path)
            ds.PatientName, ds.PatientID, ds.OtherPatientIDs = "Doe^Jane", "12345678", "MRN-5551234"
            ds.InstitutionName, ds.ReferringPhysicianName = "St Elsewhere Hospital", "House^Gregory"
            ds.add_new(0x60003000, "OW", b"PHIOVERLAY" * 4)
            ds.add_new(0x50003000, "OW", b"PHICURVE00" * 4)
            ds.add_new(0x00291010, "LO", "PHIPRIVATE")
            ds.SeriesDescription = "lung scan of Jane Doe"
            if "RadiopharmaceuticalInformationSequence" in ds:
                ds.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime = "20240310093000"
            ds.save_as(folder / f"Doe^Jane 12345678 {i}.dcm")
        blob = good[0].read_bytes()
        (folder / "Doe notes.txt").write_text("Jane Doe 12345678")
        (folder / "trunc Doe.dcm").write_bytes(blob[: len(blob) // 2])
        (folder / "head Doe.dcm").write_bytes(blob[:300])
        ds = pydicom.dcmread(good[0])
        del ds.SOPInstanceUID
        ds.save_as(folder / "nouid Doe.dcm")
        (folder / "dup Doe.dcm").write_bytes((folder / "Doe^Jane 12345678 0.dcm").read_bytes())
        return src

    phi = ("Doe", "Jane", "12345678", "MRN-5551234", "Elsewhere", "House", "PHIOVERLAY", "PHICURVE", "PHIPRIVATE",
           "20240310")

    def no_phi(written: int) -> Check:
        def check(case_dir, out, err):
            out_dir = case_dir / "out"
            files = [p for p in out_dir.rglob("*") if p.is_file()]
            assert len([p for p in files if p.suffix == ".dcm"]) == written, files
            for p in out_dir.rglob("*"):
                name = str(p.relative_to(out_dir))
                blob = p.read_bytes() if p.is_file() else b""
                for s in phi:
                    assert s.lower() not in name.lower(), (s, name)
                    assert s.encode() not in blob, (s, name)
            assert f"{written} file(s) written" in out and "5 skipped (1 UID collision(s))" in out, out
        return check
    cases.append(Case("deid hostile folder", 1, deid(hostile), "ok", check=no_phi(2)))
    cases.append(Case("deid hostile folder --keep-protocol", 1, deid(hostile, "--keep-protocol"), "ok",
                      check=no_phi(2)))
    cases.append(Case("deid hostile folder --retain-dates --keep-protocol", 1, deid(hostile, "--retain-dates",
                      "--keep-protocol"), "ok", check=no_phi(2)))
    cases.append(Case("deid hostile folder all options but unknown", 1, deid(
        hostile, "--retain-dates", "--keep-protocol", "--retain-device", "--retain-patient-characteristics"),
        "ok", check=no_phi(2)))

    def fresh_key(d, a):
        return d / "new.key"
    cases.append(Case("deid --new-key", 1, deid(hostile, "--new-key", key=fresh_key), "ok", check=no_phi(2)))
    cases.append(Case("deid missing key", 1, deid(hostile, key=fresh_key), match="not found", outputs=("out",)))
    cases.append(Case("deid short key", 1, deid(hostile, key=lambda d, a: _write(d / "k", b"abc")),
                      match="too short", outputs=("out",)))
    cases.append(Case("deid key is a folder", 1, deid(hostile, key=lambda d, a: d), outputs=("out",)))
    cases.append(Case("deid --new-key over an existing key", 1, deid(hostile, "--new-key"), match="exists",
                      outputs=("out",)))
    cases.append(Case("deid out inside in", 1, deid(hostile, out="in/x"), match="must not be"))
    cases.append(Case("deid out equals in", 1, deid(hostile, out="in"), match="must not be"))
    cases.append(Case("deid missing input", 1, lambda d, a: ["deid", str(d / "nope"), str(d / "out"), "--key",
                                                              str(a.key)], match="does not exist", outputs=("out",)))

    def refused_before_key(d, a):
        return ["deid", str(d / "nope"), str(d / "out"), "--key", str(d / "k2"), "--new-key"]
    cases.append(Case("deid refused before --new-key writes a key", 1, refused_before_key, match="does not exist",
                      outputs=("out", "k2")))

    def out_not_empty(d, a):
        (d / "out").mkdir()
        (d / "out" / "x").write_text("mine")
        return deid(hostile)(d, a)
    cases.append(Case("deid out not empty", 1, out_not_empty, match="not empty"))
    cases.append(Case("deid out unwritable", 1, deid(hostile, out="/proc/scintiml-deid"),
                      match="cannot write"))

    def only_junk(d, a):
        (d / "in").mkdir()
        (d / "in" / "a.txt").write_text("x")
        return d / "in"

    # nothing to de-identify is refused (an empty result folder and exit 0 read as done), and the reason is
    # counted, not the file named (a file name may be PHI); a key made by the same run is taken back
    cases.append(Case("deid folder of non-DICOM files", 1, deid(only_junk), match="1 not DICOM (no DICM header)",
                      outputs=("out",)))
    cases.append(Case("deid empty folder --new-key", 1, deid(lambda d, a: (d / "in").mkdir() or d / "in",
                                                              "--new-key", key=lambda d, a: d / "k3"),
                      match="the folder is empty", outputs=("out", "k3")))

    def odd_files(d, a):
        src = d / "in"
        (src / "sub").mkdir(parents=True)
        _copy(sorted(a.dicom.rglob("*.dcm"))[0], src / "one.dcm")
        os.mkfifo(src / "pipe.dcm")
        (src / "zero.dcm").symlink_to("/dev/zero")
        (src / "broken.dcm").symlink_to(d / "nowhere")
        (src / "sub" / "loop").symlink_to(src)
        return src

    def three_odd(case_dir, out, err):
        assert "1 file(s) written" in out and "3 skipped" in out, out
    cases.append(Case("deid pipe, device link, broken link, symlink loop", 10, deid(odd_files), "ok",
                      check=three_odd))
    for seed in range(12):
        def check(case_dir, out, err, n=FUZZ_FILES + 1):
            written = len(list((case_dir / "out").rglob("*.dcm")))
            # the intact file is always written; each fuzzed one is written or counted as skipped, never lost
            assert written >= 1 and f"{written} file(s) written" in out and f"{n - written} skipped" in out, out
        cases.append(Case(f"deid {FUZZ_FILES} byte-fuzzed files (seed {seed})", 1,
                          deid(lambda d, a, seed=seed: fuzzed(d / "in", a, seed)), "ok", check=check))
    return cases


FUZZ_FILES = 12


def fuzzed(folder: Path, assets: "Assets", seed: int) -> Path:
    """Copies of a valid NM file with random bytes overwritten (header and values) and some cut short, beside one
    intact file (another SOP instance), so a run over the folder always has one file it must write: with a 3.7 kB
    file most copies are broken, and whether any survives is chance (CI once drew none for two seeds)."""
    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True)
    first, second = sorted(assets.dicom.rglob("*.dcm"))[:2]
    _copy(second, folder / "intact.dcm")
    blob = first.read_bytes()
    for i in range(FUZZ_FILES):
        data = bytearray(blob)
        for _ in range(rng.randint(1, 10)):
            data[rng.randint(128, min(len(data), 2500))] = rng.randint(256)
        if i % 3 == 0:
            data = data[: rng.randint(132, len(data))]
        (folder / f"f{i:02d}.dcm").write_bytes(bytes(data))
    return folder


# --------------------------------------------------------------------------- class 8: radiomics
def radiomics_cases() -> list[Case]:
    cases = []

    def rad(images, masks, *more, out="f.csv"):
        def build(d, a):
            return ["radiomics", str(images(d, a)), "--masks", str(masks(d, a)), "--out", str(d / out), *more]
        return build

    def empty_masks(d, a):
        (d / "m").mkdir()
        return d / "m"
    cases.append(Case("radiomics no masks at all", 8, rad(lambda d, a: a.dicom, empty_masks),
                      match="usable mask", outputs=("f.csv",)))
    cases.append(Case("radiomics masks folder missing", 8, rad(lambda d, a: a.dicom, lambda d, a: d / "none"),
                      match="mask folder", outputs=("f.csv",)))
    cases.append(Case("radiomics images folder missing", 8, rad(lambda d, a: d / "none", lambda d, a: a.masks),
                      outputs=("f.csv",)))

    def masks_with_first_edited(d, a, edit):
        """Every mask file copied into ``d/m``; ``edit(arrays)`` changes the first file's arrays in place."""
        (d / "m").mkdir()
        for k, path in enumerate(sorted(a.masks.glob("*.npz"))):
            with np.load(path) as npz:
                arrays = {key: npz[key] for key in npz.files}
            if k == 0:
                edit(arrays)
            np.savez(d / "m" / path.name, **arrays)
        return d / "m"

    def one_empty_roi(d, a):
        """Every mask file copied, one ROI of one emptied: its features are missing, and the run says which."""
        def empty_first(arrays):
            first = sorted(arrays)[0]
            arrays[first] = np.zeros_like(arrays[first])
        return masks_with_first_edited(d, a, empty_first)

    def said_which(case_dir, out, err):
        assert "holds 0 pixel(s), fewer than 10: no features for it" in err, err
    cases.append(Case("radiomics one empty ROI is named, the rest computed", 8,
                      rad(lambda d, a: a.dicom, one_empty_roi), "ok", check=said_which))

    def odd_masks(d, a):
        """Masks copied; in the first file one ROI a label map (0/1/2), one with a NaN, one of the wrong size."""
        def spoil(arrays):
            keys = sorted(arrays)  # ANT__lung, POST__lung
            labels = arrays[keys[0]].astype(np.int16)
            labels[:, 16:] *= 2  # a label map, 1 left and 2 right: not silently all "inside"
            arrays["ANT__heart"] = labels
            arrays["POST__edited"] = arrays[keys[1]].astype(np.uint8) * 255  # 0/255: binary, read
            nan = arrays[keys[1]].astype(float)
            nan[0, 0] = np.nan
            arrays[keys[1]] = nan
            arrays["ANT__small"] = np.ones((7, 9), bool)
        return masks_with_first_edited(d, a, spoil)

    def named_masks(case_dir, out, err):
        import pandas as pd
        assert "ANT__heart: no features, the mask holds 2 values besides 0 (1, 2)" in err, err
        assert "POST__lung: no features, the mask holds NaN" in err, err
        assert "ANT__small: no features, the mask is 7x9 but the ANT view is 32x32" in err, err
        table = pd.read_csv(case_dir / "f.csv")
        first = sorted(p.stem for p in (case_dir / "m").glob("*.npz"))[0]
        kept = table[table["patient_id"].astype(str) == first]
        assert sorted(zip(kept["view"], kept["roi"])) == [("ANT", "lung"), ("POST", "edited")], table
        assert len(table) == 4, table  # and both of the other patient
    cases.append(Case("radiomics label-map, NaN and wrong-size masks named, the rest computed", 8,
                      rad(lambda d, a: a.dicom, odd_masks), "ok", check=named_masks))

    def blank_view(d, a):
        """A copy of the image folder with one study's ANT view all zero: its ROIs are named, not computed."""
        import pydicom
        src = d / "img"
        src.mkdir()
        for path in sorted(a.dicom.rglob("*.dcm")):
            _copy(path, src / path.name)
        first = next(p for p in sorted(src.glob("*.dcm")) if "ANT" in p.name)
        ds = pydicom.dcmread(first)
        ds.PixelData = np.zeros_like(ds.pixel_array).tobytes()
        ds.save_as(first)
        return src

    def named_blank(case_dir, out, err):
        assert "view of" in err and "is blank (every pixel 0); no features for its ROIs" in err, err
        assert "RuntimeWarning" not in err, err
    cases.append(Case("radiomics a blank view is named, the rest computed", 8,
                      rad(blank_view, lambda d, a: a.masks), "ok", check=named_blank))

    def one_unreadable_file(d, a):
        """A copy of the image folder with one file emptied: that view's ROIs are named, the rest computed."""
        src = d / "img"
        src.mkdir()
        files = sorted(a.dicom.rglob("*.dcm"))
        for path in files:
            _copy(path, src / path.name)
        (src / files[0].name).write_bytes(b"")
        return src

    def named_view(case_dir, out, err):
        assert "no readable" in err and "so no features for it" in err, err
    cases.append(Case("radiomics one unreadable image file is named, the rest computed", 8,
                      rad(one_unreadable_file, lambda d, a: a.masks), "ok", check=named_view))

    def traversal(d, a):
        """A PatientID that would climb out of the mask folder (and a mask planted where it would land)."""
        import pydicom
        src = d / "img"
        src.mkdir()
        for path in sorted(a.dicom.rglob("*.dcm")):
            ds = pydicom.dcmread(path)
            ds.PatientID = "../secret"
            ds.save_as(src / path.name)
        (d / "m").mkdir()
        _copy(next(a.masks.glob("*.npz")), d / "secret.npz")
        return src
    cases.append(Case("radiomics PatientID ../secret not used as a path", 8, rad(traversal, lambda d, a: d / "m"),
                      match="usable mask", outputs=("f.csv",)))

    def two_studies(d, a):
        """The assets' two studies relabelled as one patient: two studies, one PatientID."""
        import pydicom
        src = d / "img"
        src.mkdir()
        for path in sorted(a.dicom.rglob("*.dcm")):
            ds = pydicom.dcmread(path)
            ds.PatientID = "SAME"
            ds.save_as(src / path.name)
        (d / "m").mkdir()
        _copy(next(a.masks.glob("*.npz")), d / "m" / "SAME.npz")
        return src
    cases.append(Case("radiomics --wide two studies one PatientID refused", 8,
                      rad(two_studies, lambda d, a: d / "m", "--wide"), match="never averaged", outputs=("f.csv",)))

    def two_rows_per_view(case_dir, out, err):
        import pandas as pd
        t = pd.read_csv(case_dir / "f.csv")
        assert t["study_instance_uid"].nunique() == 2 and (t["patient_id"] == "SAME").all()
    cases.append(Case("radiomics long table keeps two studies apart", 8, rad(two_studies, lambda d, a: d / "m"),
                      "ok", check=two_rows_per_view))

    def bad_settings(d, a):
        (d / "s.yaml").write_text("setting: {binCount: [oops\n")
        return rad(lambda d, a: a.dicom, lambda d, a: a.masks, "--settings", str(d / "s.yaml"))(d, a)
    cases.append(Case("radiomics settings not YAML", 8, bad_settings, outputs=("f.csv",)))
    cases.append(Case("radiomics settings missing", 8, rad(lambda d, a: a.dicom, lambda d, a: a.masks, "--settings",
                                                           "/nonexistent.yaml"), match="settings", outputs=("f.csv",)))

    def corrupt_mask(d, a):
        (d / "m").mkdir()
        for p in a.masks.glob("*.npz"):
            (d / "m" / p.name).write_bytes(b"not a zip")
        return d / "m"
    cases.append(Case("radiomics corrupt mask files", 8, rad(lambda d, a: a.dicom, corrupt_mask),
                      match="usable mask", outputs=("f.csv",)))

    for seed in range(6):
        cases.append(Case(f"radiomics over byte-fuzzed files (seed {seed})", 8, rad(
            lambda d, a, seed=seed: fuzzed(d / "img", a, seed), lambda d, a: a.masks), "either"))

    def existing(d, a):
        (d / "f.csv").write_text("mine")
        return rad(lambda d, a: a.dicom, lambda d, a: a.masks)(d, a)
    cases.append(Case("radiomics --out exists", 8, existing, match="--overwrite"))
    cases.append(Case("radiomics --out is the image folder", 8, lambda d, a: [
        "radiomics", str(a.dicom), "--masks", str(a.masks), "--out", str(a.dicom)], match="input"))
    return cases


# --------------------------------------------------------------------------- random CSV shapes (seeded)
OUTCOME_CODINGS = [  # (event, non-event, printed event or None when --positive is needed)
    (1, 0, "1"), (1.0, 0.0, "1.0"), ("yes", "no", "'yes'"), ("Yes", "no", "'Yes'"), ("TRUE", "FALSE", "True"),
    ("true", "false", "True"), (2, 1, None), ("PE", "none", None), ("A", "B", None), (" yes", "no ", "'yes'"),
]
MARKERS = ["?", "NA", "-", "", "N/A"]


def shape(seed: int) -> tuple[str, list[str], list[list], str, dict]:
    """A random table and the oracle's verdict: ``("ok", n_events, printed)`` or ``("error", match)``."""
    rng = np.random.RandomState(seed)
    n = int(rng.randint(24, 60))
    event, other, printed = OUTCOME_CODINGS[rng.randint(len(OUTCOME_CODINGS))]
    n_events = int(rng.randint(10, n - 9))
    outcome = [event] * n_events + [other] * (n - n_events)
    rng.shuffle(outcome)
    cols = {"outcome": outcome, "pid": [f"id{i}" for i in range(n)]}
    for j in range(int(rng.randint(1, 5))):
        values = rng.normal(50, 10, n).round(2).astype(object)
        if rng.rand() < 0.4:
            for k in rng.choice(n, size=int(rng.randint(1, 4)), replace=False):
                values[k] = MARKERS[rng.randint(len(MARKERS))]
        cols[f"x{j}"] = list(values)
    if rng.rand() < 0.3:
        cols["site"] = [["A", "B", "C"][k % 3] for k in range(n)]
    verdict: dict = {"kind": "ok", "events": n_events, "printed": printed, "patients": n}
    if printed is None:
        verdict = {"kind": "error", "match": "--positive"}
    problem = rng.rand()
    if problem < 0.15:
        cols["x0 "] = cols["x0"]  # the same name once trimmed
        verdict = {"kind": "error", "match": "appears twice"}
    elif problem < 0.25:
        cols["note"] = [f"free text {k}" for k in range(n)]
        verdict = {"kind": "error", "match": "free text"} if verdict["kind"] == "ok" else verdict
    elif problem < 0.32:
        cols["inf"] = ["inf"] + [1.0] * (n - 1)
        cols["inf"][1] = 2.0
        verdict = {"kind": "error", "match": "infinite"} if verdict["kind"] == "ok" else verdict
    names = list(cols)
    order = rng.permutation(len(names))
    names = [names[k] for k in order]
    delimiter = [",", ";", "\t", "|"][rng.randint(4)]
    pad = [" ", "", "  "][rng.randint(3)]
    header = [pad + name + pad if rng.rand() < 0.5 else name for name in names]
    rows = [[cols[name][i] for name in names] for i in range(n)]
    return delimiter, header, rows, "", verdict


def random_table_cases(count: int) -> list[Case]:
    cases = []
    for seed in range(count):
        delimiter, header, rows, _, verdict = shape(seed)

        def build(d, a, delimiter=delimiter, header=header, rows=rows):
            return ["describe", str(write_csv(d / "t.csv", header, rows, delimiter)), "--target", "outcome",
                    "--id", "pid"]
        if verdict["kind"] == "ok":
            cases.append(Case(f"random table {seed} ({delimiter!r})", 9, build, "ok",
                              check=said(verdict["events"], verdict["printed"], verdict["patients"])))
        else:
            cases.append(Case(f"random table {seed} ({delimiter!r})", 9, build, match=verdict["match"]))
    return cases


def sweep2_cases() -> list[Case]:
    """The second sweep's findings (2026-11-26): each once broke the contract (docs/robustness.md)."""
    cases = []

    def site(cells: dict, drop_rows: bool = False):
        def build(d, a):
            import pandas as pd
            frame = pd.read_csv(a.train_csv, dtype=str, keep_default_na=False)
            for col, value in cells.items():
                frame.loc[3, [c for c in frame.columns if c.strip() == col][0]] = value
            if drop_rows:
                frame = frame.iloc[:0]
            frame.to_csv(d / "site.csv", index=False)
            return d / "site.csv"
        return build

    for name, cells, empty, match in [("infinite value", {"age": "inf"}, False, "infinite"),
                                      ("value beyond 1e15", {"age": "1e300"}, False, "beyond"),
                                      ("header only", {}, True, "no patient rows")]:
        for command in ("predict", "validate"):
            def build(d, a, cells=cells, empty=empty, command=command):
                data = site(cells, empty)(d, a)
                more = ["--target", "outcome"] if command == "validate" else []
                return [command, str(a.bundle), str(data), *more, "--out", str(d / "o")]
            cases.append(Case(f"{command}: {name}", 6, build, match=match, outputs=("o",)))

    def recoded(d, a):  # the training table says yes/no; this site says y/n
        # (1/0 here is read as the study reads it, 1 the event, since 0.7.1: tests/test_tabular_hostile.py; y/n is
        # no coding the study reads by itself, so it must match the training table's)
        data = site({})(d, a)
        text = data.read_text().replace("YES ", "y").replace(" No", "n").replace("yes", "y").replace("no", "n")
        data.write_text(text)
        return ["validate", str(a.bundle), str(data), "--target", "outcome", "--out", str(d / "o")]
    cases.append(Case("validate: the outcome coded y/n where training said yes/no", 2, recoded,
                      match="recode this site's outcome", outputs=("o",)))

    def into_bundle(d, a):
        import shutil
        model = shutil.copytree(a.bundle, d / "m")
        return ["predict", str(model), str(a.train_csv), "--out", str(model / "bundle.json"), "--overwrite"]
    cases.append(Case("predict --out MODEL/bundle.json --overwrite", 7, into_bundle, match="inside the input folder"))

    def groups_inside_out(d, a):
        (d / "out").mkdir()
        (d / "out" / "g.json").write_text('{"clinical": ["age"]}')
        return ["study", str(table(d / "t.csv")), "--target", "outcome", "--id", "pid", "--groups",
                str(d / "out" / "g.json"), "--out", str(d / "out"), "--overwrite"]
    cases.append(Case("study --groups inside --out --overwrite", 7, groups_inside_out, match="input"))

    def out_is_a_file(d, a):
        (d / "f.txt").write_text("mine")
        return ["study", str(table(d / "t.csv")), "--target", "outcome", "--id", "pid", "--out", str(d / "f.txt"),
                "--overwrite"]
    cases.append(Case("study --out an existing file --overwrite", 7, out_is_a_file, match="is a file"))
    for split, match in [("3:50:50", "larger share"), ("0:50:50", "training part"), ("0:0:0", "share of 0")]:
        cases.append(Case(f"study --split {split}", 7, lambda d, a, s=split: [
            "study", str(table(d / "t.csv")), "--target", "outcome", "--id", "pid", "--split", s, "--out",
            str(d / "out")], match=match, outputs=("out",)))
    cases.append(Case("study --id is the target", 7, lambda d, a: [
        "study", str(table(d / "t.csv")), "--target", "outcome", "--id", "outcome", "--out", str(d / "out")],
        match="same column", outputs=("out",)))
    cases.append(Case("study --id also excluded", 7, lambda d, a: [
        "study", str(table(d / "t.csv")), "--target", "outcome", "--id", "pid", "--exclude", "pid", "--out",
        str(d / "out")], match="also listed in exclude", outputs=("out",)))
    return cases


def all_cases() -> list[Case]:
    return (outcome_cases() + duplicate_cases() + printer_cases() + dialect_cases() + limit_cases()
            + option_cases() + predict_cases() + deid_cases() + radiomics_cases() + sweep2_cases()
            + random_table_cases(120))
