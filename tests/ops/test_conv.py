"""conv1d/2d/3d against a plain numpy loop, finite differences, jit/vmap and bad input."""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from cnnjax import ops

CONV = {1: ops.conv1d, 2: ops.conv2d, 3: ops.conv3d}


def np_pads(spatial, window, strides, dilation, padding):
    """(low, high) per dimension; SAME as in TensorFlow: out = ceil(n / s), extra pad at the end."""
    if padding == "VALID":
        return [(0, 0)] * len(spatial)
    if padding == "SAME":
        pads = []
        for n, k, s, d in zip(spatial, window, strides, dilation, strict=True):
            total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        return pads
    if isinstance(padding, int):
        return [(padding, padding)] * len(spatial)
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def np_conv(x, kernel, strides, padding, dilation, groups):
    """Cross-correlation by definition: x (B, *spatial, C_in), kernel (*window, C_in/g, C_out)."""
    ndim = x.ndim - 2
    strides = (strides,) * ndim if isinstance(strides, int) else strides
    dilation = (dilation,) * ndim if isinstance(dilation, int) else dilation
    window, (cin_g, cout) = kernel.shape[:-2], kernel.shape[-2:]
    pads = np_pads(x.shape[1:-1], window, strides, dilation, padding)
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    out_size = [
        (xp.shape[1 + i] - (window[i] - 1) * dilation[i] - 1) // strides[i] + 1 for i in range(ndim)
    ]
    out = np.zeros((x.shape[0], *out_size, cout))
    cout_g = cout // groups
    for b, o, co in itertools.product(
        range(x.shape[0]), itertools.product(*map(range, out_size)), range(cout)
    ):
        g = co // cout_g
        for w in itertools.product(*map(range, window)):
            pos = tuple(o[i] * strides[i] + w[i] * dilation[i] for i in range(ndim))
            patch = xp[(b, *pos, slice(g * cin_g, (g + 1) * cin_g))]
            out[(b, *o, co)] += patch @ kernel[(*w, slice(None), co)]
    return out


