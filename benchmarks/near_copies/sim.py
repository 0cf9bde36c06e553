"""Cache simulated cohorts for the near-copy measurements (uint16 counts)."""
import sys, time
import numpy as np
from scintiml.datasets.perfusion import simulate_perfusion_scans
name, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kw = {}
if name.startswith("half"): kw = dict(counts_per_view=250_000)
if name.startswith("gp"): kw = dict(collimator_fwhm_mm=9.0, collimator_slope=0.06)
if name.startswith("scatter"): kw = dict(scatter_fraction=0.4)
if name.startswith("c1m"): kw = dict(counts_per_view=1_000_000)
if name.startswith("c2m"): kw = dict(counts_per_view=2_000_000)
if name.startswith("c4m"): kw = dict(counts_per_view=4_000_000)
t = time.time()
cases = simulate_perfusion_scans(n, random_state=seed, **kw)
X = np.stack([c.stack() for c in cases])
assert X.max() < 65535
np.savez(f"/tmp/nc/{name}.npz", X=X.astype(np.uint16), y=np.array([c.label for c in cases]),
         pattern=np.array([c.pattern for c in cases]))
print(name, X.shape, time.time() - t)
