"""The name-based leak rule (stages.explore.leak_kind): inputs whose names say they are known only after the
outcome are warned of (and pre-ticked in the web app); ordinary baseline inputs are not.

A tester found ``FollowUpDays`` (AUC 0.75 alone) selected into a model with no warning: the old rule read
neither camelCase nor the usual abbreviations (``os_months``, ``length_of_stay``, ``deceased`` ...).
"""

import pandas as pd
import pytest

from scintiml.datasets import (
    heart_disease_frame,
    load_heart_disease,
    load_heart_failure,
    load_spectf,
    make_extravasation_cohort,
    make_mibg_cohort,
)
from scintiml.datasets.perfusion import CLINICAL_COLUMNS
from scintiml.stages.explore import LEAK_AUC, leak_kind, leak_name, leak_warnings, name_words

# the tester's misses first, then the usual post-outcome vocabulary of clinical / oncology / cardiology exports
MUST_FLAG = [
    "FollowUpDays", "TimeToEvent", "os_months", "pfs_months", "length_of_stay", "deceased", "mortality_30d",
    # follow-up and time-to-event, in every spelling
    "time", "Time", "TIME", "days", "time_days", "time (months)", "followup_days", "follow_up_months",
    "follow-up-days", "Follow-up (months)", "FOLLOWUP_DAYS", "followupdays", "last_fu", "fu_time", "futime",
    "fustat", "ltfu", "F/U days", "time_to_event", "days_to_event", "observation_time", "days_to_last_follow_up",
    # survival: OS, PFS, DFS, EFS, RFS, MFS with months / days / time / status / event
    "OS", "OS.time", "OSMonths", "os_status", "os_12m", "OS_event", "time_os", "overall_survival",
    "PFS", "pfs_status", "PFS_event", "PFSStatus", "DFS_months", "dfs_time", "EFS_days", "efs_event",
    "RFS_months", "rfs_status", "MFS_months", "mfs_status", "dss_time", "css_months", "DMFS",
    "survival", "survival_time", "SurvivalMonths", "surv_time", "survtime", "survived", "alive", "alive_at_1y",
    # censoring, status and event indicators
    "censor", "censored", "Censored_Status", "censoring_indicator", "cens", "event", "events", "event_free",
    "EventFree", "status", "Status", "vital_status", "VitalStatus", "DEATH_EVENT", "mace", "time_to_mace",
    "primary_endpoint", "outcome", "Outcome", "adverse_events",
    # death
    "death", "death_date", "date_of_death", "DateOfDeath", "died", "dead", "deceased_flag", "mortality",
    "InHospitalMortality", "mort_1y", "dod", "cause_of_death", "days_to_death", "daystodeath", "exitus",
    # hospital course
    "LOS", "los_days", "LOSDays", "ICU_LOS", "hospital_stay", "icu_stay", "lengthofstay", "LengthOfStay",
    "discharge", "discharge_date", "DischargeDisposition", "discharged_home", "readmission", "readmitted_30d",
    "Readmission30Day", "rehospitalization", "rehospitalisation_hf",
    # disease course
    "recurrence", "recurrence_date", "time_to_recurrence", "relapse", "relapse_date", "relapsed", "progression",
    "progression_date", "date_of_progression", "TimeToProgression", "disease_free_interval", "metastasis_free",
    "days_to_new_tumor_event",
    # last contact
    "last_contact", "date_last_contact", "LastVisitDate", "last_visit", "date_last_seen", "last_known_alive",
]

# ordinary baseline inputs that carry a word near the vocabulary; the reasons are in LEAK_NAME's comment
MUST_NOT_FLAG = [
    "age", "sex", "BMI", "bmi", "weight_kg", "ef", "LVEF", "eGFR", "NTproBNP", "timi_score", "st_depression",
    "cost", "dose", "washout", "hm_ratio",
    # time / duration known at the scan or at enrolment (only the whole name `time` is follow-up)
    "time_since_diagnosis", "duration_of_symptoms", "days_since_symptom_onset", "pack_years", "years_smoking",
    "age_years", "days_to_birth", "time_to_peak", "time_to_half_peak", "rise_time", "qrs_duration",
    "injection_time", "acquisition_time", "StudyTime", "time_to_treatment",
    # `status` of something other than the outcome
    "status_smoking", "smoking_status", "performance_status", "ecog_status", "her2_status", "er_status",
    "marital_status",
    # a site, a drug, an eye, a physiology term, a symptom, a syndrome that shares letters with the vocabulary
    "los_angeles_site", "LosAngeles", "5fu_dose", "5-FU", "va_os", "iop_os", "dead_space_ratio",
    "nipple_discharge", "mfs", "marfan", "lfs", "tte_lvef", "TTE", "ttr", "ttp", "census_tract",
    "nursing_home_stay", "tumour_free_margin", "post_stress_lvef", "heart_failure",
    # a past event or a predicted risk is known at baseline
    "prior_mi", "prior_event", "previous_readmission", "prior_hf_hospitalization", "family_history_sudden_death",
    "hx_of_relapse", "index_event_type", "relapsed_refractory", "sts_predicted_mortality", "mortality_risk",
    "oncotype_recurrence_score", "expected_los",
    # adjectives of the presenting disease
    "recurrent_pe", "progressive_disease", "vital_signs_hr",
    # radiomic feature names (PascalCase, split into words too)
    "ANT_image_left_lung_firstorder_RobustMeanAbsoluteDeviation", "firstorder_10Percentile",
    "shape2D_PerimeterSurfaceRatio", "glrlm_LongRunEmphasis", "glszm_SizeZoneNonUniformity",
]


