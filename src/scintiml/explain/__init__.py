"""Explain a fitted model: input importance, the best single predictor and small combination,
clinical rules, partial dependence."""

from .importance import permutation_importance_grouped, removal_importance
from .rules import Rule, extract_rule

__all__ = ["permutation_importance_grouped", "removal_importance", "Rule", "extract_rule"]
