"""Hand-made kernels, `apply_kernel` and `edge_magnitude` on synthetic images with known answers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from cnnjax import ops
from cnnjax.ops import kernels

DERIVATIVES = ["sobel_x", "sobel_y", "prewitt_x", "prewitt_y", "scharr_x", "scharr_y"]


def step_image(height=8, width=8, column=4, step=1.0):
    """Dark left part, bright right part from `column` on: one vertical edge."""
    image = np.zeros((height, width), np.float32)
    image[:, column:] = step
    return image


@pytest.mark.parametrize("name", ["sobel_x", "prewitt_x", "scharr_x"])
def test_x_derivatives_fire_only_on_the_vertical_step_edge(name):
    filt = kernels.named_kernels()[name]
    fmap = np.asarray(ops.apply_kernel(step_image(step=2.0), filt, padding="VALID"))  # (6, 6)
    # VALID window starting at column j covers columns j..j+2: it straddles the edge at
    # column 4 for j = 2, 3 and then sees step * (sum of the kernel's right column).
    expected = np.zeros((6, 6), np.float32)
    expected[:, [2, 3]] = 2.0 * filt[:, 2].sum()
    np.testing.assert_array_equal(fmap, expected)
    y_filter = kernels.named_kernels()[name.replace("_x", "_y")]
    np.testing.assert_array_equal(ops.apply_kernel(step_image(), y_filter, "VALID"), 0)
    # A horizontal edge (the transposed image) is found by the y-derivative, transposed.
    np.testing.assert_array_equal(
        ops.apply_kernel(step_image(step=2.0).T, y_filter, "VALID"), expected.T
    )


def test_sobel_sign_and_edge_magnitude_on_grey_and_rgb_step():
    image = step_image(step=1.0)
    gx = np.asarray(ops.apply_kernel(image, kernels.sobel_x()))  # "SAME": (8, 8), zero-padded
    assert gx.shape == (8, 8)
    interior = gx[1:-1, 1:-1]  # away from the zero padding, which adds its own edges
    expected = np.zeros((6, 6), np.float32)
    expected[:, 2:4] = 4.0  # brighter to the right: positive, on both sides of the edge
    np.testing.assert_array_equal(interior, expected)
    mirrored = np.asarray(ops.apply_kernel(image[:, ::-1], kernels.sobel_x()))
    np.testing.assert_array_equal(mirrored[1:-1, 1:-1], -expected[:, ::-1])
    magnitude = np.asarray(ops.edge_magnitude(image, padding="VALID"))
    np.testing.assert_allclose(
        magnitude, np.abs(ops.apply_kernel(image, kernels.sobel_x(), "VALID"))
    )
    # RGB: channel c has a step of height c + 1; magnitudes add in quadrature over channels.
    rgb = np.stack([(c + 1) * image for c in range(3)], axis=-1)
    rgb_magnitude = np.asarray(ops.edge_magnitude(rgb, padding="VALID"))
    np.testing.assert_allclose(rgb_magnitude, np.sqrt(1 + 4 + 9) * magnitude, rtol=1e-6)


@pytest.mark.parametrize("diagonal,expected", [(False, 4.0), (True, 12.0)])
def test_laplacian_of_a_paraboloid_is_constant(diagonal, expected):
    """f = i² + j²: second differences are 2 per axis, so 4-neighbour gives 2 + 2 = 4; the
    8-neighbour stencil sums (di² + dj²) over its 8 offsets = 6 + 6 = 12."""
    i, j = np.mgrid[0:7, 0:6].astype(np.float32)
    fmap = ops.apply_kernel(i**2 + j**2, kernels.laplacian(diagonal), padding="VALID")
    np.testing.assert_array_equal(fmap, np.full((5, 4), expected))


@pytest.mark.parametrize("name", list(kernels.named_kernels()))
def test_impulse_response_is_the_flipped_kernel(name):
    """Cross-correlating a unit impulse returns the kernel rotated by 180 degrees."""
    filt = kernels.named_kernels()[name]
    size = filt.shape[0]
    impulse = np.zeros((2 * size + 1, 2 * size + 1), np.float32)
    impulse[size, size] = 1.0
    response = np.asarray(ops.apply_kernel(impulse, filt))
    half = size // 2
    window = response[size - half : size + half + 1, size - half : size + half + 1]
    np.testing.assert_allclose(window, filt[::-1, ::-1], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(kernels.named_kernels()))
def test_apply_kernel_matches_scipy_correlate_on_grey_and_rgb(name):
    filt = kernels.named_kernels()[name]
    rgb = np.random.default_rng(0).uniform(size=(11, 12, 3)).astype(np.float32)
    for c in range(3):
        expected = ndimage.correlate(rgb[..., c], filt, mode="constant", cval=0.0)
        np.testing.assert_allclose(ops.apply_kernel(rgb, filt)[..., c], expected, atol=1e-5)
        np.testing.assert_allclose(ops.apply_kernel(rgb[..., c], filt), expected, atol=1e-5)
    grey = ops.apply_kernel(rgb[..., :1], filt)
    assert grey.shape == (11, 12, 1)
    np.testing.assert_allclose(grey[..., 0], ops.apply_kernel(rgb[..., 0], filt), atol=1e-6)


def test_kernel_weights_sum_as_designed():
    sums = {name: float(filt.sum()) for name, filt in kernels.named_kernels().items()}
    for name in [*DERIVATIVES, "laplacian", "laplacian_8"]:
        assert sums[name] == 0.0, name  # flat regions give 0
    for name in ["sharpen", "emboss", "box_blur", "gaussian"]:
        assert sums[name] == pytest.approx(1.0, abs=1e-6), name  # flat regions are unchanged


def test_gaussian_is_the_normalised_outer_product_of_1d_gaussians():
    for sigma in [0.5, 1.0, 2.5]:
        filt = kernels.gaussian(sigma)
        radius = int(np.ceil(3 * sigma))
        assert filt.shape == (2 * radius + 1,) * 2
        t = np.arange(-radius, radius + 1)
        g1 = np.exp(-(t**2) / (2 * sigma**2))
        np.testing.assert_allclose(filt, np.outer(g1, g1) / np.outer(g1, g1).sum(), rtol=1e-6)
    assert kernels.gaussian(1.0, size=3).shape == (3, 3)
    np.testing.assert_allclose(kernels.box_blur(5), np.full((5, 5), 1 / 25))


def test_jit_vmap_grad():
    images = np.random.default_rng(1).uniform(size=(4, 9, 9, 3)).astype(np.float32)
    blur = kernels.gaussian(1.0)
    batched = jax.vmap(ops.apply_kernel, in_axes=(0, None))(images, blur)
    np.testing.assert_allclose(batched[2], ops.apply_kernel(images[2], blur), atol=1e-6)
    np.testing.assert_allclose(
        jax.jit(ops.edge_magnitude)(images[0]), ops.edge_magnitude(images[0]), rtol=1e-6
    )
    flat = jnp.ones((6, 6))  # zero gradient everywhere inside: the sqrt must not make NaNs
    grad = jax.grad(lambda x: ops.edge_magnitude(x, padding="VALID").sum())(flat)
    assert bool(jnp.all(jnp.isfinite(grad)))


@pytest.mark.parametrize("call,match", [
    (lambda: ops.apply_kernel(np.ones((4, 4, 3, 1)), kernels.sobel_x()), r"\(4, 4, 3, 1\)"),
    (lambda: ops.apply_kernel(np.ones((4, 4)), np.ones((3, 3, 1))), r"\(3, 3, 1\)"),
    (lambda: ops.apply_kernel(np.ones((2, 2)), kernels.sobel_x(), "VALID"), "size 3"),
    (lambda: ops.edge_magnitude(np.ones((4, 4)), operator="canny"), "'canny'"),
    (lambda: kernels.gaussian(0.0), "sigma=0.0"),
    (lambda: kernels.gaussian(1.0, size=4), "size=4"),
    (lambda: kernels.box_blur(-3), "size=-3"),
])  # fmt: skip
def test_bad_input_raises_one_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
