"""Run the whole bad-input corpus (tests/corpus/corpus_cases.py) through the command line, in-process.

One test runs every case and asserts, for each: no traceback, exit status 0 or 2, exactly one ``error:`` line
on failure (holding the expected words), nothing left behind on failure (neither the named outputs nor a
temporary ``.*.tmp-*`` sibling), and for accepted inputs the right result. Failures are collected and shown
together with their counts per issue class, so one run tells the whole story.
"""

from __future__ import annotations

import collections
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from corpus_cases import Assets, Case, all_cases, base_rows, run, write_csv  # noqa: E402

pytest.importorskip("pydicom")
pytest.importorskip("radiomics")


def _make_assets(root: Path) -> Assets:
    """A trained tabular bundle (through the CLI ``study``), its training CSV, two NM studies with masks, a key."""
    from scintiml.imaging import PlanarStudy, write_nm_study
    from scintiml.imaging.deid import new_key

    assets = Assets(root=root)
    rng = np.random.RandomState(1)
    rows = base_rows(60, seed=1)
    header = [" pid", "age ", " washout ", "grade", "smoker", "outcome"]  # header spaces on purpose
    # the outcome is yes/no written three ways ("yes", "YES ", " No"): one coding, event "yes"
    outcome = [("yes" if i >= 30 else "no") if i % 5 else ("YES " if i >= 30 else " No") for i in range(60)]
    data = [[r["pid"], r["age"], round(r["washout"] + 6 * (i >= 30), 3), ["x", "y", "y"][i % 3],
             ["TRUE", "FALSE"][i % 2], outcome[i]] for i, r in enumerate(rows)]
    assets.train_csv = write_csv(root / "train.csv", header, data)
    code, out, err = run(["study", str(assets.train_csv), "--target", "outcome", "--id", "pid", "--inputs", "all",
                          "--out", str(root / "study")])
    assert code == 0, err
    assert "event: outcome = 'yes' (30 of 60 patients)" in out, out  # the event is printed, not guessed
    assets.results = __import__("json").loads((root / "study" / "results.json").read_text())
    assets.bundle = root / "study" / "model"
    assets.dicom = root / "dicom"
    assets.masks = root / "masks"
    assets.masks.mkdir()
    yy, xx = np.mgrid[:32, :32]
    disk = (yy - 16) ** 2 + (xx - 16) ** 2 < 100
    for k, pid in enumerate(("PAT1", "PAT2")):
        views = {v: rng.poisson(30 + 20 * disk, (32, 32)).astype(float) for v in ("ANT", "POST")}
        write_nm_study(PlanarStudy(views=views, pixel_spacing_mm=(4.0, 4.0), patient_id=pid,
                                   metadata={"radiopharmaceutical": "99mTc-MAA",
                                             # fixed UIDs: the fuzzed copies of these files are the same every run
                                             "uid_entropy": f"corpus-{pid}"}), assets.dicom / pid)
        np.savez(assets.masks / f"{pid}.npz", ANT__lung=disk, POST__lung=disk)
    assets.key = new_key(root / "dept.key")
    return assets


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return _make_assets(tmp_path_factory.mktemp("assets"))


def judge(case: Case, case_dir: Path, code: int, out: str, err: str) -> str | None:
    """Why the case's outcome is wrong (None when it is right)."""
    if "Traceback" in err or "Traceback" in out or code == -1:
        return "traceback: " + err[-600:]
    if code not in (0, 2):
        return f"exit status {code}"
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    if case.expect == "either":  # fuzzed input: refused in one line or accepted, never a traceback
        if code == 2 and len(errors) != 1:
            return f"{len(errors)} error lines: {err[-300:]}"
        return None
    if case.expect == "error":
        if code != 2:
            return f"accepted (exit {code}) but should be refused; stdout: {out[-300:]}"
        if len(errors) != 1:
            return f"{len(errors)} error lines: {err[-300:]}"
        if case.match and case.match not in errors[0]:
            return f"error line lacks {case.match!r}: {errors[0]}"
        left = [p for p in case.outputs if (case_dir / p).exists() or (case_dir / p).is_symlink()]
        left += [p.name for p in case_dir.rglob(".*.tmp-*")]
        if left:
            return f"left behind after failure: {left}"
        return None
    if code != 0:
        return f"refused but should be accepted: {err.strip()[-300:]}"
    if errors:
        return f"exit 0 with an error line: {errors}"
    if case.check is not None:
        try:
            case.check(case_dir, out, err)
        except AssertionError as exc:
            return f"wrong result: {exc}"[:600]
    return None


def test_corpus(assets, tmp_path):
    cases = all_cases()
    assert len(cases) >= 300
    assert {c.klass for c in cases} >= set(range(1, 11))  # every class of the issue has cases
    # the study that made the bundle: yes/no outcome with spaces and case read as one coding, event "yes"
    assert assets.results["dataset"]["positive"] == "yes"
    assert assets.results["dataset"]["n_events"] == 30
    failures, per_class, durations = [], collections.Counter(), []
    start = time.perf_counter()
    for i, case in enumerate(cases):
        case_dir = tmp_path / f"case{i:03d}"
        case_dir.mkdir()
        try:
            argv = case.build(case_dir, assets)
        except Exception as exc:  # a broken case is a test bug: report it like a failure
            failures.append(f"[{case.klass}] {case.name}: could not build ({exc!r})")
            continue
        t0 = time.perf_counter()
        code, out, err = run(argv)
        durations.append((time.perf_counter() - t0, case.name))
        why = judge(case, case_dir, code, out, err)
        per_class[case.klass] += 1
        if why:
            failures.append(f"[{case.klass}] {case.name}: {why}")
    elapsed = time.perf_counter() - start
    summary = ", ".join(f"class {k}: {n}" for k, n in sorted(per_class.items()))
    assert not failures, f"{len(failures)} of {len(cases)} cases wrong ({summary}):\n" + "\n".join(failures)
    slowest = ", ".join(f"{name} {t:.1f} s" for t, name in sorted(durations, reverse=True)[:5])
    print(f"\n{len(cases)} corpus cases ({summary}) in {elapsed:.1f} s; slowest: {slowest}")
