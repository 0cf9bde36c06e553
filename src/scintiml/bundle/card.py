"""The model card of a tabular network (Mitchell et al. 2019, "Model Cards for Model Reporting"):
what the model is, what it was trained and tested on, how well it does (with 95 % CIs), and its limits."""

from __future__ import annotations

import re
from typing import Any

from ..evaluate.roc import ci_method_label
from ..missing_codes import code_label
from ..split import PARTS
from ..stages.results import not_a_finding


def model_card(study_results: dict[str, Any]) -> dict[str, Any]:
    """The model card as a dict (what ``card.json`` holds), from a study's ``results``.

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.study import run_study
    >>> cohort = make_mibg_cohort(n_patients=200, random_state=0).subset(["delta_lvef", "planar_washout"])
    >>> card = model_card(run_study(cohort, inputs="all", readiness=False).results)
    >>> card["model"]["inputs"], card["metrics"]["auc"] > 0.5
    (['delta_lvef', 'planar_washout'], True)
    """
    r = study_results
    test = r["test"]
    nested = r.get("nested") or {}
    limits = [
        f"tested on {r['split']['testing']} patients ({test['n_events']} events) of one split of one cohort"
        + (": the nested cross-validation headline, over all patients, is the figure to quote" if nested.get("auc")
           is not None else ": the confidence intervals are the honest size of what is known"),
        "single-site data unless the cohort says otherwise: validate on your own site's patients before use",
        "inputs outside the training range are flagged (out_of_range); predictions there are extrapolation",
    ]
    balanced = _balanced_probabilities(r)
    limits += [balanced] if balanced else []
    limits += list(r.get("warnings", []))
    rule = (r.get("rule") or {}).get("text")
    if rule:
        rule += not_a_finding(r)
    metrics = ("auc", "auc_ci95", "auc_ci_method", "threshold", "sensitivity", "sensitivity_ci95", "specificity",
               "specificity_ci95", "accuracy", "accuracy_ci95")
    headline = None
    if nested.get("auc") is not None:  # the figure the report says to quote: it belongs on the card too
        best = max((nested.get("baselines") or {}).items(), key=lambda kv: kv[1].get("auc") or 0, default=None)
        headline = {"auc": nested["auc"], "auc_ci95": nested.get("auc_ci95"), "what": nested.get("what"),
                    "interval": nested.get("interval"),
                    "best_baseline": ({"name": best[0], "auc": best[1].get("auc"),
                                       "network_minus_baseline": best[1].get("network_minus_baseline"),
                                       "difference_ci95": best[1].get("difference_ci95")} if best else None)}
    return {
        "model": {
            "type": "feed-forward neural network (scintiml ANNClassifier)",
            "architecture": r["architecture"], "inputs": r["inputs"]["selected"],
            "scintiml_version": r["scintiml_version"],
        },
        "cohort": {**{k: r["dataset"][k] for k in ("name", "n_patients", "n_events", "target", "positive",
                                                    "citation")},
                   # read as "not measured" in training, and so in every prediction (results.json 1.3 on)
                   "missing_codes": r["dataset"].get("missing_codes") or {}},
        "acquisition_protocol": r.get("protocol", {}),
        "split": {k: r["split"][k] for k in PARTS},
        "headline": headline,
        # whether the study told its AUC from chance: validate will not call a model of noise transportable
        "signal": {k: (r.get("signal") or {}).get(k) for k in ("verdict", "basis", "auc", "auc_ci95")}
        if r.get("signal") else None,
        "metrics": {k: test.get(k) for k in metrics},
        "rule": rule,
        "intended_use": (
            f"Research and decision support: estimate the probability of {r['dataset']['target']} = "
            f"{r['dataset']['positive']} for patients like those of the training cohort (see the known limits for "
            "what the probabilities are calibrated to). Not a diagnosis."
        ),
        "known_limits": limits,
    }


