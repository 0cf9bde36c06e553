"""Triage worklist, saliency, the one-page summary display, DICOM Secondary Capture, ONNX export."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..imaging.planar import PlanarStudy
from .train import CNNModel

DISCLAIMER = "For triage — not a diagnosis"


def worklist(model: CNNModel, studies: Sequence[PlanarStudy],
             counts: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Studies ranked by probability (highest first) with a priority from the bundle's threshold.

    ``counts`` (the studies' views stacked in the model's order) may be passed when the caller has them.
    """
    if counts is None:
        counts = np.stack([s.stack(model.views) for s in studies])
    p = model.predict_proba(counts)
    table = pd.DataFrame({
        "patient_id": [s.patient_id for s in studies],
        "study_instance_uid": [s.study_instance_uid for s in studies],
        "source": [s.source for s in studies],
        "probability": p,
        "priority": np.where(p >= model.threshold, "URGENT", "routine"),
    })
    order = np.argsort(-p, kind="stable")
    table = table.iloc[order].reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table, order


def grad_cam(model: CNNModel, counts: np.ndarray) -> np.ndarray:
    """Grad-CAM map (Selvaraju et al. 2017) of the last convolution stage, upsampled to the image
    (MONAI's ``monai.visualize.GradCAM``); one (H, W) map in [0, 1] per study."""
    from monai.visualize import GradCAM

    network = model.network
    network.eval()
    x = torch.from_numpy(model.inputs(counts)).to(next(network.parameters()).device)
    x.requires_grad_(True)
    # one logit: class index 0 of the (N,) output, seen as (N, 1) by GradCAM
    wrapped = _AsTwoDim(network)
    cam = GradCAM(nn_module=wrapped, target_layers="net." + network.last_conv)
    maps = cam(x, class_idx=0).detach().cpu().numpy()[:, 0]
    return maps


class _AsTwoDim(torch.nn.Module):
    """GradCAM expects (N, classes) logits; the network returns (N,)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)[:, None]


def summary_image(study: PlanarStudy, views: Sequence[str], probability: float, threshold: float,
                  saliency: np.ndarray | None, rank: int | None = None, dpi: int = 100) -> np.ndarray:
    """The one-page summary in the look of a nuclear-medicine display: black background, the views in
    inverted grey with the saliency in ``hot`` over them, a probability bar with the threshold, the
    priority and the disclaimer. Returns an RGB uint8 array."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(views)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig = plt.figure(figsize=(3.0 * cols, 3.0 * rows + 1.5), facecolor="black")
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[3.0] * rows + [1.1], left=0.02, right=0.98,
                            top=0.95, bottom=0.12, hspace=0.08, wspace=0.04)
    urgent = probability >= threshold
    head = f"{study.patient_id}   {study.metadata.get('radiopharmaceutical', '')}   planar lung perfusion"
    fig.text(0.02, 0.985, head, color="white", fontsize=10, va="top", family="monospace")
    for i, view in enumerate(views):
        ax = fig.add_subplot(grid[i // cols, i % cols])
        img = study.views[view]
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=np.quantile(img, 0.995), interpolation="nearest")
        if saliency is not None:
            ax.imshow(np.ma.masked_less(saliency, 0.5), cmap="hot", alpha=0.45, vmin=0, vmax=1)
        ax.text(3, 10, view, color="#0055cc", fontsize=10, family="monospace", weight="bold")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("#444444")
    bar = fig.add_subplot(grid[rows, : max(1, cols - 1)], facecolor="#222222")
    bar.barh([0], [probability], color="#ff5533" if urgent else "#33aa55", height=0.6)
    bar.axvline(threshold, color="white", lw=2)
    bar.set_xlim(0, 1)
    bar.set_ylim(-0.5, 0.5)
    bar.set_yticks([])
    bar.tick_params(colors="white", labelsize=8)
    bar.set_xlabel(f"P(PE) = {probability:.2f}    white line: threshold {threshold:.2f}", color="white", fontsize=9)
    info = fig.add_subplot(grid[rows, cols - 1])
    info.set_axis_off()
    info.text(0.05, 0.65, "URGENT" if urgent else "routine", color="#ff5533" if urgent else "#33aa55",
              fontsize=16, weight="bold", va="center", transform=info.transAxes)
    if rank is not None:
        info.text(0.05, 0.25, f"worklist rank {rank}", color="white", fontsize=9, transform=info.transAxes)
    fig.text(0.02, 0.012, DISCLAIMER + " · scintiml", color="#ffcc00", fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="black")
    plt.close(fig)
    from PIL import Image

    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def secondary_capture(rgb: np.ndarray, study: PlanarStudy, series_instance_uid: str | None = None,
                      instance_number: int = 1):
    """A DICOM Secondary Capture (highdicom) of the summary image in the source study: same Study
    Instance UID and patient, a new series, so it lands next to the scan in PACS."""
    import highdicom as hd
    from pydicom.uid import generate_uid

    return hd.sc.SCImage(
        pixel_array=rgb, photometric_interpretation="RGB", bits_allocated=8, coordinate_system="PATIENT",
        study_instance_uid=study.study_instance_uid or generate_uid(),
        series_instance_uid=series_instance_uid or generate_uid(), series_number=9001,
        sop_instance_uid=generate_uid(), instance_number=instance_number, manufacturer="scintiml",
        patient_id=study.patient_id, patient_orientation=("L", "F"),
        series_description="scintiml PE triage summary (not a diagnosis)",
    )


def export_onnx(model: CNNModel, path: str | Path) -> Path:
    """Export the network (preprocessed input → probability) to ONNX; preprocessing stays in numpy."""
    path = Path(path)
    network = model.network.cpu().eval()

    class WithSigmoid(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return torch.sigmoid(self.net(x))

    dummy = torch.zeros(1, len(model.views), 128, 128)
    torch.onnx.export(WithSigmoid(network), (dummy,), str(path), input_names=["views"],
                      output_names=["probability"], dynamic_axes={"views": {0: "batch"}, "probability": {0: "batch"}},
                      opset_version=17, dynamo=False)
    return path


class OnnxPredictor:
    """Prediction with onnxruntime alone (no torch): the same preprocessing, the exported network."""

    def __init__(self, onnx_path: str | Path, config: dict):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        self.config = config

    def predict_proba(self, counts: np.ndarray) -> np.ndarray:
        from .transforms import preprocess

        x = np.stack([preprocess(c, self.config["transform"]) for c in counts])
        return self.session.run(["probability"], {"views": x})[0].astype(np.float64)
