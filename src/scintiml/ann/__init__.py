"""The Neural Designer-style network: scaling → logistic perceptrons → logistic output."""

from .classifier import ANNClassifier
from .losses import ErrorTerm
from .network import Architecture
from .scaling import ScalingLayer
from .training import train_networks

__all__ = ["ANNClassifier", "Architecture", "ErrorTerm", "ScalingLayer", "train_networks"]
