"""Triage worklist (with the protocol guard), ONNX export and onnxruntime prediction."""

from __future__ import annotations

import copy
import warnings

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..imaging.planar import PlanarStudy
from .train import MATRIX, CNNModel
from .transforms import counts_to_input

#: Priority of a study the model must not score (outside the training protocol): read it as if urgent.
NOT_TRIAGED = "not triaged"
#: The protocol check of a study without PatientID (not scored: its result could be attached to no patient).
NO_PATIENT_ID = "no PatientID: the result could be attached to no patient; fix the PatientID at the modality or PACS"


def has_patient_id(study: PlanarStudy) -> bool:
    """Whether a result of the study can be attached to a patient (a PatientID that is not blank)."""
    return bool(str(study.patient_id or "").strip())


def worklist(model: CNNModel, studies: Sequence[PlanarStudy]) -> tuple[pd.DataFrame, np.ndarray]:
    """Studies ranked for reading, with a priority from the bundle's threshold and the protocol check.

    A study outside the training protocol (see :class:`~scintiml.cnn.guard.ProtocolGuard`) is not scored: its
    ``protocol_check`` says why, its priority is ``"not triaged"``, and it is listed first — unknown risk is not
    low risk. So is a study without PatientID (``protocol_check`` starting ``"no PatientID"``, with a warning): a
    priority nobody can attach to a patient is worse than none. The others follow by probability, highest first.
    A scored study's ``protocol_check`` is ``"ok"``, followed by what the bundle records but the study does not
    (``"ok; pixel spacing not recorded in the study, not checked"``): scored all the same, but not silently.

    Returns
    -------
    table : DataFrame
        ``rank, patient_id, study_instance_uid, source, probability, priority, protocol_check``.
    order : array of int
        ``studies[order[k]]`` is the study in row ``k``.

    Examples
    --------
    >>> from scintiml.datasets.perfusion import simulate_perfusion_scans
    >>> from scintiml.cnn import train_cnn
    >>> cases = simulate_perfusion_scans(20, prevalence=0.5, random_state=0)
    >>> X = np.stack([c.stack() for c in cases]); y = np.array([c.label for c in cases])
    >>> model = train_cnn(X, y, ["ANT", "POST", "RAO", "LAO", "RPO", "LPO"], width=4, epochs=1, max_steps=1)
    >>> studies = [PlanarStudy(views=c.views, patient_id=c.case_id) for c in cases[:3]]
    >>> studies[2].views = {v: a[:, ::-1] for v, a in studies[2].views.items()}
    >>> table, _ = worklist(model, studies)
    >>> table.loc[0, "priority"], table.loc[0, "protocol_check"]
    ('not triaged', 'mirrored (left-right flipped) views')
    """
    checks, stacks, ok = [], [], []
    for i, study in enumerate(studies):
        problems = model.guard.check(study)
        stack = study.stack(model.views) if not any("missing" in p for p in problems) else None
        if not has_patient_id(study):
            # a result nobody can attach to a patient (its summary filed as "unnamed", a Secondary Capture with an
            # empty PatientID) is not given a priority: it is listed first, for a person to find its patient
            problems = [NO_PATIENT_ID] + problems
            warnings.warn(f"the study in {str(study.source or study.study_instance_uid or 'the input')!r} has no "
                          "PatientID: not triaged (a result must name its patient); fix the PatientID at the "
                          "modality or PACS and send the study again", UserWarning, stacklevel=2)
        # items the bundle records but the study does not: said, not a reason to refuse (many archives drop them)
        unchecked = model.guard.unchecked(study)
        if not problems:
            ok.append(i)
        checks.append("; ".join(problems or ["ok"]) + "".join(f"; {n}" for n in unchecked))
        stacks.append(stack)
    p = np.full(len(studies), np.nan)
    if ok:
        p[ok] = model.predict_proba(np.stack([stacks[i] for i in ok]))
    priority = np.where(np.isnan(p), NOT_TRIAGED, np.where(p >= model.threshold, "URGENT", "routine"))
    table = pd.DataFrame({
        "patient_id": [s.patient_id for s in studies],
        "study_instance_uid": [s.study_instance_uid for s in studies],
        "source": [s.source for s in studies],
        "probability": p, "priority": priority, "protocol_check": checks,
    })
    order = np.lexsort((-np.nan_to_num(p, nan=2.0), ~np.isnan(p)))  # not triaged first, then by probability
    table = table.iloc[order].reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table, order


