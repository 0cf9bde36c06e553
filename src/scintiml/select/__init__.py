"""Model selection on the selection instances: input selection and order selection."""

from .inputs import InputSelector, correlation_with_target
from .order import OrderSelector

__all__ = ["InputSelector", "OrderSelector", "correlation_with_target"]
