"""Stage 2: explore the inputs (descriptive statistics, univariate tests, correlation, redundancy)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

from ..explore import correlation_matrix, correlation_with_outcome, describe_inputs, redundancy_groups, univariate_tests
from .base import StudyData

#: A name is read as words first: camelCase / PascalCase, snake_case, kebab-case, spaces, dots and digits all
#: split (``FollowUpDays`` -> ``follow up days``, ``mortality_30d`` -> ``mortality 30 d``, ``OSMonths`` ->
#: ``os months``), lower case, then matched word by word against :data:`LEAK_NAME` (see :func:`leak_name`).
_WORD_BREAK = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_UNIT = r"(?:time|t|days?|d|months?|mos?|m|years?|yrs?|yr|y|weeks?|wks?|wk|status|stat|events?|censor\w*|cens|date|dt)"
_EVENTS = (r"deaths?|died|dead|deceased|decease|mortality|mort|dod|exitus|autopsy|events?|mace|endpoints?|outcomes?"
           r"|discharged?|readmi\w*|rehospitali[sz]\w*|rehosp|recurrences?|recurred|recur|relapses?|relapsed"
           r"|progression|progressed")
#: Words and phrases (on the word form of a name) that say a value is known only after the outcome.
#: What is deliberately left out, because ordinary baseline inputs carry it:
#:
#: * ``time`` / ``days`` / ``months`` / ``status`` only as the whole name (``time_days`` too): ``time_to_peak``,
#:   ``rise_time``, ``injection_time``, ``qrs_duration`` are time-activity or scan parameters in nuclear medicine,
#:   ``time_since_diagnosis`` is known at enrolment (the leak is time *until* something after baseline), and
#:   ``smoking_status`` / ``status_smoking``, ``performance_status``, ``her2_status`` are baseline (the old rule
#:   flagged any ``status``); a status of the outcome is caught by its other word (``vital status``, ``os_status``);
#: * ``os`` / ``mfs`` / ``css`` / ``dss`` / ``lfs`` only beside a unit, status or event word (``os_months``,
#:   ``OS.time``, ``os_12m``): OS is also the left eye (``va_os``), MFS Marfan and LFS Li-Fraumeni syndrome;
#:   ``pfs`` / ``dfs`` / ``efs`` / ``rfs`` / ``dmfs`` / ``drfs`` / ``lrfs`` have no other clinical reading;
#: * ``ttp`` / ``tte`` / ``ttr`` are not flagged: time to peak (renography, time-activity curves), transthoracic
#:   echo and transthyretin (ATTR amyloid) are everyday inputs here;
#: * ``stay`` only as length / hospital / ICU stay or stay + unit (a nursing-home stay before admission is baseline);
#:   ``los`` alone is flagged, but not in ``los_angeles`` / ``los_alamos`` (a site);
#: * ``recurrent`` / ``progressive`` (adjectives of the presenting disease), ``hospitalization`` / ``admission``
#:   (prior admissions are baseline, so too ambiguous), ``post`` (``post_stress_lvef``), ``cost``, ``dose``,
#:   ``response`` are not flagged; the AUC rule still catches such an input if it separates the outcome alone.
#: * ``event_free`` *is* flagged: "free of events" is read at the end of follow-up (an outcome indicator).
LEAK_NAME = re.compile(
    r"^(?:(?:time|obs|observation) (?:days?|months?|years?|weeks?|mos?|yrs?|wks?)|time|days?|months?|years?|weeks?"
    r"|status|os|futime|fustat|stime|survtime)$"
    r"|\b(?:follow|followup|fu|fup|ltfu|f u)\b"  # follow-up, F/U, lost to follow-up
    r"|\bobs(?:ervation)? (?:time|period|days?|months?|years?)\b"
    r"|\b(?:surv|survival|survived|survive|surviving|survivors?|alive)\b"
    r"|\b(?:pfs|dfs|efs|rfs|dmfs|drfs|lrfs|bcss)\b"
    rf"|\b(?:os|mfs|css|dss|lfs)(?: \d+)? {_UNIT}\b"  # os_months, OS.time, os_12m, mfs_status
    r"|\b(?:time|days|months|years|status|censor\w*) (?:os|mfs|css|dss|lfs)\b"  # time_os, status_OS
    r"|\b(?:censor\w*|cens)\b"
    r"|\bvital stat(?:us)?\b|\b(?:tumou?r|disease) status\b"  # last-follow-up fields of oncology exports
    rf"|\b(?:{_EVENTS})\b"
    r"|\b(?:disease|metastasis|failure) free\b"
    r"|\blos\b|\blength of stay\b|\b(?:hospital|hosp|icu|ccu|ward|inpatient|postop|op|total) stay\b"
    r"|\bstay (?:days?|d|hours?|hrs?|h|nights?|length|duration)\b"
    r"|\blast (?:contact|visit|seen|known|follow|followup|fu|news|observation|obs|alive|assessment|encounter"
    r"|appointment|review|date)\b")
#: Run-together words the splitter cannot see (``daystodeath``, ``lengthofstay``), looked for inside each word.
_LEAK_STEMS = ("followup", "survival", "death", "deceased", "mortality", "censor", "readmi", "rehospitali",
               "lengthofstay", "timetoevent", "eventfree", "vitalstatus", "lastcontact", "lastvisit", "lastfollow")
#: Phrases that hold a leak word but are baseline: 5-FU (chemotherapy), dead space (ventilation), a Los Angeles
#: site, the index event (the qualifying event at enrolment), a discharge symptom, relapsed/refractory disease.
_NOT_LEAK = re.compile(r"\b(?:5 fu|dead space|los (?:angeles|alamos)|index events?"
                       r"|(?:nipple|vaginal|nasal|ear|urethral|penile|wound|purulent) discharge"
                       r"|relapsed (?:(?:or|and) )?refractory)\b")
#: An event word up to two words after prior / previous / history / family is a past event, known at baseline:
#: ``prior_event``, ``previous_readmission``, ``family_history_sudden_death``, ``hx_of_relapse``.
_PAST_EVENT = re.compile(rf"\b(?:prior|previous|prev|past|history|hx|family|fh)(?: \w+){{0,2}}? (?:{_EVENTS})\b")
#: A predicted risk is known at baseline: ``sts_predicted_mortality``, ``oncotype_recurrence_score``,
#: ``mortality_risk``, ``expected_los`` are inputs, not outcomes.
_PREDICTION = re.compile(r"\b(?:risk|score|predicted|expected|estimated|probability|prob|prom"
                         # named baseline risk scores: sts_mortality, grace_mortality, euroscore_mortality
                         r"|sts|grace|euroscore|apache|saps|sofa|timi|charlson|framingham|qrisk|ascvd)\b")

#: A single input this strong is worth a second look: is it known before the outcome?
LEAK_AUC = 0.9

#: The most inputs whose correlation matrix ``results.json`` stores and the heat map draws; above it, the
#: inputs most associated with the outcome (:func:`correlation_inputs`). 100 x 100 is 10,000 cells, about 0.2 MB
#: of JSON and a 0.1 MB heat map (measured on 40 patients: JSON 0.21 / 0.86 / 5.4 / 86 MB and PNG 0.11 / 0.25 /
#: 4.2 / 5.7 MB at 100 / 200 / 500 / 2,000 inputs); on the report's 11-inch map (2,200 pixels at 200 dpi) a cell
#: is about 0.1 inch, still a square one can see, where at 2,000 inputs it is a pixel and the map is noise.
#: Redundancy groups are still looked for among every input.
MAX_CORRELATION_INPUTS = 100


@dataclass
class Exploration:
    """``results``: the JSON-able ``explore`` section; ``univariate_fit``: univariate tests on the
    training + selection patients only (the best single predictor is chosen from it, never from testing).

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage, explore_stage
    >>> explored = explore_stage(split_stage(make_mibg_cohort(n_patients=200, random_state=0)))
    >>> len(explored.results["univariate"]) == len(explored.univariate_fit)
    True
    """

    results: dict[str, Any]
    univariate_fit: pd.DataFrame


def explore_stage(data: StudyData, redundancy_threshold: float = 0.9) -> Exploration:
    """Describe every input by outcome, test it alone, and group near-copies (|r| >= ``redundancy_threshold``).

    Examples
    --------
    >>> from scintiml.datasets import make_mibg_cohort
    >>> from scintiml.stages import split_stage
    >>> explored = explore_stage(split_stage(make_mibg_cohort(n_patients=200, random_state=0)))
    >>> sorted(explored.results)
    ['correlation', 'correlation_with_outcome', 'describe', 'redundancy_groups', 'univariate']
    >>> explored.univariate_fit.iloc[0]["input"] in {"delta_lvef", "planar_washout"}
    True
    """
    # the description is of the patients as they are: every patient, missing values left out per input (pairwise
    # for correlations), not the training medians filled in for the network, which pull a univariate AUC and a
    # correlation toward no effect; the best-single-predictor rule is fitted as the network sees its inputs
    raw, y = data.raw, data.y
    rows = data.fit_rows
    univariate = univariate_tests(raw, y)
    data.warnings.extend(leak_warnings(univariate))
    # a wide table stores the correlation of its inputs most associated with the outcome only: the whole matrix
    # of 2,000 inputs was 86 MB of results.json (and its heat map unreadable); only those columns are correlated
    # (pairwise complete, so each value is the one the whole matrix holds)
    shown = correlation_inputs(raw.columns, univariate)
    pearson = correlation_matrix(raw[shown])
    correlation = {"inputs": list(pearson.columns), "matrix": pearson.to_numpy().tolist(), "n_inputs": raw.shape[1]}
    if len(shown) < raw.shape[1]:
        correlation["shown"] = (f"the {len(shown)} inputs most associated with the outcome (univariate AUC, "
                                "oriented; ties by name), in the table's order")
    results = {
        "describe": describe_inputs(raw, y).reset_index(names="input").to_dict(orient="records"),
        "univariate": univariate.to_dict(orient="records"),
        "correlation": correlation,
        "correlation_with_outcome": correlation_with_outcome(raw, y).to_dict(),
        "redundancy_groups": redundancy_groups(raw, y, threshold=redundancy_threshold),
    }
    return Exploration(results=results, univariate_fit=univariate_tests(data.X.iloc[rows], y[rows]))


def correlation_inputs(columns: Sequence[Any], univariate: pd.DataFrame,
                       limit: int = MAX_CORRELATION_INPUTS) -> list[Any]:
    """The inputs whose correlation matrix is stored: every one up to ``limit``, else the ``limit`` most associated
    with the outcome (oriented univariate AUC, highest first; ties, and inputs the univariate table leaves out,
    by name), kept in the table's order.

    Examples
    --------
    >>> table = pd.DataFrame({"input": ["a", "b", "c", "d"], "auc_oriented": [0.6, 0.9, 0.6, 0.7]})
    >>> correlation_inputs(["d", "c", "b", "a", "e"], table, limit=3)
    ['d', 'b', 'a']
    >>> correlation_inputs(["d", "c"], table, limit=3)
    ['d', 'c']
    """
    columns = list(columns)
    if len(columns) <= limit:
        return columns
    auc = {name: float(a) for name, a in zip(univariate["input"], univariate["auc_oriented"])}

    def rank(name: Any) -> tuple[float, str]:
        a = auc.get(name, float("nan"))
        return (-a if a == a else 1.0, str(name))  # unknown (left out of the table, NaN): after every AUC

    kept = set(sorted(columns, key=rank)[:limit])
    return [c for c in columns if c in kept]


def leak_warnings(univariate: pd.DataFrame) -> list[str]:
    """Inputs that may be known only after the outcome: by name (follow-up time, survival, status ...) or by
    separating the outcome almost alone (oriented AUC >= :data:`LEAK_AUC`). A leaked input makes a study look
    excellent and worthless; whether it is known before the outcome only the user can say, so these warn.

    Examples
    --------
    >>> table = pd.DataFrame({"input": ["age", "followup_days", "copy"], "auc_oriented": [0.6, 0.7, 0.99]})
    >>> for line in leak_warnings(table):
    ...     print(line[:60])
    input 'followup_days': its name suggests it is known only af
    input 'copy' separates the outcome almost alone (AUC 0.99 on
    """
    out = []
    for name, auc in zip(univariate["input"], univariate["auc_oriented"]):
        kind = leak_kind(name, auc)
        if kind == "name":
            out.append(f"input {name!r}: its name suggests it is known only after the outcome (follow-up time, "
                       "survival, status); if so it leaks the answer — leave it out with --exclude")
        elif kind == "auc":
            out.append(f"input {name!r} separates the outcome almost alone (AUC {auc:.2f} on its own): check that "
                       "it is known before the outcome; if not, leave it out with --exclude")
    return out


def leak_kind(name: Any, auc: float | None) -> str | None:
    """Why an input may leak the outcome: ``"name"`` (:func:`leak_name`), ``"auc"`` (oriented AUC >=
    :data:`LEAK_AUC`) or None; the study's warnings and the web app's pre-ticked exclusions both ask this.

    Examples
    --------
    >>> leak_kind("time", 0.84), leak_kind("time_to_peak", 0.95), leak_kind("age", 0.6)
    ('name', 'auc', None)
    """
    if leak_name(name):
        return "name"
    if auc is not None and auc >= LEAK_AUC:
        return "auc"
    return None


def name_words(name: Any) -> list[str]:
    """The words of a column name, lower case: camelCase, snake_case, kebab-case, spaces and digits split.

    Examples
    --------
    >>> name_words("FollowUpDays"), name_words("mortality_30d"), name_words("OS.time"), name_words("LOSDays")
    (['follow', 'up', 'days'], ['mortality', '30', 'd'], ['os', 'time'], ['los', 'days'])
    """
    return re.findall(r"[^\W_]+", _WORD_BREAK.sub(" ", str(name)).lower())


def leak_name(name: Any) -> bool:
    """Whether a column's name says it is known only after the outcome (follow-up, survival, death, censoring,
    length of stay, readmission, recurrence ...): :data:`LEAK_NAME` on the name's words, less the baseline
    phrases (a prior event, a predicted risk, 5-FU, a Los Angeles site ...).

    Examples
    --------
    >>> [leak_name(n) for n in ("FollowUpDays", "TimeToEvent", "os_months", "length_of_stay", "deceased")]
    [True, True, True, True, True]
    >>> [leak_name(n) for n in ("time_to_peak", "status_smoking", "los_angeles_site", "prior_event", "age")]
    [False, False, False, False, False]
    """
    text = " ".join(name_words(name))
    if _PREDICTION.search(text):
        return False
    text = _PAST_EVENT.sub(" | ", _NOT_LEAK.sub(" | ", text))
    return bool(LEAK_NAME.search(text)) or any(stem in word for word in text.split() for stem in _LEAK_STEMS)
