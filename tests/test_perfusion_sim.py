"""The perfusion simulator: anatomy, emboli, mimics, truth masks and the clinical context."""

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from scintiml.datasets.perfusion import (ALL_VIEWS, MIMICS, PE_PATTERNS, VIEWS, simulate_perfusion_scans,
                                         write_simulated_cohort)
from scintiml.datasets.perfusion.clinical import D_DIMER_CUTOFF, WELLS_POINTS, clinical_context
from scintiml.datasets.perfusion.phantom import (LOBES, SEGMENT_LOBE, SEGMENT_NAMES, build_anatomy, draw_shape,
                                                 pleural_surface)


@pytest.fixture(scope="module")
def pe_cases():
    return simulate_perfusion_scans(36, prevalence=1.0, views=ALL_VIEWS, random_state=2, keep_anatomy=True)


def test_phantom_has_ten_right_and_eight_left_segments_inside_their_lobes():
    anatomy = build_anatomy(draw_shape(np.random.RandomState(0)))
    assert len(SEGMENT_NAMES) == 18 and sum(n.startswith("R ") for n in SEGMENT_NAMES) == 10
    present = np.unique(anatomy.segment[anatomy.lung])
    assert len(present) == 18  # every segment has a territory in a typical patient
    for s in present:
        lobes = np.unique(anatomy.lobe[anatomy.segment == s])
        assert list(lobes) == [SEGMENT_LOBE[s]], (SEGMENT_NAMES[s], [LOBES[i] for i in lobes])
    # a segment is a cone from the hilum: it reaches the pleura
    surface = pleural_surface(anatomy)
    assert all((surface & (anatomy.segment == s)).any() for s in present)


def test_defects_are_pleural_based_and_subsegmental_smaller(pe_cases):
    kinds = {}
    for case in pe_cases:
        assert case.pattern in PE_PATTERNS and case.label == 1
        surface = pleural_surface(case.anatomy)
        for d in case.defects:
            assert (d["points"] & surface).any(), d["territory"]  # 3-D: the territory reaches the pleura
            # 2-D: in some view the defect's outline meets the lung's outline (a pleural-based wedge)
            touches = [(d["masks"][v] & (case.lung_masks[v] & ~ndimage.binary_erosion(case.lung_masks[v]))).any()
                       for v in ALL_VIEWS]
            assert any(touches), d["territory"]
            kinds.setdefault(d["kind"], []).append(d["share_of_lungs"])
        # every PE study shows its emboli somewhere (no near-invisible PE beside the hilum)
        assert any(case.defect_masks[v].sum() >= 10 for v in VIEWS), case.case_id
    assert {"subsegmental", "segmental"} <= set(kinds)
    assert np.median(kinds["subsegmental"]) < 0.5 * np.median(kinds["segmental"])
    # a segment is roughly 1/18 of the lungs, a subsegment a fraction of that
    assert 0.02 < np.median(kinds["segmental"]) < 0.1


def test_defect_masks_are_perfusion_deficits(pe_cases):
    # against the same patient without the defects: inside the truth mask at least 20 % of the counts are gone
    checked = 0
    for case in pe_cases[:12]:
        for view in ("ANT", "POST", "RAO", "LPO"):
            mask = case.defect_masks[view]
            if mask.sum() >= 10:
                assert case.views[view][mask].sum() < 0.85 * case.reference[view][mask].sum()
                outside = case.lung_masks[view] & ~mask
                assert case.views[view][outside].sum() > 0.8 * case.reference[view][outside].sum()  # < 20 % lost
                checked += 1
    assert checked >= 10


def test_counts_views_and_protocol():
    cases = simulate_perfusion_scans(4, random_state=0)
    for c in cases:
        assert set(c.views) == set(VIEWS)
        for v in VIEWS:
            img = c.views[v]
            assert img.shape == (128, 128) and np.all(img >= 0) and np.all(img == np.round(img))
            assert abs(img.sum() - 500_000) < 5 * np.sqrt(500_000)
            assert img[c.lung_masks[v]].sum() > 0.6 * img.sum()  # most counts in the lungs
    low = simulate_perfusion_scans(1, counts_per_view=250_000, collimator_fwhm_mm=10, random_state=0)
    assert abs(low[0].views["ANT"].sum() - 250_000) < 5 * np.sqrt(250_000)
    with pytest.raises(ValueError, match="unknown view"):
        simulate_perfusion_scans(1, views=("LAT",))
    with pytest.raises(ValueError, match="prevalence and mimic_share"):
        simulate_perfusion_scans(1, prevalence=1.5)