def _balanced_probabilities(r: dict[str, Any]) -> str | None:
    """A known limit of a network trained on the weighted squared error: its probabilities are those of a cohort
    where events and non-events weigh the same (OpenNN's positives weight = negatives / positives), so at a
    prevalence below one half they run high on average. Said with the testing part's figures, so that nobody reads
    them as this cohort's risks (the study's own patients then get a validation verdict of "recalibrate").

    Examples
    --------
    >>> r = {"network": {"loss": "weighted_squared_error"}, "dataset": {"target": "died", "positive": 1},
    ...      "test": {"prevalence": 0.32, "calibration_intercept": -0.76}}
    >>> _balanced_probabilities(r)[:60]
    'probabilities of died = 1 are those of a cohort where events'
    >>> _balanced_probabilities({**r, "network": {"loss": "cross_entropy"}}) is None
    True
    """
    if (r.get("network") or {}).get("loss") != "weighted_squared_error":
        return None
    test = r.get("test") or {}
    figures = ""
    if test.get("calibration_intercept") is not None and test.get("prevalence") is not None:
        figures = (f" (testing part: {100 * test['prevalence']:.0f} % events, calibration-in-the-large "
                   f"{test['calibration_intercept']:+.2f}; 0 is calibrated, below 0 the risks run high)")
    return (f"probabilities of {r['dataset']['target']} = {r['dataset']['positive']} are those of a cohort where "
            "events and non-events weigh the same (the weighted squared error balances them), not risks at this "
            f"cohort's prevalence{figures}: rank and threshold patients with them, and recalibrate on the "
            "site's patients (scintiml recalibrate) before reading them as risks")


def _missing_codes_lines(codes: dict[str, list[Any]] | None) -> list[str]:
    """The card's line naming the values read as "not measured" (none when the study named none)."""
    if not codes:
        return []
    shown = "; ".join(f"{'every input' if column == '*' else markdown_text(column)} = "
                      + ", ".join(code_label(float(v)) if isinstance(v, (int, float)) else markdown_text(repr(v))
                                  for v in values)
                      for column, values in codes.items())
    return [f"- read as missing (not measured), in training and in every prediction: {shown}"]


def markdown_text(text: Any) -> str:
    r"""User text (a column name, a level, a protocol value, the cohort's name) as one line of inert Markdown: line
    breaks become spaces, and the characters that start a link, a heading, a table cell, a code span, emphasis,
    an HTML tag or a character reference are backslash-escaped (an underscore is kept: ``planar_washout`` stays
    readable in the file).

    Backslashes, not HTML entities: card.md is read as a text file as often as it is rendered, and ``&amp;`` or
    ``&lt;`` there read as noise ("Nadeau &amp; Bengio"); an ``&`` is escaped only where it would start a reference.

    >>> markdown_text("a\n## b <img src=x> [c](javascript:d) `e` f|g")
    'a \\#\\# b \\<img src=x\\> \\[c\\](javascript:d) \\`e\\` f\\|g'
    >>> markdown_text("Nadeau & Bengio; &amp; &#60;")
    'Nadeau & Bengio; \\&amp; &\\#60;'
    """
    text = " ".join(str(text).split())
    # no link, heading, table cell, code span, emphasis or HTML tag (CommonMark: any ASCII punctuation may be escaped)
    text = re.sub(r"([\\`\[\]#|*<>])", r"\\\1", text)
    return re.sub(r"&(?=#?[0-9A-Za-z]+;)", r"\\&", text)  # "&amp;" would render as "&": kept as typed


