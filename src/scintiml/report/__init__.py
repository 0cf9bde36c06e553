"""Figures, the HTML and PDF study report, written from a study's results (never recomputed)."""

from .writer import write_report

__all__ = ["write_report"]