def test_views_are_oriented_like_the_dicom_header():
    # ANT rows run to the patient's left (PatientOrientation L\F), POST rows to the right (R\F), RAO to the
    # left and anterior: a right-lung lobar defect sits on the image's left on ANT and on its right on POST
    from scintiml.imaging.nm_iod import VIEW_ORIENTATION

    assert VIEW_ORIENTATION["ANT"][0] == "L" and VIEW_ORIENTATION["POST"][0] == "R"
    cases = simulate_perfusion_scans(16, prevalence=1.0, pe_mix=(0, 0, 1, 0), views=("ANT", "POST"), random_state=5)
    sides = 0
    for c in cases:
        lobar = [d for d in c.defects if d["kind"] == "lobar"][0]
        right_lung = lobar["territory"].startswith("R")
        for view, expect_left in (("ANT", right_lung), ("POST", not right_lung)):
            cols = np.nonzero(lobar["masks"][view])[1]
            assert (cols.mean() < 64) == expect_left, (c.case_id, view, lobar["territory"])
        sides += right_lung
    assert 0 < sides < len(cases)  # both lungs were tried


def test_mimics_at_the_stated_share_and_not_pe():
    cases = simulate_perfusion_scans(300, prevalence=0.0, mimic_share=0.4, views=("ANT",), random_state=1)
    patterns = pd.Series([c.pattern for c in cases])
    share = patterns.isin(MIMICS).mean()
    assert abs(share - 0.4) < 3 * np.sqrt(0.4 * 0.6 / 300)
    assert set(patterns) <= set(MIMICS) | {"normal"} and len(set(patterns) & set(MIMICS)) == len(MIMICS)
    assert all(c.label == 0 for c in cases)


def test_stripe_sign_spares_the_pleura():
    cases = simulate_perfusion_scans(60, prevalence=0.0, mimic_share=1.0, views=("ANT",), random_state=7,
                                     keep_anatomy=True)
    stripes = [c for c in cases if c.pattern == "stripe"]
    assert stripes
    for c in stripes:
        surface = pleural_surface(c.anatomy)
        assert not (c.defects[0]["points"] & surface).any()


def test_non_segmental_mimics_do_not_follow_segments():
    """Pneumonia crosses segment borders; a tumour defect is central (hilar), not a peripheral wedge."""
    cases = simulate_perfusion_scans(120, prevalence=0.0, mimic_share=1.0, views=("ANT",), random_state=12,
                                     keep_anatomy=True)
    pneumonia = [c for c in cases if c.pattern == "pneumonia"]
    tumours = [c for c in cases if c.pattern == "tumour"]
    assert len(pneumonia) >= 5 and len(tumours) >= 5
    crossing = 0
    for c in pneumonia:
        segs = c.anatomy.segment[c.defects[0]["points"]]
        crossing += np.bincount(segs).max() < 0.9 * len(segs)  # not one segment's territory
    assert crossing >= 0.7 * len(pneumonia)  # most cross segment borders (15 of 19 here)
    from scintiml.datasets.perfusion.phantom import HILUM, grid_points

    points, _ = grid_points()
    for c in tumours:  # central: every point of the defect within 8 cm of the hilum (a lung is ~25 cm tall)
        p = points[c.defects[0]["points"]] * np.array([1, 1, 1 / c.anatomy.params["height"]])
        side = "right" if p[:, 0].mean() < 0 else "left"
        assert np.linalg.norm(p - HILUM[side], axis=1).max() < 80.0


def test_same_seed_same_patients_under_another_protocol():
    a = simulate_perfusion_scans(5, random_state=4, views=("ANT",))
    b = simulate_perfusion_scans(5, random_state=4, views=("ANT",), counts_per_view=250_000,
                                 collimator_fwhm_mm=9.0, scatter_fraction=0.4)
    assert [c.pattern for c in a] == [c.pattern for c in b]
    assert [c.clinical for c in a] == [c.clinical for c in b]
    for x, z in zip(a, b):
        assert not np.array_equal(x.views["ANT"], z.views["ANT"])


