"""Pooling against numpy loops; gradients against the survey's derivative formulas.

Survey 02, "Derivatives of Pooling": for a window x_1..x_m and g its pooled value,
mean: dg/dx_i = 1/m; max: 1 if x_i = max(x) else 0; Lp: (sum |x_k|^p)^(1/p - 1) |x_i|^(p-1).
With overlapping windows the chain rule sums these over every window containing x_i.
"""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from cnnjax import ops


def np_windows(x, window, strides, padding):
    """Yields (b, out_index, c, [in_index of every *real* input in the window], m incl. pad)."""
    ndim = x.ndim - 2
    window = (window,) * ndim if isinstance(window, int) else window
    strides = window if strides is None else strides
    strides = (strides,) * ndim if isinstance(strides, int) else strides
    spatial = x.shape[1:-1]
    if padding == "VALID":
        pads = [(0, 0)] * ndim
    elif padding == "SAME":
        pads = []
        for n, k, s in zip(spatial, window, strides, strict=True):
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
    elif isinstance(padding, int):
        pads = [(padding, padding)] * ndim
    else:
        pads = [(p, p) if isinstance(p, int) else p for p in padding]
    out_size = [
        (n + lo + hi - k) // s + 1
        for n, (lo, hi), k, s in zip(spatial, pads, window, strides, strict=True)
    ]
    for b, o, c in itertools.product(
        range(x.shape[0]), itertools.product(*map(range, out_size)), range(x.shape[-1])
    ):
        members = []
        for w in itertools.product(*map(range, window)):
            pos = tuple(o[i] * strides[i] + w[i] - pads[i][0] for i in range(ndim))
            if all(0 <= p < n for p, n in zip(pos, spatial, strict=True)):
                members.append((b, *pos, c))
        yield (b, *o, c), members, math.prod(window), out_size


def np_pool(kind, x, window, strides, padding, p=2.0):
    """Returns (pooled output, d sum(g * output) / dx) with g a fixed random cotangent."""
    windows = list(np_windows(x, window, strides, padding))
    out = np.zeros((x.shape[0], *windows[0][3], x.shape[-1]))
    g = np.random.default_rng(99).normal(size=out.shape)
    grad = np.zeros_like(x, dtype=np.float64)
    for index, members, m, _ in windows:
        values = np.array([x[i] for i in members])
        if kind == "max":
            out[index] = values.max()
            grad[members[int(values.argmax())]] += g[index]  # 1 at the arg-max, 0 elsewhere
            continue
        if kind == "lp":
            total = np.sum(np.abs(values) ** p)
            out[index] = total ** (1 / p)
            slopes = total ** (1 / p - 1) * np.abs(values) ** (p - 1) * np.sign(values)
        else:
            divisor = m if kind == "avg" else len(members)  # "avg_valid": count_include_pad=False
            out[index] = values.sum() / divisor
            slopes = np.full(len(members), 1.0 / divisor)
        for member, slope in zip(members, slopes, strict=True):
            grad[member] += g[index] * slope
    return out, g, grad


POOLS = {
    "max": ops.max_pool,
    "avg": ops.avg_pool,
    "avg_valid": functools.partial(ops.avg_pool, count_include_pad=False),
    "lp": functools.partial(ops.lp_pool, p=2.0),
}
PADDINGS = ["VALID", "SAME", 1, ((1, 0), (0, 1))]


def make_pool(kind, window, strides, padding):
    pool = functools.partial(ops.lp_pool, p=3.0) if kind == "lp3" else POOLS[kind]
    return functools.partial(pool, window=window, strides=strides, padding=padding)


def check_against_loop(kind, x, window, strides, padding, gradient=True):
    p = 3.0 if kind == "lp3" else 2.0
    ref_kind = "lp" if kind.startswith("lp") else kind
    expected, g, expected_grad = np_pool(ref_kind, x, window, strides, padding, p)
    with jax.enable_x64(True):
        pool = make_pool(kind, window, strides, padding)
        if not gradient:
            np.testing.assert_allclose(pool(x), expected, rtol=1e-10, atol=1e-12)
            return
        got, vjp = jax.vjp(pool, x)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(vjp(g)[0], expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", list(POOLS))
@pytest.mark.parametrize("strides", [None, (2, 1)])  # disjoint; overlapping windows
@pytest.mark.parametrize("padding", PADDINGS)
def test_2d_pooling_matches_numpy_loop(kind, padding, strides):
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 2))
    check_against_loop(kind, x, (3, 2), strides, padding, gradient=False)


@pytest.mark.parametrize("kind", list(POOLS))
@pytest.mark.parametrize("strides,padding", [
    (None, "VALID"),  # the survey's disjoint windows
    ((2, 1), ((1, 0), (0, 1))),  # overlapping windows (gradients add up) and padding
])  # fmt: skip
def test_2d_pooling_gradient_is_the_survey_formula(kind, strides, padding):
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 2))
    check_against_loop(kind, x, (3, 2), strides, padding)


