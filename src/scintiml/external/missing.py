"""Inputs missing at a new site: impute with the training medians, flag each patient, refuse above a stated share.

A model is only as good as the inputs it is given. Filling a few gaps with the training median is the same
policy the study used; filling most of an input's values with one constant hands the model a different input,
so above :data:`MAX_MISSING_SHARE` missing (per input, at the new site) the data are refused with a message that
names the inputs and the way out.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ScintimlError

__all__ = ["MissingInputError", "MAX_MISSING_SHARE", "prepare_inputs"]

#: Largest share of an input's values that may be missing at a new site and be imputed (30 %). Above it the
#: median stands in for so many patients that the model sees a different input; below it, every imputed
#: patient is flagged so the reader can set them aside.
MAX_MISSING_SHARE = 0.3


class MissingInputError(ScintimlError):
    """A model input is absent, or missing for too many patients, at the new site."""


def absent_inputs(frame: pd.DataFrame, inputs: Sequence[str]) -> list[str]:
    """The model inputs a table can give neither as a column nor, for a one-hot input ``"sex=M"``, from its
    column ``"sex"``.

    Examples
    --------
    >>> absent_inputs(pd.DataFrame({"age": [60], "sex": ["M"]}), ["age", "sex=M", "dose"])
    ['dose']
    """
    from ..cohort import one_hot_source

    return [c for c in inputs if c not in frame.columns and one_hot_source(c, frame.columns) is None]


def prepare_inputs(
    frame: pd.DataFrame,
    inputs: Sequence[str],
    medians: Mapping[str, float],
    max_missing_share: float = MAX_MISSING_SHARE,
    categories: Mapping[str, Sequence[str]] | None = None,
) -> tuple[pd.DataFrame, pd.Series, dict[str, float]]:
    """The model's inputs from a new site's table, missing values imputed with the training medians.

    Parameters
    ----------
    frame : DataFrame
        The new patients (not modified).
    inputs : sequence of str
        The model's inputs, in its order.
    medians : mapping
        Training median per input (the bundle's imputation values).
    max_missing_share : float
        Largest missing share accepted per input (default :data:`MAX_MISSING_SHARE`).

    Returns
    -------
    X : DataFrame
        The inputs, complete.
    imputed : Series of str
        Per patient, the inputs that were imputed (``;``-separated, empty when none).
    missing_share : dict
        Per input, the share of patients with it missing.

    Raises
    ------
    MissingInputError
        When an input column is absent, holds non-numeric text, is missing for more than ``max_missing_share``
        of the patients, or is missing with no training median to impute.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"age": [50, None, 70, 64, 58], "dose": [1.0, 2.0, 3.0, 2.0, 1.0]})
    >>> X, imputed, share = prepare_inputs(frame, ["age", "dose"], {"age": 60.0, "dose": 2.0})
    >>> X["age"].tolist(), imputed.tolist(), share["age"]
    ([50.0, 60.0, 70.0, 64.0, 58.0], ['', 'age', '', '', ''], 0.2)
    >>> prepare_inputs(frame.assign(age=[None, None, 70, 64, 58]), ["age"], {"age": 60.0})  # 40 % > 30 %
    Traceback (most recent call last):
    ...
    scintiml.external.missing.MissingInputError: input 'age' is missing for 40 % of the patients ...
    """
    from ..cohort import model_inputs
    from ..errors import TargetColumnError

    # read as the study read its data: one-hot inputs rebuilt from their column, TRUE/FALSE as 1/0; its errors
    # (text, infinite or huge values, no rows) already say what to fix
    try:
        X = model_inputs(frame, list(inputs), categories=categories)  # an unseen level: missing, so imputed
    except TargetColumnError as exc:  # its one such error: an input column it cannot find
        # its message names a column spelt otherwise ("'Ejection_Fraction' where the model has
        # 'ejection_fraction'"), as predict says it; the message made here only said the input was missing
        raise MissingInputError(f"{exc} — add the column(s), or retrain a model without them") from None
    missing = X.isna()
    share = {c: float(missing[c].mean()) for c in inputs}
    too_many = {c: s for c, s in share.items() if s > max_missing_share}
    if too_many:
        shown = ", ".join(f"input {c!r} is missing for {100 * s:.0f} % of the patients" for c, s in too_many.items())
        raise MissingInputError(
            f"{shown} (more than the {100 * max_missing_share:.0f} % that may be imputed with the training "
            "median); collect these values, or retrain the model without the input(s)"
        )
    no_value = [c for c in inputs if missing[c].any() and (c not in medians or medians[c] is None
                                                            or not np.isfinite(float(medians[c])))]
    if no_value:
        raise MissingInputError(
            f"input(s) {no_value} have missing values and the model records no training median to impute them; "
            "fill in these values"
        )
    filled = X.fillna({c: float(medians[c]) for c in inputs if missing[c].any()})
    # per row from one boolean matrix: indexing the frame cell by cell took 50 s for 50 000 patients
    flags = missing[list(inputs)].to_numpy(dtype=bool)
    names = np.array(list(inputs), dtype=object)
    text = np.full(len(X), "", dtype=object)
    for i in np.flatnonzero(flags.any(axis=1)):
        text[i] = ";".join(names[flags[i]])
    imputed = pd.Series(text, index=frame.index, name="imputed")
    return filled, imputed, share
