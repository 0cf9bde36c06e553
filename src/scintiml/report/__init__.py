"""Figures, the HTML and PDF study report, written from a study's results (never recomputed)."""

from .figures import figure_style
from .writer import headline, html_to_pdf, render_html, summary_lines, write_report

__all__ = ["write_report", "render_html", "html_to_pdf", "headline", "summary_lines", "figure_style"]
