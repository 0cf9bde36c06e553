import numpy as np
from scintiml.datasets import simulate_perfusion_scans
from scintiml.cnn.copies import find_copies, study_fingerprints, similarity
cases = simulate_perfusion_scans(30, prevalence=0.4, random_state=3)
X = np.stack([c.stack() for c in cases]).astype(float)
print(X.shape, X.max())
ids = [f"P{i}" for i in range(len(X))]
print("plain:", find_copies(X, ids).groups())
# burn in a bright text-like block pattern at the same place in every view (annotation), value = view max
rng = np.random.RandomState(0)
mask = np.zeros(X.shape[-2:], bool)
mask[4:12, 4:40] = rng.rand(8, 36) > 0.5   # letters
mask[-10:-4, -30:-4] = rng.rand(6, 26) > 0.5
Y = X.copy()
for i in range(len(Y)):
    for v in range(Y.shape[1]):
        Y[i, v][mask] = Y[i, v].max()
print("burned sim P0-P1:", similarity(Y[0], Y[1]), "plain", similarity(X[0], X[1]))
c = find_copies(Y, ids)
print("burned groups:", c.groups())
print("crowded:", c.crowded, "near kept:", c.near[:3])
