"""Write ``report.html`` (one self-contained page), ``report.pdf`` and ``figures/*.png``.

The PDF is rendered from the very HTML the browser shows (WeasyPrint; the page's print CSS sets A4 pages,
page numbers and keeps figures whole), so the two reports cannot drift apart.
"""

from __future__ import annotations

import base64
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader

from ..stages.results import NO_SIGNAL, not_a_finding
from ..evaluate.roc import ci_method_label
from .figures import FIGURES, MAX_ROWS, draw_all, figure_style


def _fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, (list, tuple)) and len(value) == 2:
        if None in value:
            return "n/a"
        # "-0.217–0.149" reads as a subtraction: a range with a negative end is written with "to"
        sep = " to " if min(value) < 0 else "–"
        return f"{value[0]:.{digits}f}{sep}{value[1]:.{digits}f}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def ratio_cells(key: str, value, ci, fmt=None) -> tuple[str, str]:
    """A likelihood ratio and its interval as table cells: an infinite ratio is JSON's ``null`` with the interval
    ``[lower, null]`` (no non-event called positive, for LR+; none called negative, for LR−), shown as ``∞``
    beside ``lower–∞`` — not "n/a" twice.

    >>> ratio_cells("lr_positive", None, [3.04, None])
    ('∞ (no non-event called positive)', '3.040–∞')
    >>> ratio_cells("lr_negative", 0.25, [0.1, 0.6])
    ('0.250', '0.100–0.600')
    """
    fmt = fmt or _fmt
    if key in ("lr_positive", "lr_negative") and value is None and ci and ci[0] is not None and ci[1] is None:
        why = "no non-event called positive" if key == "lr_positive" else "no non-event called negative"
        return f"∞ ({why})", f"{ci[0]:.3f}–∞"
    return fmt(value), fmt(ci)


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
    kept = r["inputs"]["selected"]
    # 500 inputs kept (--inputs all) made a first line of 500 names: the first ten and a count (results.json: all)
    shown = ", ".join(kept) if len(kept) <= 12 else f"{', '.join(kept[:10])} and {len(kept) - 10} more"
    lines = [f"{r['dataset']['name']}: inputs {shown}; network {r['architecture']}; "
             f"testing AUC {t['auc']:.3f} ({_fmt(t['auc_ci95']).replace('–', '-')})",
             f"rule: {r['rule']['text']}{not_a_finding(r)}"]
    d = r["dataset"]
    if "positive" in d:  # the event is said, never left to be guessed (issue #15)
        lines.insert(1, f"event: {d.get('target', 'outcome')} = {d['positive']!r} ({d.get('n_events', '?')} of "
                        f"{d.get('n_patients', '?')} patients)")
    if r.get("nested"):  # the figure to quote, next to the one split's figure rather than after the warnings
        lines.insert(len(lines) - 1, f"headline (nested cross-validation, selection included): "
                                     f"{nested_sentence(r['nested'], ascii_dash=True)}")
    if r.get("readiness"):
        lines.append(f"deep learning: {r['readiness']['message']}")
    else:  # said, not left silent: the report says the same in its section 5
        lines.append("deep learning: not assessed — the cohort has no imaging and clinical input groups "
                     "(give them with --groups FILE)")  # the CLI's demo says its own (cli/tabular.py)
    return lines


def nested_sentence(nested: dict[str, Any], ascii_dash: bool = False) -> str:
    """The nested cross-validation headline and the best baseline on the same folds, in one clause.

    Examples
    --------
    >>> nested = {"auc": 0.786, "auc_ci95": [0.671, 0.901], "n_splits": 5, "n_repeats": 2, "baselines": {
    ...     "logistic_regression": {"auc": 0.789, "network_minus_baseline": -0.003, "difference_ci95": [-0.08, 0.07]},
    ...     "random_forest": {"auc": 0.795, "network_minus_baseline": -0.009, "difference_ci95": [-0.111, 0.094]}}}
    >>> nested_sentence(nested, ascii_dash=True).split("; ")  # doctest: +NORMALIZE_WHITESPACE
    ['AUC 0.786 (0.671-0.901), 5-fold x 2',
     'best baseline random forest 0.795 on the same folds, difference -0.009 (-0.111 to +0.094)']
    """
    dash = "-" if ascii_dash else "–"
    repeats, folds = nested.get("n_repeats") or 1, nested.get("n_splits")
    text = f"AUC {nested['auc']:.3f} ({_fmt(nested.get('auc_ci95')).replace('–', dash)})"
    if folds:  # a hand-made or older results.json may not say how it was cross-validated
        text += f", {folds}-fold" + (f" x {repeats}" if repeats > 1 else "")
    baselines = nested.get("baselines") or {}
    if baselines:
        name, b = max(baselines.items(), key=lambda kv: kv[1]["auc"])
        lo, hi = b["difference_ci95"]
        text += (f"; best baseline {name.replace('_', ' ')} {b['auc']:.3f} on the same folds, difference "
                 f"{b['network_minus_baseline']:+.3f} ({lo:+.3f} to {hi:+.3f})")
    return text


