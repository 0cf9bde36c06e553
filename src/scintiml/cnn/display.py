"""The one-page summary display: the views as a nuclear-medicine screen shows them, each with its own saliency
drawn as outlines (the perfusion stays visible under them), R/L markers, the acquisition data, the probability
against the threshold, the priority and the disclaimer."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..imaging.planar import PlanarStudy
from .glyphs import drawable

DISCLAIMER = "For triage — not a diagnosis"
#: Which side of the image the patient's right is on, per view (anterior views: image left; posterior: image right).
RIGHT_ON_IMAGE_LEFT = {"ANT": True, "RAO": True, "LAO": True, "POST": False, "RPO": False, "LPO": False,
                       "RLAT": True, "LLAT": False}
#: Saliency levels outlined (fractions of the study's peak), their colours and line styles: each colour has a
#: contrast of at least 3:1 against the white of a low-count region (WCAG 2.1 for graphics), and the levels differ
#: in style too, for a greyscale print.
LEVELS = (0.5, 0.8)
COLOURS = ("#e07000", "#ff2020")
STYLES = ("dashed", "solid")


def acquisition_lines(study: PlanarStudy) -> list[str]:
    """The acquisition data shown on the display (what the model's validity depends on).

    Examples
    --------
    >>> s = PlanarStudy(views={"ANT": np.ones((4, 4))}, pixel_spacing_mm=(3.2, 3.2), patient_id="P1",
    ...                 metadata={"collimator": "LEHR", "radiopharmaceutical": "99mTc-MAA"})
    >>> acquisition_lines(s)[:2]
    ['99mTc-MAA  collimator LEHR', 'matrix 4 x 4  pixel 3.20 mm']
    """
    md = study.metadata
    first = next(iter(study.views.values()))
    windows = md.get("energy_windows_kev") or []
    counts = [v.sum() for v in study.views.values()]
    lines = [
        f"{md.get('radiopharmaceutical', 'radiopharmaceutical n/a')}  collimator {md.get('collimator', 'n/a')}",
        f"matrix {first.shape[0]} x {first.shape[1]}  pixel {float(study.pixel_spacing_mm[0]):.2f} mm",
        "window " + (", ".join(f"{a:g}-{b:g} keV" for a, b in windows) if windows else "n/a")
        + f"  counts/view {min(counts) / 1e3:.0f}-{max(counts) / 1e3:.0f} k",
    ]
    if md.get("StudyDate"):
        lines.append(f"study date {md['StudyDate']}")
    return lines


def summary_image(study: PlanarStudy, views: Sequence[str], probability: float, threshold: float,
                  saliency: np.ndarray | None, rank: int | None = None, protocol_check: str = "ok",
                  dpi: int = 100) -> np.ndarray:
    """The summary display as an RGB uint8 array.

    Parameters
    ----------
    study : PlanarStudy
    views : sequence of str
        The views drawn, in order.
    probability, threshold : float
        The calibrated P(PE) (NaN: not scored) and the worklist threshold.
    saliency : array (views, H, W) or None
        Per-view maps in [0, 1] (:func:`scintiml.cnn.grad_cam`); outlined at 50 % and 80 % of the study's peak.
    rank : int, optional
        The study's place in the worklist.
    protocol_check : str
        ``"ok"`` or why the study is outside the training protocol (printed in place of the priority).

    Examples
    --------
    >>> views = {v: np.random.default_rng(0).poisson(5, (128, 128)).astype(float) for v in ("ANT", "POST")}
    >>> s = PlanarStudy(views=views, pixel_spacing_mm=(3.2, 3.2), patient_id="P1")
    >>> sal = np.zeros((2, 128, 128)); sal[0, 40:60, 30:50] = 1
    >>> rgb = summary_image(s, ["ANT", "POST"], 0.9, 0.3, sal, rank=1)
    >>> rgb.ndim, rgb.shape[2], rgb.dtype.name
    (3, 3, 'uint8')
    """
    from matplotlib.figure import Figure

    n = len(views)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(3.0 * cols, 3.0 * rows + 1.7), facecolor="black", dpi=dpi)
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[3.0] * rows + [1.3], left=0.02, right=0.98,
                            top=0.94, bottom=0.08, hspace=0.08, wspace=0.04)
    scored = np.isfinite(probability)
    urgent = scored and probability >= threshold
    # header text may hold any script: drawn with a fallback font where one is installed, '?' where none is
    header = drawable(f"{study.patient_id}   planar lung perfusion")
    fig.text(0.02, 0.985, header.text, color="white", fontsize=10, va="top", family=header.families,
             parse_math=False)  # a PatientID "A$1_2$B" is drawn as written, never as mathtext
    for i, view in enumerate(views):
        ax = fig.add_subplot(grid[i // cols, i % cols])
        img = np.asarray(study.views[view], dtype=float)
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=max(float(np.quantile(img, 0.995)), 1e-9),
                  interpolation="nearest")
        if saliency is not None and saliency[i].max() > 0:
            ax.contour(saliency[i], levels=list(LEVELS), colors=list(COLOURS), linewidths=(1.2, 1.6),
                       linestyles=list(STYLES))
        ax.text(3, 10, view, color="#0055cc", fontsize=10, family="monospace", weight="bold")
        left, right = ("R", "L") if RIGHT_ON_IMAGE_LEFT.get(view, True) else ("L", "R")
        h, w = img.shape
        ax.text(3, h - 5, left, color="#0055cc", fontsize=10, weight="bold")  # 6.6:1 on white (#00aaff was 2.6)
        ax.text(w - 10, h - 5, right, color="#0055cc", fontsize=10, weight="bold")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("#444444")
    bar = fig.add_subplot(grid[rows, : max(1, cols - 1)], facecolor="#222222")
    if scored:
        bar.barh([0], [probability], color="#ff5533" if urgent else "#33aa55", height=0.6)
    bar.axvline(threshold, color="white", lw=2)
    bar.set_xlim(0, 1)
    bar.set_ylim(-0.5, 0.5)
    bar.set_yticks([])
    bar.tick_params(colors="white", labelsize=8)
    label = f"P(PE) = {probability:.2f}" if scored else "not scored"
    bar.set_xlabel(f"{label}    white line: threshold {threshold:.2f}    outlines: saliency 50 % dashed / 80 % solid",
                   color="white", fontsize=8)
    info = fig.add_subplot(grid[rows, cols - 1])
    info.set_axis_off()
    verdict = "URGENT" if urgent else ("routine" if scored else "NOT TRIAGED")
    info.text(0.02, 0.85, verdict, color="#ff5533" if urgent or not scored else "#33aa55", fontsize=14,
              weight="bold", va="center", transform=info.transAxes)
    extra = [f"worklist rank {rank}"] if rank is not None else []
    extra += [protocol_check] if protocol_check != "ok" else []
    for k, line in enumerate(extra + acquisition_lines(study)):
        line = drawable(line[:48])
        info.text(0.02, 0.62 - 0.16 * k, line.text, color="white", fontsize=6.5, family=line.families, parse_math=False,
                  transform=info.transAxes)
    fig.text(0.02, 0.012, DISCLAIMER + " · scintiml", color="#ffcc00", fontsize=9)
    # drawn straight into Agg's pixel buffer: the same pixels as saving a PNG and reading it back, without the
    # PNG's compression, which took a third of each summary's time (triage draws one per study)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.array(canvas.buffer_rgba())[..., :3]
