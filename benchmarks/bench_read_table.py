"""Reading a large cohort table: scintiml.load_cohort vs pandas.read_csv on the same file, same run (issue #15).

scintiml reads every cell as text first (to trim it, count missing markers, sniff the delimiter and refuse
duplicated names), so it is slower than pandas' typed reader; the issue asks for 50 MB in under a minute.
Usage: ``python benchmarks/bench_read_table.py [MB]`` (default 50), or ``--wide N`` for a 200-patient table of
N four-decimal columns (a radiomics export). Prints a markdown table.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scintiml.cohort import load_cohort


def _time_against_pandas(frame: pd.DataFrame) -> tuple[float, object, float, float]:
    """Write ``frame`` as CSV; (size in MB, the cohort, load_cohort seconds, pandas.read_csv seconds)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        frame.to_csv(path, index=False)
        size = path.stat().st_size / 2**20
        start = time.perf_counter()
        cohort = load_cohort(path, "outcome")
        ours = time.perf_counter() - start
        start = time.perf_counter()
        pd.read_csv(path)
        theirs = time.perf_counter() - start
    return size, cohort, ours, theirs


def main(megabytes: float = 50.0) -> None:
    rng = np.random.RandomState(0)
    rows = int(megabytes * 14_370)  # ~73 bytes per row of 9 four-decimal inputs and a 0/1 outcome
    frame = pd.DataFrame({f"x{i}": rng.normal(50, 10, rows).round(4) for i in range(9)})
    frame["outcome"] = rng.randint(0, 2, rows)
    size, cohort, ours, theirs = _time_against_pandas(frame)
    print("| file | rows | scintiml load_cohort s | pandas read_csv s | ratio |")
    print("|---|---|---|---|---|")
    print(f"| {size:.1f} MB | {cohort.n_patients} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.1f} |")


def wide(columns: int, rows: int = 200) -> None:
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.normal(size=(rows, columns)).round(4), columns=[f"rad_{i}" for i in range(columns)])
    frame["outcome"] = rng.randint(0, 2, rows)
    size, cohort, ours, theirs = _time_against_pandas(frame)
    print("| file | rows x inputs | scintiml load_cohort s | pandas read_csv s | ratio |")
    print("|---|---|---|---|---|")
    print(f"| {size:.1f} MB | {cohort.n_patients} x {cohort.X.shape[1]} | {ours:.2f} | {theirs:.2f} | "
          f"{ours / theirs:.1f} |")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--wide":
        wide(int(sys.argv[2]))
    else:
        main(float(sys.argv[1]) if len(sys.argv) > 1 else 50.0)
