import sys
import numpy as np
sys.path.insert(0, __import__("os").path.dirname(__file__))  # transformations.py beside it
from transformations import transformations
from scintiml.cnn import copies as C
data = {k: np.load(f"/tmp/nc/{k}.npz")["X"] for k in ("ref", "c4m", "half", "c2m")}
for views in ([0], [1], [0, 1], [2, 3, 4]):
    rng = np.random.default_rng(0)
    worst = []
    for name, f in transformations(rng).items():
        sims = []
        for k, x_all in data.items():
            for a in np.random.default_rng(1).choice(len(x_all), 10, replace=False):
                x = x_all[a].astype(np.float64)
                y = f(x.copy())[views]
                sims.append(min(C.similarity(x[views], y), C.similarity(y, x[views])))
        worst.append((round(min(sims), 3), name))
    print(views, sorted(worst)[:4], flush=True)
