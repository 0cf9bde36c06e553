import sys

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def small_frame():
    """A valid little cohort: 40 patients, 20 events, three numeric inputs and an id."""
    rng = np.random.RandomState(0)
    n = 40
    return pd.DataFrame({
        "pid": [f"P{i:03d}" for i in range(n)],
        "age": rng.normal(60, 10, n).round(),
        "washout": rng.normal(25, 8, n),
        "hm_ratio": rng.normal(2.2, 0.3, n),
        "outcome": np.repeat([0, 1], n // 2),
    })


@pytest.fixture
def no_pango(monkeypatch):
    """A machine without pango: importing WeasyPrint's HTML raises the OSError it raises there."""
    import types

    def missing(name):
        raise OSError("cannot load library 'libpango-1.0-0': error 0x7e")

    broken = types.ModuleType("weasyprint")
    broken.__getattr__ = missing
    monkeypatch.setitem(sys.modules, "weasyprint", broken)
    return broken


def run_cli(args):
    """Run ``scintiml ARGS`` in-process; returns the exit status (0 when main() returns)."""
    from scintiml.cli import main

    argv = sys.argv
    sys.argv = ["scintiml", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = argv
    return code or 0


def radiomics_case(folder, masks_of, patients=("P1",)):
    """One simulated two-view study per patient in ``folder/img`` (the same images), and ``folder/masks/P1.npz``
    holding ``masks_of(lung_masks)`` (VIEW__ROI arrays): the first patient's masks only. Returns (images, masks)."""
    pytest.importorskip("radiomics")
    import numpy as np

    from scintiml.datasets.perfusion import simulate_perfusion_scans
    from scintiml.imaging import PlanarStudy, write_nm_dicom

    case = simulate_perfusion_scans(1, views=("ANT", "POST"), random_state=0)[0]
    (folder / "img").mkdir()
    (folder / "masks").mkdir()
    for k, patient in enumerate(patients):
        write_nm_dicom(PlanarStudy(views=case.views, pixel_spacing_mm=(3.125, 3.125), patient_id=patient),
                       folder / "img" / f"{'abcdefgh'[k]}.dcm")
    np.savez(folder / "masks" / f"{patients[0]}.npz", **masks_of(case.lung_masks))
    return folder / "img", folder / "masks"


#: Test files that take the most time (218 s of one core down to 29 s, in this order; measured 2026-11-27 with
#: ``--junitxml``), collected first. ``make test`` hands out whole files to the workers (``--dist loadfile``) in the
#: order they are collected; a long file handed out last kept one worker busy for minutes after the other had
#: finished. Longest first keeps the two CI cores busy to the end. Only the order changes, never what runs.
LONGEST_FIRST = ("test_study.py", "test_resampled.py", "test_readiness_audit.py", "test_cnn.py", "test_external.py",
                 "test_no_leakage.py", "test_interrupt.py", "test_app.py", "test_readiness.py", "test_perfusion_sim.py",
                 "test_missing_codes.py", "test_app_browser.py", "test_pacs_orthanc.py", "test_corpus.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
