"""Augmentation ops: properties against numpy / scipy references and hand-derived invariants."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage, stats

from cnnjax.data import augment
from cnnjax.data.augment import geometric, mixing, photometric

# Every per-example op once; compiled once for the module (compiles dominate the test time).
EVERY_OP = (
    "pad_crop(4)|flip_lr|flip_ud(0.7)|rotate(30)|zoom(0.8, 1.25)|translate(0.2)|inception_crop"
    "|cutout(5)|gaussian_noise(0.1)|brightness(0.3)|contrast(0.5, 1.5)|saturation(0.0, 2.0)"
    "|pca_lighting(0.5)"
)


@functools.cache
def _jitted(spec):
    return jax.jit(augment.build(spec, 10))


rotate = jax.jit(geometric.rotate_image)  # zero fill, as scipy's grid-constant


def _images(batch=4, size=12, channels=3, seed=0):
    return jax.random.normal(jax.random.key(seed), (batch, size, size, channels))


def _labels(batch=4, classes=10):
    return jax.nn.one_hot(jnp.arange(batch) % classes, classes)


def test_empty_spec_is_the_identity():
    x, y = _images(), _labels()
    out_x, out_y = augment.build("", 10)(jax.random.key(1), x, y)
    np.testing.assert_array_equal(out_x, x)
    np.testing.assert_array_equal(out_y, y)


@pytest.mark.parametrize("spec", [EVERY_OP, "mixup(0.4)", "cutmix"])
def test_deterministic_for_a_key_and_keeps_shapes(spec):
    fn = _jitted(spec)
    x, y = _images(), _labels()
    a = fn(jax.random.key(3), x, y)
    b = fn(jax.random.key(3), x, y)
    c = fn(jax.random.key(4), x, y)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].shape == x.shape and a[0].dtype == x.dtype and a[1].shape == y.shape
    assert not np.array_equal(a[0], c[0]), "a different key must give a different augmentation"


def test_jitted_batch_equals_per_example():
    x, y = _images(), _labels()
    key = jax.random.key(7)
    batch_out, labels = _jitted(EVERY_OP)(key, x, y)
    np.testing.assert_array_equal(labels, y)
    example = jax.jit(augment.build_example(EVERY_OP))
    keys = jax.random.split(jax.random.fold_in(key, 0), len(x))
    for b in range(len(x)):
        np.testing.assert_allclose(batch_out[b], example(keys[b], x[b]), atol=1e-5)


@pytest.mark.parametrize("op", ["flip_lr", "flip_ud"])
def test_flipping_twice_is_the_identity(op):
    fn = augment.build_example(op)
    x = _images()[0]
    for seed in range(4):
        key = jax.random.key(seed)
        np.testing.assert_array_equal(fn(key, fn(key, x)), x)


def test_flip_with_probability_one_mirrors():
    x = np.asarray(_images()[0])
    np.testing.assert_array_equal(
        augment.build_example("flip_lr(1.0)")(jax.random.key(0), x), x[:, ::-1]
    )
    np.testing.assert_array_equal(
        augment.build_example("flip_ud(1.0)")(jax.random.key(0), x), x[::-1]
    )


@pytest.mark.parametrize(
    "spec, pad_mode",
    [
        ("pad_crop(2)", "constant"),
        ("pad_crop(2, mode='reflect')", "reflect"),
        ("translate(2)", "edge"),  # whole-pixel shifts with nearest fill = crops of edge padding
    ],
)
def test_crops_and_shifts_are_windows_of_the_padded_image(spec, pad_mode):
    x = np.asarray(_images(size=8)[0])
    padded = np.pad(x, ((2, 2), (2, 2), (0, 0)), mode=pad_mode)
    windows = [padded[i : i + 8, j : j + 8] for i in range(5) for j in range(5)]
    fn = jax.jit(augment.build_example(spec))
    seen = set()
    for seed in range(30):
        out = np.asarray(fn(jax.random.key(seed), x))
        assert out.shape == x.shape
        matches = [k for k, w in enumerate(windows) if np.allclose(out, w, atol=1e-6)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 5, "offsets should vary with the key"


def test_rotate_zero_is_the_identity():
    x, y = _images(), _labels()
    out, _ = augment.build("rotate(0)", 10)(jax.random.key(0), x, y)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(rotate(x[0], 0.0), x[0])


def test_rotate_quarter_turn_matches_rot90():
    x = np.asarray(_images()[0])
    np.testing.assert_allclose(rotate(x, jnp.pi / 2), np.rot90(x, 1, axes=(0, 1)), atol=1e-5)


def test_rotate_matches_scipy():
    x = np.asarray(_images()[0])
    for degrees in (17.0, -40.0):
        expected = ndimage.rotate(
            x, degrees, axes=(0, 1), reshape=False, order=1, mode="grid-constant"
        )
        np.testing.assert_allclose(rotate(x, math.radians(degrees)), expected, atol=1e-4)


def test_integer_shift_matches_numpy():
    x = np.asarray(_images()[0])
    expected = np.zeros_like(x)
    expected[2:, :-3] = x[:-2, 3:]  # down 2, left 3
    np.testing.assert_array_equal(geometric.shift_image(jnp.asarray(x), 2.0, -3.0), expected)


def test_zoom_matches_scipy_zoom_about_the_centre():
    x = np.asarray(_images(channels=1)[0, ..., 0])
    centre = np.array([5.5, 5.5])
    # out[p] = x[(p - c) / 2 + c]: scipy's affine_transform maps output to input coordinates.
    expected = ndimage.affine_transform(
        x, np.eye(2) / 2, offset=centre - centre / 2, order=1, mode="grid-constant"
    )
    np.testing.assert_allclose(
        geometric.zoom_image(jnp.asarray(x)[..., None], 2.0)[..., 0], expected, atol=1e-5
    )


def test_cutout_zeroes_one_clipped_square():
    x = jnp.ones((10, 10, 2))
    fn = augment.build_example("cutout(4)")
    for seed in range(10):
        zeroed = np.asarray(fn(jax.random.key(seed), x))[..., 0] == 0
        rows, cols = np.nonzero(zeroed)
        height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
        assert zeroed.sum() == height * width <= 16  # one rectangle, at most 4x4
        assert height == 4 or rows.min() == 0 or rows.max() == 9  # clipped only at a border
        assert width == 4 or cols.min() == 0 or cols.max() == 9


def test_mixup_mixes_images_and_labels_with_one_weight():
    x, y = _images(), _labels()
    out_x, out_y = _jitted("mixup(0.4)")(jax.random.key(2), x, y)
    np.testing.assert_allclose(out_y.sum(axis=1), 1.0, atol=1e-6)
    lams = set()
    for i in range(4):
        own = float(out_y[i, i])  # example i has class i
        partner = int(np.argmax(np.where(np.arange(10) == i, -1, out_y[i]))) if own < 1 else i
        np.testing.assert_allclose(out_x[i], own * x[i] + (1 - own) * x[partner], atol=1e-5)
        lams.add(round(max(own, 1 - own), 5) if partner != i else None)
    assert len(lams - {None}) <= 1, "one mixing weight per batch"


def test_cutmix_pastes_a_box_and_weights_labels_by_its_area():
    x = jnp.arange(4, dtype=jnp.float32)[:, None, None, None] + jnp.zeros((4, 12, 12, 3))
    y = _labels(batch=4)
    for seed in range(5):
        out_x, out_y = _jitted("cutmix")(jax.random.key(seed), x, y)
        np.testing.assert_allclose(out_y.sum(axis=1), 1.0, atol=1e-6)
        for i in range(4):
            from_partner = np.asarray(out_x[i, ..., 0]) != i
            np.testing.assert_allclose(out_y[i, i], 1 - from_partner.mean(), atol=1e-6)


@pytest.mark.parametrize("alpha", [0.4, 2.0])
def test_mixing_weights_follow_the_beta_distribution(alpha):
    keys = jax.random.split(jax.random.key(0), 20000)
    samples = np.asarray(jax.vmap(lambda k: mixing.sample_beta(k, alpha))(keys))
    assert stats.kstest(samples, stats.beta(alpha, alpha).cdf).statistic < 0.015
    assert abs(samples.var() - 1 / (4 * (2 * alpha + 1))) < 0.005


def test_photometric_invariants():
    x = _images(batch=1, size=6)[0]
    key = jax.random.key(5)
    diff = np.asarray(photometric.brightness(0.3)(key, x) - x)
    assert np.ptp(diff) < 1e-6 and abs(diff.flat[0]) <= 0.3
    contrasted = photometric.contrast(0.5, 1.5)(key, x)
    np.testing.assert_allclose(contrasted.mean(axis=(0, 1)), x.mean(axis=(0, 1)), atol=1e-5)
    luma = jnp.asarray(photometric.LUMA)
    saturated = photometric.saturation(0.0, 2.0)(key, x)
    np.testing.assert_allclose(saturated @ luma, x @ luma, atol=1e-5)  # luma is kept
    noise = photometric.gaussian_noise(0.5)(key, jnp.zeros((64, 64, 1)))
    assert abs(float(noise.std()) - 0.5) < 0.02


def test_pca_lighting_shift_has_alexnet_covariance():
    lighting = photometric.pca_lighting(0.1)
    keys = jax.random.split(jax.random.key(0), 20000)
    shifts = jax.vmap(lambda k: lighting(k, jnp.zeros((1, 1, 3)))[0, 0])(keys)  # (N, 3)
    eigvec, eigval = np.asarray(photometric.EIGVEC), np.asarray(photometric.EIGVAL)
    expected = eigvec @ np.diag((0.1 * eigval) ** 2) @ eigvec.T
    np.testing.assert_allclose(np.cov(np.asarray(shifts).T), expected, rtol=0.05, atol=1e-7)
    with pytest.raises(ValueError, match="RGB"):
        lighting(jax.random.key(0), jnp.zeros((2, 2, 1)))


def test_bfloat16_images_keep_their_dtype():
    x = _images().astype(jnp.bfloat16)
    out, _ = augment.build("flip_lr|brightness(0.1)", 10)(jax.random.key(0), x, _labels())
    assert out.dtype == jnp.bfloat16


@pytest.mark.parametrize(
    "spec, message",
    [
        ("rotat(10)", "unknown augmentation op 'rotat'.*accepted ops: .*rotate\\(degrees"),
        ("rotate", "missing a required argument"),
        ("rotate(400)", "degrees must lie in"),
        ("pad_crop(2.5)", "padding must be an int"),
        ("pad_crop(2, mode='wrap')", "mode must be one of"),
        ("rotate(5, fill='black')", "fill must be one of nearest"),
        ("flip_lr(p=2)", "probability"),
        ("mixup(0)", "alpha must be > 0"),
        ("rotate(os.system)", "arguments must be numbers"),
        ("rotate(abc)", r"got abc; a bare name is not a string: write 'abc' in quotes.*degrees"),
        ("flip_lr||rotate(3)", "empty op"),
        ("rotate(3", "cannot parse"),
    ],
)
def test_bad_specs_raise_at_build_time(spec, message):
    with pytest.raises(ValueError, match=message):
        augment.build(spec, 10)


def test_batch_ops_have_no_per_example_form_and_labels_are_checked():
    with pytest.raises(ValueError, match="mixup act on whole batches"):
        augment.build_example("flip_lr|mixup")
    with pytest.raises(ValueError, match="labels must have shape"):
        augment.build("flip_lr", 10)(jax.random.key(0), _images(), _labels(classes=7))
