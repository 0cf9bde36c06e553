"""Explain a fitted model: input importance, the best single predictor and small combination,
clinical rules, partial dependence."""

from .combination import best_pair
from .importance import permutation_importance_grouped, removal_importance
from .partial import partial_dependence_curves
from .rules import Rule, extract_rule

__all__ = ["permutation_importance_grouped", "removal_importance", "Rule", "extract_rule", "best_pair",
           "partial_dependence_curves"]
