"""Draw docs/perfusion_contact_sheet.png: simulated studies (normal, PE patterns, mimics), four views each.

Run: .venv/bin/python docs/perfusion_contact_sheet.py  (about 10 s). The defect outline (truth) is drawn in cyan
on the second copy of each study's ANT and RAO views.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from scintiml.datasets.perfusion import simulate_perfusion_scans  # noqa: E402

WANTED = ["normal", "normal", "subsegmental", "segmental", "lobar", "multiple", "copd", "effusion", "cardiomegaly",
          "pneumonia", "tumour", "stripe"]
SHOWN = ("ANT", "POST", "RAO", "LAO", "RPO", "LPO")


def main(out=Path(__file__).with_name("perfusion_contact_sheet.png")):
    found = {}
    pool = simulate_perfusion_scans(160, prevalence=0.5, mimic_share=0.9, random_state=11)
    for want in WANTED:
        for c in pool:
            if c.pattern == want and c.case_id not in {x.case_id for x in found.values()}:
                found[len(found)] = c
                break
    cases = list(found.values())
    fig, axes = plt.subplots(len(cases), len(SHOWN) + 1, figsize=(2.0 * (len(SHOWN) + 1), 2.05 * len(cases)))
    for r, c in enumerate(cases):
        for k, view in enumerate(SHOWN):
            ax = axes[r, k]
            img = c.views[view]
            ax.imshow(img, cmap="gray_r", vmin=0, vmax=np.percentile(img, 99.7))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(view, fontsize=10)
        ax = axes[r, len(SHOWN)]
        best = max(SHOWN, key=lambda v: c.defect_masks[v].sum())
        img = c.views[best]
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=np.percentile(img, 99.7))
        for d in c.defects:
            m = d["masks"].get(best)
            if m is not None and m.any():
                edge = m & ~ndimage.binary_erosion(m)
                yy, xx = np.nonzero(edge)
                ax.plot(xx, yy, ",", color="#00c8ff")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"truth on {best}", fontsize=8)
        label = c.pattern + (" (PE)" if c.label else "")
        share = c.acquisition["perfusion_lost"]
        axes[r, 0].set_ylabel(f"{label}\nlost {share:.0%}", fontsize=9)
    fig.suptitle("Simulated 99mTc-MAA planar perfusion (scintiml): normal, PE patterns, mimics", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    fig.savefig(out, dpi=72)
    return out


if __name__ == "__main__":
    print(main())
