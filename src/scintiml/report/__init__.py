"""Figures, the HTML and PDF study report, written from a study's results (never recomputed)."""

from .writer import headline, summary_lines, write_report

__all__ = ["write_report", "headline", "summary_lines"]
