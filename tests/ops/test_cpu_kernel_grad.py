"""`cnnjax.ops.cpu_kernel_grad.swapped_conv` gives XLA's convolution, gradients and tangents,
and its kernel gradient does not lay the activation out batch-minor."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conv_helpers import assert_all_close, assert_cpu_path_equals_xla, xla_conv

from cnnjax.ops import cpu_kernel_grad
from cnnjax.ops.padding import explicit_padding


def random_geometry(rng, strides):
    """x (B, H, W, C >= 2), kernel (KH, KW, C, O), explicit pads with a fitting input."""
    window = tuple(int(k) for k in rng.integers(1, 6, 2))
    pads = tuple((int(lo), int(hi)) for lo, hi in rng.integers(0, 3, (2, 2)))
    spatial = [int(n) for n in rng.integers(1, 9, 2)]
    spatial = [max(n, k) for n, k in zip(spatial, window, strict=True)]
    x = rng.normal(size=(int(rng.integers(1, 4)), *spatial, int(rng.integers(2, 5))))
    kernel = rng.normal(size=(*window, x.shape[-1], int(rng.integers(1, 5))))
    return x.astype(np.float32), kernel.astype(np.float32), strides, pads


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("strides", [(1, 1), (2, 1)])
def test_swapped_conv_equals_xla(seed, strides):
    """Outputs, VJP (input and kernel) and JVP against `lax.conv_general_dilated`."""
    rng = np.random.default_rng(400 + seed)
    x, kernel, strides, pads = random_geometry(rng, strides)
    if not cpu_kernel_grad.fits_swapped_form(x.shape, kernel.shape, strides, pads):
        pads = ((0, 0), pads[1])  # a low padding beyond the last strided output row
    fast = lambda x, k: cpu_kernel_grad.swapped_conv(x, k, strides, pads)
    xla = lambda x, k: xla_conv(x, k, strides, pads, (1, 1), 1)
    y, vjp = jax.vjp(fast, x, kernel)
    y_ref, vjp_ref = jax.vjp(xla, x, kernel)
    cotangent = rng.normal(size=y.shape).astype(np.float32)
    assert_all_close((y, vjp(cotangent)), (y_ref, vjp_ref(cotangent)))
    tangents = (rng.normal(size=x.shape).astype(np.float32), 0.5 * kernel)
    assert_all_close(jax.jvp(fast, (x, kernel), tangents), jax.jvp(xla, (x, kernel), tangents))
    kernel_only = (np.zeros_like(x), 0.5 * kernel)  # the kernel tangent alone
    assert_all_close(
        jax.jvp(fast, (x, kernel), kernel_only), jax.jvp(xla, (x, kernel), kernel_only)
    )
    if strides == (1, 1):  # through `conv_general` on the CPU path too
        assert_cpu_path_equals_xla(x, kernel, strides, pads, (1, 1), 1)


def test_swapped_conv_second_derivative_equals_xla():
    """Gradients of gradients go through the custom JVP's own tangents."""
    rng = np.random.default_rng(7)
    x, kernel, _, pads = random_geometry(rng, (1, 1))

    def grad_norm(conv):
        loss = lambda k: jnp.sum(jnp.sin(conv(x, k)))
        return lambda k: jnp.sum(jax.grad(loss)(k) ** 2)

    fast = lambda x, k: cpu_kernel_grad.swapped_conv(x, k, (1, 1), pads)
    xla = lambda x, k: xla_conv(x, k, (1, 1), pads, (1, 1), 1)
    assert_all_close(jax.grad(grad_norm(fast))(kernel), jax.grad(grad_norm(xla))(kernel), 1e-4)


def compiled_kernel_gradient(conv, x, kernel):
    """The compiled HLO of d/dkernel sum(conv(relu(x)) ** 2)."""
    loss = lambda k, x: jnp.sum(conv(jax.nn.relu(x), k) ** 2)
    return jax.jit(jax.grad(loss)).lower(kernel, x).compile().as_text()


def test_kernel_gradient_keeps_the_activation_channel_minor():
    """XLA's own kernel gradient lays x (B, H, W, C) out as (C, H, W, B); the swapped one does
    not (batch 5, 12x12, 3 -> 4 channels, so the shapes are unambiguous)."""
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 12, 12, 3)), jnp.float32)
    kernel = jnp.ones((3, 3, 3, 4))
    pads = ((1, 1), (1, 1))
    batch_minor = "f32[3,14,14,5]", "f32[3,12,12,5]"
    native = compiled_kernel_gradient(
        lambda x, k: xla_conv(x, k, (1, 1), pads, (1, 1), 1), x, kernel
    )
    swapped = compiled_kernel_gradient(
        lambda x, k: cpu_kernel_grad.swapped_conv(x, k, (1, 1), pads), x, kernel
    )
    assert any(s in native for s in batch_minor)
    assert not any(s in swapped for s in batch_minor)


@pytest.mark.parametrize(
    "x_shape, window, strides, dilation, groups, padding, takes",
    [
        ((2, 32, 32, 16), (3, 3), (1, 1), (1, 1), 1, "SAME", True),  # ResNet-20's layers
        ((2, 14, 14, 6), (5, 5), (1, 1), (1, 1), 1, "VALID", False),  # LeNet-5's conv2: slower
        ((2, 14, 14, 6), (5, 5), (1, 1), (1, 1), 1, "SAME", True),
        ((2, 14, 14, 6), (5, 5), (1, 1), (1, 1), 1, ((2, 2), (1, 3)), True),  # sizes kept
        ((2, 14, 14, 6), (5, 5), (1, 1), (1, 1), 1, ((1, 1), (2, 2)), False),
        ((2, 32, 32, 16), (3, 3), (2, 2), (1, 1), 1, "SAME", False),  # strided: measured slower
        ((2, 32, 32, 16), (3, 3), (1, 1), (2, 2), 1, "SAME", False),  # dilated
        ((2, 32, 32, 16), (3, 3), (1, 1), (1, 1), 2, "SAME", False),  # grouped
        ((2, 32, 32, 1), (3, 3), (1, 1), (1, 1), 1, "SAME", False),  # one channel
        ((2, 32, 32, 16), (1, 1), (1, 1), (1, 1), 1, "SAME", False),  # 1x1: not measured
        ((2, 32, 32, 16), (1, 3), (1, 1), (1, 1), 1, "SAME", True),
        ((2, 2, 2, 16), (3, 3), (1, 1), (1, 1), 1, "SAME", False),  # smaller than the kernel
    ],
)
def test_takes_swapped_conv(x_shape, window, strides, dilation, groups, padding, takes):
    kernel_shape = (*window, x_shape[-1] // groups, 8)
    pads = explicit_padding(x_shape[1:3], window, strides, dilation, padding)
    got = cpu_kernel_grad.takes_swapped_conv(x_shape, kernel_shape, strides, dilation, groups, pads)
    assert got is takes
