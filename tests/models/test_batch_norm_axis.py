"""Every BatchNorm of every zoo model takes the axis it is given (cross-replica BatchNorm).

`layers.with_batch_norm_axis(model, "data")` must reach every BatchNorm layer, however deep:
traced with the axis bound (`make_jaxpr(axis_env=...)`, nothing compiled), a training forward
pass holds exactly one `psum` over the axis per BatchNorm layer (flax averages mean and mean
of squares in one `pmean`) and none without it. A layer that kept `axis_name=None` would
normalise with one device's statistics under the `pmap` engine.
"""

import collections

import jax
import jax.numpy as jnp
import pytest
from jax.extend import core as jax_core

from cnnjax import models
from cnnjax.models import layers

AXIS = "data"


def _collectives(jaxpr, counts: collections.Counter) -> collections.Counter:
    """Counts `psum`s over `AXIS` in `jaxpr` and every jaxpr nested in its equations."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "psum" and AXIS in eqn.params["axes"]:
            counts["psum"] += 1
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                if isinstance(sub, jax_core.ClosedJaxpr):
                    _collectives(sub.jaxpr, counts)
                elif isinstance(sub, jax_core.Jaxpr):
                    _collectives(sub, counts)
    return counts


def _psums(model, variables, x) -> int:
    def forward(variables, x):
        return model.apply(
            variables, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(0)}
        )

    jaxpr = jax.make_jaxpr(forward, axis_env=[(AXIS, 4)])(variables, x)
    return _collectives(jaxpr.jaxpr, collections.Counter())["psum"]


# One model per BatchNorm code path: ResNet basic blocks with projection shortcuts (resnet18)
# and zero-padding ones (resnet20), bottlenecks (resnet50), VGG, the inverted residuals of
# MobileNetV2 and EfficientNet-Lite; and a model without BatchNorm. Deeper variants repeat the
# same blocks (and would cost seconds of tracing each).
FAMILIES = (
    "resnet18", "resnet20", "resnet50", "vgg11_bn", "mobilenet_v2", "efficientnet_lite0", "lenet5"
)  # fmt: skip


@pytest.mark.parametrize("name", FAMILIES)
def test_every_batch_norm_reduces_over_the_given_axis(name):
    model = models.create_model(name, num_classes=10)
    x = jnp.zeros((2, *models.get_model_spec(name).test_input_shape), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x[:1])
    batch_norms = len(jax.tree.leaves(variables.get("batch_stats", {}))) // 2  # mean, var
    assert _psums(layers.with_batch_norm_axis(model, AXIS), variables, x) == batch_norms
    assert _psums(layers.with_batch_norm_axis(model, None), variables, x) == 0
    assert (batch_norms > 0) == (name != "lenet5")  # the test sees BatchNorm where it is
