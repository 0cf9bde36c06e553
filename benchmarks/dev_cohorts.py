"""Export six more real clinical cohorts for the DEVELOPMENT bench (``dev_pipeline.py``), from the data that
scikit-survival and lifelines ship inside their wheels (no download at run time).

They are development cohorts only, like those listed in ``dev_pipeline.py``: a default is chosen on them, and
SPECTF and heart failure (the reporting cohorts of issue #14) are then run once. They were added because the
first twelve development cohorts hold almost no right-skewed laboratory value, while clinical tables (creatinine,
enzyme activities, counts of nodes or prior offences) do. Each is a survival study turned into a yes/no outcome
the way the bundled heart-failure cohort is (status at the end of follow-up; the follow-up time itself dropped:
it is known only after the outcome). The rules were fixed before any model was run on them:

* ``whas500``: Worcester Heart Attack Study (Hosmer, Lemeshow & May, *Applied Survival Analysis*, 2nd ed.,
  2008), 500 patients; outcome ``fstat`` (death), ``lenfol`` dropped; 14 inputs.
* ``gbsg2``: German Breast Cancer Study Group 2 (Schumacher et al., *J Clin Oncol* 1994;12:2086), 686 patients;
  outcome ``cens`` (recurrence or death), ``time`` dropped; ``horTh`` yes=1, ``menostat`` Post=1, ``tgrade``
  I/II/III = 1/2/3; 8 inputs.
* ``flchain``: serum free light chains, Olmsted County (Dispenzieri et al., *Mayo Clin Proc* 2012;87:517),
  a random 1,000 of 7,874 (``numpy.random.RandomState(0)``); outcome ``death``, ``futime`` and ``chapter``
  (cause of death: a leak) dropped; ``sex`` M=1, ``mgus`` yes=1, ``flc.grp`` and ``sample.yr`` as numbers;
  ``creatinine`` missing in about 17 %; 8 inputs.
* ``aids``: ACTG 320 trial (Hammer et al., *N Engl J Med* 1997;337:725), 1,151 patients; outcome ``censor``
  (AIDS or death, 8 %), ``time`` dropped, ``txgrp`` dropped (it repeats ``tx``), ``raceth`` one-hot; 13 inputs.
* ``rossi``: recidivism after release (Rossi, Berk & Lenihan 1980), 432; outcome ``arrest``, ``week`` dropped;
  7 inputs.
* ``lung``: NCCTG advanced lung cancer (Loprinzi et al., *J Clin Oncol* 1994;12:601), 228; outcome ``status``
  (death), ``time`` and ``inst`` (institution code) dropped; 7 inputs, some missing.

Run: pip install scikit-survival lifelines; python benchmarks/dev_cohorts.py FOLDER
(writes FOLDER/<name>.csv with the inputs and ``event``; ``dev_pipeline.py --devdata=FOLDER`` reads them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(lambda c: pd.to_numeric(c.astype(object), errors="raise")).astype(float)


def cohorts() -> dict[str, pd.DataFrame]:
    from lifelines import datasets as ld
    from sksurv import datasets as sd

    out = {}
    X, y = sd.load_whas500()
    out["whas500"] = _numeric(X).assign(event=y["fstat"].astype(int))

    d = ld.load_gbsg2()
    X = d.drop(columns=["time", "cens"]).copy()
    X["horTh"] = (X["horTh"] == "yes").astype(int)
    X["menostat"] = (X["menostat"] == "Post").astype(int)
    X["tgrade"] = X["tgrade"].map({"I": 1, "II": 2, "III": 3})
    out["gbsg2"] = _numeric(X).assign(event=d["cens"].astype(int))

    X, y = sd.load_flchain()
    X = X.drop(columns=["chapter"]).copy()
    X["sex"] = (X["sex"].astype(str) == "M").astype(int)
    X["mgus"] = (X["mgus"].astype(str) == "yes").astype(int)
    frame = _numeric(X).assign(event=y["death"].astype(int))
    rows = np.sort(np.random.RandomState(0).choice(len(frame), 1000, replace=False))
    out["flchain"] = frame.iloc[rows].reset_index(drop=True)

    X, y = sd.load_aids()
    X = X.drop(columns=["txgrp"]).copy()
    race = pd.get_dummies(X.pop("raceth").astype(str), prefix="raceth", drop_first=True).astype(int)
    out["aids"] = pd.concat([_numeric(X), race], axis=1).assign(event=y["censor"].astype(int))

    d = ld.load_rossi()
    out["rossi"] = _numeric(d.drop(columns=["week", "arrest"])).assign(event=d["arrest"].astype(int))

    d = ld.load_lung()
    out["lung"] = _numeric(d.drop(columns=["time", "status", "inst"])).assign(event=d["status"].astype(int))
    return out


def main() -> None:
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in cohorts().items():
        frame.to_csv(folder / f"{name}.csv", index=False)
        print(f"{name}: {len(frame)} patients x {frame.shape[1] - 1} inputs, {int(frame['event'].sum())} events, "
              f"{int(frame.isna().sum().sum())} missing cells")


if __name__ == "__main__":
    main()