def test_clinical_context_reproduces_the_published_d_dimer_accuracy_and_wells_gradient():
    rng = np.random.RandomState(0)
    pe = pd.DataFrame([clinical_context(1, rng.uniform(0, 0.3), None, rng) for _ in range(3000)])
    no = pd.DataFrame([clinical_context(0, 0.0, None, rng) for _ in range(3000)])
    sensitivity = (pe["d_dimer_ng_ml"] >= D_DIMER_CUTOFF).mean()
    specificity = (no["d_dimer_ng_ml"] < D_DIMER_CUTOFF).mean()
    assert abs(sensitivity - 0.94) < 0.03 and abs(specificity - 0.45) < 0.04  # Brown et al. 2002
    for frame in (pe, no):
        total = sum(WELLS_POINTS[k] * frame[k] for k in WELLS_POINTS)
        np.testing.assert_allclose(frame["wells_score"], total)
        assert ((frame["heart_rate"] > 100) == frame["wells_heart_rate_over_100"].astype(bool)).all()
    # PE prevalence rises across the Wells categories (Wells 2001: 1.3 %, 16.2 %, 40.6 % at 9.5 %)
    prevalence = 0.095
    weights = np.r_[np.full(len(pe), prevalence / len(pe)), np.full(len(no), (1 - prevalence) / len(no))]
    both = pd.concat([pe.assign(pe=1), no.assign(pe=0)], ignore_index=True).assign(w=weights)
    cat = pd.cut(both["wells_score"], [-1, 1.99, 6.0, 99], labels=["low", "moderate", "high"])
    rate = both.groupby(cat, observed=True).apply(lambda g: np.average(g["pe"], weights=g["w"]))
    assert rate["low"] < 0.04 and 0.08 < rate["moderate"] < 0.3 and rate["high"] > 0.3
    assert pe["spo2"].mean() < no["spo2"].mean() and pe["age"].mean() > no["age"].mean()


