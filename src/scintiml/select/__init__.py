"""Model selection judged on resampled patients: input selection, order selection, selection frequencies."""

from .inputs import InputSelector, correlation_with_target
from .order import OrderSelector
from .pipeline import SelectedNetworkClassifier
from .stability import StabilitySelector, near_copy_families, resampled_selector

__all__ = ["InputSelector", "OrderSelector", "SelectedNetworkClassifier", "StabilitySelector",
           "correlation_with_target", "near_copy_families", "resampled_selector"]
