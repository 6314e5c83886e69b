"""The zoo's layer wrappers: smallest-input arithmetic, input checks, grouped convolution,
BatchNorm's momentum and epsilon, and LRN under bfloat16."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import ops
from cnnjax.models import layers

# Unrolled threefry makes `jit(init)` slow to compile on CPU (12 s for ResNet-20); rbg is fast.
KEY = jax.random.key(0, impl="unsafe_rbg")


def test_smallest_input_worked_examples():
    # AlexNet: 11/4 valid conv, 3/2 pool, 5x5 pad 2, 3/2 pool, three 3x3 pad 1, 3/2 pool.
    # 67 → 15 → 7 → 7 → 3 → 3 → 1, while 66 → 14 → 6 → 6 → 2 → 2 → 0.
    pool = (3, 2, "VALID")
    tail = [pool, (5, 1, 2), pool, (3, 1, 1), (3, 1, 1), (3, 1, 1), pool]
    assert layers.smallest_input([(11, 4, 0), *tail]) == 67
    assert layers.smallest_input([(11, 4, 2), *tail]) == 63  # torchvision's padded conv1
    # GoogLeNet to 4a (stride 16, 'SAME'-like) then the 5x5/3 aux pool: 65 → 33 → 17 → 9 → 5 → 1.
    to_4a = [(7, 2, 3), (3, 2, "SAME"), (3, 1, 1), (3, 2, "SAME"), (3, 2, "SAME")]
    assert layers.smallest_input([*to_4a, (5, 3, "VALID")]) == 65
    # Padded layers never empty a map: the total stride decides.
    assert layers.smallest_input([(3, 2, 1)] * 5) == 32
    assert layers.smallest_input([(5, 1, 0), (2, 2, 0)] * 2 + [(5, 1, 0)]) == 32  # LeNet-5


def test_check_input_size_names_the_problem():
    layers.check_input_size(jnp.zeros((1, 32, 40, 3)), 32, "Net")
    with pytest.raises(ValueError, match=r"Net needs inputs of at least 32x32 pixels, got 31x40"):
        layers.check_input_size(jnp.zeros((1, 31, 40, 3)), 32, "Net")
    with pytest.raises(ValueError, match=r"\(B, H, W, C\) input, got shape \(32, 32, 3\)"):
        layers.check_input_size(jnp.zeros((32, 32, 3)), 32, "Net")


def conv_reference(x: np.ndarray, kernel: np.ndarray, groups: int) -> np.ndarray:
    """'VALID' grouped cross-correlation as numpy loops."""
    kh, kw, cin_g, cout = kernel.shape
    cout_g = cout // groups
    rows, cols = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    out = np.zeros((x.shape[0], rows, cols, cout))
    for o in range(cout):
        g = o // cout_g
        for r in range(rows):
            for c in range(cols):
                patch = x[:, r : r + kh, c : c + kw, g * cin_g : (g + 1) * cin_g]
                out[:, r, c, o] = np.einsum("bijc,ijc->b", patch, kernel[..., o])
    return out


@pytest.mark.parametrize("groups", [1, 2])
def test_conv_layer_matches_numpy(groups):
    """`Conv` (kernel (KH, KW, C_in / groups, C_out)) against numpy loops, with its bias."""
    rng = np.random.default_rng(groups)
    x = jnp.asarray(rng.normal(size=(2, 6, 5, 8)), jnp.float32)
    layer = layers.Conv(12, (3, 2), padding="VALID", groups=groups)
    params = jax.jit(layer.init)(KEY, x)["params"]
    assert params["kernel"].shape == (3, 2, 8 // groups, 12)
    params = {"kernel": params["kernel"], "bias": jnp.arange(12.0)}
    y = layer.apply({"params": params}, x)
    expected = conv_reference(np.asarray(x), np.asarray(params["kernel"]), groups) + np.arange(12)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_batch_norm_uses_momentum_0_9_and_epsilon_1e_5():
    x = jnp.asarray(np.random.default_rng(0).normal(3.0, 2.0, size=(64, 2, 2, 3)), jnp.float32)
    variables = layers.batch_norm(True).init(KEY, x)
    y, state = layers.batch_norm(True).apply(variables, x, mutable=["batch_stats"])
    xn = np.asarray(x).reshape(-1, 3)
    mean, var = xn.mean(0), xn.var(0)
    np.testing.assert_allclose(state["batch_stats"]["mean"], 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(state["batch_stats"]["var"], 0.9 + 0.1 * var, rtol=1e-5)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-4)
    y_eval = layers.batch_norm(False).apply(variables, x)  # running statistics: 0 and 1
    np.testing.assert_allclose(y_eval, x / np.sqrt(1 + 1e-5), rtol=1e-6)
    zero = layers.batch_norm(True, zero_init=True).init(KEY, x)["params"]["scale"]
    np.testing.assert_array_equal(zero, np.zeros(3))


def test_local_response_norm_keeps_bfloat16_inputs_accurate():
    x = 50.0 * jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 3, 16)), jnp.float32)
    y = layers.local_response_norm(x.astype(jnp.bfloat16))
    assert y.dtype == jnp.bfloat16
    reference = ops.local_response_norm(x.astype(jnp.bfloat16).astype(jnp.float32))
    np.testing.assert_allclose(y.astype(jnp.float32), reference, rtol=1e-2)