def test_write_simulated_cohort_is_complete_and_atomic(tmp_path):
    out = tmp_path / "sim"
    summary = write_simulated_cohort(out, 4, views=("ANT", "POST"), prevalence=0.5, random_state=3)
    assert summary["studies"] == 4 and summary["files"] == 8
    labels = pd.read_csv(out / "labels.csv")
    clinical = pd.read_csv(out / "clinical.csv")
    assert list(labels["patient_id"]) == list(clinical["patient_id"])
    assert {"d_dimer_ng_ml", "spo2", "wells_score", "age", "female"} <= set(clinical.columns)
    with np.load(out / "truth" / f"{labels['patient_id'][0]}.npz") as npz:
        assert {"ANT__defects", "POST__defects"} <= set(npz.files)
    parallel = write_simulated_cohort(tmp_path / "par", 4, views=("ANT", "POST"), prevalence=0.5, random_state=3,
                                      n_jobs=2)
    assert parallel == summary
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "par" / "clinical.csv"), clinical)
    for path in sorted((out / "dicom").iterdir()):  # the same files, UIDs included
        assert path.read_bytes() == (tmp_path / "par" / "dicom" / path.name).read_bytes()
    import shutil

    shutil.rmtree(tmp_path / "par")
    from scintiml.io import OutputExistsError

    with pytest.raises(OutputExistsError):
        write_simulated_cohort(out, 1)

    def boom(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_simulated_cohort(tmp_path / "never", 2, views=("ANT",), progress=boom)
    assert not (tmp_path / "never").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["sim"]


def test_parallel_simulation_gives_the_same_cases():
    a = simulate_perfusion_scans(10, views=("ANT",), random_state=8)
    b = simulate_perfusion_scans(10, views=("ANT",), random_state=8, n_jobs=2)
    assert [c.pattern for c in a] == [c.pattern for c in b]
    for x, z in zip(a, b):
        np.testing.assert_array_equal(x.views["ANT"], z.views["ANT"])


def test_cli_simulate_validates_before_work_and_writes_the_folder(tmp_path, capsys):
    from conftest import run_cli

    for args, message in ((["--n", "0"], "--n must be at least 1"),
                          (["--prevalence", "1.5"], "--prevalence and --mimic-share"),
                          (["--layout", "stacked"], "--layout must be per_view, dual_head or multiframe")):
        assert run_cli(["simulate", "--out", str(tmp_path / "bad"), *args]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("error:") == 1, err
        assert not (tmp_path / "bad").exists()
    assert run_cli(["simulate", "--out", str(tmp_path / "sim"), "--n", "2", "--layout", "dual_head"]) == 0
    assert "2 studies" in capsys.readouterr().out
    assert len(list((tmp_path / "sim" / "dicom").iterdir())) == 6  # 3 dual-head acquisitions per study
    assert (tmp_path / "sim" / "clinical.csv").exists()
    assert run_cli(["simulate", "--out", str(tmp_path / "sim"), "--n", "2"]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("option", [("--counts", "inf"), ("--counts", "nan"), ("--collimator-fwhm", "nan"),
                                    ("--collimator-fwhm", "1e9")])
def test_cli_simulate_refuses_non_finite_and_absurd_physics(tmp_path, capsys, option):
    from conftest import run_cli

    code = run_cli(["simulate", "--out", str(tmp_path / "sim"), "--n", "1", *option])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "must lie in" in err and not (tmp_path / "sim").exists()


# ----------------------------------------------------------------------------- the simulator checks its arguments
@pytest.mark.parametrize("kwargs, phrase", [
    ({"collimator_fwhm_mm": float("nan")}, r"collimator_fwhm_mm must lie in \(0, 100\], got nan"),
    ({"collimator_fwhm_mm": 1e9}, r"collimator_fwhm_mm must lie in \(0, 100\]"),  # ran > 300 s, then out of memory
    ({"collimator_fwhm_mm": 0}, r"collimator_fwhm_mm must lie in \(0, 100\]"),
    ({"collimator_slope": float("nan")}, r"collimator_slope must lie in \[0, 1\], got nan"),
    ({"collimator_slope": -0.01}, r"collimator_slope must lie in \[0, 1\]"),
    ({"collimator_slope": 1e9}, r"collimator_slope must lie in \[0, 1\]"),
    ({"counts_per_view": float("nan")}, r"counts_per_view must lie in \(0, 1e\+09\], got nan"),
    ({"counts_per_view": float("inf")}, r"counts_per_view must lie in \(0, 1e\+09\], got inf"),
    ({"counts_per_view": 1e30}, r"counts_per_view must lie in \(0, 1e\+09\]"),  # numpy: "lam value too large"
    ({"counts_per_view": "500000"}, r"counts_per_view must lie in"),
    ({"scatter_fraction": float("nan")}, r"scatter_fraction must lie in \[0, 1\)"),
    ({"scatter_fraction": 1.0}, r"scatter_fraction must lie in \[0, 1\)"),
    ({"prevalence": float("nan")}, "prevalence and mimic_share must lie in"),
    ({"views": ()}, "views is empty; give at least one of ANT"),
    ({"views": "ANT"}, "views must be a sequence of view names"),
    ({"views": ("ANT", "POST", "ANT")}, "view.s. ANT given more than once"),
    ({"n_jobs": 0}, "n_jobs must be None or a non-zero whole number"),
    ({"n_jobs": 1.5}, "n_jobs must be None or a non-zero whole number"),
    ({"n_cases": -1}, "n_cases must be a whole number of cases, at least 0"),
    ({"n_cases": 2.5}, "n_cases must be a whole number of cases, at least 0"),
    ({"pe_mix": (0.2, float("nan"), 0.3, 0.5)}, "pe_mix needs 4 non-negative finite weights"),
])
def test_simulator_refuses_arguments_out_of_range_by_name(kwargs, phrase):
    from scintiml.errors import ScintimlError

    args = {"n_cases": 1, "views": ("ANT",), "random_state": 0, **kwargs}
    with pytest.raises(ScintimlError, match=phrase):
        simulate_perfusion_scans(**args)


def test_simulator_takes_its_bounds_and_the_cli_uses_the_same_ones(tmp_path, capsys, monkeypatch):
    from conftest import run_cli

    from scintiml.datasets.perfusion import simulate as sim

    assert (sim.MAX_COUNTS, sim.MAX_FWHM_MM, sim.MAX_COLLIMATOR_SLOPE) == (1e9, 100.0, 1.0)
    (at_bounds,) = simulate_perfusion_scans(1, views=("ANT",), random_state=0, counts_per_view=sim.MAX_COUNTS,
                                            collimator_fwhm_mm=sim.MAX_FWHM_MM, collimator_slope=1.0, n_jobs=-1)
    assert abs(at_bounds.views["ANT"].sum() - 1e9) < 5 * np.sqrt(1e9)
    # one source of the limits: lowered in the simulator module, the command refuses what it took before
    monkeypatch.setattr(sim, "MAX_FWHM_MM", 5.0)
    assert run_cli(["simulate", "--out", str(tmp_path / "sim"), "--n", "1", "--collimator-fwhm", "7"]) == 2
    err = capsys.readouterr().err
    assert "--collimator-fwhm in (0, 5] mm" in err and not (tmp_path / "sim").exists()
    with pytest.raises(ValueError, match=r"collimator_fwhm_mm must lie in \(0, 5\]"):
        simulate_perfusion_scans(1, views=("ANT",), collimator_fwhm_mm=7.0)


def test_stack_defaults_to_the_cases_own_views_and_names_a_missing_one():
    from scintiml.errors import ScintimlError

    (two,) = simulate_perfusion_scans(1, views=("POST", "ANT"), random_state=3)
    stacked = two.stack()  # was KeyError 'RAO': the default asked for the six standard views
    assert stacked.shape == (2, 128, 128)
    np.testing.assert_array_equal(stacked[0], two.views["POST"])
    np.testing.assert_array_equal(stacked[1], two.views["ANT"])
    with pytest.raises(ScintimlError, match=r"view\(s\) RAO were not simulated; it has POST, ANT"):
        two.stack(("ANT", "RAO"))
    (six,) = simulate_perfusion_scans(1, random_state=3)
    np.testing.assert_array_equal(six.stack(), six.stack(VIEWS))  # the default protocol stacks as before