def _code(text: Any) -> str:
    """``text`` as one inline code span whatever backticks it holds (CommonMark: a longer fence)."""
    text = " ".join(str(text).split())
    longest = max((len(m) for m in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


def _ci(v) -> str:
    return f"{v[0]:.2f}–{v[1]:.2f}" if v and None not in v else "n/a"


def card_markdown(card: dict[str, Any]) -> str:
    """The model card as Markdown (``card.md``).

    Examples
    --------
    >>> card = {"model": {"type": "net", "architecture": [2, 1], "inputs": ["a", "b"], "scintiml_version": "0"},
    ...         "cohort": {"name": "c", "n_patients": 10, "n_events": 5, "target": "y", "positive": 1,
    ...                    "citation": None},
    ...         "acquisition_protocol": {}, "split": {"training": 6, "selection": 2, "testing": 2},
    ...         "metrics": {"auc": 0.8, "auc_ci95": [0.6, 0.9], "threshold": 0.5, "sensitivity": 1.0,
    ...                     "sensitivity_ci95": [0.3, 1.0], "specificity": 0.5, "specificity_ci95": [None, None],
    ...                     "accuracy": 0.75, "accuracy_ci95": [0.3, 0.95]},
    ...         "rule": None, "intended_use": "teaching", "known_limits": ["tiny"]}
    >>> print(card_markdown(card).splitlines()[0])
    # Model card: y from a, b
    """
    m = card["metrics"]
    lines = [
        f"# Model card: {markdown_text(card['cohort']['target'])} from "
        f"{', '.join(map(markdown_text, card['model']['inputs']))}",
        "",
        "## Model",
        f"- {card['model']['type']}, layers {card['model']['architecture']}",
        f"- inputs: {', '.join(map(markdown_text, card['model']['inputs']))}",
        f"- scintiml {card['model']['scintiml_version']}",
        "",
        "## Cohort",
        f"- {markdown_text(card['cohort']['name'])}: {card['cohort']['n_patients']} patients, "
        f"{card['cohort']['n_events']} events",
        f"- split training/selection/testing: {card['split']['training']}/{card['split']['selection']}/"
        f"{card['split']['testing']}",
        f"- source: {card['cohort']['citation'] or 'user data'}",
        *_missing_codes_lines(card["cohort"].get("missing_codes")),
        "",
        "## Acquisition protocol",
    ]
    protocol = card["acquisition_protocol"]
    lines += ([f"- {markdown_text(k)}: {markdown_text(v)}" for k, v in protocol.items()]
              or ["- not recorded (pass --protocol KEY=VALUE)"])
    head = card.get("headline")
    if head:
        lines += ["", "## Headline: nested cross-validation (the figure to quote; 95 % CI)",
                  f"- AUC {head['auc']:.3f} ({_ci(head['auc_ci95'])}): {markdown_text(head.get('what') or '')}"
                  + (f" ({markdown_text(head['interval'])})" if head.get("interval") else "")]
        best = head.get("best_baseline")
        if best and best.get("auc") is not None:
            lo, hi = best["difference_ci95"]
            lines.append(f"- best baseline on the same folds: {markdown_text(best['name'].replace('_', ' '))} "
                         f"{best['auc']:.3f}; network − baseline {best['network_minus_baseline']:+.3f} "
                         f"({lo:+.3f} to {hi:+.3f})")
    method = f"; AUC interval: {markdown_text(ci_method_label(m['auc_ci_method']))}" if m.get("auc_ci_method") else ""
    lines += [
        "",
        f"## Metrics on the testing instances (one split; 95 % CI{method})",
        f"- AUC {m['auc']:.3f} ({_ci(m['auc_ci95'])})",
        f"- threshold {m['threshold']:.3f} (chosen on the selection instances)",
        f"- sensitivity {m['sensitivity']:.2f} ({_ci(m['sensitivity_ci95'])}), specificity {m['specificity']:.2f} "
        f"({_ci(m['specificity_ci95'])}), accuracy {m['accuracy']:.2f} ({_ci(m['accuracy_ci95'])})",
    ]
    if card.get("rule"):
        lines += ["", "## Clinical rule", f"- {_code(card['rule'])}"]
    lines += ["", "## Intended use", markdown_text(card["intended_use"]), "", "## Known limits"]
    lines += [f"- {markdown_text(x)}" for x in card["known_limits"]]
    return "\n".join(lines) + "\n"
