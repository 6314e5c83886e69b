"""`intermediates` returns the recorded activations in forward order: eagerly, through `jax.jit`
and through `jax.eval_shape` alike (a plain dict would come back from both with sorted keys:
"C1", "C3", "C5", "S2", ... or "stage2/block1" after "pre_logits" no more)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest
from zoo_expectations import expected_activations

from cnnjax import models
from cnnjax.models.intermediates import record

KEY = jax.random.key(0)

# LeCun et al. 1998, Figure 2: the layers of LeNet-5 as the paper names them, input to output.
LENET5_PAPER_ORDER = ["C1", "S2", "C3", "S4", "C5", "pre_logits", "logits"]


def orders(model, x, compiled: bool) -> tuple[list, list, list]:
    """Names of `intermediates` as built, through jit (run, or traced) and through eval_shape."""
    forward = lambda v, x: models.intermediates(model, v, x)
    variables = jax.eval_shape(model.init, KEY, x)
    through_shapes = jax.eval_shape(forward, variables, x)
    if compiled:  # small models: run for real, weights and input all zeros
        variables = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), variables)
        x = jnp.zeros(x.shape, x.dtype)
        through_jit = jax.jit(forward)(variables, x)
        built = forward(variables, x)  # eager, op by op
    else:  # jit's own output tree, without compiling; the dict as built inside the trace
        through_jit = jax.jit(forward).trace(variables, x).out_info
        inside = []
        jax.eval_shape(lambda v, x: inside.append(list(forward(v, x))), variables, x)
        (built,) = inside
    return list(built), list(through_jit), list(through_shapes)


@pytest.mark.parametrize(
    "name, compiled", [("lenet5_classic", True), ("resnet20", True), ("googlenet", False)]
)
def test_zoo_order_is_the_forward_order_under_jit_and_eval_shape(name, compiled):
    spec = models.get_model_spec(name)
    model = models.create_model(name, num_classes=10)
    x = jax.ShapeDtypeStruct((1, *spec.test_input_shape), jnp.float32)
    built, through_jit, through_shapes = orders(model, x, compiled)
    expected = [*expected_activations(name), "logits"]  # the papers' tables, input first
    assert built == expected
    assert through_jit == expected
    assert through_shapes == expected
    if name == "lenet5_classic":
        assert expected == LENET5_PAPER_ORDER
    assert expected != sorted(expected)  # a sorted dict would fail these checks


class Child(nn.Module):
    @nn.compact
    def __call__(self, x):
        return record(self, "b", x * 2.0)


class Parent(nn.Module):
    """Records a, then its child records b, then it records c: forward order a, child/b, c."""

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        x = record(self, "a", x + 1.0)
        x = Child(name="child")(x)
        return record(self, "c", x - 1.0)


def test_a_submodules_activations_fall_where_it_ran():
    model, x = Parent(), jnp.ones((1, 2, 2, 1))
    forward = lambda v, x: models.intermediates(model, v, x)
    expected = ["a", "child/b", "c", "logits"]
    assert list(forward({}, x)) == expected
    assert list(jax.jit(forward)({}, x)) == expected
    assert list(jax.eval_shape(forward, {}, x)) == expected
    acts = forward({}, x)
    assert float(acts["child/b"][0, 0, 0, 0]) == 4.0 and float(acts["logits"].sum()) == 12.0
