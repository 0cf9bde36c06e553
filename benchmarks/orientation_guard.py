"""How well the protocol guard's orientation checks find flipped views and swapped labels, and how often they cry wolf.

Templates: the guard of ``--n-template`` simulated studies (``--template-seed``), built by
:meth:`ProtocolGuard.from_training` — the same mean preprocessed input per view that training stores
(``network.templates`` in ``train_cnn`` is the mean of the same preprocessing over the same binned counts).
Thresholds in ``scintiml.cnn.guard`` were chosen on ``--dev-seed`` studies (run with ``--dev`` to see the
development minima they come from); the unseen seed (``--seed``) is measured once, for the record.

Each row: the share of studies with an orientation problem in the guard's check (``flagged``) and the share whose
problems name the alteration made (``named``: e.g. "views RAO and LAO look swapped" for that swap). Rows "as
acquired" are false alarms; the counts rows put each study at the low end of the counts the guard accepts
(binomial thinning) and at the high end (simulated with 1.9 × the counts, same patients).

Usage: ``.venv/bin/python benchmarks/orientation_guard.py [--n 300] [--dev]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from typing import Callable

import numpy as np

from scintiml import __version__
from scintiml.cnn.guard import MIRROR_CONSENSUS, ProtocolGuard, mirror_consensus, orientation_evidence
from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans

ORIENTATION_WORDS = ("mirrored", "upside", "swapped")


def _studies(n: int, seed: int, jobs: int, counts_per_view: float = 500_000) -> np.ndarray:
    cases = simulate_perfusion_scans(n, random_state=seed, n_jobs=jobs, counts_per_view=counts_per_view)
    return np.stack([c.stack() for c in cases])


def _flip(views: list[int], axis: int) -> Callable[[np.ndarray], np.ndarray]:
    def alter(x: np.ndarray) -> np.ndarray:
        y = x.copy()
        for v in views:
            y[v] = np.flip(x[v], axis=axis - 1)
        return y
    return alter


def _swap(a: int, b: int) -> Callable[[np.ndarray], np.ndarray]:
    def alter(x: np.ndarray) -> np.ndarray:
        y = x.copy()
        y[[a, b]] = x[[b, a]]
        return y
    return alter


def alterations() -> list[tuple[str, Callable[[np.ndarray], np.ndarray], str]]:
    """(row name, alteration of counts ``(views, H, W)``, words the right message contains)."""
    idx = {v: i for i, v in enumerate(VIEWS)}
    rows: list[tuple[str, Callable, str]] = [("as acquired (false alarms)", lambda x: x, "")]
    rows += [(f"{v} mirrored", _flip([idx[v]], 2), f"view {v} looks mirrored") for v in VIEWS]
    rows.append(("ANT+POST mirrored", _flip([0, 1], 2), "mirrored"))
    rows.append(("all views mirrored", _flip(list(range(6)), 2), "mirrored (left-right flipped) views"))
    rows.append(("all views upside down", _flip(list(range(6)), 1), "upside-down (top-bottom flipped) views"))
    rows += [(f"{v} upside down", _flip([idx[v]], 1), f"view {v} looks upside down") for v in VIEWS]
    pairs = [(a, b) for i, a in enumerate(VIEWS) for b in VIEWS[i + 1:]]
    rows += [(f"{a}/{b} swapped", _swap(idx[a], idx[b]), f"views {a} and {b} look swapped") for a, b in pairs]
    return rows


def measure(guard: ProtocolGuard, studies: np.ndarray, high: np.ndarray | None, seed: int) -> list[tuple]:
    """Rows (name, n, flagged, named, any protocol problem) over ``studies``."""
    def tally(name: str, batch, words: str) -> tuple:
        batch = list(batch)
        flagged = named = anything = 0
        for x in batch:
            problems = guard.check_counts(x)
            orient = [p for p in problems if any(w in p for w in ORIENTATION_WORDS)]
            flagged += bool(orient)
            named += bool(words) and any(words in p for p in orient)
            anything += bool(problems)
        return name, len(batch), flagged, named if words else "", anything

    rows = [tally(name, (alter(x) for x in studies), words) for name, alter, words in alterations()]
    rng = np.random.default_rng(seed)
    low = guard.counts_per_view[0]

    def thinned(x: np.ndarray) -> np.ndarray:  # the lowest counts the guard accepts (1 % above its bound)
        keep = min(1.0, 1.01 * low / x.reshape(len(x), -1).sum(axis=1).min())
        return rng.binomial(np.rint(x).astype(np.int64), keep).astype(np.float32)

    rows.append(tally(f"as acquired, thinned to {low * 1.01:.0f} counts/view", (thinned(x) for x in studies), ""))
    if high is not None:
        rows.append(tally("as acquired, 1.9 × counts (950 000/view)", high, ""))
    return rows


def dev_minima(guard: ProtocolGuard, studies: np.ndarray) -> None:
    """The development-seed distributions the thresholds in scintiml.cnn.guard were read from."""
    ev = [orientation_evidence(x, guard.templates) for x in studies]
    up = np.stack([e["upside_down"] for e in ev])
    mirror = np.stack([e["mirror"] for e in ev])
    cons, rel = (np.stack(part) for part in zip(*(mirror_consensus(e) for e in ev)))
    print("view | upside-down margin min | mirror margin min | relative mirror min | consensus min (relative < 0)"
          " | consensus when mirrored: max")
    for v, name in enumerate(VIEWS):
        neg = rel[:, v] < 0
        cons_neg = cons[neg, v].min() if neg.any() else float("nan")
        mirrored = []
        for x in studies:
            y = x.copy(); y[v] = x[v][:, ::-1]
            c, r = mirror_consensus(orientation_evidence(y, guard.templates))
            mirrored.append(c[v] if r[v] < 0 else np.inf)
        print(f"{name} | {up[:, v].min():+.3f} | {mirror[:, v].min():+.3f} | {rel[:, v].min():+.2f} | "
              f"{cons_neg:+.2f} | detected at {MIRROR_CONSENSUS}: "
              f"{np.mean(np.array(mirrored) < -MIRROR_CONSENSUS):.2f}")
    print("pair | swap score min | mean")
    for i, a in enumerate(VIEWS):
        for j in range(i + 1, len(VIEWS)):
            s = np.array([e["cross"][i, i] + e["cross"][j, j] - e["cross"][i, j] - e["cross"][j, i] for e in ev])
            print(f"{a}/{VIEWS[j]} | {s.min():+.3f} | {s.mean():+.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="unseen studies")
    parser.add_argument("--n-template", type=int, default=200)
    parser.add_argument("--n-dev", type=int, default=200)
    parser.add_argument("--template-seed", type=int, default=0)
    parser.add_argument("--dev-seed", type=int, default=1)
    parser.add_argument("--seed", type=int, default=8888, help="unseen studies' seed")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--dev", action="store_true", help="development seed: minima and rates, not the unseen set")
    args = parser.parse_args()
    started = time.perf_counter()
    guard = ProtocolGuard.from_training(_studies(args.n_template, args.template_seed, args.jobs), VIEWS)
    seed, n = (args.dev_seed, args.n_dev) if args.dev else (args.seed, args.n)
    studies = _studies(n, seed, args.jobs)
    if args.dev:
        dev_minima(guard, studies)
    high = _studies(n, seed, args.jobs, counts_per_view=950_000)
    rows = measure(guard, studies, high, seed)
    print(f"\n{datetime.date.today()}, scintiml {__version__}, templates: {args.n_template} studies seed "
          f"{args.template_seed}; {'development' if args.dev else 'unseen'} studies: {n} seed {seed}; "
          f"load {os.getloadavg()[0]:.1f}; {time.perf_counter() - started:.0f} s\n")
    print("| case | studies | orientation flagged | named right | any protocol problem |")
    print("|---|---|---|---|---|")
    for name, count, flagged, named, anything in rows:
        print(f"| {name} | {count} | {flagged} | {named} | {anything} |")


if __name__ == "__main__":
    main()
