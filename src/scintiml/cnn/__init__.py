"""Entry-level CNN on planar scans for pulmonary-embolism triage (extra ``cnn``: PyTorch + MONAI).

One encoder shared by the views with a view embedding and late fusion (:mod:`.model`), a MONAI dictionary-transform
pipeline on whole batches (:mod:`.transforms`), training with a patient split, early stopping on a smoothed
selection loss, temperature scaling and a threshold whose sensitivity promise holds at its lower confidence bound
(:mod:`.train`, :mod:`.calibrate`), the protocol guard (:mod:`.guard`), per-view Grad-CAM (:mod:`.saliency`), the
summary display (:mod:`.display`), the worklist and ONNX (:mod:`.triage`), protocol drift (:mod:`.drift`), the
``planar-cnn`` bundle (:mod:`.bundle`) and what the ``scintiml cnn`` commands call (:mod:`.workflow`).
"""

from .bundle import load_cnn, save_cnn
from .calibrate import fit_temperature, threshold_for_sensitivity_bound
from .display import summary_image
from .drift import DRIFT_PROTOCOLS, drift_table
from .guard import ProtocolGuard, orientation_score
from .model import AlexNetEncoder, MonaiDenseNetEncoder, PlanarViewNet
from .saliency import grad_cam, saliency_hit_rate
from .train import CNNModel, patient_split, train_cnn
from .triage import NOT_TRIAGED, OnnxPredictor, export_onnx, worklist
from .workflow import load_labelled_studies, train_from_folder, triage_folder, write_drift_table

__all__ = ["PlanarViewNet", "AlexNetEncoder", "MonaiDenseNetEncoder", "CNNModel", "train_cnn", "patient_split",
           "save_cnn", "load_cnn", "fit_temperature", "threshold_for_sensitivity_bound", "ProtocolGuard",
           "orientation_score", "grad_cam", "saliency_hit_rate", "summary_image", "worklist", "NOT_TRIAGED",
           "export_onnx", "OnnxPredictor", "drift_table", "DRIFT_PROTOCOLS", "load_labelled_studies",
           "train_from_folder", "triage_folder", "write_drift_table"]
