"""Measure the near-copy similarity (scintiml.cnn.copies) between different simulated patients and between a study
and its near copies. Usage: measure_fp.py NULLSETS COPYSETS [n_per_copyset]"""
import sys, time
import numpy as np
sys.path.insert(0, __import__("os").path.dirname(__file__))  # transformations.py beside it
from transformations import transformations  # noqa
from scintiml.cnn import copies as C

null_sets = sys.argv[1].split(",")
copy_sets = sys.argv[2].split(",")
per = int(sys.argv[3]) if len(sys.argv) > 3 else 25
q = [0, 1, 50, 99, 99.9, 99.99, 100]


def stats(v):
    return " ".join(f"p{p}={np.percentile(v, p):.3f}" for p in q)


data = {n: np.load(f"/tmp/nc/{n}.npz")["X"] for n in set(null_sets) | set(copy_sets)}
X = np.concatenate([data[n] for n in null_sets])
source = np.concatenate([[n] * len(data[n]) for n in null_sets])
n = len(X)
t = time.time()
found = C.near_copies(X)  # as the split runs it
elapsed = time.time() - t
# every pair's similarity, as near_copies computes it (rows: the lower index, shifted)
fp = C.study_fingerprints(X)
ii, jj, ss = [], [], []
for start in range(0, n, C._BLOCK):
    stop = min(start + C._BLOCK, n)
    shifted = C._fingerprints(X[start:stop], True, C.FINGERPRINT_GRID, C.SHIFT_REACH)
    best = shifted[0] @ fp[start:].T
    for one in shifted[1:]:
        np.maximum(best, one @ fp[start:].T, out=best)
    r, c = np.nonzero(np.ones_like(best, bool))
    keep = start + c > start + r
    ii.append(start + r[keep]); jj.append(start + c[keep]); ss.append(best[r[keep], c[keep]])
i, j, s = np.concatenate(ii), np.concatenate(jj), np.concatenate(ss)
print(f"different patients: {n} studies ({', '.join(f'{k} {len(data[k])}' for k in null_sets)}), {len(s)} pairs, "
      f"near_copies {elapsed:.1f} s, {len(found)} pairs >= {C.NEAR_COPY_THRESHOLD}")
print("  all pairs:", stats(s))
nearest = np.full(n, -np.inf)
np.maximum.at(nearest, i, s); np.maximum.at(nearest, j, s)
print("  each study's most similar other:", stats(nearest))
for k in null_sets:
    m = (source[i] == k) & (source[j] == k)
    print(f"  within {k}: {m.sum()} pairs, max {s[m].max():.3f}, p99.99 {np.percentile(s[m], 99.99):.3f}")
top = np.argsort(s)[-3:]
print("  top:", [(int(i[k]), int(j[k]), source[i[k]], source[j[k]], round(float(s[k]), 3)) for k in top])

rng = np.random.default_rng(0)
worst = []
for name, f in transformations(rng).items():
    sims = []
    per_set = {}
    for k in copy_sets:
        idx = np.random.default_rng(1).choice(len(data[k]), per, replace=False)
        for a in idx:
            x = data[k][a].astype(np.float64)
            y = f(x.copy())
            sims.append(min(C.similarity(x, y), C.similarity(y, x)))  # the copy filed first or second
            per_set[k] = min(per_set.get(k, 9.0), sims[-1])
    sims = np.array(sims)
    worst.append((sims.min(), name))
    print(f"  {name:45s} n {len(sims)} min {sims.min():.3f} p1 {np.percentile(sims, 1):.3f} median {np.median(sims):.3f} max {sims.max():.3f}; min per set: " + ", ".join(f"{k} {v:.2f}" for k, v in per_set.items()), flush=True)
print("worst:", [(round(float(a), 3), b) for a, b in sorted(worst)[:5]])
