import numpy as np
from PIL import Image

from cnnjax.interpret import plots


def _assert_png(path, min_side=100):
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert min(image.size) >= min_side
        pixels = np.asarray(image.convert("L"), np.float32)
    assert pixels.std() > 1.0  # not a blank canvas


def test_training_curves(tmp_path):
    history = [
        {"step": s, "split": "train", "loss": 1 / s, "accuracy": 1 - 1 / s} for s in (1, 2, 3)
    ]
    history.append({"step": 3, "split": "eval", "loss": 0.5, "accuracy": 0.7})
    _assert_png(plots.training_curves(history, str(tmp_path / "curves.png")))


def test_confusion_matrix(tmp_path):
    matrix = np.array([[5, 1], [0, 4]])
    _assert_png(plots.confusion_matrix(matrix, ["a", "b"], str(tmp_path / "cm.png")))


def test_first_layer_filters_grey_and_rgb(tmp_path):
    rng = np.random.default_rng(0)
    _assert_png(plots.first_layer_filters(rng.normal(size=(5, 5, 1, 6)), str(tmp_path / "g.png")))
    _assert_png(plots.first_layer_filters(rng.normal(size=(3, 3, 3, 4)), str(tmp_path / "c.png")))


def test_feature_maps_skips_flat_layers(tmp_path):
    rng = np.random.default_rng(0)
    activations = {"conv1": rng.normal(size=(8, 8, 4)), "fc1": rng.normal(size=(10,))}
    path = plots.feature_maps(rng.normal(size=(8, 8, 1)), activations, str(tmp_path / "f.png"))
    _assert_png(path)
