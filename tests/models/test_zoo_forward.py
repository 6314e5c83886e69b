"""Real forward passes of the small models (and of narrowed variants of the large ones): finite
outputs, train vs eval behaviour of BatchNorm, dropout and GoogLeNet's auxiliary heads, and
bfloat16 compute next to float32.

Variables are drawn with numpy in the shapes `jax.eval_shape(model.init)` gives: compiling
`init` costs more than the forward passes (test_lenet.py and test_resnet.py run real inits).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models

SMALL = ["lenet5", "lenet5_classic", "resnet20"]  # vgg16_cifar: as resnet20, 3x slower
KEY = jax.random.key(0, impl="unsafe_rbg")  # threefry dropout masks compile slowly


def batch(shape, n=4, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(n, *shape)), jnp.float32)


def numpy_variables(model, x, seed=0):
    """Kernels ~ N(0, 1 / fan-in), biases 0, BatchNorm scale 1 and statistics (0, 1)."""
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = path[-1].key
        if name in ("scale", "var"):
            return jnp.ones(leaf.shape, leaf.dtype)
        if leaf.ndim < 2:
            return jnp.zeros(leaf.shape, leaf.dtype)
        fan_in = int(np.prod(leaf.shape[:-1]))
        return jnp.asarray(rng.normal(size=leaf.shape) / np.sqrt(fan_in), leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, jax.eval_shape(model.init, KEY, x))


def tree_equal(a, b) -> bool:
    return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.array_equal(x, y)), a, b)))


@pytest.mark.parametrize("name", SMALL)
def test_small_model_forward(name):
    spec = models.get_model_spec(name)
    model = models.create_model(name, num_classes=10)
    bf16 = models.create_model(name, num_classes=10, dtype=jnp.bfloat16)
    x = batch(spec.test_input_shape)

    variables = numpy_variables(model, x)

    @jax.jit  # one compile for everything
    def run(variables, x):
        # Eval mode: no dropout rng given, `batch_stats` not mutable (an update would raise).
        acts = models.intermediates(model, variables, x)
        train_logits, train_state = model.apply(
            variables, x, train=True, mutable=["batch_stats"], rngs={"dropout": KEY}
        )
        logits16 = bf16.apply(variables, x)  # the same float32 parameters, bfloat16 compute
        return acts, train_logits, train_state, logits16

    acts, train_logits, train_state, logits16 = run(variables, x)
    names = list(acts)  # forward order, through jit too
    eval_logits = acts["logits"]
    assert eval_logits.shape == (4, 10)
    assert names[-2:] == ["pre_logits", "logits"]  # the full order: test_zoo.py
    assert all(bool(jnp.all(jnp.isfinite(a))) for a in [*acts.values(), train_logits])
    if "batch_stats" in variables:  # running statistics move in training
        assert not tree_equal(train_state["batch_stats"], variables["batch_stats"])
        assert not np.allclose(train_logits, eval_logits)  # batch statistics in training
    else:  # no BatchNorm, no dropout: training mode computes the same function
        assert train_state == {}
        np.testing.assert_allclose(train_logits, eval_logits, rtol=1e-6)
    assert logits16.dtype == jnp.bfloat16
    scale = float(jnp.max(jnp.abs(eval_logits)))
    np.testing.assert_allclose(logits16.astype(jnp.float32), eval_logits, atol=0.1 * scale)


# Narrowed versions of the dropout networks: the same code paths, small enough to compile fast.
TINY_GOOGLENET_TABLE = (("3a", (4,) * 6), ("4a", (4,) * 6), ("4d", (4,) * 6))
TINY = {
    "alexnet": dict(filters=(8, 8, 8, 8, 8), dense=(16, 16)),
    "vgg11": dict(widths=(4, 4, 4, 4, 4), dense=(8, 8)),
    "googlenet": dict(table=TINY_GOOGLENET_TABLE),
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_dropout_only_in_training(name):
    spec = models.get_model_spec(name)
    model = models.create_model(name, num_classes=10, **TINY[name])
    x = batch(spec.test_input_shape, n=2)

    variables = numpy_variables(model, x)

    @jax.jit  # variables as arguments: closed-over arrays would be constant-folded (slowly)
    def run(variables, x, key):
        return model.apply(variables, x, train=True, rngs={"dropout": key}, mutable=["aux_logits"])

    # Eval mode needs no dropout rng at all (test_zoo.py); training draws a mask from it.
    key1, key2 = jax.random.split(KEY)
    train1, aux1 = run(variables, x, key1)
    train2, aux2 = run(variables, x, key2)
    train1_again, _ = run(variables, x, key1)
    assert not np.allclose(train1, train2)
    np.testing.assert_array_equal(train1, train1_again)
    assert bool(jnp.all(jnp.isfinite(train1)))
    if name == "googlenet":  # auxiliary heads: only in training, with their own dropout
        assert sorted(aux1["aux_logits"]) == ["aux1", "aux2"]
        (logits1,), (logits2,) = aux1["aux_logits"]["aux2"], aux2["aux_logits"]["aux2"]
        assert logits1.shape == (2, 10) and not np.allclose(logits1, logits2)
        assert model.aux_loss_weight == 0.3
        _, state = jax.eval_shape(lambda v: model.apply(v, x, mutable=["aux_logits"]), variables)
        assert state == {}
    else:
        assert aux1 == {}
