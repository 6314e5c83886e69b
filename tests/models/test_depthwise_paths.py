"""MobileNetV2 / EfficientNet blocks give the same outputs and gradients on the CPU path (depthwise
convolutions as shifted slices, `cnnjax.ops.depthwise`) as with XLA's grouped convolution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from path_helpers import assert_equal_on_both_paths

from cnnjax.models.mobilenet import InvertedResidual


@pytest.mark.parametrize(
    "strides, kernel_size, padding", [(1, 3, "symmetric"), (2, 5, "SAME"), (2, 3, "symmetric")]
)
def test_inverted_residual_equal_on_both_paths(strides, kernel_size, padding):
    block = InvertedResidual(
        features=4, strides=strides, expansion=3, kernel_size=kernel_size, padding=padding
    )
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 9, 9, 4)), jnp.float32)
    variables = block.init(jax.random.key(0), x, train=False)

    def loss(params, x):
        y = block.apply({**variables, "params": params}, x, train=False)
        return jnp.sum(jnp.sin(y)), y

    grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)
    assert_equal_on_both_paths(grads, variables["params"], x)
