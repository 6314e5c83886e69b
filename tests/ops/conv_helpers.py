"""Shared by the CPU-form tests (not collected): XLA's convolution as the reference, random
geometries, outputs with their gradients, and the CPU path checked against XLA."""

import jax
import numpy as np
from jax import lax

from cnnjax import ops
from cnnjax.ops import dispatch


def xla_conv(x, kernel, strides, padding, dilation, groups):
    return lax.conv_general_dilated(
        x, kernel, strides, padding, rhs_dilation=dilation,
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups,
        precision=lax.Precision.HIGHEST,
    )  # fmt: skip


def random_case(rng, depthwise=False):
    """A random 2-D convolution: shapes, strides, paddings, dilations and groups (`depthwise`:
    groups = C_in, a channel multiplier of 1-3)."""
    groups = int(rng.integers(2, 7)) if depthwise else int(rng.choice([1, 1, 2, 3]))
    c_in = groups * (1 if depthwise else int(rng.integers(1, 4)))
    c_out = groups * int(rng.integers(1, 4))
    window = tuple(int(k) for k in rng.integers(1, 4, 2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, 2))
    strides = tuple(int(s) for s in rng.integers(1, 3, 2))
    padding = [
        "SAME",
        "VALID",
        tuple((int(lo), int(hi)) for lo, hi in rng.integers(0, 3, (2, 2))),
    ][int(rng.integers(0, 3))]
    extent = [(k - 1) * d + 1 for k, d in zip(window, dilation, strict=True)]
    spatial = [int(rng.integers(1, 7)) for _ in range(2)]
    if padding != "SAME":  # the (padded) input must hold one window
        pads = [(0, 0)] * 2 if padding == "VALID" else padding
        spatial = [
            max(n, e - lo - hi) for n, e, (lo, hi) in zip(spatial, extent, pads, strict=True)
        ]
    x = rng.normal(size=(int(rng.integers(1, 3)), *spatial, c_in)).astype(np.float32)
    kernel = rng.normal(size=(*window, c_in // groups, c_out)).astype(np.float32)
    return x, kernel, strides, padding, dilation, groups


def outputs_and_grads(fn, args):
    """fn(*args) and its gradients for a fixed random cotangent (eager: tiny shapes)."""
    y, vjp = jax.vjp(fn, *args)
    return y, vjp(jax.random.normal(jax.random.key(1), y.shape, y.dtype))


def assert_all_close(got, want, rtol=2e-5, atol=2e-5):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def assert_cpu_path_equals_xla(x, kernel, strides, padding, dilation, groups):
    """Outputs and gradients (input and kernel) of `conv_general` on the CPU path = XLA's."""
    kwargs = dict(strides=strides, padding=padding, dilation=dilation, groups=groups)
    with dispatch.use_path("cpu"):
        got = outputs_and_grads(lambda x, k: ops.conv_general(x, k, **kwargs), (x, kernel))
    want = outputs_and_grads(
        lambda x, k: xla_conv(x, k, strides, padding, dilation, groups), (x, kernel)
    )
    assert_all_close(got, want)
