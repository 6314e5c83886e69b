"""Depthwise convolutions as sums of shifted copies equal XLA's grouped convolution, and the
fast forward pass swaps every one of a model's depthwise convolutions without changing values."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax.interpret import rewrite
from cnnjax.models.intermediates import record
from cnnjax.ops.depthwise import depthwise


@pytest.mark.parametrize(
    "k, stride, padding, dilation",
    [(3, 1, ((1, 1), (1, 1)), 1), (3, 2, ((0, 1), (0, 1)), 1), (5, 2, ((1, 2), (2, 1)), 1),
     (3, 1, ((2, 2), (2, 2)), 2), (3, 1, ((-1, 0), (0, 0)), 1)],
)  # fmt: skip
def test_depthwise_equals_the_grouped_convolution(k, stride, padding, dilation):
    x = jax.random.normal(jax.random.key(0), (2, 11, 9, 5))
    w = jax.random.normal(jax.random.key(1), (k, k, 1, 5))
    expected = lax.conv_general_dilated(
        x, w, (stride, stride), padding, rhs_dilation=(dilation, dilation),
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=5,
    )  # fmt: skip
    got = depthwise(x, w, (stride, stride), padding, (dilation, dilation))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


class Separable(nn.Module):
    """stem conv -> depthwise 3x3 (stride 2) -> 1x1 -> pooled logits, like a MobileNet block."""

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        x = record(self, "stem", nn.relu(nn.Conv(6, (3, 3), name="stem")(x)))
        x = nn.Conv(6, (3, 3), (2, 2), feature_group_count=6, name="depthwise")(x)
        x = record(self, "depthwise", jnp.clip(x, 0, 6))
        x = record(self, "project", nn.Conv(4, (1, 1), name="project")(x))
        return nn.Dense(3, name="logits")(x.mean((1, 2)))


def _grouped_convs(fn, *args) -> int:
    """Grouped convolutions left in the (inlined) program of fn."""
    text = str(jax.make_jaxpr(fn)(*args))
    return text.count("feature_group_count=6")


def test_fast_forward_swaps_every_depthwise_convolution():
    model = Separable()
    x = jax.random.normal(jax.random.key(0), (2, 12, 12, 3))
    variables = model.init(jax.random.key(1), x)
    slow = rewrite.forward(model, variables, x, fast=False)
    fast = rewrite.forward(model, variables, x, fast=True)
    assert sorted(fast) == sorted(slow)
    for name in slow:
        np.testing.assert_allclose(fast[name], slow[name], rtol=1e-5, atol=1e-6)
    assert _grouped_convs(lambda v, x: rewrite.forward(model, v, x, fast=False), variables, x) == 1
    assert _grouped_convs(lambda v, x: rewrite.forward(model, v, x, fast=True), variables, x) == 0

    def score(x, fast):
        return rewrite.forward(model, variables, x, fast=fast)["logits"][:, 1].sum()

    np.testing.assert_allclose(
        jax.grad(score)(x, True), jax.grad(score)(x, False), rtol=1e-4, atol=1e-6
    )
