"""One JSON-cleaning helper for the whole package."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def jsonable(obj: Any) -> Any:
    """A plain-Python copy of ``obj`` that :func:`json.dumps` writes as strict JSON.

    numpy scalars and arrays become numbers and lists, NaN and ±inf become ``None`` (JSON has no NaN),
    pandas frames become lists of records and series lists, paths strings, dataclasses dicts.

    Examples
    --------
    >>> import numpy as np
    >>> jsonable({"auc": np.float64(0.75), "ci": np.array([0.6, np.nan]), 3: (1, 2)})
    {'auc': 0.75, 'ci': [0.6, None], '3': [1, 2]}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if obj is None or isinstance(obj, str):
        return obj
    try:  # pandas objects without importing pandas here
        import pandas as pd

        if isinstance(obj, pd.DataFrame):
            return jsonable(obj.to_dict(orient="records"))
        if isinstance(obj, pd.Series):
            return jsonable(obj.tolist())
        if obj is pd.NA or obj is pd.NaT:
            return None
        if isinstance(obj, pd.Timestamp):
            return obj.isoformat()
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pass
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    return str(obj)


def dumps(obj: Any, indent: int | None = 1) -> str:
    """Strict JSON text of ``obj`` (after :func:`jsonable`; never writes NaN)."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False)


def write_json(path: str | Path, obj: Any, indent: int | None = 1, overwrite: bool = True) -> Path:
    """Write ``obj`` as strict JSON to ``path`` atomically (temp sibling, then rename)."""
    from .atomic import atomic_file

    with atomic_file(path, overwrite=overwrite) as tmp:
        tmp.write_text(dumps(obj, indent=indent), encoding="utf-8")
    return Path(path)
