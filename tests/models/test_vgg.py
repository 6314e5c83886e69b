"""VGG against Simonyan & Zisserman (2015): the Glorot initialisation of §3.1 and BatchNorm placed
between each convolution and its ReLU in the `_bn` variants."""

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import models

KEY = jax.random.key(0, impl="unsafe_rbg")


def test_weights_are_initialised_as_glorot_and_bengio():
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) for convolutions and dense layers."""
    model = models.create_model("vgg11", widths=(16, 32, 32, 32, 32), dense=(64, 64))
    params = jax.jit(model.init)(KEY, jnp.zeros((1, 32, 32, 3)))["params"]
    for name, fan_in, fan_out in (("conv1_1", 9 * 3, 9 * 16), ("conv2_1", 9 * 16, 9 * 32)):
        w = np.abs(np.asarray(params[name]["kernel"]))
        bound = np.sqrt(6 / (fan_in + fan_out))
        assert w.max() <= bound and w.max() > 0.9 * bound, name
        assert not np.any(params[name]["bias"])
    w = np.abs(np.asarray(params["fc6"]["kernel"]))  # 1x1x32 → 64
    assert w.max() <= np.sqrt(6 / (32 + 64)) and w.max() > 0.9 * np.sqrt(6 / (32 + 64))


def test_batchnorm_sits_between_convolution_and_relu():
    """conv1_1 records relu(BN(conv(x))): in eval mode with the initial statistics (0, 1), a
    scale of 2 and a bias of -0.5 that is relu(2 conv(x) / sqrt(1 + 1e-5) - 0.5)."""
    plain = models.create_model("vgg11", widths=(4,) * 5, dense=(8, 8))
    bn = models.create_model("vgg11_bn", widths=(4,) * 5, dense=(8, 8))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 32, 32, 3)), jnp.float32)

    @jax.jit
    def run(x):
        plain_vars = plain.init(KEY, x)
        bn_vars = bn.init(KEY, x)
        bn1_1 = {"scale": jnp.full((4,), 2.0), "bias": jnp.full((4,), -0.5)}
        params = {**bn_vars["params"], "conv1_1": plain_vars["params"]["conv1_1"], "bn1_1": bn1_1}
        bn_vars = {**bn_vars, "params": params}
        conv = plain_vars["params"]["conv1_1"]
        return (
            models.intermediates(bn, bn_vars, x)["conv1_1"],
            jax.lax.conv_general_dilated(
                x, conv["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            + conv["bias"],
        )

    with_bn, conv = run(x)
    expected = np.maximum(2 * np.asarray(conv) / np.sqrt(1 + 1e-5) - 0.5, 0)
    assert expected.max() > 0 and expected.min() == 0
    np.testing.assert_allclose(with_bn, expected, rtol=1e-5, atol=1e-5)
