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


def test_heat_clips_outliers_at_the_99th_percentile():
    a = np.linspace(0, 1, 10_000, dtype=np.float32).reshape(100, 100, 1)
    a[0, 0, 0] = -1000.0  # one extreme pixel must not make the rest invisible
    h = plots.heat(a)
    assert h.shape == (100, 100) and h.max() == 1.0
    np.testing.assert_allclose(np.median(h), 0.5 / 0.99, atol=0.01)


def test_interpret_figures(tmp_path):
    from cnnjax.interpret.patches import Patch

    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 12, 12, 3))
    columns = {"saliency": rng.normal(size=(2, 12, 12, 3)), "grad_cam": rng.random((2, 3, 3))}
    _assert_png(plots.attribution_grid(images, columns, str(tmp_path / "a.png"), title="t"))
    _assert_png(plots.tiles(rng.normal(size=(5, 8, 8, 1)), str(tmp_path / "t.png"), titles="abcde"))
    maps = rng.random((6, 6, 4))
    _assert_png(plots.channel_maps(images[0], maps, str(tmp_path / "c.png"), layer="conv1"))
    patches = [Patch(1.0, 0, (0, 0), ((0, 0), (5, 5)), rng.random((5, 5, 3))) for _ in range(3)]
    _assert_png(plots.patch_mosaic({"conv1 ch 0": patches}, str(tmp_path / "p.png")))
    erf = np.outer(np.hanning(16), np.hanning(16))
    path = plots.effective_receptive_field(erf, str(tmp_path / "e.png"), window=((2, 2), (9, 9)))
    _assert_png(path)
