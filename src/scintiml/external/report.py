"""The validation report: ``report.html`` (self-contained), ``report.pdf`` and ``figures/*.png``.

Drawn from :meth:`ValidationResult.to_dict` only — nothing is recomputed here. The page is the template
``scintiml/report/templates/validate.html.j2``; the PDF is that page printed by the study report's
:func:`scintiml.report.writer.html_to_pdf` (WeasyPrint), so both reports look alike.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from matplotlib.figure import Figure

from .metrics import slope_text

__all__ = ["write_validation_report", "write_validation"]

BLUE, ORANGE, GREY, RED = "#1f5fa8", "#d9771e", "#7a7a7a", "#b22222"
_STYLE = {"figure.dpi": 110, "savefig.dpi": 200, "font.size": 9, "axes.spines.top": False,
          "axes.spines.right": False, "text.parse_math": False}  # input names are text, never mathtext


def _calibration(v: dict[str, Any]) -> Figure:
    perf = v["performance"]
    fig = Figure(figsize=(4.6, 4.4))
    ax = fig.subplots()
    bins = perf["reliability"]
    x = [b["mean_predicted"] for b in bins]
    y = [b["observed"] for b in bins]
    # clamped: an interval bound can round to a hair inside the observed share (matplotlib refuses negative bars)
    lo = [max(0.0, b["observed"] - b["observed_ci95"][0]) for b in bins]
    hi = [max(0.0, b["observed_ci95"][1] - b["observed"]) for b in bins]
    ax.errorbar(x, y, yerr=[lo, hi], fmt="o", color=BLUE, capsize=3, label="observed (95 % CI)")
    ax.plot([0, 1], [0, 1], ls="--", color=GREY, label="ideal")
    cal = perf["calibration"]
    ax.set_title(f"calibration-in-the-large {cal['intercept']:+.2f}, slope {slope_text(cal)}")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed event rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", frameon=False)
    return fig


def _roc(v: dict[str, Any]) -> Figure:
    perf = v["performance"]
    fig = Figure(figsize=(4.4, 4.2))
    ax = fig.subplots()
    ax.plot(perf["roc"]["fpr"], perf["roc"]["tpr"], color=BLUE, lw=2,
            label=f"AUC {perf['auc']:.3f} ({perf['auc_ci95'][0]:.3f}-{perf['auc_ci95'][1]:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color=GREY)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.legend(loc="lower right", frameon=False)
    return fig


def _decision(v: dict[str, Any]) -> Figure:
    d = v["performance"]["decision_curve"]
    fig = Figure(figsize=(5.2, 3.6))
    ax = fig.subplots()
    ax.plot(d["threshold"], d["model"], color=BLUE, lw=2, label="model")
    # told apart by line style, not colour alone (orange and grey print alike in greyscale)
    ax.plot(d["threshold"], d["treat_all"], color=ORANGE, lw=1, ls="-.", label="treat all")
    ax.plot(d["threshold"], d["treat_none"], color=GREY, lw=1, ls=":", label="treat none")
    prevalence = v["performance"]["observed_rate"]
    ax.set_ylim(min(-0.05, -0.1 * prevalence), max(0.05, prevalence * 1.05))
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    ax.legend(frameon=False)
    return fig


def _shift(v: dict[str, Any]) -> Figure | None:
    rows = [r for r in (v.get("shift") or []) if r.get("smd") is not None and np.isfinite(r["smd"])]
    if not rows:
        return None
    fig = Figure(figsize=(5.4, 0.35 * len(rows) + 1.4))
    ax = fig.subplots()
    names = [r["input"] for r in rows][::-1]
    smd = [r["smd"] for r in rows][::-1]
    # red and hatched where the input is reported shifted (|SMD| >= 0.1 and beyond this batch's sampling noise), as
    # the table: red and blue print as the same grey, the hatching tells them apart
    shifted = [bool(r.get("shifted")) for r in rows][::-1]
    bars = ax.barh(names, smd, color=[RED if flag else BLUE for flag in shifted])
    for bar, flag in zip(bars, shifted):
        if flag:
            bar.set_hatch("//")
            bar.set_edgecolor("black")
    for edge in (-0.1, 0.1):
        ax.axvline(edge, ls="--", color=GREY, lw=1)
    ax.set_xlabel("standardised mean difference, new site vs training (hatched red: reported shifted)")
    return fig


def _figures(v: dict[str, Any]) -> dict[str, Figure]:
    """The report's figures (name → matplotlib Figure) from a validation result dict."""
    figures = {"calibration": _calibration(v), "roc": _roc(v), "decision_curve": _decision(v)}
    shift = _shift(v)
    if shift is not None:
        figures["input_shift"] = shift
    return figures


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (list, tuple)):
        return "n/a" if None in value else f"{value[0]:.{digits}f} to {value[1]:.{digits}f}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def figure_alts(v: dict[str, Any]) -> dict[str, str]:
    """A one-sentence text alternative per figure of the validation report, with the numbers the figure shows.

    Examples
    --------
    >>> v = {"performance": {"n": 120, "auc": 0.8123, "auc_ci95": [0.73, 0.89], "brier": 0.17,
    ...      "calibration": {"intercept": 0.31, "slope": None},
    ...      "decision_curve": {"threshold": [0.1, 0.2, 0.3], "model": [0.2, 0.1, 0.05], "treat_all": [0.1, 0, -0.1]}},
    ...      "shift": [{"input": "age", "smd": 0.42, "shifted": True}, {"input": "sex", "smd": -0.02}]}
    >>> alts = figure_alts(v)
    >>> alts["roc"]
    'ROC curve of the model on the 120 patients of this site: AUC 0.812 (95 % CI 0.730 to 0.890).'
    >>> print(alts["input_shift"])  # doctest: +NORMALIZE_WHITESPACE
    Bar chart of the standardised mean difference of each input, this site against the training patients:
    age +0.42 (shifted, hatched), sex -0.02; dashed lines at -0.1 and +0.1.
    """
    from ..report.writer import net_benefit_sentence, number_text

    perf = v["performance"]
    cal = perf.get("calibration") or {}
    ci = perf.get("auc_ci95")
    alts = {
        "calibration": (f"Calibration plot of the observed event rate against the predicted probability at this site: "
                        f"calibration-in-the-large {number_text(cal.get('intercept'), 2, sign=True)}, "
                        f"calibration slope "
                        f"{number_text(cal.get('slope'), 2)}, Brier score {number_text(perf.get('brier'))}."),
        "roc": (f"ROC curve of the model on the {perf.get('n')} patients of this site: "
                f"AUC {number_text(perf.get('auc'))}"
                + (f" (95 % CI {_fmt(ci)})." if ci and None not in ci else ".")),
        "decision_curve": "Decision curve of the net benefit over threshold probabilities at this site"
                          + (f": {net_benefit_sentence(perf['decision_curve'], 'model')}; treat none is 0 throughout."
                             if perf.get("decision_curve") else "."),
    }
    rows = [r for r in (v.get("shift") or []) if r.get("smd") is not None and np.isfinite(r["smd"])]
    if rows:
        bars = ", ".join(f"{r['input']} {r['smd']:+.2f}" + (" (shifted, hatched)" if r.get("shifted") else "")
                         for r in rows)
        alts["input_shift"] = ("Bar chart of the standardised mean difference of each input, this site against the "
                               f"training patients: {bars}; dashed lines at -0.1 and +0.1.")
    return alts


