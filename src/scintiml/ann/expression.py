"""Write a trained network as plain formulas (Neural Designer's *mathematical expression*).

Clinicians paste the text form into a spreadsheet or a paper's appendix; the
Python form is a self-contained function that needs only the ``math`` module.
"""

from __future__ import annotations

import re

import numpy as np

from .scaling import ScalingLayer

_TEXT_ACT = {"logistic": "logistic({})", "tanh": "tanh({})", "relu": "max(0, {})", "linear": "{}"}
_PY_ACT = {"logistic": "_logistic({})", "tanh": "math.tanh({})", "relu": "max(0.0, {})", "linear": "{}"}


def _identifier(name: str, used: set[str]) -> str:
    ident = re.sub(r"\W", "_", name).strip("_") or "x"
    if ident[0].isdigit():
        ident = "x_" + ident
    base, k = ident, 2
    while ident in used:
        ident, k = f"{base}_{k}", k + 1
    used.add(ident)
    return ident


def _combination(bias: float, weights: np.ndarray, names: list[str]) -> str:
    terms = [f"{bias:.17g}"] + [f"({w:.17g} * {n})" for w, n in zip(weights, names)]
    return " + ".join(terms)


def network_expression(
    feature_names: list[str],
    scaler: ScalingLayer,
    coefs: list[np.ndarray],
    intercepts: list[np.ndarray],
    activation: str,
    language: str = "text",
) -> str:
    if language not in ("text", "python"):
        raise ValueError(f"language must be 'text' or 'python', got {language!r}")
    used: set[str] = set()
    inputs = [_identifier(n, used) for n in feature_names]
    lines: list[str] = []
    scaled = []
    for name, ident, off, sc in zip(feature_names, inputs, scaler.offset, scaler.scale):
        s = f"scaled_{ident}"
        scaled.append(s)
        lines.append(f"{s} = ({ident} - {off:.17g}) / {sc:.17g}")
    previous = scaled
    act = _PY_ACT if language == "python" else _TEXT_ACT
    for layer, (w, b) in enumerate(zip(coefs, intercepts), start=1):
        last = layer == len(coefs)
        current = []
        for j in range(w.shape[1]):
            combo = _combination(b[j], w[:, j], previous)
            if last:
                target = "probability"
                expr = ("_logistic({})" if language == "python" else "logistic({})").format(combo)
            else:
                target = f"perceptron_{layer}_{j + 1}"
                expr = act[activation].format(combo)
            lines.append(f"{target} = {expr}")
            current.append(target)
        previous = current
    if language == "text":
        header = [
            "# scintiml network expression; logistic(x) = 1 / (1 + exp(-x))",
            "# inputs: " + ", ".join(f"{i} = {n}" if i != n else i for i, n in zip(inputs, feature_names)),
        ]
        return "\n".join(header + lines)
    body = "\n".join("    " + line for line in lines)
    return (
        "import math\n\n\n"
        "def _logistic(x):\n"
        "    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))\n\n\n"
        f"def probability({', '.join(inputs)}):\n"
        '    """Probability of the event from the trained scintiml network."""\n'
        f"{body}\n"
        "    return probability\n"
    )
