"""Write ``report.html`` (one self-contained page), ``report.pdf`` and ``figures/*.png``."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from jinja2 import Environment, PackageLoader
from matplotlib.backends.backend_pdf import PdfPages

from .figures import FIGURES, draw_all


def _fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, (list, tuple)) and len(value) == 2:
        if None in value:
            return "n/a"
        return f"{value[0]:.{digits}f}–{value[1]:.{digits}f}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


TESTS = [
    ("sensitivity", "Sensitivity"), ("specificity", "Specificity"), ("ppv", "Positive predictive value"),
    ("npv", "Negative predictive value"), ("accuracy", "Classification accuracy"), ("error_rate", "Error rate"),
    ("balanced_accuracy", "Balanced accuracy"), ("f1", "F1 score"), ("mcc", "Matthews correlation"),
    ("lr_positive", "Positive likelihood ratio"), ("lr_negative", "Negative likelihood ratio"),
    ("youden_j", "Youden's J"), ("prevalence", "Prevalence"),
]


def headline(r: dict[str, Any]) -> list[str]:
    """The study's headline for a terminal: inputs, network, testing AUC with CI, rule, the imaging verdict.

    Examples
    --------
    >>> r = {"dataset": {"name": "demo"}, "inputs": {"selected": ["a", "b"]}, "architecture": [2, 3, 1],
    ...      "test": {"auc": 0.81, "auc_ci95": [0.7, 0.9]}, "rule": {"text": "a >= 3"}, "readiness": None}
    >>> headline(r)[0]
    'demo: inputs a, b; network [2, 3, 1]; testing AUC 0.810 (0.700-0.900)'
    """
    t = r["test"]
    lines = [f"{r['dataset']['name']}: inputs {', '.join(r['inputs']['selected'])}; network {r['architecture']}; "
             f"testing AUC {t['auc']:.3f} ({_fmt(t['auc_ci95']).replace('–', '-')})",
             f"rule: {r['rule']['text']}"]
    if r.get("readiness"):
        lines.append(f"deep learning: {r['readiness']['message']}")
    return lines


def summary_lines(r: dict[str, Any]) -> list[str]:
    """The study in a few sentences a clinician can read first."""
    t = r["test"]
    lines = [
        f"{r['dataset']['n_patients']} patients, {r['dataset']['n_events']} with {r['dataset']['target']} = "
        f"{r['dataset']['positive']}; split {r['split']['training']}/{r['split']['selection']}/"
        f"{r['split']['testing']} (training/selection/testing).",
        f"Input selection ({r['selection']['method']}) kept {len(r['inputs']['selected'])} of "
        f"{len(r['inputs']['all'])} inputs: {', '.join(r['inputs']['selected'])}; network {r['architecture']}.",
        f"On the {t['n']} testing patients: AUC {t['auc']:.3f} (95 % CI {_fmt(t['auc_ci95'])}); at the "
        f"threshold {t['threshold']:.3f} chosen on the selection patients, sensitivity {t['sensitivity']:.2f} "
        f"({_fmt(t['sensitivity_ci95'], 2)}) and specificity {t['specificity']:.2f} "
        f"({_fmt(t['specificity_ci95'], 2)}).",
    ]
    b = r["best_single_predictor"]
    lines.append(
        f"The best single predictor is {b['input']} ({b['direction']} values with the event; testing AUC "
        f"{b['test_auc']:.3f}, {_fmt(b['test_auc_ci95'])})."
    )
    if r.get("best_combination"):
        c = r["best_combination"]
        lines.append(f"The best pair is {' and '.join(c['inputs'])} (testing AUC {c['test_auc']:.3f}).")
    rule = r["rule"]
    rt = rule.get("test", {})
    if rt.get("sensitivity") is not None:
        lines.append(
            f"As a clinical rule: {rule['text']} — testing sensitivity {rt['sensitivity']:.2f} "
            f"({_fmt(rt['sensitivity_ci95'], 2)}), specificity {rt['specificity']:.2f} "
            f"({_fmt(rt['specificity_ci95'], 2)})."
        )
    if r.get("readiness"):
        lines.append(r["readiness"]["message"])
    return lines


def write_report(results: dict[str, Any], out_dir: str | Path, pdf: bool = True) -> dict[str, Path]:
    """Draw every figure and write the HTML page, the PDF and the PNG files into ``out_dir``."""
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    figures = draw_all(results)
    images = {}
    for name, fig in figures.items():
        data = _png(fig)
        (out / "figures" / f"{name}.png").write_bytes(data)
        images[name] = base64.b64encode(data).decode("ascii")
    # autoescape on: column names and notes come from the user's spreadsheet
    env = Environment(loader=PackageLoader("scintiml.report", "templates"), autoescape=True)
    env.filters["fmt"] = _fmt
    html = env.get_template("report.html.j2").render(
        r=results, images=images, captions={k: v[1] for k, v in FIGURES.items()}, tests=TESTS,
        summary=summary_lines(results),
    )
    (out / "report.html").write_text(html, encoding="utf-8")
    paths = {"html": out / "report.html"}
    if pdf:
        paths["pdf"] = out / "report.pdf"
        _write_pdf(results, figures, paths["pdf"])
    for fig in figures.values():
        plt.close(fig)
    return paths


def _text_page(pdf: PdfPages, title: str, lines: list[str]) -> None:
    import textwrap

    fig = plt.figure(figsize=(8.27, 11.69))  # A4
    fig.text(0.08, 0.95, title, fontsize=15, weight="bold", va="top")
    y = 0.91
    for line in lines:
        for part in textwrap.wrap(line, 95) or [""]:
            fig.text(0.08, y, part, fontsize=9.5, va="top", family="DejaVu Sans")
            y -= 0.018
        y -= 0.006
        if y < 0.05:
            pdf.savefig(fig)
            plt.close(fig)
            fig = plt.figure(figsize=(8.27, 11.69))
            y = 0.95
    pdf.savefig(fig)
    plt.close(fig)


def _write_pdf(r: dict[str, Any], figures: dict[str, Any], path: Path) -> None:
    t = r["test"]
    lines = summary_lines(r) + [""]
    lines += ["Binary classification tests on the testing instances (95 % CI):"]
    for key, label in TESTS:
        if key in t:
            lines.append(f"    {label}: {_fmt(t[key])} ({_fmt(t.get(key + '_ci95'))})")
    lines += ["", "Baselines on the same split (all inputs):"]
    for name, b in r["baselines"].items():
        lines.append(f"    {name.replace('_', ' ')}: AUC {b['auc']:.3f} ({_fmt(b['auc_ci95'])})")
    if r["warnings"]:
        lines += ["", "Warnings:"] + [f"    - {w}" for w in r["warnings"]]
    lines += ["", "Data notes:"] + [f"    - {n}" for n in r["dataset"]["notes"]] + [
        f"    Source: {r['dataset']['citation'] or 'user data'}"]
    with PdfPages(path, metadata={"Title": f"scintiml study: {r['dataset']['name']}", "Creator": "scintiml"}) as pdf:
        _text_page(pdf, f"scintiml study — {r['dataset']['name']}", lines)
        for name, fig in figures.items():
            fig.suptitle(FIGURES[name][1], fontsize=9, y=0.005, va="bottom")
            pdf.savefig(fig, bbox_inches="tight")