def _render_html(v: dict[str, Any], images: dict[str, str]) -> str:
    """The report page from a validation result dict and base64 PNGs (name → data)."""
    env = Environment(loader=PackageLoader("scintiml.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    from ..report.writer import TESTS, ratio_cells

    env.filters["fmt"] = _fmt
    env.globals["ratio_cells"] = lambda key, value, ci: ratio_cells(key, value, ci, _fmt)
    return env.get_template("validate.html.j2").render(v=v, images=images, alts=figure_alts(v),
                                                       test_labels=dict(TESTS))


def write_validation_report(v: dict[str, Any], out_dir: str | Path, pdf: bool = True) -> dict[str, Path]:
    """Write ``report.html``, ``figures/*.png`` and (``pdf=True``) ``report.pdf`` into ``out_dir``.

    Parameters
    ----------
    v : dict
        :meth:`scintiml.external.ValidationResult.to_dict` (plus ``model``, ``data`` names, as the CLI adds).
    out_dir : path
        An existing folder (the CLI passes the temporary folder of :func:`scintiml.io.atomic_dir`).
    pdf : bool

    Returns
    -------
    dict
        name → path of every file written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from scintiml.ann import ANNClassifier
    >>> from scintiml.bundle import Bundle
    >>> from scintiml.bundle.tabular import training_summary
    >>> from scintiml.datasets import heart_disease_frame, load_heart_disease
    >>> from scintiml.external import validate_bundle
    >>> cleveland = load_heart_disease("cleveland")
    >>> inputs = ["age", "sex", "cp", "thalach"]
    >>> net = ANNClassifier(hidden_layer_sizes=(2,), random_state=0).fit(cleveland.X[inputs], cleveland.y)
    >>> bundle = Bundle({"inputs": inputs, "threshold": 0.5, "positive": 1, "imputation": {},
    ...                  "training_summary": training_summary(cleveland.X[inputs])}, net, {})
    >>> v = validate_bundle(bundle, heart_disease_frame("va"), "disease").to_dict()
    >>> sorted(write_validation_report({**v, "model": "cleveland", "data": "va"}, tempfile.mkdtemp(), pdf=False))
    ['calibration', 'decision_curve', 'html', 'input_shift', 'roc']
    """
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    images = {}
    with matplotlib.rc_context(_STYLE):
        for name, fig in _figures(v).items():
            data = _png(fig)
            (out / "figures" / f"{name}.png").write_bytes(data)
            written[name] = out / "figures" / f"{name}.png"
            images[name] = base64.b64encode(data).decode("ascii")
    html = _render_html(v, images)
    (out / "report.html").write_text(html, encoding="utf-8")
    written["html"] = out / "report.html"
    if pdf:
        from ..report.writer import pdf_beside_html

        printed = pdf_beside_html(html, out / "report.pdf")  # no pango here: the HTML report, and a warning
        if printed is not None:
            written["pdf"] = printed
    return written


def write_validation(
    model: str | Path,
    data: str | Path,
    target: str,
    out: str | Path,
    protocol: dict[str, str] | None = None,
    reference: str | Path | None = None,
    id_column: str | None = None,
    max_missing_share: float | None = None,
    pdf: bool = True,
    overwrite: bool = False,
    random_state=0,
    decimal: str = ".",
    percent: bool = False,
) -> dict[str, Any]:
    """Validate a bundle on a data file and write everything into ``out`` (atomically).

    ``decimal`` / ``percent`` read the data (and reference) file as :func:`scintiml.cohort.read_table` does.

    ``out`` receives ``validation.json`` (:meth:`ValidationResult.to_dict`), ``predictions.csv`` (probability,
    class at the bundle's threshold, outcome and imputed inputs per patient), ``report.html``, ``report.pdf`` and
    ``figures/``. Inputs (the bundle, the data file, the reference file) are only read.

    Returns
    -------
    dict
        The ``validation.json`` content.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from scintiml.bundle import save_bundle
    >>> from scintiml.datasets import heart_disease_frame, load_heart_disease
    >>> from scintiml.study import run_study
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> cohort = load_heart_disease("cleveland").subset(["age", "sex", "cp", "thalach"])
    >>> model = save_bundle(run_study(cohort, inputs="all", readiness=False), folder / "model")
    >>> heart_disease_frame("hungarian").to_csv(folder / "hungarian.csv", index=False)
    >>> v = write_validation(model, folder / "hungarian.csv", "disease", folder / "validation", pdf=False)
    >>> sorted(p.name for p in (folder / "validation").iterdir())
    ['.scintiml-output', 'figures', 'predictions.csv', 'report.html', 'validation.json']
    """
    from .._version import __version__
    from ..bundle import load_bundle
    from ..cohort import check_number_formats, read_table
    from ..io import atomic_dir, check_output_path, spreadsheet_safe, write_json
    from ..io.atomic import VALIDATION_OUTPUT
    from .missing import MAX_MISSING_SHARE
    from .validate import validate_bundle

    check_output_path(out, overwrite=overwrite, inputs=tuple(p for p in (model, data, reference) if p is not None),
                      kind="folder", output=VALIDATION_OUTPUT)
    bundle = load_bundle(model)
    ids = (id_column,) if id_column else ()  # patient ids as text: "007" stays "007"
    frame = read_table(data, text_columns=ids, decimal=decimal, percent=percent)
    reference_frame = (read_table(reference, text_columns=ids, decimal=decimal, percent=percent)
                       if reference is not None else None)
    for table in (frame, reference_frame):  # what read_table could not read one way, refused by name
        if table is not None:
            check_number_formats(table, bundle.inputs, decimal, bundle.missing_codes)
    result = validate_bundle(
        bundle, frame, target, protocol=protocol, reference=reference_frame, id_column=id_column,
        max_missing_share=MAX_MISSING_SHARE if max_missing_share is None else max_missing_share,
        random_state=random_state,
    )
    v = result.to_dict()
    v.update({"model": str(model), "data": str(data), "reference": None if reference is None else str(reference),
              "scintiml_version": __version__})
    with atomic_dir(out, overwrite=overwrite, output=VALIDATION_OUTPUT) as tmp:
        write_json(tmp / "validation.json", v)
        spreadsheet_safe(result.predictions).to_csv(tmp / "predictions.csv", index=False)
        write_validation_report(v, tmp, pdf=pdf)
    return v
