"""LeNet-5 of LeCun et al. (1998) against the paper's text: parameter counts of §II-B, the C3
connection table (Table I), trainable subsampling, the squashing function and the
initialisation of Appendix A."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models
from cnnjax.models import lenet

# Unrolled threefry makes `jit(init)` slow to compile on CPU (12 s for ResNet-20); rbg is fast.
KEY = jax.random.key(0, impl="unsafe_rbg")

# Table I as printed: row i = S2 map i, column j = C3 map j, X = connected.
TABLE_I = (
    "X   XXX  XXXX XX",
    "XX   XXX  XXXX X",
    "XXX   XXX  X XXX",
    " XXX  XXXX  X XX",
    "  XXX  XXXX XX X",
    "   XXX  XXXX XXX",
)
CONNECTED = np.array([[c == "X" for c in row] for row in TABLE_I])  # (6, 16)


def test_layers_hold_the_papers_trainable_parameters():
    """§II-B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164 — 60,000 in all."""
    model = models.create_model("lenet5_classic", num_classes=10)
    params = jax.eval_shape(model.init, KEY, jnp.zeros((1, 32, 32, 1)))["params"]
    counts = {name: sum(p.size for p in jax.tree.leaves(tree)) for name, tree in params.items()}
    paper = {"C1": 156, "S2": 12, "C3": 1_516, "S4": 32, "C5": 48_120, "F6": 10_164}
    assert {k: v for k, v in counts.items() if k != "output"} == paper
    assert sum(paper.values()) == 60_000
    assert counts["output"] == 85 * 10  # our dense replacement of the fixed RBF layer


def test_c3_follows_table_1():
    """Output map j of C3 depends exactly on the S2 maps Table I connects to it, and equals a
    numpy loop over those connections."""
    c3 = lenet.PartialConv(lenet.C3_TABLE)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 9, 9, 6)), jnp.float32)
    params = jax.jit(c3.init)(KEY, x)
    y = c3.apply(params, x)  # (1, 5, 5, 16)

    # Which inputs reach each output map: the gradient of the map's sum w.r.t. the input.
    def reach(params, x, j):
        grad = jax.grad(lambda x: c3.apply(params, x)[..., j].sum())(x)
        return jnp.any(grad != 0, axis=(0, 1, 2))  # (6,)

    reach_all = jax.jit(jax.vmap(reach, in_axes=(None, None, 0), out_axes=1))
    reached = np.asarray(reach_all(params, x, jnp.arange(16)))  # (6, 16)
    np.testing.assert_array_equal(reached, CONNECTED)

    # Numpy reference: kernel column c connects input map inputs[c] to output map outputs[c].
    kernel = np.asarray(params["params"]["connections"])
    bias = np.asarray(params["params"]["bias"])
    inputs = [i for sources in lenet.C3_TABLE for i in sources]
    outputs = [j for j, sources in enumerate(lenet.C3_TABLE) for _ in sources]
    assert kernel.shape == (5, 5, 60)
    xn, expected = np.asarray(x[0]), np.tile(bias, (5, 5, 1))
    for c, (i, j) in enumerate(zip(inputs, outputs, strict=True)):
        for r in range(5):
            for s in range(5):
                expected[r, s, j] += np.sum(xn[r : r + 5, s : s + 5, i] * kernel[:, :, c])
    np.testing.assert_allclose(y[0], expected, rtol=1e-5, atol=1e-5)


def test_subsampling_adds_four_inputs_times_a_coefficient_plus_a_bias():
    layer = lenet.Subsampling(activation=lambda a: a)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 6, 4, 3)), jnp.float32)
    params = {
        "params": {"coefficient": jnp.array([0.5, -2.0, 3.0]), "bias": jnp.array([1, 0, -1.0])}
    }
    y = layer.apply(params, x)
    sums = np.asarray(x).reshape(2, 3, 2, 2, 2, 3).sum(axis=(2, 4))  # 2x2 windows
    np.testing.assert_allclose(y, sums * [0.5, -2.0, 3.0] + [1, 0, -1.0], rtol=1e-5, atol=1e-6)


def test_squashing_functions():
    """Appendix A: f(a) = A tanh(S a), A = 1.7159, S = 2/3, chosen so that f(±1) = ±1."""
    assert abs(float(lenet.scaled_tanh(jnp.array(1.0))) - 1.0) < 1e-4
    assert float(lenet.scaled_tanh(jnp.array(-1.0))) == -float(lenet.scaled_tanh(jnp.array(1.0)))
    assert abs(float(lenet.scaled_tanh(jnp.array(30.0))) - 1.7159) < 1e-6
    sigmoid = models.create_model("lenet5_classic", activation="sigmoid")
    x = jnp.asarray(np.random.default_rng(2).normal(size=(2, 32, 32, 1)), jnp.float32)
    c1 = jax.jit(lambda x: models.intermediates(sigmoid, sigmoid.init(KEY, x), x)["C1"])(x)
    assert float(c1.min()) > 0.0 and float(c1.max()) < 1.0
    with pytest.raises(ValueError, match="relu.*accepted.*scaled_tanh"):
        models.create_model("lenet5_classic", activation="relu").init(KEY, x)


def test_initialisation_is_uniform_within_2_4_over_fan_in():
    model = models.create_model("lenet5_classic")
    params = jax.jit(model.init)(KEY, jnp.zeros((1, 32, 32, 1)))["params"]
    fan_ins = {"C1": 25, "C5": 400, "F6": 120, "output": 84}
    for name, fan_in in fan_ins.items():
        w = np.abs(np.asarray(params[name]["kernel"]))
        assert w.max() <= 2.4 / fan_in and w.max() > 0.8 * 2.4 / fan_in, name
    c3 = np.abs(np.asarray(params["C3"]["connections"]))  # (5, 5, 60): fan-in 25 x 3, 4 or 6
    fan = np.array([25 * len(s) for s in lenet.C3_TABLE for _ in s])
    assert np.all(c3 <= 2.4 / fan) and np.all(c3.max(axis=(0, 1)) > 0.5 * 2.4 / fan)
