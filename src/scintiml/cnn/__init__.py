"""Entry-level CNN on planar scans for pulmonary-embolism triage (extra ``cnn``: PyTorch + MONAI)."""

from .drift import DRIFT_PROTOCOLS, drift_check
from .model import PlanarAlexNet
from .train import CNNModel, train_cnn
from .triage import OnnxPredictor, export_onnx, grad_cam, secondary_capture, summary_image, worklist

__all__ = ["PlanarAlexNet", "CNNModel", "train_cnn", "worklist", "grad_cam", "summary_image", "secondary_capture",
           "export_onnx", "OnnxPredictor", "drift_check", "DRIFT_PROTOCOLS"]