def summary_lines(r: dict[str, Any]) -> list[str]:
    """The study in a few sentences a clinician can read first (the top of the HTML and PDF report).

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.study import run_study
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> summary_lines(run_study(cohort, inputs="all", readiness=False).results)[0]
    '200 patients, 34 with cardiotoxicity = 1; split 120/40/40 (training/selection/testing).'
    """
    t = r["test"]
    lines = [
        f"{r['dataset']['n_patients']} patients, {r['dataset']['n_events']} with {r['dataset']['target']} = "
        f"{r['dataset']['positive']}; split {r['split']['training']}/{r['split']['selection']}/"
        f"{r['split']['testing']} (training/selection/testing).",
        f"Input selection ({r['selection']['method']}) kept {len(r['inputs']['selected'])} of "
        f"{len(r['inputs']['all'])} inputs: {', '.join(r['inputs']['selected'])}; network {r['architecture']}.",
        *([f"Whole pipeline, selection included, by nested cross-validation (the figure to quote): "
           f"{nested_sentence(r['nested'])}."] if r.get("nested") else []),
        f"On the {t['n']} testing patients (one split): AUC {t['auc']:.3f} (95 % CI {_fmt(t['auc_ci95'])}); at the "
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
        unmeasured = rt.get("patients_missing_a_rule_input") or 0
        lines.append(
            f"As a clinical rule{not_a_finding(r)}: {rule['text']} — testing sensitivity {rt['sensitivity']:.2f} "
            f"({_fmt(rt['sensitivity_ci95'], 2)}), specificity {rt['specificity']:.2f} "
            f"({_fmt(rt['specificity_ci95'], 2)})"
            + (f"; {unmeasured} of the {t['n']} testing patients lack one of its inputs (a missing value meets no "
               "condition)." if unmeasured else ".")
        )
    signal = r.get("signal") or {}
    if signal.get("verdict") == NO_SIGNAL:
        lines.insert(0, signal["message"][0].upper() + signal["message"][1:] + ".")
    if r.get("readiness"):
        lines.append(r["readiness"]["message"])
    return lines


def number_text(value, digits: int = 3, sign: bool = False) -> str:
    """A number for a sentence: "not estimable" where results.json holds ``null`` (or NaN), never "n/a"; ``sign``
    writes "+" before a positive value. (Also the validation report's.)

    >>> number_text(0.19184), number_text(-0.7624, 2, sign=True), number_text(None)
    ('0.192', '-0.76', 'not estimable')
    """
    if value is None or value != value:
        return "not estimable"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _auc_text(auc, ci) -> str:
    """``AUC 0.750 (95 % CI 0.607–0.892)``; the interval is left out where it is undefined."""
    text = f"AUC {number_text(auc)}"
    return text + (f" (95 % CI {_fmt(ci)})" if ci and None not in ci else "")


def _at(grid, values, x):
    """The value at the grid point nearest ``x`` and that point (grids of results.json are ascending lists)."""
    i = int(np.argmin(np.abs(np.asarray(grid, float) - x)))
    return values[i], grid[i]


def _shown(items: list[str], limit: int, total: int | None = None) -> str:
    """The first ``limit`` items joined by commas, and how many more there are."""
    total = len(items) if total is None else total
    text = ", ".join(items[:limit])
    return text + (f" and {total - limit} more (in results.json)" if total > limit else "")


def calibration_sentence(t: dict[str, Any]) -> str:
    """The calibration figure's numbers as text: Brier score, calibration slope and intercept (``null`` where the
    fit has no estimate, e.g. a separated testing part: "not estimable").

    Examples
    --------
    >>> calibration_sentence({"brier": 0.19184, "calibration_slope": 0.8297, "calibration_intercept": -0.7624})
    'Brier score 0.192, calibration slope 0.83, calibration intercept -0.76'
    >>> calibration_sentence({"brier": 0.05, "calibration_slope": None, "calibration_intercept": None})
    'Brier score 0.050, calibration slope not estimable, calibration intercept not estimable'
    """
    return (f"Brier score {number_text(t.get('brier'))}, "
            f"calibration slope {number_text(t.get('calibration_slope'), 2)}, "
            f"calibration intercept {number_text(t.get('calibration_intercept'), 2)}")


def importance_sentence(r: dict[str, Any], limit: int = MAX_ROWS) -> str:
    """The permutation importance values the importance figure draws, as text (most important first).

    Examples
    --------
    >>> importance_sentence({"importance": [{"group": "washout", "importance_mean": 0.181, "importance_sd": 0.052},
    ...                                     {"group": "age", "importance_mean": 0.04, "importance_sd": 0.025}]})
    'washout 0.181 (SD 0.052), age 0.040 (SD 0.025)'
    """
    rows = r.get("importance") or []
    return _shown([f"{x['group']} {number_text(x['importance_mean'])} (SD {number_text(x['importance_sd'])})"
                   for x in rows],
                  limit) or "no input"


def _alt_heatmap(r):
    corr = r["explore"]["correlation"]
    names, m = corr["inputs"], np.asarray(corr["matrix"], float)
    total = corr.get("n_inputs", len(names))
    text = f"Heat map of the Pearson correlations between {len(names)} inputs" + (
        f" (the {len(names)} most associated with the outcome, of {total})" if total > len(names) else "")
    if len(names) > 1:
        off = np.where(np.eye(len(names), dtype=bool) | ~np.isfinite(m), 0.0, m)
        i, j = np.unravel_index(int(np.argmax(np.abs(off))), off.shape)
        text += f"; the strongest pair is {names[i]} and {names[j]}, r = {off[i, j]:.2f}"
    return text + "."


def _alt_selection_trace(r):
    history = r["selection"].get("history") or []
    if not history:
        return "Input selection trace: no input selection was run, all inputs were kept."
    best = min(history, key=lambda h: h["selection_loss"])
    return (f"Line chart of the training and selection error of the {len(history)} candidate input subsets tried, "
            f"in order; the lowest selection error, {best['selection_loss']:.3f}, is that of "
            f"{', '.join(best['inputs'])}.")


def _alt_selection_frequency(r):
    st = r["selection"]["stability"]
    rows = [f for f in st["frequencies"] if f["n_selected"] > 0] or st["frequencies"][:5]
    shown = _shown([f"{f['input']} {f['frequency']:.2f}" for f in rows], 15)
    return (f"Bar chart of the share of {len(st.get('runs') or [])} resampled selections that kept each input: "
            f"{shown}; threshold {st['threshold']:.2f}, inputs at or above it: "
            f"{', '.join(st.get('stable_inputs') or []) or 'none'}.")


def _alt_order(r):
    rows = r["order_selection"]["history"]
    chosen = next((h for h in rows if h.get("chosen")), None)
    sizes = _shown([f"{h['hidden_layer_sizes']} {h['selection_loss']:.3f}" for h in rows], 12)
    return (f"Selection error of each network size (hidden neurons): {sizes}"
            + (f"; the size {chosen['hidden_layer_sizes']} is kept." if chosen else "."))


def _alt_network(r):
    target = r["dataset"].get("target", "the outcome")
    return (f"Diagram of the final network {r['architecture']}: the inputs {_shown(r['inputs']['selected'], 12)} "
            f"are scaled, pass through logistic perceptrons and give the probability of {target}.")


def _alt_nested(r):
    n = r["nested"]
    rows = [f"network {number_text(n['auc'])} ({_fmt(n.get('auc_ci95'))})"] + [
        f"{k.replace('_', ' ')} {number_text(b['auc'])} ({_fmt(b.get('auc_ci95'))})" for k, b in n["baselines"].items()]
    return (f"Nested cross-validation AUC (95 % CI) on the same folds: {'; '.join(rows)}; the network's single "
            f"testing split gave {number_text(r['test']['auc'])}.")


def _alt_roc(r):
    t = r["test"]
    return (f"ROC curve of the network on the {t['n']} testing patients: {_auc_text(t['auc'], t.get('auc_ci95'))}; "
            f"at the threshold {number_text(t['threshold'])}, sensitivity {number_text(t['sensitivity'], 2)} and "
            f"specificity {number_text(t['specificity'], 2)}.")


def _alt_confusion(r):
    t = r["test"]
    cm = t["confusion_matrix"]
    return (f"Confusion matrix on the testing patients at the threshold {number_text(t['threshold'])}: {cm['tp']} true "
            f"positives, {cm['fn']} false negatives, {cm['fp']} false positives and {cm['tn']} true negatives.")


def _alt_calibration(r):
    t = r["test"]
    return (f"Calibration plot of the observed event rate against the predicted probability on the testing "
            f"patients: {calibration_sentence(t)}.")


def _alt_gain(r):
    g = r["test"]["gain"]
    gain, at = _at(g["fraction"], g["gain"], 0.2)
    lift, _ = _at(g["fraction"], g["lift"], 0.2)
    return (f"Cumulative gain and lift charts: the {100 * at:.0f} % of testing patients with the highest "
            f"probability hold {100 * gain:.0f} % of the events (lift {number_text(lift, 2)}).")


def net_benefit_sentence(d: dict[str, Any], label: str) -> str:
    """A decision curve's net benefit of the model (called ``label``) and of treating all, at the thresholds of
    its grid nearest 0.1, 0.2 and 0.3 (also the validation report's).

    >>> net_benefit_sentence({"threshold": [0.1, 0.2, 0.3], "model": [0.2, 0.1, 0.05], "treat_all": [0.1, 0, -0.1]},
    ...                      "model").split("; ")[0]
    'at 0.10, model 0.200 against treat all 0.100'
    """
    parts = []
    for x in (0.1, 0.2, 0.3):
        model, at = _at(d["threshold"], d["model"], x)
        treat_all, _ = _at(d["threshold"], d["treat_all"], x)
        parts.append(f"at {at:.2f}, {label} {number_text(model)} against treat all {number_text(treat_all)}")
    return "; ".join(parts)


def _alt_decision(r):
    return (f"Decision curve of the net benefit over threshold probabilities on the testing patients: "
            f"{net_benefit_sentence(r['test']['decision_curve'], 'network')}; treat none is 0 throughout.")


def _alt_baselines(r):
    rows = [f"network ({len(r['inputs']['selected'])} inputs) {number_text(r['test']['auc'])} "
            f"({_fmt(r['test']['auc_ci95'])})"]
    rows += [f"{k.replace('_', ' ')} ({b['n_inputs']} inputs) {number_text(b['auc'])} ({_fmt(b['auc_ci95'])})"
             for k, b in r["baselines"].items()]
    return f"Testing AUC with 95 % CI, same split: {'; '.join(rows)}."


def _alt_importance(r):
    return (f"Bar chart of the permutation importance of the selected inputs (drop in selection AUC when the input is "
            f"shuffled, mean and SD of 20 repeats): {importance_sentence(r)}.")


def _alt_partial_dependence(r):
    rows = [f"{name} {number_text(d['mean_probability'][0], 2)} to {number_text(d['mean_probability'][-1], 2)}"
            for name, d in r["partial_dependence"].items()]
    return (f"Partial dependence of the network's mean predicted probability on each input, from the low to the "
            f"high end of the input's plotted range: {'; '.join(rows)}.")


def _alt_readiness(r):
    rd = r["readiness"]
    aucs = [f"{n} {number_text(rd['auc'][n]['mean'])} ({_fmt(rd['auc'][n]['ci95'])})"
            for n in ("clinical", "imaging", "combined")]
    lc = rd["learning_curve"]
    curve = (f"; learning curve from {lc['n_training'][0]} to {lc['n_training'][-1]} training patients, AUC "
             f"{number_text(lc['auc'][0])} to {number_text(lc['auc'][-1])}" if lc.get("n_training") else "")
    return (f"Cross-validated AUC (95 % CI) of the clinical-only, imaging-only and combined models: {'; '.join(aucs)}"
            f"{curve}; verdict {rd['verdict'].replace('_', ' ')}.")


_ALTS = {
    "correlation_heatmap": _alt_heatmap, "selection_trace": _alt_selection_trace,
    "selection_frequency": _alt_selection_frequency, "order_selection": _alt_order, "network": _alt_network,
    "nested": _alt_nested, "roc": _alt_roc, "confusion_matrix": _alt_confusion, "calibration": _alt_calibration,
    "gain_lift": _alt_gain, "decision_curve": _alt_decision, "baselines": _alt_baselines,
    "importance": _alt_importance, "partial_dependence": _alt_partial_dependence, "readiness": _alt_readiness,
}


def figure_alts(r: dict[str, Any]) -> dict[str, str]:
    """A one-sentence text alternative per figure (the ``alt`` of its image), with the numbers the figure shows.

    A figure that does not apply to these results (no readiness, no nested cross-validation) or whose results lack a
    field (an older results.json) falls back to its caption: the report is still written.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.study import run_study
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> alts = figure_alts(run_study(cohort, inputs="all", readiness=False).results)
    >>> alts["roc"].startswith("ROC curve of the network on the 40 testing patients: AUC 0.8")
    True
    >>> alts["readiness"] == FIGURES["readiness"][1]  # not assessed: no figure, its caption stands in
    True
    """
    alts = {}
    for name, (_, caption) in FIGURES.items():
        try:
            alts[name] = _ALTS[name](r) if name in _ALTS else caption
        except (KeyError, TypeError, IndexError, ValueError, AttributeError):
            alts[name] = caption
    return alts


def render_html(results: dict[str, Any], images: dict[str, str]) -> str:
    """The report page: ``results`` through the Jinja template, figures embedded as base64 PNG.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.study import run_study
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> html = render_html(run_study(cohort, inputs="all", readiness=False).results, images={})
    >>> "<title>scintiml study — Teaching mIBG cohort (simulated)</title>" in html
    True
    """
    # autoescape on: column names and notes come from the user's spreadsheet
    env = Environment(loader=PackageLoader("scintiml.report", "templates"), autoescape=True)
    env.filters["fmt"] = _fmt
    env.filters["ci_method"] = ci_method_label
    env.globals["ratio_cells"] = ratio_cells
    return env.get_template("report.html.j2").render(
        r=results, images=images, captions={k: v[1] for k, v in FIGURES.items()}, tests=TESTS,
        summary=summary_lines(results), alts=figure_alts(results),
        calibration_text=calibration_sentence(results.get("test") or {}), importance_text=importance_sentence(results),
    )


def html_to_pdf(html: str, target: str | Path) -> Path:
    """Print an HTML page to PDF with WeasyPrint (A4, the page's own print CSS); nothing is fetched. The PDF is
    tagged where WeasyPrint can tag it (:func:`pdf_options`): a screen reader finds the headings, the tables' header
    cells and each figure's ``alt`` text.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> pdf = html_to_pdf("<h1>AUC 0.81</h1>", pathlib.Path(tempfile.mkdtemp()) / "r.pdf")
    >>> pdf.read_bytes()[:5]
    b'%PDF-'
    """
    import weasyprint
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # every image is embedded as a data: URL; a report never fetches anything, so no other scheme is allowed
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    HTML(string=html, url_fetcher=fetcher).write_pdf(target, **pdf_options(weasyprint))
    return Path(target)


def pdf_options(weasyprint) -> dict[str, Any]:
    """``write_pdf`` options: a tagged PDF (headings, tables, figures with their ``alt`` text in a structure tree a
    screen reader follows) where this WeasyPrint can write one (its ``pdf_tags`` option), nothing otherwise.

    Examples
    --------
    >>> import types
    >>> pdf_options(types.SimpleNamespace(DEFAULT_OPTIONS={"pdf_tags": False})), pdf_options(types.SimpleNamespace())
    ({'pdf_tags': True}, {})
    """
    return {"pdf_tags": True} if "pdf_tags" in (getattr(weasyprint, "DEFAULT_OPTIONS", None) or {}) else {}


def write_report(results: dict[str, Any], out_dir: str | Path, pdf: bool = True) -> dict[str, Path]:
    """Draw every figure and write ``figures/*.png``, ``report.html`` and (``pdf``) ``report.pdf`` into ``out_dir``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.study import run_study
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> results = run_study(cohort, inputs="all", readiness=False).results
    >>> paths = write_report(results, pathlib.Path(tempfile.mkdtemp()), pdf=False)
    >>> sorted(paths)
    ['html']
    """
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    images = {}
    with figure_style():  # savefig reads the style's resolution too
        for name, fig in draw_all(results).items():
            data = _png(fig)
            (out / "figures" / f"{name}.png").write_bytes(data)
            images[name] = base64.b64encode(data).decode("ascii")
    html = render_html(results, images)
    (out / "report.html").write_text(html, encoding="utf-8")
    paths = {"html": out / "report.html"}
    if pdf:
        printed = pdf_beside_html(html, out / "report.pdf")
        if printed is not None:
            paths["pdf"] = printed
    return paths


def pdf_beside_html(html: str, target: Path) -> Path | None:
    """:func:`html_to_pdf`, or ``None`` with a warning where the PDF writer cannot start on this machine.

    WeasyPrint needs the pango library (OSError "cannot load library 'libpango-1.0-0'" where it is missing, common
    outside Linux): the whole study (or validation) had run and then nothing was written, not even the HTML report.
    The PDF is only the HTML printed: it is left out, and the warning says why. Used by both reports."""
    try:
        from weasyprint import HTML  # noqa: F401  (the import is what fails where pango is missing)
    except (ImportError, OSError) as exc:
        warnings.warn(f"{target.name} not written: the PDF writer cannot start here ({exc}); report.html holds the "
                      "same report (print it from a browser), or install the pango library for WeasyPrint",
                      UserWarning, stacklevel=3)
        return None
    return html_to_pdf(html, target)