def with_unread(table: pd.DataFrame, unread: Sequence[dict[str, str]]) -> pd.DataFrame:
    """The worklist with the studies that could not be read listed first, as ``"not triaged"``, ranks renumbered.

    ``unread`` is :func:`scintiml.imaging.unread_studies`: an NM study whose files could not be read (or not be
    put together into one study) has no probability, but it is on the scanner's list and someone must read it;
    its ``protocol_check`` says ``cannot be read: ...``. A column ``study_row`` gives each row's row in the
    original ``table`` (-1 for an unread study).

    Examples
    --------
    >>> table = pd.DataFrame({"rank": [1], "patient_id": ["P1"], "study_instance_uid": ["1.1"], "source": ["a"],
    ...                       "probability": [0.9], "priority": ["URGENT"], "protocol_check": ["ok"]})
    >>> out = with_unread(table, [{"study_instance_uid": "1.2", "patient_id": "P2", "source": "b",
    ...                            "reason": "b: view ANT is ambiguous"}])
    >>> out[["rank", "patient_id", "priority", "study_row"]].values.tolist()
    [[1, 'P2', 'not triaged', -1], [2, 'P1', 'URGENT', 0]]
    >>> out.loc[0, "protocol_check"]
    'cannot be read: b: view ANT is ambiguous'
    """
    rows = pd.DataFrame({
        "patient_id": [u["patient_id"] for u in unread],
        "study_instance_uid": [u["study_instance_uid"] for u in unread],
        "source": [u["source"] for u in unread],
        "probability": np.full(len(unread), np.nan), "priority": [NOT_TRIAGED] * len(unread),
        "protocol_check": [f"cannot be read: {u['reason']}" for u in unread],
        "study_row": np.full(len(unread), -1),
    })
    rest = table.drop(columns="rank").assign(study_row=np.arange(len(table)))
    out = pd.concat([rows, rest], ignore_index=True) if len(rows) else rest.reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


class _CountsToProbability(torch.nn.Module):
    """Counts → calibrated probability, preprocessing included (so ONNX needs no numpy step)."""

    def __init__(self, network: torch.nn.Module, temperature: float):
        super().__init__()
        self.network, self.temperature = network, float(temperature)

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.network(counts_to_input(counts)) / self.temperature)


def export_onnx(model: CNNModel, path: str | Path) -> Path:
    """Export counts ``(n, views, 128, 128)`` → calibrated probability to ONNX (preprocessing in the graph).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from scintiml.datasets.perfusion import simulate_perfusion_scans
    >>> from scintiml.cnn import train_cnn
    >>> cases = simulate_perfusion_scans(20, prevalence=0.5, random_state=0)
    >>> X = np.stack([c.stack() for c in cases]); y = np.array([c.label for c in cases])
    >>> model = train_cnn(X, y, ["ANT", "POST", "RAO", "LAO", "RPO", "LPO"], width=4, epochs=1, max_steps=1)
    >>> onnx = OnnxPredictor(export_onnx(model, pathlib.Path(tempfile.mkdtemp()) / "m.onnx"))
    >>> bool(np.allclose(onnx.predict_proba(X[:4]), model.predict_proba(X[:4]), atol=1e-5))
    True
    """
    from ..io import atomic_file

    # a CPU copy: exporting must not move the caller's model off its device (a GPU model stayed on the CPU after)
    network = copy.deepcopy(model.network).cpu().eval()
    dummy = torch.zeros(1, len(model.views), *MATRIX)
    with atomic_file(path, overwrite=True) as tmp:
        torch.onnx.export(_CountsToProbability(network, model.temperature), (dummy,), str(tmp),
                          input_names=["counts"], output_names=["probability"],
                          dynamic_axes={"counts": {0: "batch"}, "probability": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    return Path(path)


class OnnxPredictor:
    """Prediction with onnxruntime alone (no torch at run time): counts in, calibrated probability out."""

    def __init__(self, onnx_path: str | Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def predict_proba(self, counts: np.ndarray) -> np.ndarray:
        return self.session.run(["probability"], {"counts": np.asarray(counts, dtype=np.float32)})[0].astype(
            np.float64)
