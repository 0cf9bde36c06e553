"""Figures of a study, drawn only from its ``results`` dict (reports never recompute)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure


def _ci_text(ci) -> str:
    """An interval as "lo–hi", or "no CI" where it is undefined (null in results.json)."""
    return "no CI" if not ci or any(v is None or v != v for v in ci) else f"{ci[0]:.3f}–{ci[1]:.3f}"

BLUE, ORANGE, GREY, RED = "#1f5fa8", "#d9771e", "#7a7a7a", "#b22222"

#: The report's look, applied only inside :func:`figure_style` (never to the user's global rcParams).
STYLE = {
    "figure.dpi": 110, "savefig.dpi": 200, "font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
    "axes.spines.right": False,
    # column names are the user's text: "cost $\alpha$" is a name, not mathtext (invalid mathtext raised at draw)
    "text.parse_math": False,
}


@contextmanager
def figure_style() -> Iterator[None]:
    """The report's matplotlib style for the figures drawn and saved inside the block.

    Examples
    --------
    >>> import matplotlib
    >>> before = matplotlib.rcParams["savefig.dpi"]
    >>> with figure_style():
    ...     matplotlib.rcParams["savefig.dpi"]
    200.0
    >>> matplotlib.rcParams["savefig.dpi"] == before
    True
    """
    with matplotlib.rc_context(STYLE):
        yield


def _luminance(rgb: Sequence[float]) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour given as three fractions in [0, 1]."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def text_colour_on(rgb: Sequence[float]) -> str:
    """Black or white, whichever contrasts more with the background colour ``rgb`` (fractions in [0, 1]): the
    number written on a heat-map cell must be readable whatever shade the cell took (WCAG 2.1 contrast ratio).

    Examples
    --------
    >>> text_colour_on((1.0, 1.0, 1.0)), text_colour_on((0.03, 0.19, 0.42)), text_colour_on((0.5, 0.73, 0.85))
    ('black', 'white', 'black')
    """
    lum = _luminance(rgb)
    return "black" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "white"


def _subplots(*args, figsize=None, **kwargs):
    """``plt.subplots`` without pyplot: a standalone Figure (no global figure list, no backend switch)."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def _heatmap(r: dict[str, Any]):
    corr = r["explore"]["correlation"]
    names, m = corr["inputs"], np.asarray(corr["matrix"], float)
    # Drawn no wider than the report's text width (182 mm, 7.17 in), with the labels kept inside the figure: a wider
    # figure is shrunk to fit the page and its labels printed below 6 pt (4 pt at 50 inputs before 0.7.1).
    size = min(6.3, 3 + 0.16 * len(names))
    fig, ax = _subplots(figsize=(size + 0.8, size))
    fig.set_layout_engine("constrained")
    im = ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1)
    if len(names) <= 12:  # r = -1 and r = +1 print as the same grey: write the values where they fit
        for (i, j), v in np.ndenumerate(m):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color=text_colour_on(im.cmap(im.norm(v))))
    if len(names) <= 50:
        labels = short_labels(names)
        ax.set_xticks(range(len(names)), labels, rotation=90, fontsize=max(6, 9 - len(names) // 8))
        ax.set_yticks(range(len(names)), labels, fontsize=max(6, 9 - len(names) // 8))
    else:
        ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(im, ax=ax, shrink=0.7, label="Pearson r")
    ax.set_title(_heatmap_title(corr))
    return fig


def _heatmap_title(corr: dict[str, Any]) -> str:
    """The heat map's title: it says when a wide table's matrix holds only some inputs (results written
    before the cap have no ``n_inputs``: every input was stored).

    Examples
    --------
    >>> _heatmap_title({"inputs": ["a", "b"], "matrix": [[1, 0], [0, 1]]})
    'Correlation between inputs'
    >>> _heatmap_title({"inputs": ["a"] * 100, "n_inputs": 2000})
    'Correlation between the 100 inputs most associated with the outcome (of 2,000)'
    """
    shown, total = len(corr["inputs"]), corr.get("n_inputs", len(corr["inputs"]))
    if total <= shown:
        return "Correlation between inputs"
    return f"Correlation between the {shown:,} inputs most associated with the outcome (of {total:,})"


def _selection_trace(r: dict[str, Any]):
    history = r["selection"].get("history") or []
    fig, ax = _subplots(figsize=(7, 3.6))
    if not history:
        ax.text(0.5, 0.5, "all inputs kept (no input selection)", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    loss = np.array([h["selection_loss"] for h in history])
    train = np.array([h["training_loss"] for h in history])
    acc = np.array([h["accepted"] for h in history])
    x = np.arange(1, len(history) + 1)
    ax.plot(x, train, color=GREY, lw=1, ls="--", label="training error")  # told apart by style, not colour alone
    ax.plot(x, loss, color=BLUE, lw=1, label="selection error")
    ax.scatter(x[acc], loss[acc], color=ORANGE, marker="D", edgecolors="black", linewidths=0.5, zorder=3, s=24,
               label="accepted")
    ax.set_xlabel("candidate subset (in the order tried)")
    ax.set_ylabel("weighted squared error")
    if r["selection"].get("mode") == "stable":  # the trace is the one CV selection, shown beside the stable set
        ax.set_title(f"One cross-validated selection ({r['selection']['method']}, for comparison): "
                     f"{len(r['selection']['cv_selected'])} of {len(r['inputs']['all'])} inputs")
    else:
        ax.set_title(f"Input selection ({r['selection']['method']}): {len(r['inputs']['selected'])} of "
                     f"{len(r['inputs']['all'])} inputs kept")
    ax.legend(frameon=False)
    return fig


def _order_trace(r: dict[str, Any]):
    rows = r["order_selection"]["history"]
    fig, ax = _subplots(figsize=(6, 3.4))
    n = np.array([h["n_parameters"] for h in rows])
    loss = np.array([h["selection_loss"] for h in rows])
    chosen = np.array([h["chosen"] for h in rows])
    ax.scatter(n, loss, color=BLUE, s=16, label="architecture")
    ax.scatter(n[chosen], loss[chosen], color=ORANGE, s=60, zorder=3,
               label=f"chosen: hidden {tuple(r['order_selection']['hidden_layer_sizes'])}")
    ax.set_xlabel("number of parameters")
    ax.set_ylabel("selection error")
    ax.set_title("Order selection")
    ax.legend(frameon=False)
    return fig


def _network(r: dict[str, Any]):
    names = r["inputs"]["selected"]
    labels = short_labels(names)
    sizes = [min(r["architecture"][0], MAX_ROWS), *r["architecture"][1:]]  # the first inputs, then "+ N more"
    fig, ax = _subplots(figsize=(7, max(3, 0.45 * max(sizes) + 1.5)))
    xs = np.linspace(0, 1, len(sizes))
    positions = []
    for x, n in zip(xs, sizes):
        ys = np.linspace(0.5 - 0.08 * (n - 1) / 2, 0.5 + 0.08 * (n - 1) / 2, n) if n > 1 else np.array([0.5])
        positions.append([(x, y) for y in ys[::-1]])
    for a, b in zip(positions[:-1], positions[1:]):
        for p in a:
            for q in b:
                ax.plot([p[0], q[0]], [p[1], q[1]], color=GREY, lw=0.5, alpha=0.6)
    for i, layer in enumerate(positions):
        color = ORANGE if i == 0 else (RED if i == len(positions) - 1 else BLUE)
        for j, (x, y) in enumerate(layer):
            ax.scatter([x], [y], s=260, color=color, zorder=3, edgecolor="white")
            if i == 0:
                more = len(names) - sizes[0]
                label = f"+ {more + 1} more inputs" if more > 0 and j == sizes[0] - 1 else labels[j]
                ax.text(x - 0.03, y, label, ha="right", va="center")
            if i == len(positions) - 1:
                ax.text(x + 0.03, y, f"P({r['dataset']['target']})", ha="left", va="center")
    ax.set_xlim(-0.45, 1.3)
    ax.set_axis_off()
    ax.set_title(f"Final network {r['architecture']}: scaling → logistic perceptrons → probability")
    return fig


def _roc(r: dict[str, Any]):
    t = r["test"]
    curve = t["roc"]
    fig, ax = _subplots(figsize=(4.6, 4.4))
    if "band" in curve:
        band = curve["band"]
        if np.allclose(np.asarray(band["upper"], float), np.asarray(band["lower"], float)):
            # every bootstrap resample of a perfectly separated testing part is separated too: the band has no
            # width, which is no certainty (the AUC's own interval is the exact binomial one)
            ax.plot([], [], color="none", label="no bootstrap band: every resample is separated")
        else:
            ax.fill_between(band["fpr"], band["lower"], band["upper"], color=BLUE, alpha=0.18, lw=0,
                            label="95 % confidence band")
    ax.plot(curve["fpr"], curve["tpr"], color=BLUE, lw=2,
            label=f"network: AUC {t['auc']:.3f} ({_ci_text(t['auc_ci95'])})")
    ax.plot([0, 1], [0, 1], ls="--", color=GREY, lw=1)
    fpr_pt = 1 - t["specificity"]
    ax.scatter([fpr_pt], [t["sensitivity"]], color=ORANGE, zorder=4, s=40,
               label=f"threshold {t['threshold']:.3f}")
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(f"ROC on the testing instances (n = {t['n']})")
    ax.legend(loc="lower right", frameon=False, fontsize=8)
    ax.set_aspect("equal")
    return fig


def _confusion(r: dict[str, Any]):
    cm = r["test"]["confusion_matrix"]
    m = np.array([[cm["tp"], cm["fn"]], [cm["fp"], cm["tn"]]])
    fig, ax = _subplots(figsize=(3.8, 3.4))
    im = ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):  # the text colour from the cell's own shade (the scale starts at m.min())
        ax.text(j, i, str(v), ha="center", va="center", fontsize=14, color=text_colour_on(im.cmap(im.norm(v))))
    ax.set_xticks([0, 1], ["predicted event", "predicted no event"])
    ax.set_yticks([0, 1], ["event", "no event"])
    ax.set_title("Confusion matrix (testing)")
    return fig


def _calibration(r: dict[str, Any]):
    t = r["test"]
    fig, ax = _subplots(figsize=(4.4, 4.2))
    bins = t.get("reliability") or []
    if bins:
        x = [b["mean_predicted"] for b in bins]
        y = [b["observed"] for b in bins]
        lo = [max(0.0, b["observed"] - b["observed_ci95"][0]) for b in bins]
        hi = [max(0.0, b["observed_ci95"][1] - b["observed"]) for b in bins]
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o", color=BLUE, capsize=3, label="observed (95 % CI)")
    ax.plot([0, 1], [0, 1], ls="--", color=GREY, lw=1, label="ideal")
    slope = t.get("calibration_slope")
    ax.set_title(f"Calibration: Brier {t['brier']:.3f}, slope {slope:.2f}" if slope is not None
                 else f"Calibration: Brier {t['brier']:.3f}")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed event rate")
    ax.legend(frameon=False, fontsize=8)
    return fig


def _gain(r: dict[str, Any]):
    g = r["test"]["gain"]
    fig, (a1, a2) = _subplots(1, 2, figsize=(8, 3.4))
    a1.plot(g["fraction"], g["gain"], color=BLUE, lw=2, label="network")
    a1.plot([0, 1], [0, 1], ls="--", color=GREY, label="random order")
    a1.set_xlabel("fraction of patients (highest probability first)")
    a1.set_ylabel("fraction of events found")
    a1.set_title("Cumulative gain")
    a1.legend(frameon=False)
    lift = [v if v is not None else np.nan for v in g["lift"]]
    a2.plot(g["fraction"], lift, color=BLUE, lw=2)
    a2.axhline(1, ls="--", color=GREY)
    a2.set_xlabel("fraction of patients")
    a2.set_title("Lift")
    return fig


def _decision(r: dict[str, Any]):
    d = r["test"]["decision_curve"]
    fig, ax = _subplots(figsize=(5.2, 3.6))
    ax.plot(d["threshold"], d["model"], color=BLUE, lw=2, label="network")
    ax.plot(d["threshold"], d["treat_all"], color=ORANGE, lw=1.2, ls="-.", label="treat all")
    ax.plot(d["threshold"], d["treat_none"], color=GREY, lw=1.2, ls=":", label="treat none")
    prev = r["test"]["prevalence"]
    ax.set_ylim(-0.05, max(0.05, prev * 1.1))
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    ax.set_title("Decision curve (testing)")
    ax.legend(frameon=False)
    return fig


#: Rows of the importance chart and input nodes of the network drawing: beyond them a figure of 500 inputs was
#: 31 and 39 million pixels (past ~540 inputs the PDF left it out); results.json keeps every row.
MAX_ROWS = 30
#: The longest input name drawn whole: 300-character names made the importance figure 5,444 pixels wide and the
#: heat map 4,853 x 4,690 (the report and results.json keep every name whole).
MAX_LABEL = 40


def short_labels(names: Sequence[str], width: int = MAX_LABEL) -> list[str]:
    """Input names as figure labels: a name longer than ``width`` keeps its start and end around an ellipsis
    (``lesion_..._ANT`` names differ at either end); names that still coincide get their position.

    >>> short_labels(["age", "x" * 30 + "_left_" + "y" * 30, "x" * 30 + "_right_" + "y" * 30], width=20)
    ['age', 'xxxxxxxxxxxxx…yyyyyy #2', 'xxxxxxxxxxxxx…yyyyyy #3']
    """
    head = width * 2 // 3
    tail = width - head - 1
    out = [str(n) if len(str(n)) <= width else f"{str(n)[:head]}…{str(n)[-tail:]}" for n in names]
    seen: dict[str, int] = {}
    for label in out:
        seen[label] = seen.get(label, 0) + 1
    # a bar chart merges equal category labels into one bar: every label must stay distinct
    return [label if seen[label] == 1 or label == str(name) else f"{label} #{i + 1}"
            for i, (label, name) in enumerate(zip(out, names))]


def _importance(r: dict[str, Any]):
    rows = r["importance"][:MAX_ROWS]  # the most important first
    # 0.22 in a row (16 pt for 9 pt labels): 30 rows fit the printed page's 200 mm height without shrinking
    fig, ax = _subplots(figsize=(5.5, 0.22 * len(rows) + 1.4))
    names = short_labels([x["group"] for x in rows])[::-1]
    mean = [x["importance_mean"] for x in rows][::-1]
    sd = [x["importance_sd"] for x in rows][::-1]
    ax.barh(names, mean, xerr=sd, color=BLUE, capsize=3)
    ax.set_xlabel("drop in selection AUC when the input is shuffled (mean ± SD, 20 repeats)")
    more = len(r["importance"]) - len(rows)
    ax.set_title("Input importance" + (f" (the {len(rows)} most important; {more} more in results.json)"
                                       if more > 0 else ""))
    return fig


def _partial_dependence(r: dict[str, Any]):
    pd_ = r["partial_dependence"]
    n = len(pd_)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    # at most 7.2 in wide, the report's text width (182 mm): a wider figure is shrunk to it and its 9 pt labels
    # printed below 7 pt
    fig, axes = _subplots(rows, cols, figsize=(2.4 * cols, 2.2 * rows), squeeze=False)
    for ax, (name, d) in zip(axes.ravel(), zip(short_labels(list(pd_), width=26), pd_.values())):  # 2.4 in each
        ax.plot(d["grid"], d["mean_probability"], color=BLUE, lw=2)
        ax.set_xlabel(name)
        ax.set_ylabel("mean probability")
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    left = len(r["inputs"]["selected"]) - n
    fig.suptitle("Partial dependence of the final network" + (f" ({n} most important inputs)" if left > 0 else ""))
    fig.tight_layout()
    return fig


def _baselines(r: dict[str, Any]):
    b = r["baselines"]
    names = ["network"] + [k.replace("_", " ") for k in b]
    aucs = [r["test"]["auc"]] + [v["auc"] for v in b.values()]
    cis = [r["test"]["auc_ci95"]] + [v["auc_ci95"] for v in b.values()]
    n_in = [len(r["inputs"]["selected"])] + [v["n_inputs"] for v in b.values()]
    fig, ax = _subplots(figsize=(5.6, 2.8))
    y = np.arange(len(names))[::-1]
    ax.errorbar(aucs, y, xerr=[[a - c[0] for a, c in zip(aucs, cis)], [c[1] - a for a, c in zip(aucs, cis)]],
                fmt="o", color=BLUE, capsize=3)
    ax.set_yticks(y, [f"{n} ({k} inputs)" for n, k in zip(names, n_in)])
    ax.axvline(0.5, ls="--", color=GREY)
    ax.set_xlabel("testing AUC (95 % CI)")
    ax.set_title("Network and baselines, same split")
    return fig


def _readiness(r: dict[str, Any]):
    rd = r["readiness"]
    fig, (a1, a2) = _subplots(1, 2, figsize=(8, 3.2))
    names = ["clinical", "imaging", "combined"]
    means = [rd["auc"][n]["mean"] for n in names]
    cis = [rd["auc"][n]["ci95"] for n in names]
    a1.errorbar(range(3), means, yerr=[[m - c[0] for m, c in zip(means, cis)], [c[1] - m for m, c in zip(means, cis)]],
                fmt="o", color=BLUE, capsize=4)
    a1.set_xticks(range(3), names)
    a1.set_ylabel("cross-validated AUC (95 % CI)")
    a1.set_title(f"Is deep learning warranted? {rd['verdict'].replace('_', ' ')}")
    lc = rd["learning_curve"]
    a2.plot(lc["n_training"], lc["auc"], "o-", color=BLUE)
    a2.set_xlabel("training patients")
    a2.set_ylabel("AUC (clinical + imaging)")
    a2.set_title("Learning curve")
    fig.tight_layout()
    return fig


def _selection_frequency(r: dict[str, Any]):
    st = r["selection"]["stability"]
    rows = [f for f in st["frequencies"] if f["n_selected"] > 0][:15] or st["frequencies"][:5]
    fig, ax = _subplots(figsize=(6.4, 0.3 * len(rows) + 1.4))
    y = np.arange(len(rows))[::-1]
    freq = np.array([f["frequency"] for f in rows])
    lo = freq - np.array([f["ci95_low"] for f in rows])
    hi = np.array([f["ci95_high"] for f in rows]) - freq
    colors = [ORANGE if f["selected"] else BLUE for f in rows]
    ax.barh(y, freq, color=colors)
    ax.errorbar(freq, y, xerr=[lo, hi], fmt="none", ecolor=GREY, capsize=2, lw=1)
    ax.axvline(st["threshold"], ls="--", color=GREY)
    ax.set_yticks(y, short_labels([f["input"] for f in rows]))
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share of {len(st['runs'])} resampled selections that kept the input (Wilson 95 % CI)")
    together = (f"all stable inputs together in {100 * st['contains_share']:.0f} %" if "contains_share" in st
                else f"the same set came out in {100 * st['same_set_share']:.0f} %")  # results of scintiml < 0.4
    ax.set_title(f"How often each input was chosen; {together}")
    fig.tight_layout()
    return fig


def _nested(r: dict[str, Any]):
    n = r["nested"]
    names = ["network"] + [k.replace("_", " ") for k in n["baselines"]]
    aucs = [n["auc"]] + [v["auc"] for v in n["baselines"].values()]
    cis = [n["auc_ci95"]] + [v["auc_ci95"] for v in n["baselines"].values()]
    fig, ax = _subplots(figsize=(5.6, 2.8))
    y = np.arange(len(names))[::-1]
    ax.errorbar(aucs, y, xerr=[[a - c[0] for a, c in zip(aucs, cis)], [c[1] - a for a, c in zip(aucs, cis)]],
                fmt="o", color=BLUE, capsize=3, label="nested cross-validation (headline)")
    ax.plot([r["test"]["auc"]], [y[0]], "D", color=ORANGE, label="network, single testing split")
    ax.set_yticks(y, names)
    ax.axvline(0.5, ls="--", color=GREY)
    ax.set_xlabel("AUC (95 % CI)")
    times = f" x {n['n_repeats']}" if n["n_repeats"] > 1 else ""
    ax.set_title(f"Whole pipeline, {n['n_splits']}-fold nested CV{times}, same folds")
    ax.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.4, -0.25), ncol=2)
    fig.tight_layout()
    return fig


#: name -> (drawing function, caption, needs)
FIGURES: dict[str, tuple[Callable, str]] = {
    "correlation_heatmap": (_heatmap, "Correlation heat map of the inputs (Pearson); on a wide table, of those most "
                            "associated with the outcome (univariate AUC), as the title says."),
    "selection_trace": (_selection_trace, "Training and selection error of each candidate subset."),
    "order_selection": (_order_trace, "Selection error of each network size; the smallest good one is kept."),
    "network": (_network, "The final network, as in the published figures."),
    "roc": (_roc, "ROC curve on the testing instances with its 95 % bootstrap band (none where every resample "
                  "separates the outcomes: the legend says so)."),
    "confusion_matrix": (_confusion, "Confusion matrix at the threshold chosen on the selection instances."),
    "calibration": (_calibration, "Calibration: observed event rate against predicted probability."),
    "gain_lift": (_gain, "Cumulative gain and lift."),
    "decision_curve": (_decision, "Net benefit over threshold probabilities (Vickers & Elkin 2006)."),
    "importance": (_importance, "Permutation importance of the selected inputs on the selection instances."),
    "partial_dependence": (_partial_dependence, "How the predicted probability moves with each input (the 12 most "
                           "important at most)."),
    "baselines": (_baselines, "The network against standard models trained on all inputs, same split."),
    "readiness": (_readiness, "Clinical-only, imaging-only and combined models (paired cross-validation)."),
    "selection_frequency": (_selection_frequency, "How often each input was chosen when the whole input selection "
                            "was repeated on half-samples; orange: chosen at or above the dashed threshold (the stable inputs)."),
    "nested": (_nested, "The headline: the whole pipeline, selection included, refitted in each outer fold; "
               "baselines on the same folds (Nadeau & Bengio corrected intervals)."),
}


def draw_all(r: dict[str, Any]) -> dict[str, Any]:
    """Every figure that applies to these results, by name (matplotlib figures, drawn in :func:`figure_style`;
    save them inside the same block to keep its resolution). The drawing functions are in :data:`FIGURES`.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.study import run_study
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> figures = draw_all(run_study(cohort, inputs="all", readiness=False).results)
    >>> "roc" in figures and "readiness" not in figures
    True
    """
    out = {}
    with figure_style():
        for name, (fn, _) in FIGURES.items():
            if name == "readiness" and not r.get("readiness"):
                continue
            if (name == "selection_frequency" and not (r.get("selection") or {}).get("stability")) or (
                    name == "nested" and not r.get("nested")):
                continue
            out[name] = fn(r)
    return out
