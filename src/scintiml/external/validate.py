"""A model bundle applied to another site's patients: performance with CIs, what moved, and a verdict.

The verdict rule (stated in every result, so a reader can check it):

* **retrain** — discrimination is lost: the upper end of the AUC's 95 % CI is below the development AUC minus
  ``max_auc_drop`` (0.05), or its lower end does not exceed 0.5 (no better than chance can be ruled out).
  Recalibration cannot repair a ranking. Also retrain, whatever the AUC here, when the study that made the model
  found no signal the patients could support (its signal verdict "not distinguishable from chance").
* **recalibrate** — discrimination holds but calibration does not: the 95 % CI of calibration-in-the-large
  excludes 0, or that of the calibration slope excludes 1 (Van Calster et al. 2016; Steyerberg 2019, ch. 20,
  updating by intercept or by logistic recalibration).
* **transportable** — neither: the model may be used as it is at this site (with the drift guard on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import DuplicateIdError, ScintimlError, TargetClassesError, TargetColumnError
from ..io import jsonable
from ..bundle.tabular import check_id_name
from ..cohort import column_name, column_names, model_inputs
# the chance model shared with the study's check of repeated rows (one model: both warn alike)
from ..repeats import _beyond_chance, _chance, _row_codes, repeats_beyond_chance
from .drift import input_shift, membership_auc
from .metrics import external_performance
from .missing import MAX_MISSING_SHARE, prepare_inputs

__all__ = ["ValidationResult", "validate_bundle", "site_outcome", "bundle_training_summary", "bundle_medians",
           "verdict", "MAX_AUC_DROP", "VERDICT_RULE"]

#: The AUC may fall this much below its development value before the model is said to have lost discrimination.
MAX_AUC_DROP = 0.05
#: Probabilities of a whole site that differ by less than this are one value: a saturated network's rounding.
FLAT_SPREAD = 1e-6
#: The per-patient columns of a validation (beside the id; an id of one of these names is refused).
VALIDATION_COLUMNS = ("probability", "above_threshold", "outcome", "imputed")
VERDICT_RULE = (
    "retrain if the AUC's 95 % CI lies wholly below the development AUC minus {drop:.2f} or its lower end does not "
    "exceed 0.5, or if the study that made the model found no signal the patients could support; otherwise "
    "recalibrate if the 95 % CI of calibration-in-the-large excludes 0 or that of the calibration slope excludes 1; "
    "otherwise transportable"
)


@dataclass
class ValidationResult:
    """Everything :func:`validate_bundle` found; ``to_dict()`` is what ``validation.json`` holds.

    Attributes
    ----------
    verdict : {"transportable", "recalibrate", "retrain"}
    reasons : list of str
    rule : str
        The verdict rule, in words.
    performance : dict
        :func:`scintiml.external.external_performance` at the new site.
    development : dict
        The development AUC, cohort and protocol recorded in the bundle.
    shift : DataFrame or None
        :func:`scintiml.external.input_shift`.
    membership : dict or None
        :func:`scintiml.external.membership_auc` (with reference data only).
    protocol : dict
    missing_share : dict
    predictions : DataFrame
        Per patient: probability, above_threshold, outcome, imputed inputs.
    notes : list of str

    Examples
    --------
    See :func:`validate_bundle`.
    """

    verdict: str
    reasons: list[str]
    rule: str
    performance: dict[str, Any]
    development: dict[str, Any]
    shift: pd.DataFrame | None
    membership: dict[str, Any] | None
    protocol: dict[str, Any]
    missing_share: dict[str, float]
    predictions: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "verdict": self.verdict, "reasons": self.reasons, "rule": self.rule, "performance": self.performance,
            "development": self.development,
            "shift": None if self.shift is None else self.shift.to_dict(orient="records"),
            "membership": self.membership, "protocol": self.protocol, "missing_share": self.missing_share,
            "n_imputed_patients": int((self.predictions["imputed"] != "").sum()), "notes": self.notes,
        })


def site_outcome(frame: pd.DataFrame, target: str, positive: Any, training_values: list | None = None
                 ) -> np.ndarray:
    """The outcome column as 0/1 with the bundle's event coding; a clear error when it cannot be.

    The rule is the one the study reads a target by (:data:`scintiml.cohort.EVENT_CODINGS`): 1/0, true/false and
    yes/no (any case, spaces trimmed; booleans and 1.0/0.0 too) are codings whose event is known without asking —
    1, true or yes. So when the model was trained on one of them with that event, a site coded in any of them is
    read by it, both ways: a 0/1 model validates on TRUE/FALSE or yes/no, a yes/no model on true/false or 1/0.
    Any other coding (y/n, 1/2, PE/no PE, or a model whose event was 0 or "no") must match the training one exactly
    (numbers as numbers, text ignoring case and spaces), since the study itself needed ``--positive`` to read it
    and nothing here can say which value is the event: recode the site's outcome as the training table had it.

    Examples
    --------
    >>> import pandas as pd
    >>> site_outcome(pd.DataFrame({"cad": ["yes", "no", "yes"]}), "cad", "yes").tolist()
    [1, 0, 1]
    >>> site_outcome(pd.DataFrame({"cad": [1.0, 0.0, 1.0]}), "cad", 1).tolist()
    [1, 0, 1]
    >>> site_outcome(pd.DataFrame({"cad": [True, False, True]}), "cad", "yes", ["no", "yes"]).tolist()
    [1, 0, 1]
    """
    from ..cohort import EVENT_CODINGS, coding_word, event_coding

    if target not in frame.columns:
        raise TargetColumnError(f"outcome column {target!r} not found; columns are {list(frame.columns)}")
    if len(frame) == 0:
        raise TargetClassesError("the table has no patient rows, only a header; export the table again with its rows")
    outcome = frame[target]
    if outcome.isna().all():  # "remove those rows" would remove the table: the column itself is empty
        raise TargetClassesError(f"outcome {target!r} is empty for every patient ({len(outcome)}): validation needs "
                                 "each patient's outcome — fill in the column, or give the column that holds the "
                                 "outcome with --target")
    if outcome.isna().any():
        raise TargetClassesError(f"outcome {target!r} is missing for {int(outcome.isna().sum())} patient(s); "
                                 "validation needs every outcome — remove those rows")
    trained = event_coding(training_values) if training_values and len(training_values) == 2 else None
    known_event = trained is not None and coding_word(positive) == trained[0]  # trained on 1/0, true/false or yes/no
    if known_event:
        site = event_coding(list(pd.unique(outcome)))
        if site is not None:  # 1/0, true/false or yes/no here too, each with its known event
            return (outcome.map(coding_word) == site[0]).to_numpy(int)
        words = {coding_word(v) for v in pd.unique(outcome)}
        if len(words) == 1 and None not in words:
            # one word of those codings (all "1", all "no"): a site with one outcome, coded rightly — "recode it"
            # would send the user to a column that is fine
            _one_outcome(target, positive, words.pop() in {pair[0] for pair in EVENT_CODINGS},
                         _shown(pd.unique(outcome)))
    numeric = pd.to_numeric(outcome, errors="coerce")
    try:
        event = float(positive)
    except (TypeError, ValueError):
        event = None
    if event is not None and numeric.notna().all():
        # 1, 1.0 and "1" are the same event: compare numbers as numbers
        is_event, values = numeric == event, set(numeric.unique())
    else:  # text: trimmed and case-folded, as the study read its outcome ("YES " is the event "yes")
        text = outcome.astype(str).str.strip().str.lower()
        is_event, values = text == str(positive).strip().lower(), set(text.unique())
    if training_values and len(training_values) == 2:
        # the same coding as the training table: 1/2 here against 0/1 there would read the wrong patients as events
        if event is not None and numeric.notna().all():
            known = {float(v) for v in pd.to_numeric(pd.Series(training_values), errors="coerce").dropna()}
        else:
            known = {str(v).strip().lower() for v in training_values}
        if not values <= known:
            families = (" (a 1/0, true/false or yes/no coding is read as any other of them: "
                        f"{' / '.join('/'.join(pair) for pair in EVENT_CODINGS)})"
                        if known_event else "")
            raise TargetClassesError(
                f"outcome {target!r} holds {_shown(values)} at this site, but the model was trained on "
                f"{_shown(training_values)} (event = {positive!r}); recode this site's outcome the same way"
                + families)
    if not is_event.any():
        if training_values is not None and len(training_values) == 2 and values <= known:
            # the coding is the training one: the site simply had no event, nothing to recode
            _one_outcome(target, positive, False, _shown(values))
        raise TargetClassesError(
            f"no patient has the model's event {target} = {positive!r} (values: {_shown(values)}); check "
            "the outcome coding of this site"
        )
    if is_event.all():  # every patient had the event: the coding is right, the site has one outcome only
        _one_outcome(target, positive, True, _shown(values))
    y = is_event.to_numpy(int)
    if len(values) != 2:
        raise TargetClassesError(f"outcome {target!r} must have two values, has {_shown(values)}; recode it")
    return y


def _one_outcome(target: str, positive: Any, events: bool, values: list) -> None:
    """Refuse a site whose patients all had the event (``events``) or none did, its coding being the training one.

    Examples
    --------
    >>> _one_outcome("cad", 1, True, [1])
    Traceback (most recent call last):
    ...
    scintiml.errors.TargetClassesError: every patient of this site has the event cad = 1 (values: [1]): an AUC ...
    """
    which = "every patient of this site has" if events else "no patient of this site has"
    raise TargetClassesError(f"{which} the event {target} = {positive!r} (values: {values}): an AUC and a "
                             "calibration need both outcomes — validate on more patients")


def _shown(values) -> list:
    """Outcome values as a reader writes them (``[0, 1]``, not ``[np.int64(0), ...]``), sorted."""
    plain = [v.item() if isinstance(v, np.generic) else v for v in values]
    plain = [int(v) if isinstance(v, float) and v.is_integer() else v for v in plain]
    return sorted(plain, key=str)


def bundle_training_summary(bundle) -> dict[str, Any] | None:
    """The per-input training summary recorded in a tabular bundle, with the training range as ``min`` and
    ``max`` (``None`` for a bundle without one).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> spec = {"training_summary": {"age": {"mean": 54.0}}, "training_ranges": {"age": [29.0, 77.0]}}
    >>> bundle_training_summary(SimpleNamespace(spec=spec))
    {'age': {'mean': 54.0, 'min': 29.0, 'max': 77.0}}
    """
    spec = bundle.spec
    if not isinstance(spec.get("training_summary"), Mapping):
        return None
    ranges = spec.get("training_ranges") or {}
    out = {}
    for name, stats in spec["training_summary"].items():
        stats = dict(stats)
        if name in ranges:
            stats["min"], stats["max"] = ranges[name]
        out[name] = stats
    return out


def bundle_medians(bundle) -> dict[str, float]:
    """Training medians per input: the bundle's imputation values, completed from its training summary.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> spec = {"training_summary": {"age": {"quantiles": {"0.5": 55.0}}, "chol": {"quantiles": {"0.5": 240.0}}},
    ...         "imputation": {"chol": 241.0}}
    >>> bundle_medians(SimpleNamespace(spec=spec))
    {'age': 55.0, 'chol': 241.0}
    """
    medians: dict[str, float] = {}
    summary = bundle_training_summary(bundle) or {}
    for name, stats in summary.items():
        if isinstance(stats, Mapping):
            median = (stats.get("quantiles") or {}).get("0.5")
            if median is not None:
                medians[name] = float(median)
    medians.update({k: float(v) for k, v in (bundle.spec.get("imputation") or {}).items() if v is not None})
    return medians


def _development(bundle) -> dict[str, Any]:
    from ..stages.results import NO_SIGNAL, NO_SIGNAL_MESSAGE

    card = bundle.card or {}
    metrics = card.get("metrics", {})
    cohort = card.get("cohort", {})
    signal = card.get("signal")
    if signal is None:  # a card written before it carried the verdict: its known limits hold the study's message
        said = [line for line in card.get("known_limits", []) if str(line).startswith(NO_SIGNAL_MESSAGE)]
        signal = {"verdict": NO_SIGNAL, "message": said[0]} if said else None
    return {"auc": metrics.get("auc"), "auc_ci95": metrics.get("auc_ci95"), "cohort": cohort.get("name"),
            "n_patients": cohort.get("n_patients"), "protocol": bundle.spec.get("protocol", {}), "signal": signal}


def verdict(performance: Mapping[str, Any], development_auc: float | None,
            max_auc_drop: float = MAX_AUC_DROP, event: str | None = None) -> tuple[str, list[str]]:
    """The verdict and its reasons from an :func:`~scintiml.external.external_performance` result.

    ``event`` (``"disease = 1"``) names the model's event in the reason given when the AUC's whole interval lies
    below 0.5, the mark of an outcome coded the other way round at this site.

    Examples
    --------
    >>> perf = {"auc": 0.80, "auc_ci95": [0.74, 0.86],
    ...         "calibration": {"intercept": -0.9, "intercept_ci95": [-1.2, -0.6], "slope": 1.0,
    ...                         "slope_ci95": [0.8, 1.2]}}
    >>> verdict(perf, development_auc=0.82)[0]
    'recalibrate'
    """
    lo, hi = performance["auc_ci95"]
    cal = performance["calibration"]
    reasons = []
    if development_auc is not None and hi < development_auc - max_auc_drop:
        reasons.append(f"AUC {performance['auc']:.3f} (95 % CI {lo:.3f}-{hi:.3f}) is below the development AUC "
                       f"{development_auc:.3f} minus {max_auc_drop:.2f}: discrimination is lost")
    if hi < 0.5:
        # an interval wholly below 0.5 does exclude chance: the model ranks these patients backwards, most often
        # because the site codes the outcome the other way round (1 = survived where training had 1 = died)
        n, events = performance.get("n"), performance.get("n_events")
        fewer = min(int(events), int(n) - int(events)) if n is not None and events is not None else None
        # DeLong's interval is too narrow on a handful of patients: of sites of 2 events and 8 non-events ranked
        # at random, 8.5 % had an interval wholly below 0.5 (not 2.5 %); 3 and 3: 5 %
        few = (f"; with only {fewer} patients in the smaller outcome class chance alone does this more often than "
               "the interval says" if fewer is not None and fewer < 10 else "")
        reasons.append(f"the AUC's 95 % CI ({lo:.3f}-{hi:.3f}) lies wholly below 0.5: the model ranks this site's "
                       f"patients backwards (those with the event get the lower risks){few} — check that the outcome "
                       f"is coded as in training{f' ({event} is the event)' if event else ''}")
    elif lo <= 0.5:
        reasons.append(f"the AUC's 95 % CI ({lo:.3f}-{hi:.3f}) does not exclude 0.5 (chance)")
    if reasons:
        return "retrain", reasons
    off = []
    a_lo, a_hi = cal["intercept_ci95"]
    if not a_lo <= 0 <= a_hi:
        direction = "too low" if cal["intercept"] > 0 else "too high"
        off.append(f"calibration-in-the-large {cal['intercept']:+.2f} (95 % CI {a_lo:+.2f} to {a_hi:+.2f}) excludes "
                   f"0: predicted risks are {direction} on average here")
    b_lo, b_hi = cal["slope_ci95"]
    separated = bool(cal.get("separated"))
    if separated:  # judged on calibration-in-the-large alone, and said so
        reasons_cal = ("the predictions separate this site's outcomes perfectly, so the calibration slope cannot be "
                       "estimated (its fit runs off without bound); calibration is judged on calibration-in-the-large "
                       "alone — validate on more patients")
    elif not b_lo <= 1 <= b_hi:
        what = "too extreme" if cal["slope"] < 1 else "too modest"
        off.append(f"calibration slope {cal['slope']:.2f} (95 % CI {b_lo:.2f} to {b_hi:.2f}) excludes 1: predictions "
                   f"are {what}")
    kept = f"discrimination holds: AUC {performance['auc']:.3f} (95 % CI {lo:.3f}-{hi:.3f})"
    if development_auc is not None:
        kept += f" against {development_auc:.3f} at development"
    if separated:
        off.append(reasons_cal)
        return ("recalibrate" if len(off) > 1 else "transportable"), [kept] + off
    if off:
        return "recalibrate", [kept] + off
    return "transportable", [kept, "calibration-in-the-large and slope are consistent with 0 and 1"]


def check_site_target(bundle, frame: pd.DataFrame, target: str) -> None:
    """Refuse an outcome column that is one of the model's inputs, or that is not the model's outcome while the
    table holds a column of that name: ``--target sex`` beside a ``disease`` column would validate (or
    recalibrate) the model against the wrong outcome and report it as a result.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> bundle = SimpleNamespace(inputs=["age", "sex=M"], spec={"target": "disease"})
    >>> check_site_target(bundle, pd.DataFrame({"age": [1], "sex": ["M"], "died": [0]}), "died")  # renamed: fine
    >>> check_site_target(bundle, pd.DataFrame({"age": [1], "sex": ["M"], "disease": [0]}), "sex")
    Traceback (most recent call last):
    ...
    scintiml.errors.TargetColumnError: --target 'sex' is one of the model's inputs, not an outcome; the model predicts 'disease' — give the column holding it
    """
    from ..cohort import input_source

    sources = {input_source(c, frame.columns) if c not in frame.columns else c for c in bundle.inputs}
    trained = bundle.spec.get("target")
    if target in sources:
        raise TargetColumnError(f"--target {target!r} is one of the model's inputs, not an outcome; the model "
                                f"predicts {trained!r} — give the column holding it")
    if trained and target != trained and trained in frame.columns and target in frame.columns:
        raise TargetColumnError(f"--target {target!r} is not the model's outcome {trained!r}, and this table has a "
                                f"{trained!r} column: give --target {trained}")


def check_site_table(bundle, frame: pd.DataFrame, target: str, id_column: str | None = None
                     ) -> tuple[pd.DataFrame, np.ndarray]:
    """Everything about a site's table that is refused before any validation work — the id column (present, not
    the outcome, not named like an output column, each patient once), the outcome (not a model input, coded as in
    training, both outcomes at least twice) — and the table read as trained (its "not measured" codes applied)
    with the outcome as 0/1. The web app runs it on the form, :func:`validate_bundle` before validating."""
    frame = site_table(frame)
    target = column_name(target)
    id_column = column_name(id_column) if id_column is not None else None
    if id_column is not None and id_column not in frame.columns:
        raise TargetColumnError(f"id column {id_column!r} not found; columns are {list(frame.columns)}")
    if id_column is not None and id_column == target:
        raise TargetColumnError(f"the id column and the outcome are the same column ({target!r}); give the column "
                                "that names each patient as the id")
    check_id_name(id_column, VALIDATION_COLUMNS)
    if id_column is not None:  # as the study refuses them: a patient counted twice weighs twice in every figure
        ids = frame[id_column].dropna()
        repeated = ids[ids.duplicated()].unique()
        if len(repeated):
            raise DuplicateIdError(f"id column {id_column!r} has {len(repeated)} duplicated id(s), e.g. "
                                   f"{[jsonable(v) for v in repeated[:5]]}; each patient must appear once — merge "
                                   "or remove repeats")
    # a value the training table meant as "not measured" is read as missing at the new site too
    frame = bundle.read_as_trained(frame, id_column)
    check_site_target(bundle, frame, target)
    y = site_outcome(frame, target, bundle.spec.get("positive", 1), bundle.spec.get("outcome_values"))
    if min(y.sum(), len(y) - y.sum()) < 2:
        # both outcomes are there (one of each is refused above): say what is short
        raise TargetClassesError(
            f"{int(y.sum())} event(s) and {int(len(y) - y.sum())} non-event(s): an AUC and a calibration need "
            "at least 2 patients with the event and 2 without — validate on more patients"
        )
    return frame, y


def repeated_rows(frame: pd.DataFrame, y: np.ndarray, target: str, id_column: str | None = None) -> list[str]:
    """A note when rows of a site's table repeat an earlier row in every column (the outcome too, the id left out)
    more often than chance explains (the study's test, :func:`scintiml.cohort.load_cohort`'s repeated rows).

    The whole table exported twice gave 598 "patients", every interval narrower by √2, and not a word; ids catch
    it only where the table has an id column.

    Examples
    --------
    >>> rng = np.random.RandomState(0)
    >>> once = pd.DataFrame({"age": rng.normal(60, 10, 30).round(1), "chol": rng.normal(230, 40, 30).round(),
    ...                      "cad": rng.randint(0, 2, 30)})
    >>> twice = pd.concat([once, once])
    >>> repeated_rows(twice, twice["cad"].to_numpy(), "cad")[0][:55]
    '30 patient row(s) repeat an earlier row in every column'
    >>> repeated_rows(once, once["cad"].to_numpy(), "cad")
    []
    """
    columns = [c for c in frame.columns if c not in (target, id_column)]
    found = repeats_beyond_chance(frame[columns], y)
    if found is None:  # none, or as many as chance explains: nothing to say
        return []
    repeated = found[0]
    shown = ", ".join(str(i + 1) for i in repeated[:5])
    return [f"{len(repeated)} patient row(s) repeat an earlier row in every column"
            + (" under another id" if id_column is not None else "")
            + f" (data rows {shown}{' …' if len(repeated) > 5 else ''}; more than chance explains): a patient "
            "counted twice weighs twice in every figure and narrows every interval — remove the copies"]


def development_overlap(frame: pd.DataFrame, reference: pd.DataFrame, id_column: str | None = None) -> list[str]:
    """A note when patients of a site's table are found in the reference (``--reference``: the development
    patients) — the same values in every column both tables hold (the id left out: sites number patients their
    own way) — more often than chance explains: their figures are the model's performance on patients it was
    developed on, not an external validation.

    Chance: a site patient matches a reference patient in a column with probability ``sum_v p_site(v) p_ref(v)``;
    coarse columns are taken jointly and the others as independent (:func:`scintiml.repeats._chance`); over
    ``n_site * n_ref`` pairs that gives an expected count, and a Poisson tail below
    :data:`scintiml.repeats.REPEATED_ROW_P` is reported (the study's level for repeated rows).

    Examples
    --------
    >>> rng = np.random.RandomState(0)
    >>> ref = pd.DataFrame({"age": rng.normal(60, 10, 40).round(1), "chol": rng.normal(230, 40, 40).round(),
    ...                     "cad": rng.randint(0, 2, 40)})
    >>> development_overlap(ref.iloc[:10], ref)[0][:53]
    'every patient of this table matches a patient of the '
    >>> development_overlap(ref.iloc[:10].assign(chol=ref["chol"].iloc[10:20].to_numpy()), ref)
    []
    """
    shared = [c for c in frame.columns if c in reference.columns and c != id_column]
    if not shared or not len(frame) or not len(reference):
        return []
    both = pd.concat([reference[shared], frame[shared]], ignore_index=True)
    codes, absent = _row_codes(both)
    ref_codes, site_codes = codes[:len(reference)], codes[len(reference):]
    known = {row.tobytes() for row in ref_codes}
    found = int(sum(row.tobytes() in known for row in site_codes))
    if not found:
        return []
    expected = _chance(codes, absent, np.arange(len(both)) < len(reference))
    if not _beyond_chance(found, expected):  # coarse columns: chance makes such matches
        return []
    where = f"in all {len(shared)} columns both tables hold"
    if found == len(frame):
        return [f"every patient of this table matches a patient of the reference {where}: if the reference is the "
                "development data (as --reference asks), this is not an external validation — these figures are the "
                "model's performance on patients it was developed on, optimistic; validate on patients it has not "
                "seen"]
    return [f"{found} of the {len(frame)} patients of this table match a patient of the reference {where} (chance "
            f"explains about {expected:.2g}): if the reference is the development data, this is not an external "
            "validation for them — their figures are optimistic; remove them and validate again"]


def site_table(frame: Any, what: str = "the site's table") -> pd.DataFrame:
    """``frame`` with its header read as a file's header is read (names trimmed, Unicode NFC), as ``predict`` reads
    a DataFrame; anything but a DataFrame, and a name held twice, refused by name.

    A caller's DataFrame with ``" age "`` was predicted but refused by validation as lacking ``age``, and a
    repeated outcome column surfaced as pandas' "truth value of a Series is ambiguous".

    Examples
    --------
    >>> list(site_table(pd.DataFrame({" age ": [61], "cad": [1]})).columns)
    ['age', 'cad']
    >>> site_table(pd.DataFrame([[1, 2]], columns=["cad", "cad "]))
    Traceback (most recent call last):
    ...
    scintiml.errors.ColumnNameError: column name 'cad' appears twice in the site's table (columns 1 and 2); ...
    """
    if not isinstance(frame, pd.DataFrame):
        raise ScintimlError(f"{what} must be a pandas DataFrame of patients (the model's inputs and the outcome as "
                            f"columns), got {type(frame).__name__}")
    names = column_names(frame.columns, what)
    return frame if names == list(frame.columns) else frame.set_axis(names, axis=1)


def validate_bundle(
    bundle,
    frame: pd.DataFrame,
    target: str,
    protocol: Mapping[str, str] | None = None,
    reference: pd.DataFrame | None = None,
    id_column: str | None = None,
    max_missing_share: float = MAX_MISSING_SHARE,
    max_auc_drop: float = MAX_AUC_DROP,
    random_state=0,
) -> ValidationResult:
    """External validation of a tabular model bundle on another site's patients.

    Parameters
    ----------
    bundle : scintiml.bundle.Bundle
        From :func:`scintiml.bundle.load_bundle` (inputs, threshold, imputation, training summary, card).
    frame : DataFrame
        The new site's patients with the outcome column (not modified).
    target : str
        Outcome column; coded with the bundle's event value.
    protocol : mapping, optional
        The new site's acquisition protocol, compared with the one recorded in the bundle.
    reference : DataFrame, optional
        The development patients, when at hand: enables the site-membership model and exact KS tests.
    id_column : str, optional
        Carried into the per-patient predictions.
    max_missing_share : float
        Above this share missing, an input is refused rather than imputed (see :mod:`.missing`).
    max_auc_drop : float
        The verdict's tolerance on the AUC (see the module docstring).
    random_state : int, RandomState or None

    Returns
    -------
    ValidationResult

    Raises
    ------
    MissingInputError, TargetColumnError, TargetClassesError

    Examples
    --------
    A network from Cleveland applied to the Hungarian patients (``scintiml validate`` does the same from files):

    >>> from scintiml.ann import ANNClassifier
    >>> from scintiml.bundle import Bundle
    >>> from scintiml.datasets import heart_disease_frame, load_heart_disease
    >>> cleveland = load_heart_disease("cleveland")
    >>> inputs = ["age", "sex", "cp", "thalach"]
    >>> net = ANNClassifier(hidden_layer_sizes=(2,), random_state=0).fit(cleveland.X[inputs], cleveland.y)
    >>> bundle = Bundle({"inputs": inputs, "threshold": 0.5, "positive": 1,
    ...                  "imputation": cleveland.X[inputs].median().to_dict()}, net, {})
    >>> result = validate_bundle(bundle, heart_disease_frame("hungarian"), "disease")
    >>> result.verdict in ("transportable", "recalibrate", "retrain"), result.performance["n"]
    (True, 294)
    """
    if not (isinstance(max_missing_share, (int, float, np.number)) and 0 <= float(max_missing_share) <= 1):
        # NaN switched the guard off (every comparison with NaN is false)
        raise ScintimlError(f"max_missing_share must be a share from 0 to 1, got {max_missing_share!r}")
    target = column_name(target)  # as the header is read: trimmed, NFC
    id_column = column_name(id_column) if id_column is not None else None
    frame, y = check_site_table(bundle, frame, target, id_column)
    if reference is not None:
        reference = bundle.read_as_trained(site_table(reference, "the reference table (--reference)"), id_column)
    inputs = list(bundle.inputs)
    X, imputed, share = prepare_inputs(frame, inputs, bundle_medians(bundle), max_missing_share,
                                       categories=bundle.categories)
    p = bundle.probabilities(X)
    performance = external_performance(y, p, bundle.threshold, random_state=random_state)
    from ..bundle.predict import scale_mismatch_lines, unseen_level_lines

    # an unseen category level, an input in another unit (mmol/l for mg/dl) — said before any verdict is read
    notes = unseen_level_lines(X.attrs.get("unseen_levels", {})) + scale_mismatch_lines(bundle, frame)
    if len(p) > 1 and np.ptp(p) < FLAT_SPREAD and len(X.drop_duplicates()) == 1:
        # every patient holds the same inputs (a site of men only, for a model of sex alone): one probability,
        # rightly — no saturation, but nothing to rank either
        notes.append(f"every patient of this site has the same values of the model's inputs, so the model gives each "
                     f"the same probability ({float(np.mean(p)):.3g}): the AUC (0.5) and the calibration slope here "
                     "say nothing of its discrimination")
    elif len(p) > 1 and np.ptp(p) < FLAT_SPREAD:
        # creatinine in µmol/l gave every patient 0.892; months of age 0.892 within 4e-12, and an AUC of 0.578
        # (0.543-0.612) "above chance" that ranked those rounding differences
        notes.append(f"the model gives every patient of this site the same probability ({float(np.mean(p)):.3g}; "
                     f"the largest difference {float(np.ptp(p)):.1g}): its neurons are saturated (an input far "
                     "outside its training range?), so the AUC and the calibration slope here rank rounding "
                     "differences, not patients")
    notes += repeated_rows(frame, y, target, id_column)
    if min(performance["n_events"], performance["n"] - performance["n_events"]) < 10:
        notes.append(f"only {min(performance['n_events'], performance['n'] - performance['n_events'])} patients in "
                     "the smaller outcome class: the intervals are wide, read them rather than the point values")
    summary = bundle_training_summary(bundle)
    if summary is not None:
        shift = input_shift({k: v for k, v in summary.items() if k in inputs}, frame, reference=reference)
    elif reference is not None:
        from ..bundle.tabular import training_summary

        shift = input_shift(training_summary(reference[inputs]), frame, reference=reference)
    else:
        shift = None
        notes.append("the bundle records no training summary and no reference data were given: no input-shift table")
    membership = None
    if reference is not None:
        # the reference is read by the rules of the site's table: a column it lacks, or text where numbers
        # belong, would otherwise become "missing in every reference patient" and a perfect site-membership AUC
        try:
            prepare_inputs(reference, inputs, bundle_medians(bundle), 1.0)
        except ScintimlError as exc:
            raise type(exc)(f"the reference table (--reference): {exc}") from None
        notes += development_overlap(frame, reference, id_column)
        # both tables as the model reads them (a one-hot input "sex=M" is no column of either), missing kept
        ref_X = model_inputs(reference, inputs, categories=bundle.categories).reset_index(drop=True)
        site_X = model_inputs(frame, inputs, categories=bundle.categories).reset_index(drop=True)
        if ref_X.equals(site_X):  # a table against itself: cross-validation then "anti-learns" (AUC < 0.5)
            notes.append("the reference holds the very same patients as this table: the site-membership model was "
                         "not run (give the development patients as --reference)")
        else:
            membership = membership_auc(ref_X, site_X, inputs=inputs, random_state=random_state)
    else:
        notes.append("no development data given (--reference): the site-membership model was not run")
    mismatches = bundle.check_protocol(dict(protocol or {})) if protocol else []
    protocol_info = {"model": bundle.spec.get("protocol", {}), "site": dict(protocol or {}), "differences": mismatches}
    if not protocol:
        notes.append("no --protocol given for this site: the acquisition protocols were not compared")
    development = _development(bundle)
    label, reasons = verdict(performance, development["auc"], max_auc_drop,
                             event=f"{target} = {bundle.spec.get('positive', 1)!r}")
    from ..stages.results import NO_SIGNAL

    if (development["signal"] or {}).get("verdict") == NO_SIGNAL:
        # a model of noise: an AUC here is chance, or these patients trained it (a model's own training patients
        # gave "transportable", AUC 0.727, where its study had said no signal) — never a transportable model
        label = "retrain"
        reasons.insert(0, "the study that made this model found no signal the patients could support (its model card "
                          "says so): whatever its AUC here, it is not a model to transport — if these patients "
                          "include those it was trained on, that explains a good AUC; validate on patients it has "
                          "not seen, or retrain on more patients")
    if mismatches:
        reasons.append("acquisition protocol differs: " + "; ".join(mismatches))
    predictions = pd.DataFrame(dict(zip(VALIDATION_COLUMNS, (p, p >= bundle.threshold, y, imputed.to_numpy()))),
                               index=frame.index if len(frame.index) == len(p) else None)  # the caller's patients
    if id_column is not None:
        predictions.insert(0, id_column, frame[id_column].to_numpy())
    return ValidationResult(
        verdict=label, reasons=reasons, rule=VERDICT_RULE.format(drop=max_auc_drop), performance=performance,
        development=development, shift=shift, membership=membership, protocol=protocol_info,
        missing_share=share, predictions=predictions, notes=notes,
    )
