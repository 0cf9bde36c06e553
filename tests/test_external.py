"""External validation, recalibration, internal-external cross-validation, missing-input rules, drift guard
and the bundled four-hospital heart-disease cohort."""

import hashlib
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

from scintiml.datasets import heart_disease_frame, heart_disease_sites, load_heart_disease


# --- the bundled cohort ------------------------------------------------------------------------------------------

def test_heart_disease_file_is_the_published_one():
    data = files("scintiml.datasets").joinpath("data", "heart_disease.csv").read_bytes()
    assert hashlib.sha256(data).hexdigest() == "3e5f4739e6724241bbd4c54d11241abdf3e45b583ca62b6d0beccc2bdc9ce184"


def test_heart_disease_sites_events_and_quirks():
    cohort = load_heart_disease()
    assert cohort.n_patients == 920 and cohort.n_events == 139 + 106 + 115 + 149
    assert "num" not in cohort.inputs and "site" not in cohort.inputs and "disease" not in cohort.inputs
    sites = heart_disease_sites(cohort)
    assert {s: int((sites == s).sum()) for s in np.unique(sites)} == {
        "cleveland": 303, "hungarian": 294, "switzerland": 123, "va": 200}
    # chol = 0 is a missing code: 123 Swiss + 49 VA zeros, added to the cells already empty in the file
    raw = pd.read_csv(files("scintiml.datasets").joinpath("data", "heart_disease.csv"))
    assert int((raw["chol"] == 0).sum()) == 172
    assert cohort.missing["chol"] == int(raw["chol"].isna().sum()) + 172
    assert (cohort.X["chol"].dropna() > 0).all() and (cohort.X["trestbps"].dropna() > 0).all()
    assert any("chol (172), trestbps (1)" in n for n in cohort.notes)
    assert cohort.groups["imaging"] == ["thal"] and cohort.groups["fluoroscopy"] == ["ca"]
    # the outcome is num > 0, row for row
    assert np.array_equal(cohort.y, (raw["num"] > 0).astype(int).to_numpy())


def test_heart_disease_single_site_and_unknown_site():
    cleveland = load_heart_disease("cleveland")
    assert (cleveland.n_patients, cleveland.n_events) == (303, 139)
    swiss = load_heart_disease("switzerland")
    assert swiss.n_patients - swiss.n_events == 8
    assert any("only 8 patients without disease" in n for n in swiss.notes)
    assert heart_disease_frame("switzerland")["chol"].isna().all()
    from scintiml.errors import ScintimlError

    with pytest.raises(ScintimlError, match="unknown site.*'mayo'"):
        load_heart_disease("mayo")
