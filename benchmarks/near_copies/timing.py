import sys, time
import numpy as np
from scintiml.cnn import copies as C
names = sys.argv[1].split(",")
X = np.concatenate([np.load(f"/tmp/nc/{n}.npz")["X"] for n in names])
n = int(sys.argv[2]) if len(sys.argv) > 2 else len(X)
X = X[:n].astype(np.float64)
t = time.time(); f = C.study_fingerprints(X); t1 = time.time() - t
t = time.time(); pairs = C.near_copies(X); t2 = time.time() - t
t = time.time(); e = C.exact_copies(X); t3 = time.time() - t
print(f"n {n}: fingerprints {t1:.1f} s, near_copies {t2:.1f} s ({len(pairs)} pairs >= {C.NEAR_COPY_THRESHOLD}), exact {t3:.1f} s")
