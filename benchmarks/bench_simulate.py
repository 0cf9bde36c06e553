"""Perfusion simulator speed: 2,000 studies (6 views, 128 × 128) on 2 cores, against a voxel-rotation peer.

The peer is the straightforward way to project a voxel phantom, the way the first scintiml simulator did:
scipy.ndimage.rotate of a 64³ activity and attenuation volume per view, cumulative attenuation, four depth
slabs blurred by the collimator, scatter — the same physics on the same grid size, without the point-cloud
splatting. It is timed on a few studies in the same run; the ratio is what the design buys.

Run: python benchmarks/bench_simulate.py [N]   (N = 2000 by default; about a minute on 2 idle cores)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans, write_simulated_cohort

ANGLES = {"ANT": 0.0, "POST": 180.0, "RAO": -45.0, "LAO": 45.0, "RPO": -135.0, "LPO": 135.0}


def peer_study(rng, grid=64, voxel=6.25):
    """One study by voxel rotation: an ellipsoid-pair phantom, rotated, attenuated and blurred per view."""
    c = (np.arange(grid) - grid / 2 + 0.5) * voxel
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    lungs = (((np.abs(x) - 75) / 60) ** 2 + (y / 85) ** 2 + (z / 130) ** 2 <= 1) * (1 + 0.002 * (y + 100))
    body = ((x / 165) ** 2 + (y / 115) ** 2 <= 1)
    mu = np.where(lungs > 0, 0.0045, np.where(body, 0.0153, 0.0))
    views = {}
    for view, angle in ANGLES.items():
        vol = ndimage.rotate(lungs, angle, axes=(1, 2), reshape=False, order=1) if angle else lungs
        att = ndimage.rotate(mu, angle, axes=(1, 2), reshape=False, order=1) if angle else mu
        path = np.cumsum(att, axis=1) * voxel
        vol = vol * np.exp(-path)
        image = np.zeros((grid, grid))
        for slab in np.array_split(np.arange(grid), 4):
            image += ndimage.gaussian_filter(vol[:, slab, :].sum(axis=1), (7 + 0.04 * slab.mean() * voxel) / 2.355
                                             / voxel)
        image = 0.75 * image + 0.25 * ndimage.gaussian_filter(image, 60 / 2.355 / voxel)
        image = ndimage.zoom(image, 2, order=1)
        views[view] = rng.poisson(image * 5e5 / image.sum())
    return views


def main(n: int = 2000) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    simulate_perfusion_scans(4, random_state=0)  # warm-up: builds the phantom grid once
    rows = []
    t, cpu = time.perf_counter(), time.process_time()
    serial_n = min(n, 200)
    simulate_perfusion_scans(serial_n, random_state=1)
    serial_wall, serial_cpu = (time.perf_counter() - t) / serial_n, (time.process_time() - cpu) / serial_n
    rows.append(("scintiml, 1 process", serial_n, serial_wall, serial_cpu))
    t = time.perf_counter()
    simulate_perfusion_scans(n, random_state=2, n_jobs=2)
    parallel_total = time.perf_counter() - t
    rows.append(("scintiml, 2 processes", n, parallel_total / n, float("nan")))
    rng = np.random.RandomState(0)
    peer_n = 10
    t, cpu = time.perf_counter(), time.process_time()
    for _ in range(peer_n):
        peer_study(rng)
    peer_wall, peer_cpu = (time.perf_counter() - t) / peer_n, (time.process_time() - cpu) / peer_n
    rows.append(("peer: scipy.ndimage.rotate voxel projector, 1 process", peer_n, peer_wall, peer_cpu))
    with tempfile.TemporaryDirectory() as tmp:
        k = min(n, 100)
        t = time.perf_counter()
        write_simulated_cohort(Path(tmp) / "sim", k, random_state=3)
        write_s = (time.perf_counter() - t) / k
    rows.append(("write_simulated_cohort (simulate + 6 NM files + masks)", k, write_s, float("nan")))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cores: {os.cpu_count()}, load average at the end: {load:.1f} (a shared machine inflates wall time)")
    print("| what | studies | wall s/study | CPU s/study |")
    print("|---|---|---|---|")
    for name, count, wall, cpu_s in rows:
        print(f"| {name} | {count} | {wall:.4f} | {cpu_s:.4f} |")
    print(f"\n{n} studies with 2 processes: {parallel_total:.1f} s (target <= 60 s); "
          f"CPU per study: scintiml {serial_cpu * 1000:.1f} ms, peer {peer_cpu * 1000:.1f} ms, "
          f"ratio {serial_cpu / peer_cpu:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
