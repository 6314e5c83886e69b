"""Every registered model (the deepest ResNet variants excepted): guided backprop finds its
activations and Grad-CAM taps its last feature map (shapes only, `jax.eval_shape`: nothing is
compiled)."""

import jax
import jax.numpy as jnp
import pytest

from cnnjax import interpret
from cnnjax.models import create_model, get_model_spec, list_models

# The deepest ResNets repeat resnet50's / resnet20's blocks and cost most of this file's time.
_SAME_BLOCKS_AS_A_SHALLOWER_ONE = {"resnet101", "resnet152", "resnet110", "resnet56", "resnet44"}


@pytest.mark.parametrize(
    "name", [n for n in list_models() if n not in _SAME_BLOCKS_AS_A_SHALLOWER_ONE]
)
def test_every_model_explains(name):
    spec = get_model_spec(name)
    model = create_model(name, num_classes=7)
    x = jax.ShapeDtypeStruct((2, *spec.test_input_shape), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)
    shapes = interpret.layer_shapes(model, variables, spec.test_input_shape)
    layer = [n for n, s in shapes.items() if len(s) == 3][-1]
    target = interpret.class_score(jnp.array([1, 6]))

    def explain(v, x):
        return (
            interpret.guided_backprop(model, v, x, target),
            interpret.grad_cam(model, v, x, target, layer),
        )

    guided, cam = jax.eval_shape(explain, variables, x)
    assert guided.shape == x.shape
    assert cam.shape == (2, *shapes[layer][:2])