@pytest.mark.parametrize("kind", ["max", "lp3"])
@pytest.mark.parametrize("shape,window,strides,padding", [
    ((2, 7, 2), 3, 2, "SAME"),
    ((1, 4, 5, 4, 2), (2, 3, 2), 1, [(1, 0), 1, (0, 1)]),
])  # fmt: skip
def test_1d_and_3d_pooling_and_gradient_match_numpy_loop(kind, shape, window, strides, padding):
    x = np.random.default_rng(1).normal(size=shape)
    check_against_loop(kind, x, window, strides, padding)


def test_non_overlapping_max_pool_gradient_is_the_argmax_indicator():
    x = np.random.default_rng(2).permutation(16).reshape(1, 4, 4, 1).astype(np.float32)
    grad = jax.grad(lambda v: ops.max_pool(v, 2).sum())(x)
    blocks = x.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4)  # one row per window
    indicator = (blocks == blocks.max(axis=1, keepdims=True)).astype(np.float32)
    expected = indicator.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(grad, expected)
    avg_grad = jax.grad(lambda v: ops.avg_pool(v, 2).sum())(x)
    np.testing.assert_allclose(avg_grad, np.full_like(x, 1 / 4))  # 1/m with m = 4


@pytest.mark.parametrize("kind", list(POOLS))
def test_gradients_match_finite_differences(kind):
    x = np.random.default_rng(3).normal(size=(1, 5, 4, 2))
    with jax.enable_x64(True):
        check_grads(lambda v: POOLS[kind](v, 2, 1, "SAME"), (x,), order=1, modes=["rev"], eps=1e-6)


def test_lp_pool_limits_and_zero_windows():
    x = np.abs(np.random.default_rng(4).normal(size=(1, 4, 4, 3))) + 0.1
    with jax.enable_x64(True):
        np.testing.assert_allclose(ops.lp_pool(x, 2, p=1), 4 * ops.avg_pool(x, 2), rtol=1e-12)
        np.testing.assert_allclose(ops.lp_pool(x, 2, p=200), ops.max_pool(x, 2), rtol=1e-2)
    zeros = jnp.zeros((1, 4, 4, 1))
    grad = jax.grad(lambda v: ops.lp_pool(v, 2).sum())(zeros)
    np.testing.assert_array_equal(grad, np.zeros_like(grad))  # no NaN at the norm's kink


@pytest.mark.parametrize("p", [1.0, 2.0, 3.5])
def test_global_pools_match_numpy(p):
    x = np.random.default_rng(5).normal(size=(2, 3, 4, 5))
    with jax.enable_x64(True):
        np.testing.assert_allclose(ops.global_max_pool(x), x.max(axis=(1, 2)))
        np.testing.assert_allclose(ops.global_avg_pool(x), x.mean(axis=(1, 2)))
        norms = (np.abs(x) ** p).sum(axis=(1, 2)) ** (1 / p)
        np.testing.assert_allclose(ops.global_lp_pool(x, p), norms, rtol=1e-12)
        np.testing.assert_allclose(ops.global_lp_pool(x, p), ops.lp_pool(x, (3, 4), p=p)[:, 0, 0])
    volume = np.random.default_rng(6).normal(size=(2, 3, 2, 2, 4))
    np.testing.assert_allclose(ops.global_max_pool(volume), volume.max(axis=(1, 2, 3)), rtol=1e-6)


def test_jit_and_vmap():
    x = np.random.default_rng(7).normal(size=(3, 6, 6, 2)).astype(np.float32)
    for kind in ["max", "lp"]:
        pooled = functools.partial(POOLS[kind], window=3, strides=2, padding="SAME")
        np.testing.assert_allclose(jax.jit(pooled)(x), pooled(x), rtol=1e-6)
        per_image = jax.vmap(lambda img, f=pooled: f(img[None])[0])(x)
        np.testing.assert_allclose(per_image, pooled(x), rtol=1e-6)


@pytest.mark.parametrize("call,match", [
    (lambda x: ops.max_pool(x, 5), "window of size 5"),
    (lambda x: ops.avg_pool(x, 2, padding=-1), "padding=-1"),
    (lambda x: ops.max_pool(x, 2, padding=2), "smaller than the window"),
    (lambda x: ops.max_pool(x, 2, padding="full"), "'full'"),
    (lambda x: ops.max_pool(x, 0), "window=0"),
    (lambda x: ops.avg_pool(x, 2, strides=(1, 0)), r"strides=\(1, 0\)"),
    (lambda x: ops.lp_pool(x, 2, p=0.5), "p=0.5"),
    (lambda x: ops.global_lp_pool(x, p=float("inf")), "p=inf"),
    (lambda x: ops.max_pool(x[0, :, :, 0], 2), r"\(4, 4\)"),
    (lambda x: ops.global_avg_pool(x[0, 0]), r"\(4, 1\)"),
])  # fmt: skip
def test_bad_input_raises_one_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.ones((1, 4, 4, 1)))
