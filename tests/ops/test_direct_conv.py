"""`cnnjax.ops.direct_conv`: the C++ kernels give XLA's convolution, its gradients, tangents,
second derivatives and vmaps, run where `conv2d_cpu` picks them, and are left out where they
cannot be built or partitioned."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conv_helpers import assert_all_close, assert_cpu_path_equals_xla, xla_conv

from cnnjax import ops
from cnnjax.ops import direct_conv, dispatch, native

needs_kernels = pytest.mark.skipif(
    not native.available(), reason=f"kernels not built here: {native.STATUS}"
)


def random_layer(rng, strides=(1, 1)):
    """x (B, H, W, C), kernel (KH, KW, C, O): C from 1 to 64 (half the time a multiple of 16,
    the other half padded to one for the input gradient), O in {16, 32, 48, 64}, pads < window.
    Widths up to 19 reach the kernels' 8-, 4- and 1-column tiles."""
    window = tuple(int(k) for k in rng.integers(1 if max(strides) > 1 else 2, 6, 2))
    pads = tuple((int(rng.integers(0, k)), int(rng.integers(0, k))) for k in window)
    spatial = [max(int(n), k - lo - hi) for n, k, (lo, hi) in
               zip(rng.integers(1, 20, 2), window, pads, strict=True)]  # fmt: skip
    c_in = 16 * int(rng.integers(1, 5)) if rng.random() < 0.5 else int(rng.integers(1, 65))
    c_out = 16 * int(rng.integers(1, 5))
    x = rng.normal(size=(int(rng.integers(1, 4)), *spatial, c_in)).astype(np.float32)
    kernel = rng.normal(size=(*window, c_in, c_out)).astype(np.float32) / np.sqrt(c_in)
    return x, kernel, pads


def custom_calls(fn, *args) -> int:
    return jax.jit(fn).lower(*args).as_text().count("cnnjax_direct_conv")


@needs_kernels
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (3, 2)])
def test_direct_conv_equals_xla(seed, strides):
    """Outputs, VJP (input and kernel) and JVP against `lax.conv_general_dilated`."""
    rng = np.random.default_rng(800 + seed)
    x, kernel, pads = random_layer(rng, strides)
    fast = lambda x, k: direct_conv.direct_conv(x, k, strides, pads)
    xla = lambda x, k: xla_conv(x, k, strides, pads, (1, 1), 1)
    y, vjp = jax.vjp(fast, x, kernel)
    y_ref, vjp_ref = jax.vjp(xla, x, kernel)
    cotangent = rng.normal(size=y.shape).astype(np.float32)
    assert_all_close((y, vjp(cotangent)), (y_ref, vjp_ref(cotangent)), 1e-4, 1e-4)
    tangents = (rng.normal(size=x.shape).astype(np.float32), 0.5 * kernel)
    assert_all_close(
        jax.jvp(fast, (x, kernel), tangents), jax.jvp(xla, (x, kernel), tangents), 1e-4, 1e-4
    )
    # forward and kernel gradient; the input gradient too at stride 1
    on_kernels = 3 if strides == (1, 1) else 2
    grads = jax.grad(lambda x, k: jnp.sum(fast(x, k) ** 2), (0, 1))
    assert custom_calls(grads, x, kernel) == on_kernels


@needs_kernels
def test_direct_conv_against_a_numpy_loop():
    """An independent reference: the definition summed in numpy, SAME 3x3 at 16 -> 32."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 7, 16)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 16, 32)).astype(np.float32)
    padded = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    want = np.zeros((2, 5, 7, 32))
    for i in range(3):
        for j in range(3):
            want += padded[:, i : i + 5, j : j + 7] @ kernel[i, j].astype(np.float64)
    got = jax.jit(lambda x, k: direct_conv.direct_conv(x, k, (1, 1), ((1, 1), (1, 1))))(x, kernel)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@needs_kernels
@pytest.mark.parametrize("c_in, width", [(6, 10), (3, 37), (15, 16), (1, 5)])
def test_narrow_input_gradients_equal_xla(c_in, width):
    """Input gradients of layers with fewer than 16 input channels run on the column-vector
    tiles: one, several and a part of a block of 16 columns."""
    rng = np.random.default_rng(c_in)
    x = rng.normal(size=(3, 9, width, c_in)).astype(np.float32)
    kernel = rng.normal(size=(5, 3, c_in, 16)).astype(np.float32)
    pads = ((2, 1), (0, 2))
    fast = lambda x: direct_conv.direct_conv(x, kernel, (1, 1), pads)
    xla = lambda x: xla_conv(x, kernel, (1, 1), pads, (1, 1), 1)
    cotangent = rng.normal(size=xla(x).shape).astype(np.float32)
    got = jax.jit(lambda x: jax.vjp(fast, x)[1](cotangent)[0])(x)
    assert_all_close(got, jax.vjp(xla, x)[1](cotangent)[0], 1e-4, 1e-4)


@needs_kernels
@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_second_derivatives_equal_xla(strides):
    """Gradients of gradients go through both primitives' transposes."""
    x, kernel, pads = random_layer(np.random.default_rng(11), strides)

    def grad_norm(conv):
        loss = lambda x, k: jnp.sum(jnp.sin(conv(x, k)))
        return lambda x, k: (
            jnp.sum(jax.grad(loss, 1)(x, k) ** 2) + jnp.sum(jax.grad(loss, 0)(x, k) ** 2)
        )

    fast = lambda x, k: direct_conv.direct_conv(x, k, strides, pads)
    xla = lambda x, k: xla_conv(x, k, strides, pads, (1, 1), 1)
    got = jax.jit(jax.grad(grad_norm(fast), (0, 1)))(x, kernel)
    assert_all_close(got, jax.grad(grad_norm(xla), (0, 1))(x, kernel), 2e-4, 2e-4)


