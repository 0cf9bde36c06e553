"""The triage worklist as CSV, JSON and a small static HTML page, sorted by urgency, rewritten atomically.

Order: URGENT studies first, then studies that failed (a person must look at them: the reason is shown),
then routine ones; within each group, highest probability first.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Iterable

from ..io import atomic_file, formula_safe, write_json

__all__ = ["COLUMNS", "sort_rows", "write_worklist"]

COLUMNS = ("rank", "priority", "probability", "patient_id", "study_instance_uid", "status", "reason",
           "threshold", "model_version", "sc_sop_instance_uid", "sr_sop_instance_uid", "updated")
_GROUP = {"URGENT": 0, "FAILED": 1, "routine": 2}


def sort_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows ordered by urgency, each with its ``rank`` (1 = read first).

    Examples
    --------
    >>> rows = [{"priority": "routine", "probability": 0.2}, {"priority": "FAILED", "probability": None},
    ...         {"priority": "URGENT", "probability": 0.6}, {"priority": "URGENT", "probability": 0.9}]
    >>> [(r["rank"], r["priority"], r["probability"]) for r in sort_rows(rows)]
    [(1, 'URGENT', 0.9), (2, 'URGENT', 0.6), (3, 'FAILED', None), (4, 'routine', 0.2)]
    """
    def key(row):
        p = row.get("probability")
        return (_GROUP.get(str(row.get("priority")), 3), -(p if isinstance(p, (int, float)) else -1.0),
                str(row.get("study_instance_uid", "")))

    ordered = [dict(r) for r in sorted(rows, key=key)]
    for i, row in enumerate(ordered, start=1):
        row["rank"] = i
    return ordered


def write_worklist(rows: Iterable[dict[str, Any]], folder: str | Path) -> dict[str, Path]:
    """Write ``worklist.csv``, ``worklist.json`` and ``worklist.html`` into ``folder`` (each atomically).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> paths = write_worklist([{"priority": "URGENT", "probability": 0.9, "patient_id": "<P1>"}], folder)
    >>> paths["csv"].read_text().splitlines()[1]
    '1,URGENT,0.9,<P1>,,,,,,,,'
    >>> "&lt;P1&gt;" in paths["html"].read_text()
    True
    >>> paths = write_worklist([{"priority": "URGENT", "probability": 0.9, "patient_id": "=CMD()"}], folder)
    >>> paths["csv"].read_text().splitlines()[1]  # a spreadsheet shows it as text, it does not run it
    "1,URGENT,0.9,'=CMD(),,,,,,,,"
    """
    import csv

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ordered = sort_rows(rows)
    paths = {"csv": folder / "worklist.csv", "json": folder / "worklist.json", "html": folder / "worklist.html"}
    with atomic_file(paths["csv"], overwrite=True) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in ordered:
                # PatientID and study descriptions come from the PACS: no spreadsheet formula among them
                writer.writerow({c: "" if row.get(c) is None else formula_safe(row.get(c)) for c in COLUMNS})
    write_json(paths["json"], [{c: row.get(c) for c in COLUMNS} for row in ordered])
    with atomic_file(paths["html"], overwrite=True) as tmp:
        tmp.write_text(_html(ordered), encoding="utf-8")
    return paths


def _html(rows: list[dict[str, Any]]) -> str:
    colour = {"URGENT": "#b00020", "FAILED": "#8a5a00", "routine": "#1b5e20"}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for row in rows:
        cells = []
        for c in COLUMNS:
            value = row.get(c)
            text = "" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
            style = f' style="color:{colour.get(str(value), "inherit")};font-weight:bold"' if c == "priority" else ""
            cells.append(f"<td{style}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>scintiml triage worklist</title>\n"
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:90%}th{background:#eee}</style></head><body>\n"
        f"<h1>Lung perfusion triage worklist</h1>\n<p>{len(rows)} studies, most urgent first. "
        "For triage &mdash; not a diagnosis: every study is still reported by a physician.</p>\n"
        f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table></body></html>\n"
    )