def random_case(ndim, groups, seed=0):
    rng = np.random.default_rng(seed)
    spatial = {1: (9,), 2: (7, 6), 3: (5, 6, 5)}[ndim]
    window = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}[ndim]
    x = rng.normal(size=(2, *spatial, 4)).astype(np.float32)
    kernel = rng.normal(size=(*window, 4 // groups, 4)).astype(np.float32)
    return x, kernel


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("dilation", [1, (1, 2)])
@pytest.mark.parametrize("strides", [1, (2, 1)])
@pytest.mark.parametrize("padding", ["VALID", "SAME", 1, ((2, 0), (0, 1))])
def test_conv2d_matches_numpy_loop(padding, strides, dilation, groups):
    x, kernel = random_case(2, groups)
    kwargs = dict(strides=strides, padding=padding, dilation=dilation, groups=groups)
    got = ops.conv2d(x, kernel, **kwargs)
    np.testing.assert_allclose(got, np_conv(x, kernel, **kwargs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ndim", [1, 3])
@pytest.mark.parametrize("padding", ["VALID", "SAME", "per-side"])
@pytest.mark.parametrize("strides,dilation,groups", [(1, 1, 1), (2, 2, 2), (1, 2, 4)])
def test_conv1d_conv3d_match_numpy_loop(ndim, padding, strides, dilation, groups):
    x, kernel = random_case(ndim, groups, seed=ndim)
    if padding == "per-side":
        padding = [(1, 0), (0, 2), 1][:ndim]
    kwargs = dict(strides=strides, padding=padding, dilation=dilation, groups=groups)
    got = CONV[ndim](x, kernel, **kwargs)
    np.testing.assert_allclose(got, np_conv(x, kernel, **kwargs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_unbatched_input_and_single_filter(ndim):
    x, kernel = random_case(ndim, 1, seed=10 + ndim)
    conv = functools.partial(CONV[ndim], padding="SAME", strides=2)
    batched = conv(x, kernel)
    np.testing.assert_allclose(conv(x[1], kernel), batched[1], rtol=1e-6, atol=1e-6)
    single = conv(x, kernel[..., 2])  # one filter (*window, C_in): no channel axis
    assert single.shape == batched.shape[:-1]
    np.testing.assert_allclose(single, batched[..., 2], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(conv(x[0], kernel[..., 2]), batched[0, ..., 2], rtol=1e-6, atol=1e-6)


def test_depthwise_filter_spanning_rgb_depth_gives_2d_map():
    """A (3, 3, 3) filter over an (H, W, 3) image gives an (H-2, W-2) map (survey 02, §60.4)."""
    rng = np.random.default_rng(3)
    image = rng.uniform(size=(6, 7, 3)).astype(np.float32)
    filt = rng.normal(size=(3, 3, 3)).astype(np.float32)
    fmap = ops.conv2d(image, filt)
    assert fmap.shape == (4, 5)
    per_channel = sum(ops.conv2d(image[..., c : c + 1], filt[..., c : c + 1]) for c in range(3))
    np.testing.assert_allclose(fmap, per_channel, rtol=1e-5, atol=1e-5)
    # The same filter as a 3-D kernel whose depth equals the image depth: a 3-D convolution
    # that cannot slide along the depth, so the depth axis of its output has size 1.
    volume = ops.conv3d(image[..., None], filt[..., None, None])  # (4, 5, 1, 1)
    np.testing.assert_allclose(volume[:, :, 0, 0], fmap, rtol=1e-5, atol=1e-5)


def test_integer_inputs_are_promoted_to_float():
    x = np.arange(16).reshape(1, 4, 4, 1)
    got = ops.conv2d(x, np.ones((2, 2, 1, 1), np.int32))
    assert jnp.issubdtype(got.dtype, jnp.floating)
    np.testing.assert_array_equal(got, np_conv(x, np.ones((2, 2, 1, 1)), 1, "VALID", 1, 1))


@pytest.mark.parametrize(
    "kwargs", [dict(), dict(strides=2, padding="SAME", dilation=2, groups=2), dict(padding=1)]
)
def test_gradients_match_finite_differences(kwargs):
    x, kernel = random_case(2, kwargs.get("groups", 1), seed=5)
    with jax.enable_x64(True):
        conv = functools.partial(ops.conv2d, **kwargs)
        check_grads(conv, (x.astype(np.float64), kernel.astype(np.float64)), order=1)


def test_jit_vmap_grad():
    x, kernel = random_case(2, 2, seed=6)
    conv = functools.partial(ops.conv2d, strides=(2, 1), padding="SAME", dilation=2, groups=2)
    expected = conv(x, kernel)
    np.testing.assert_allclose(jax.jit(conv)(x, kernel), expected, rtol=1e-5, atol=1e-5)
    per_image = jax.vmap(conv, in_axes=(0, None))(x, kernel)  # vmap over unbatched calls
    np.testing.assert_allclose(per_image, expected, rtol=1e-5, atol=1e-5)
    grad = jax.jit(jax.grad(lambda k: jnp.sum(conv(x, k) ** 2)))(kernel)
    assert grad.shape == kernel.shape and bool(jnp.all(jnp.isfinite(grad)))


@pytest.mark.parametrize(
    "x_shape,k_shape,kwargs,match",
    [
        ((5, 5, 3), (3, 3, 4, 2), {}, "3 channels"),
        ((4, 4, 3), (3, 5, 3, 2), {}, "size 5.*input size 4"),
        ((5, 5, 3), (3, 3, 3, 2), dict(dilation=3), "extent 7"),
        ((5, 5, 3), (3, 3, 3, 2), dict(padding=-1), "padding=-1"),
        ((5, 5, 3), (3, 3, 3, 2), dict(padding=((0, 1), (-2, 0))), "negative"),
        ((5, 5, 3), (3, 3, 3, 2), dict(padding="FULL"), "'FULL'"),
        ((5, 5, 3), (3, 3, 3, 2), dict(padding=(1, 2, 3)), "2 entries"),
        ((5, 5, 3), (3, 3, 3, 2), dict(padding=1.5), "1.5"),
        ((5, 5, 3), (3, 3, 3, 2), dict(strides=0), "strides=0"),
        ((5, 5, 3), (3, 3, 3, 2), dict(dilation=(1, 2, 3)), "dilation"),
        ((5, 5, 4), (3, 3, 2, 3), dict(groups=2), "groups=2"),
        ((5, 5, 4), (3, 3, 4, 2), dict(groups=0), "groups=0"),
        ((5, 5), (3, 3, 1, 2), {}, r"\(5, 5\)"),
        ((5, 5, 3), (3, 3), {}, r"\(3, 3\)"),
    ],
)
def test_bad_input_raises_one_clear_error(x_shape, k_shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ops.conv2d(np.ones(x_shape), np.ones(k_shape), **kwargs)


def test_conv_general_rejects_unsupported_rank():
    with pytest.raises(ValueError, match="1-3 spatial"):
        ops.conv_general(np.ones((1, 2, 2, 2, 2, 1)), np.ones((1, 1, 1, 1, 1, 1)))
