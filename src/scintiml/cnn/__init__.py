"""Entry-level CNN on planar scans for pulmonary-embolism triage (extra ``cnn``: PyTorch + MONAI).

One encoder shared by the views with a view embedding and late fusion (:mod:`.model`), a MONAI dictionary-transform
pipeline on whole batches (:mod:`.transforms`), training with a patient split, early stopping on a smoothed
selection loss, temperature scaling and a threshold whose sensitivity promise holds at its lower confidence bound
(:mod:`.train`, :mod:`.calibrate`), the protocol guard (:mod:`.guard`), per-view Grad-CAM (:mod:`.saliency`), the
summary display (:mod:`.display`), the worklist and ONNX (:mod:`.triage`), protocol drift (:mod:`.drift`), the
``planar-cnn`` bundle (:mod:`.bundle`) and what the ``scintiml cnn`` commands call (:mod:`.workflow`).
"""

import warnings as _warnings

# MONAI replaces warnings.showwarning with its own handler when imported, for the whole process (a notebook's
# warnings then print MONAI's way): put Python's back. (Its CUBLAS_WORKSPACE_CONFIG is kept: deterministic
# cuBLAS needs it before the first CUDA matrix work, see .train.)
_showwarning = _warnings.showwarning
import monai  # noqa: E402,F401  (imported here, once, so that the handler above can be restored)

_warnings.showwarning = _showwarning

from .bundle import load_cnn, save_cnn  # noqa: E402
from .calibrate import fit_temperature, threshold_for_sensitivity_bound  # noqa: E402
from .display import summary_image  # noqa: E402
from .drift import DRIFT_PROTOCOLS, drift_table  # noqa: E402
from .guard import ProtocolGuard, orientation_score  # noqa: E402
from .model import AlexNetEncoder, MonaiDenseNetEncoder, PlanarViewNet  # noqa: E402
from .saliency import grad_cam, saliency_hit_rate  # noqa: E402
from .train import CNNModel, patient_split, train_cnn  # noqa: E402
from .triage import NOT_TRIAGED, OnnxPredictor, export_onnx, worklist  # noqa: E402
from .workflow import load_labelled_studies, train_from_folder, triage_folder, write_drift_table  # noqa: E402

__all__ = ["PlanarViewNet", "AlexNetEncoder", "MonaiDenseNetEncoder", "CNNModel", "train_cnn", "patient_split",
           "save_cnn", "load_cnn", "fit_temperature", "threshold_for_sensitivity_bound", "ProtocolGuard",
           "orientation_score", "grad_cam", "saliency_hit_rate", "summary_image", "worklist", "NOT_TRIAGED",
           "export_onnx", "OnnxPredictor", "drift_table", "DRIFT_PROTOCOLS", "load_labelled_studies",
           "train_from_folder", "triage_folder", "write_drift_table"]
