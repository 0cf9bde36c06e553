import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
pydicom = pytest.importorskip("pydicom")

from conftest import run_cli as _cli  # noqa: E402
from scintiml.cnn import CNNModel, OnnxPredictor, PlanarAlexNet, export_onnx, train_cnn  # noqa: E402
from scintiml.cnn.transforms import PoissonThinning, preprocess  # noqa: E402
from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans  # noqa: E402


@pytest.fixture(scope="module")
def small():
    cases = simulate_perfusion_scans(20, prevalence=0.5, random_state=7)
    return np.stack([c.stack() for c in cases]), np.array([c.label for c in cases])


def test_network_shapes():
    net = PlanarAlexNet(in_channels=6, width=8)
    out = net(torch.zeros(3, 6, 128, 128))
    assert out.shape == (3,)


def test_preprocessing_is_count_invariant_and_thinning_is_poisson(small):
    X, _ = small
    a = preprocess(X[0])
    b = preprocess(X[0] * 3.0)
    np.testing.assert_allclose(a, b, atol=1e-5)  # the dose does not change what the network sees
    assert a.shape == (6, 128, 128) and abs(float(a.mean())) < 1e-4
    thin = PoissonThinning(low=0.5, prob=1.0, rng=np.random.default_rng(0))(X[0])
    ratio = thin.sum() / X[0].sum()
    assert 0.45 < ratio < 1.0 and np.all(thin <= X[0])


def test_training_is_deterministic_and_bundle_round_trips(small, tmp_path):
    X, y = small
    m1, report = train_cnn(X, y, VIEWS, width=8, epochs=1, max_steps=2, seed=3)
    m2, _ = train_cnn(X, y, VIEWS, width=8, epochs=1, max_steps=2, seed=3)
    p1, p2 = m1.predict_proba(X), m2.predict_proba(X)
    np.testing.assert_allclose(p1, p2, atol=1e-6)
    assert report["split"] == {"training": 12, "selection": 4, "testing": 4}
    path = m1.save(tmp_path / "model")
    loaded = CNNModel.load(path)
    np.testing.assert_allclose(loaded.predict_proba(X), p1, atol=1e-6)
    assert json.loads((path / "config.json").read_text())["views"] == list(VIEWS)
    assert not list(path.glob("*.pt")) and not list(path.glob("*.pkl"))  # no pickle anywhere


def test_onnx_agrees_with_torch(small, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    X, y = small
    model, _ = train_cnn(X, y, VIEWS, width=8, epochs=1, max_steps=2, seed=0)
    onnx_path = export_onnx(model, tmp_path / "model.onnx")
    ort = OnnxPredictor(onnx_path, model.config)
    np.testing.assert_allclose(ort.predict_proba(X), model.predict_proba(X), atol=1e-5)


def test_train_triage_secondary_capture_path(tmp_path):
    sim = tmp_path / "sim"
    assert _cli(["simulate", "--out", str(sim), "--n", "16", "--prevalence", "0.5", "--seed", "2"]) in (0, None)
    model_dir = tmp_path / "model"
    assert _cli(["cnn", "train", str(sim), "--out", str(model_dir), "--epochs", "1", "--max-steps", "2"]) in (0, None)
    worklist = tmp_path / "worklist.csv"
    assert _cli(["cnn", "triage", str(model_dir), str(sim), "--out", str(worklist)]) in (0, None)
    table = pd.read_csv(worklist)
    assert len(table) == 16 and list(table["rank"]) == list(range(1, 17))
    assert table["probability"].is_monotonic_decreasing
    model = CNNModel.load(model_dir)
    assert set(table["priority"]) <= {"URGENT", "routine"}
    assert ((table["probability"] >= model.threshold) == (table["priority"] == "URGENT")).all()
    row = table.iloc[0]
    source = pydicom.dcmread(row["source"])
    sc = pydicom.dcmread(row["secondary_capture"])
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    assert sc.StudyInstanceUID == source.StudyInstanceUID and sc.PatientID == source.PatientID
    assert sc.SeriesInstanceUID != source.SeriesInstanceUID
    assert sc.Rows > 100 and sc.SamplesPerPixel == 3
    from PIL import Image

    assert Image.open(row["summary_png"]).size[0] > 300


def test_cnn_cli_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    assert _cli(["cnn", "train", str(tmp_path / "empty"), "--out", str(tmp_path / "m")]) == 2
    assert not (tmp_path / "m").exists()


def test_wrong_image_size_is_a_clear_error():
    from scintiml.imaging import ImagingError

    with pytest.raises(ImagingError, match="128 x 128"):
        train_cnn(np.zeros((10, 6, 64, 64)), np.r_[np.zeros(5), np.ones(5)], VIEWS)


def test_drift_check_table(small):
    from scintiml.cnn import drift_check

    X, y = small
    model, _ = train_cnn(X, y, VIEWS, width=8, epochs=1, max_steps=1, seed=0)
    table = drift_check(model, n_cases=12, random_state=99,
                        protocols={"reference": {}, "half counts": {"counts_per_view": 250_000}})
    assert list(table["protocol"]) == ["reference", "half counts"]
    assert ((table["auc_ci_low"] <= table["auc"]) & (table["auc"] <= table["auc_ci_high"])).all()
    assert table["sensitivity"].between(0, 1).all()