@needs_kernels
@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_vmaps_equal_xla(strides):
    """Per-example kernel gradients (a vmap over images, the kernel shared), a vmap over
    kernels, and a vmap over images alone, each against XLA's."""
    x, kernel, pads = random_layer(np.random.default_rng(12), strides)

    def per_example(conv):
        loss = lambda k, xi: jnp.sum(jnp.tanh(conv(xi[None], k)))
        return jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0)))(kernel, x)

    fast = lambda x, k: direct_conv.direct_conv(x, k, strides, pads)
    xla = lambda x, k: xla_conv(x, k, strides, pads, (1, 1), 1)
    assert_all_close(per_example(fast), per_example(xla), 1e-4, 1e-4)
    kernels = np.stack([kernel, -2 * kernel])
    over_kernels = lambda conv: jax.vmap(conv, in_axes=(None, 0))(x, kernels)
    assert_all_close(over_kernels(fast), over_kernels(xla), 1e-4, 1e-4)
    over_images = lambda conv: jax.vmap(conv, in_axes=(0, None))(x[:, None], kernel)
    assert_all_close(over_images(fast), over_images(xla), 1e-4, 1e-4)


@needs_kernels
@pytest.mark.parametrize("seed", range(2))
def test_conv_general_runs_fitting_layers_on_the_kernels(seed):
    """`conv_general` on the CPU path routes a fitting layer to the kernels, equal to XLA's."""
    x, kernel, pads = random_layer(np.random.default_rng(900 + seed))
    assert_cpu_path_equals_xla(x, kernel, (1, 1), pads, (1, 1), 1)
    conv = lambda x, k: ops.conv_general(x, k, padding=pads)
    with dispatch.use_path("cpu"):
        assert custom_calls(conv, x, kernel) == 1
        with dispatch.without_kernels():  # a new function: jit keeps what it traced
            assert custom_calls(lambda x, k: conv(x, k), x, kernel) == 0


@pytest.mark.parametrize(
    "x_shape, kernel_shape, strides, dilation, groups, pads, dtype",
    [
        ((2, 8, 8, 16), (3, 3, 16, 24), (1, 1), (1, 1), 1, ((1, 1),) * 2, jnp.float32),  # O 24
        ((2, 8, 8, 128), (3, 3, 128, 64), (1, 1), (1, 1), 1, ((1, 1),) * 2, jnp.float32),  # C 128
        ((2, 8, 8, 64), (3, 3, 64, 128), (1, 1), (1, 1), 1, ((1, 1),) * 2, jnp.float32),  # O 128
        ((2, 8, 8, 16), (3, 3, 16, 16), (1, 1), (2, 2), 1, ((2, 2),) * 2, jnp.float32),  # dilated
        ((2, 8, 8, 32), (3, 3, 16, 32), (1, 1), (1, 1), 2, ((1, 1),) * 2, jnp.float32),  # groups
        ((2, 8, 8, 16), (1, 1, 16, 16), (1, 1), (1, 1), 1, ((0, 0),) * 2, jnp.float32),  # 1x1 s1
        ((2, 8, 8, 16), (3, 3, 16, 16), (1, 1), (1, 1), 1, ((3, 1), (1, 1)), jnp.float32),  # pad
        ((2, 1, 8, 16), (3, 3, 16, 16), (1, 1), (1, 1), 1, ((0, 1), (1, 1)), jnp.float32),  # empty
        ((2, 8, 8, 16), (3, 3, 16, 16), (1, 1), (1, 1), 1, ((1, 1),) * 2, jnp.bfloat16),  # bf16
    ],
)
def test_layers_the_kernels_do_not_take(x_shape, kernel_shape, strides, dilation, groups, pads,
                                        dtype):  # fmt: skip
    assert not direct_conv.fits_direct_conv(
        x_shape, kernel_shape, strides, dilation, groups, pads, dtype
    )


@pytest.mark.parametrize(
    "c_in, c_out, window, strides, pads",
    [
        (16, 16, 3, (1, 1), ((1, 1),) * 2),  # ResNet-20 stage 1
        (64, 64, 3, (1, 1), ((1, 1),) * 2),  # VGG-16 block 1
        (3, 64, 3, (1, 1), ((1, 1),) * 2),  # an RGB first layer
        (6, 16, 5, (1, 1), ((0, 0),) * 2),  # LeNet-5's conv2 (VALID)
        (16, 32, 3, (2, 2), ((0, 1),) * 2),  # ResNet downsampling
        (16, 32, 1, (2, 2), ((0, 0),) * 2),  # its 1x1 projection shortcut
        (48, 16, 5, (1, 1), ((2, 0), (4, 4))),
    ],
)
def test_the_layers_the_kernels_take(c_in, c_out, window, strides, pads):
    assert direct_conv.fits_direct_conv(
        (8, 32, 32, c_in), (window, window, c_in, c_out), strides, (1, 1), 1, pads, jnp.float32
    )


def test_without_the_library_the_primitives_lower_to_xla(monkeypatch):
    """Where the kernels could not be built, a traced primitive lowers to XLA's convolution."""
    x, kernel, pads = random_layer(np.random.default_rng(13))
    monkeypatch.setattr(native, "_loaded", False)
    fast = lambda x, k: direct_conv.direct_conv(x, k, (1, 1), pads)
    assert custom_calls(fast, x, kernel) == 0
    assert_all_close(
        jax.jit(fast)(x, kernel), xla_conv(x, kernel, (1, 1), pads, (1, 1), 1), 1e-4, 1e-4
    )
