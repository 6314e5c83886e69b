"""The CPU forms of `cnnjax.ops.dispatch` give XLA's results: convolution outputs and gradients
against `lax.conv_general_dilated`, max-pool gradients against XLA's `select_and_scatter`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conv_helpers import (
    assert_all_close,
    assert_cpu_path_equals_xla,
    outputs_and_grads,
    random_case,
    xla_conv,
)

from cnnjax import ops
from cnnjax.ops import cpu_conv, dispatch


@pytest.mark.parametrize("seed", range(6))
def test_matmul_conv_equals_xla(seed):
    x, kernel, *geometry = random_case(np.random.default_rng(seed))
    assert_all_close(
        outputs_and_grads(lambda x, k: cpu_conv.matmul_conv(x, k, *geometry), (x, kernel)),
        outputs_and_grads(lambda x, k: xla_conv(x, k, *geometry), (x, kernel)),
    )


@pytest.mark.parametrize("seed", range(6))
def test_cpu_path_of_conv_general_equals_xla(seed):
    assert_cpu_path_equals_xla(*random_case(np.random.default_rng(100 + seed)))


@pytest.mark.parametrize("seed", range(8))
def test_depthwise_cpu_path_equals_xla(seed):
    """Outputs and gradients (input and kernel) of depthwise convolutions, multiplier 1-3."""
    x, kernel, strides, padding, dilation, groups = random_case(
        np.random.default_rng(200 + seed), depthwise=True
    )
    assert groups == x.shape[-1] and kernel.shape[2] == 1
    assert_cpu_path_equals_xla(x, kernel, strides, padding, dilation, groups)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("form", ["single_channel_conv", "patches_grad_conv"])
def test_custom_jvp_forms_equal_xla(form, seed):
    """One-channel inputs (LeNet-5's first layer) and strided layers: outputs, gradients and
    tangents = XLA's."""
    rng = np.random.default_rng(300 + seed)
    x, kernel, strides, padding, dilation, _ = random_case(rng)
    if form == "single_channel_conv":
        x, kernel = x[..., :1], kernel[:, :, :1, :]  # (B, H, W, 1), (KH, KW, 1, O)
    else:
        kernel = rng.normal(size=(*kernel.shape[:2], x.shape[-1], kernel.shape[-1]))
        kernel = kernel.astype(np.float32)  # groups 1
        strides = (2, int(rng.integers(1, 4)))
    geometry = (strides, padding, dilation)
    fast = lambda x, k: getattr(cpu_conv, form)(x, k, *geometry)
    xla = lambda x, k: xla_conv(x, k, *geometry, 1)
    assert_all_close(outputs_and_grads(fast, (x, kernel)), outputs_and_grads(xla, (x, kernel)))
    tangents = (rng.normal(size=x.shape).astype(np.float32), 0.5 * kernel)
    assert_all_close(jax.jvp(fast, (x, kernel), tangents), jax.jvp(xla, (x, kernel), tangents))
    assert_cpu_path_equals_xla(x, kernel, strides, padding, dilation, 1)


def test_strided_and_rgb_layers_take_patches_grad_conv(monkeypatch):
    called = []
    original = cpu_conv.patches_grad_conv
    spy = lambda *a: called.append((a[0].shape[-1], a[1].shape[0], a[2])) or original(*a)
    monkeypatch.setattr(cpu_conv, "patches_grad_conv", spy)
    x = jnp.ones((2, 8, 8, 16))
    with dispatch.use_path("cpu"):
        for strides, window in (((2, 2), 3), ((2, 2), 1), ((1, 1), 3), ((2, 2), 5)):
            ops.conv_general(x, jnp.ones((window, window, 16, 4)), strides=strides, padding=1)
        ops.conv_general(x[..., :8], jnp.ones((3, 3, 8, 4)), strides=2)  # few channels
        for channels, window in ((3, 3), (4, 3), (3, 7), (5, 3)):  # RGB(A) first layers
            ops.conv_general(x[..., :channels], jnp.ones((window, window, channels, 4)))
    assert called == [(16, 3, (2, 2)), (16, 1, (2, 2)), (3, 3, (1, 1)), (4, 3, (1, 1))]


def test_single_channel_kernel_gradient_is_one_xla_convolution():
    """The data input of a first layer has no tangent: only the kernel gradient is computed."""
    x, kernel = jnp.ones((2, 8, 8, 1)), jnp.ones((5, 5, 1, 6))
    loss = lambda k: cpu_conv.single_channel_conv(x, k, (1, 1), "SAME", (1, 1)).sum()
    jaxpr = jax.make_jaxpr(jax.grad(loss))(kernel)
    assert str(jaxpr).count("conv_general_dilated") == 1


@pytest.mark.parametrize(
    "shape, window, groups, strides, form",
    [
        ((2, 2, 2, 8), (3, 3), 1, 1, "valid_taps"),  # VGG-16's last block on 2x2 maps
        ((2, 1, 1, 4), (3, 3), 1, 1, "valid_taps"),
        ((2, 6, 6, 8), (3, 3), 2, 1, "split"),  # AlexNet's two towers
        ((2, 6, 6, 8), (3, 3), 8, 1, "depthwise"),  # MobileNet's depthwise layers
        ((2, 2, 2, 8), (3, 3), 8, 1, "depthwise"),  # also on maps smaller than the kernel
        ((2, 6, 6, 8), (3, 3), 1, 1, "swapped"),  # stride 1: ResNet-20's and VGG-16's layers
        ((2, 6, 6, 3), (3, 3), 1, 1, "patches"),  # RGB first layers
        ((2, 6, 6, 4), (3, 3), 1, 2, "native"),
        ((2, 6, 6, 1), (3, 3), 1, 1, "single"),  # LeNet-5's first layer
    ],
)
def test_cpu_form_choice(shape, window, groups, strides, form, monkeypatch):
    called = []
    names = ("depthwise_conv", "matmul_conv", "split_groups_conv", "single_channel_conv")
    names = (*names, "swapped_conv", "valid_taps_conv", "patches_grad_conv")
    for name in (*names, "native_conv"):
        original = getattr(cpu_conv, name)
        spy = lambda *a, _name=name, _f=original: called.append(_name) or _f(*a)
        monkeypatch.setattr(cpu_conv, name, spy)
    x = jnp.ones(shape)
    kernel = jnp.ones((*window, shape[-1] // groups, 8))
    with dispatch.use_path("cpu"):
        y = ops.conv_general(x, kernel, strides=strides, padding="SAME", groups=groups)
    expected = {
        "depthwise": "depthwise_conv",
        "valid_taps": "valid_taps_conv",
        "split": "split_groups_conv",
        "native": "native_conv",
        "single": "single_channel_conv",
        "swapped": "swapped_conv",
        "patches": "patches_grad_conv",
    }
    assert called[0] == expected[form]
    want = xla_conv(x, kernel, (strides, strides), "SAME", (1, 1), groups)
    np.testing.assert_allclose(y, want, rtol=1e-6)


POOLS = [(2, None, "VALID"), (3, 2, "SAME"), (3, 1, ((1, 1), (0, 2)))]


def test_max_pool_saved_argmax_equals_select_and_scatter():
    # Small integers: many windows hold their maximum twice (ties) and overlapping windows share
    # inputs; the gradient must go where XLA's select_and_scatter sends it (the first maximum).
    x = np.random.default_rng(0).integers(0, 3, (2, 7, 6, 3)).astype(np.float32)
    pools = [lambda x, p=p: ops.max_pool(x, *p) for p in POOLS]
    # One program per path (a new jit each: the path is chosen when tracing).
    all_pools = lambda: jax.jit(lambda x: [outputs_and_grads(pool, (x,)) for pool in pools])
    with dispatch.use_path("native"):
        want = all_pools()(x)
    with dispatch.use_path("cpu"):
        got = all_pools()(x)
        jaxpr = str(jax.make_jaxpr(jax.grad(lambda x: sum(p(x).sum() for p in pools)))(x))
    assert "select_and_scatter" not in jaxpr
    assert_all_close(got, want, rtol=1e-6, atol=1e-6)


def test_max_pool_ties_go_to_the_first_maximum():
    x = jnp.ones((1, 2, 2, 1))  # one window, four equal values
    with dispatch.use_path("cpu"):
        grad = jax.grad(lambda x: ops.max_pool(x, 2).sum())(x)
    np.testing.assert_array_equal(grad[0, ..., 0], [[1.0, 0.0], [0.0, 0.0]])


def test_use_path_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown ops path 'gpu'; accepted are native, cpu"):
        with dispatch.use_path("gpu"):
            pass


def test_opt_out_selects_native(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "0")
    assert dispatch.current_path() == "native"
    monkeypatch.setenv(dispatch.ENV_VAR, "1")
    expected = "cpu" if jax.default_backend() == "cpu" else "native"
    assert dispatch.current_path() == expected
