"""The Neural Designer-style network: scaling → logistic perceptrons → logistic output."""

from .classifier import ANNClassifier
from .losses import ErrorTerm
from .network import Architecture
from .scaling import ScalingLayer

__all__ = ["ANNClassifier", "Architecture", "ErrorTerm", "ScalingLayer"]
