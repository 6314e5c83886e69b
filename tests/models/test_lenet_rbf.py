"""LeNet-5's Euclidean RBF output layer (LeCun et al. 1998, §II-B, eq. 7 and 9): squared
distances to fixed ±1 codes, checked against a numpy loop and hand-worked distances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models
from cnnjax.models import lenet_rbf
from cnnjax.train import experiment, losses

# Unrolled threefry makes `jit(init)` slow to compile on CPU; rbg is fast.
KEY = jax.random.key(0, impl="unsafe_rbg")


def test_rbf_units_are_squared_euclidean_distances():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 84)).astype(np.float32)
    codes = lenet_rbf.digit_codes()
    y = np.asarray(lenet_rbf.rbf_distances(jnp.asarray(x), jnp.asarray(codes)))
    expected = np.zeros((3, 10))
    for b in range(3):
        for i in range(10):
            expected[b, i] = sum((x[b, j] - codes[i, j]) ** 2 for j in range(84))
    np.testing.assert_allclose(y, expected, rtol=1e-5)


def test_codes_are_distinct_plus_minus_one_7x12_bitmaps():
    """Fig. 3: one 7x12 bitmap per character, values ±1 (here our own drawing of the digits)."""
    assert all(len(b) == 12 and {len(row) for row in b} == {7} for b in lenet_rbf.DIGIT_BITMAPS)
    codes = lenet_rbf.digit_codes()
    assert codes.shape == (10, 84) and set(np.unique(codes)) == {-1.0, 1.0}
    hamming = (codes[:, None] != codes[None]).sum(-1)
    assert hamming[~np.eye(10, dtype=bool)].min() >= 8  # no two digits share a code


def test_rbf_codes_are_a_constant_not_parameters():
    """C1-F6 are the paper's 60,000 trainable parameters; the fixed codes add none, so no
    optimizer (nor weight decay) can move them."""
    model = models.create_model("lenet5_classic", num_classes=10, output="rbf")
    params = jax.eval_shape(model.init, KEY, jnp.zeros((1, 32, 32, 1)))["params"]
    assert set(params) == {"C1", "S2", "C3", "S4", "C5", "F6"}
    assert sum(p.size for p in jax.tree.leaves(params)) == 60_000


def test_an_f6_output_equal_to_a_code_predicts_that_digit():
    """With F6's weights at 0 and its biases at code i, F6 = f(code i) = code i (f(±1) = ±1), so
    y_i = 0 and y_k = 4 x (pixels where codes i and k differ): logits = −y, argmax = i."""
    model = models.create_model("lenet5_classic", num_classes=10, output="rbf")
    x = jnp.asarray(np.random.default_rng(1).normal(size=(1, 32, 32, 1)), jnp.float32)
    params = jax.jit(model.init)(KEY, x)["params"]
    codes = lenet_rbf.digit_codes()
    hamming = (codes[:, None] != codes[None]).sum(-1)  # (10, 10)

    @jax.jit
    def logits_for(code):
        f6 = {"kernel": jnp.zeros_like(params["F6"]["kernel"]), "bias": code}
        return model.apply({"params": {**params, "F6": f6}}, x)[0]  # (10,)

    for i in range(10):
        logits = np.asarray(logits_for(jnp.asarray(codes[i])))
        assert int(np.argmax(logits)) == i
        np.testing.assert_allclose(logits, -4.0 * hamming[i], atol=2e-3)


@pytest.mark.parametrize("j", [0.5, 3.0, None])
def test_the_training_loss_on_minus_y_is_eq_9(j):
    """Eq. 9: E = y_D + log(e^{−j} + Σ_i e^{−y_i}), with the model's `reject_logit` −j; without
    j (None) plain softmax cross-entropy, the limit j → ∞."""
    y = np.array([[3.0, 0.5, 7.0, 2.0], [1.0, 4.0, 0.2, 9.0]], np.float32)
    labels = np.eye(4, dtype=np.float32)[[1, 3]]
    model = models.create_model("lenet5_classic", num_classes=10, output="rbf", rbf_j=j)
    reject = model.reject_logit
    got = losses.cross_entropy(jnp.asarray(-y), jnp.asarray(labels), reject_logit=reject)
    rubbish = 0.0 if j is None else np.exp(-j)
    paper = [y[b, d] + np.log(rubbish + np.exp(-y[b]).sum()) for b, d in enumerate([1, 3])]
    np.testing.assert_allclose(got, paper, rtol=1e-5)
    dense = models.create_model("lenet5_classic", num_classes=10, rbf_j=j)
    assert dense.reject_logit is None  # the dense head trains on plain cross-entropy


def test_bad_output_options_are_refused_naming_the_accepted_values():
    with pytest.raises(
        ValueError, match=r"unknown LeNet-5 output 'softmax'; accepted are dense, rbf$"
    ):
        models.create_model("lenet5_classic", num_classes=10, output="softmax")
    with pytest.raises(ValueError, match="num_classes must be 10, got 26"):
        models.create_model("lenet5_classic", num_classes=26, output="rbf")
    with pytest.raises(ValueError, match=r"activation 'relu'; accepted are scaled_tanh, sigmoid$"):
        models.create_model("lenet5_classic", num_classes=10, activation="relu")


@pytest.mark.parametrize("output", ["rbf", "dense"])
def test_the_engine_trains_the_rbf_output_on_eq_9(output):
    """`experiment.build` hands the model's −j to the train step (nothing is compiled)."""
    from experiments.configs import lenet5_mnist

    config = lenet5_mnist.get_config()
    config.dataset = "mnist5k"  # embedded: no download
    config.model_kwargs.update(output=output, rbf_j=7.0)
    exp = experiment.build(config)
    assert exp.options.reject_logit == (-7.0 if output == "rbf" else None)
    assert exp.train_fn.keywords["options"].reject_logit == exp.options.reject_logit
