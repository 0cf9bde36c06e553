import sys, time
import numpy as np
from scintiml.cnn import copies as C
X = np.concatenate([np.load(f"/tmp/nc/{n}.npz")["X"] for n in ("ref", "c4m", "half")]).astype(np.float64)
for views in ([0], [0, 1], [2, 3, 4]):
    x = X[:, views]
    fp = C.study_fingerprints(x)
    n = len(x); top = []
    for start in range(0, n, C._BLOCK):
        sh = C._fingerprints(x[start:start + C._BLOCK], True, C.FINGERPRINT_GRID, C.SHIFT_REACH)
        best = sh[0] @ fp[start:].T
        for one in sh[1:]:
            np.maximum(best, one @ fp[start:].T, out=best)
        r, c = np.triu_indices(best.shape[0], 1, best.shape[1])
        top.append(best[r, c])
    s = np.concatenate(top)
    print(f"views {views}: {len(s)} pairs, p50 {np.median(s):.3f} p99.99 {np.percentile(s, 99.99):.3f} max {s.max():.3f}", flush=True)