def _bundled_inputs() -> list[str]:
    """Every input name of the bundled and teaching cohorts (heart failure's `time` left out: it *is* a leak)."""
    names = []
    for cohort in (load_heart_failure(), load_spectf(), load_heart_disease(), make_mibg_cohort(),
                   make_extravasation_cohort()):
        names += list(cohort.inputs)
    names += list(CLINICAL_COLUMNS) + [c for c in heart_disease_frame().columns if c not in ("num", "disease")]
    return sorted(set(names))


BUNDLED_INPUTS = _bundled_inputs()


@pytest.mark.parametrize("name", MUST_FLAG)
def test_post_outcome_names_are_flagged(name):
    assert leak_kind(name, None) == "name"
    assert leak_kind(name, 0.55) == "name"  # the name alone is enough, whatever its AUC


@pytest.mark.parametrize("name", MUST_NOT_FLAG)
def test_baseline_names_are_not_flagged(name):
    assert leak_kind(name, None) is None
    assert leak_kind(name, 0.75) is None


@pytest.mark.parametrize("name", BUNDLED_INPUTS)
def test_no_input_of_a_bundled_cohort_is_flagged_by_its_name(name):
    assert not leak_name(name)
    assert leak_kind(name, 0.6) is None


def test_bundled_inputs_are_all_there_and_heart_failure_time_stays_flagged():
    assert len(BUNDLED_INPUTS) > 150 and {"delta_lvef", "F22S", "time_to_peak", "wells_score", "thalach"} <= set(
        BUNDLED_INPUTS)
    with_time = load_heart_failure(include_time=True)
    assert [n for n in with_time.inputs if leak_kind(n, None) == "name"] == ["time"]


def test_simulated_perfusion_table_has_no_name_leak():
    pytest.importorskip("radiomics")
    from scintiml.datasets.perfusion import ALL_VIEWS, simulate_perfusion_scans, simulated_study_table

    _, groups = simulated_study_table(simulate_perfusion_scans(1, views=("ANT",), random_state=0))
    names = groups["clinical"] + [n.replace("ANT_", f"{v}_", 1) for n in groups["imaging"] for v in ALL_VIEWS]
    assert len(names) > 200
    assert [n for n in names if leak_name(n)] == []


def test_no_pyradiomics_feature_name_is_flagged():
    radiomics = pytest.importorskip("radiomics")
    names = [f"original_{cls}_{f}" for cls, klass in radiomics.getFeatureClasses().items()
             for f in klass.getFeatureNames()]
    assert len(names) > 100
    assert [n for n in names if leak_name(n)] == []


@pytest.mark.parametrize("name, words", [
    ("FollowUpDays", ["follow", "up", "days"]),
    ("mortality_30d", ["mortality", "30", "d"]),
    ("OSMonths", ["os", "months"]),
    ("LOSDays", ["los", "days"]),
    ("time-to-event", ["time", "to", "event"]),
    ("Follow-up (months)", ["follow", "up", "months"]),
    ("OS.time", ["os", "time"]),
    ("F10R", ["f", "10", "r"]),
    ("ANT_image_left_lung_firstorder_10Percentile", ["ant", "image", "left", "lung", "firstorder", "10", "percentile"]),
])
def test_names_are_split_into_words(name, words):
    assert name_words(name) == words


def test_the_auc_rule_is_unchanged_and_the_name_comes_first():
    assert leak_kind("age", LEAK_AUC) == "auc" and leak_kind("age", 0.95) == "auc"
    assert leak_kind("age", 0.89) is None and leak_kind("age", None) is None
    assert leak_kind("time_to_peak", 0.95) == "auc"  # not a name leak, but a strong one alone is still checked
    assert leak_kind("FollowUpDays", 0.99) == "name"
    assert leak_kind(3, None) is None  # a non-text column name is read as text


def test_the_tester_cohort_warns_of_followupdays_in_the_study_and_the_web_app():
    # the study's warnings
    table = pd.DataFrame({"input": ["age", "FollowUpDays", "los_angeles_site"], "auc_oriented": [0.6, 0.75, 0.55]})
    lines = leak_warnings(table)
    assert len(lines) == 1 and lines[0].startswith("input 'FollowUpDays': its name suggests it is known only after")
    # the web app pre-ticks it for exclusion, and nothing else of these
    from scintiml.app.tables import column_report

    cohort = make_mibg_cohort(n_patients=120, random_state=0)
    frame = cohort.X[["age", "delta_lvef", "planar_washout"]].copy()
    frame["FollowUpDays"] = (cohort.y * 400 + 300 + cohort.X["age"]).round()
    frame["status_smoking"] = cohort.X["smoker"]
    frame["event"] = cohort.y
    assert column_report(frame, "event").suggested_exclusions == ["FollowUpDays"]
