"""On-device preprocessing against numpy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from cnnjax.data import preprocess
from cnnjax.data.datasets import Dataset


def _dataset(shape, mean=None, std=None):
    channels = shape[-1]
    return Dataset(
        name="toy",
        splits={},
        num_classes=2,
        image_shape=shape,
        class_names=("a", "b"),
        mean=mean or (0.25,) * channels,
        std=std or (0.5,) * channels,
    )


def _uint8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _bilinear(image, height, width):
    """Half-pixel-centre bilinear resize of (h, w, C) float, edges clamped (upsampling)."""
    h, w, _ = image.shape
    rows = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    cols = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, h - 1), np.minimum(c0 + 1, w - 1)
    fr, fc = (rows - r0)[:, None, None], (cols - c0)[None, :, None]
    top = image[r0][:, c0] * (1 - fc) + image[r0][:, c1] * fc
    bottom = image[r1][:, c0] * (1 - fc) + image[r1][:, c1] * fc
    return top * (1 - fr) + bottom * fr


def test_normalize_matches_numpy():
    x = _uint8((2, 3, 3, 3))
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    expected = (x / 255.0 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(preprocess.normalize(x, mean, std), expected, rtol=1e-5, atol=1e-6)


def test_pad_mnist_to_lenet_size():
    x = _uint8((2, 28, 28, 1))
    fn = jax.jit(preprocess.build(_dataset((28, 28, 1)), (32, 32, 1)))
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))).astype(np.float64)
    np.testing.assert_allclose(fn(x), (padded / 255 - 0.25) / 0.5, atol=1e-6)


def test_centre_crop():
    x = _uint8((1, 36, 38, 3))
    out = preprocess.build(_dataset((36, 38, 3)), (32, 32, 3))(x)
    expected = (x[:, 2:34, 3:35].astype(np.float64) / 255 - 0.25) / 0.5
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_grey_to_rgb_repeats_the_channel():
    x = _uint8((2, 8, 8, 1))
    out = preprocess.build(_dataset((8, 8, 1), (0.3,), (0.2,)), (8, 8, 3))(x)
    expected = np.repeat((x / 255.0 - 0.3) / 0.2, 3, axis=-1)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_rgb_to_grey_matches_pil_luma():
    x = _uint8((1, 5, 5, 3))
    out = preprocess.build(_dataset((5, 5, 3), (0.0,) * 3, (1.0,) * 3), (5, 5, 1))(x)
    pil = np.asarray(Image.fromarray(x[0]).convert("L"), np.float64) / 255  # integer luma, rounded
    np.testing.assert_allclose(np.asarray(out)[0, ..., 0], pil, atol=0.6 / 255)


def test_upsampling_resize_matches_bilinear_reference():
    x = _uint8((1, 8, 8, 3))
    out = preprocess.build(_dataset((8, 8, 3), (0.0,) * 3, (1.0,) * 3), (24, 24, 3))(x)
    np.testing.assert_allclose(out[0], _bilinear(x[0] / 255.0, 24, 24), atol=1e-5)


def test_non_square_resize_keeps_aspect_and_crops_the_centre():
    x = _uint8((1, 10, 20, 1))
    out = preprocess.build(_dataset((10, 20, 1), (0.0,), (1.0,)), (30, 30, 1))(x)
    resized = _bilinear(x[0] / 255.0, 30, 60)  # shorter side 10 → 30, aspect kept
    np.testing.assert_allclose(out[0], resized[:, 15:45], atol=1e-5)


@pytest.mark.parametrize(
    "source, target, mode",
    [
        ((28, 28), (32, 32), "pad"),
        ((256, 256), (224, 224), "crop"),
        ((32, 32), (224, 224), "resize"),
        ((300, 300), (32, 32), "resize"),
        ((32, 32), (32, 32), "same"),
    ],
)
def test_auto_fit_modes(source, target, mode):
    assert preprocess.fit_mode(source, target) == mode


def test_output_dtype():
    out = preprocess.build(_dataset((4, 4, 1)), (4, 4, 1), jnp.bfloat16)(_uint8((1, 4, 4, 1)))
    assert out.dtype == jnp.bfloat16


@pytest.mark.parametrize(
    "shape, input_shape, message",
    [
        ((8, 8, 1), (8, 8), "input_shape must be"),
        ((8, 8, 1), (8, 8, 4), "accepted conversions are 1 ↔ 3"),
        ((None, None, 3), (8, 8, 3), "varying size"),
        ((16, 16, 1), (8, 8, 1), "cannot pad"),
    ],
)
def test_bad_inputs_raise_at_build_time(shape, input_shape, message):
    resize = "pad" if message == "cannot pad" else "auto"
    with pytest.raises(ValueError, match=message):
        preprocess.build(_dataset(shape), input_shape, resize=resize)


def test_wrong_batch_shape_is_named():
    fn = preprocess.build(_dataset((8, 8, 1)), (8, 8, 1))
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 8, 8, 1\)"):
        fn(jnp.zeros((2, 9, 8, 1), jnp.uint8))


def test_lecun_input_range_maps_background_and_padding_to_minus_0_1_and_ink_to_1_175():
    """LeCun et al. (1998) §III-A: background -0.1, ink 1.175, whatever the dataset's stats."""
    x = _uint8((2, 28, 28, 1))
    x[0, 0, 0, 0], x[0, 0, 1, 0] = 0, 255
    fn = preprocess.build(_dataset((28, 28, 1)), (32, 32, 1), input_range=(-0.1, 1.175))
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))).astype(np.float64)
    expected = -0.1 + padded / 255 * 1.275  # a line through (0, -0.1) and (255, 1.175)
    out = np.asarray(fn(x))
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out[0, 2, 2, 0] == pytest.approx(-0.1) and out[0, 2, 3, 0] == pytest.approx(1.175)
    assert out[0, 0, 0, 0] == pytest.approx(-0.1)  # padding is background


@pytest.mark.parametrize("input_range", [(1.0, -1.0), (0.0,), (0.0, float("nan"))])
def test_bad_input_range_raises_at_build_time(input_range):
    with pytest.raises(ValueError, match="input_range must be"):
        preprocess.build(_dataset((8, 8, 1)), (8, 8, 1), input_range=input_range)
