"""Gradient attributions against closed forms and their defining properties."""

import interpret_tiny as tiny
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import interpret
from cnnjax.models import create_model


@pytest.fixture(scope="module")
def lenet():
    model = create_model("lenet5", num_classes=10)
    x = jax.random.normal(jax.random.key(1), (3, 28, 28, 1))
    return model, model.init(jax.random.key(0), x), x


def test_saliency_of_a_linear_model_is_its_weights():
    model = tiny.Linear(num_classes=3)
    variables, x = tiny.init(model, (2, 5, 4, 2))
    kernel = np.asarray(variables["params"]["logits"]["kernel"])  # (40, 3)
    labels = jnp.array([2, 0])
    grad = interpret.gradient(model, variables, x, interpret.class_score(labels))
    for b, c in enumerate([2, 0]):
        np.testing.assert_allclose(grad[b], kernel[:, c].reshape(5, 4, 2), rtol=1e-6)
    times_input = interpret.gradient_x_input(model, variables, x, interpret.class_score(labels))
    np.testing.assert_allclose(times_input, grad * x, rtol=1e-6)


def test_integrated_gradients_are_complete(lenet):
    model, variables, x = lenet
    labels = jnp.array([0, 4, 7])
    baseline = jnp.full_like(x, -0.4)
    ig = interpret.integrated_gradients(
        model, variables, x, interpret.class_score(labels), baseline=baseline, steps=64
    )
    logits = lambda z: model.apply(variables, z)[jnp.arange(3), labels]  # noqa: E731
    expected = logits(x) - logits(baseline)
    np.testing.assert_allclose(ig.sum((1, 2, 3)), expected, rtol=1e-2, atol=1e-3)


def test_smoothgrad_with_zero_noise_is_vanilla(lenet):
    model, variables, x = lenet
    target = interpret.class_score(jnp.array([1, 2, 3]))
    vanilla = interpret.gradient(model, variables, x, target)
    smooth = interpret.smoothgrad(
        model, variables, x, target, jax.random.key(0), num_samples=4, sigma=0.0, chunk=2
    )
    np.testing.assert_allclose(smooth, vanilla, rtol=1e-5, atol=1e-7)
    noisy = interpret.smoothgrad(model, variables, x, target, jax.random.key(0), num_samples=4)
    assert float(jnp.abs(noisy - vanilla).max()) > 1e-4  # the noise does something


@pytest.mark.parametrize(
    "activation, derivative",
    [
        (jax.nn.relu, lambda h: (h > 0) * 1.0),
        (jax.nn.relu6, lambda h: ((h > 0) & (h < 6)) * 1.0),
        (lambda h: jnp.clip(h, 0, 6), lambda h: ((h > 0) & (h < 6)) * 1.0),
        (jnp.tanh, lambda h: 1 - np.tanh(h) ** 2),
    ],
    ids=["relu", "relu6", "clip06", "tanh"],
)
def test_guided_backprop_passes_only_positive_gradients(activation, derivative):
    model = tiny.OneHidden(activation=activation, hidden=32, num_classes=3)
    variables, x = tiny.init(model, (2, 4, 4, 1), seed=3)
    x = 4 * x  # reach ReLU6's upper knee too
    w1 = np.asarray(variables["params"]["fc1"]["kernel"])  # (16, 32)
    w2 = np.asarray(variables["params"]["logits"]["kernel"])  # (32, 3)
    h = np.asarray(x).reshape(2, -1) @ w1  # (2, 32) pre-activations
    target = interpret.class_score(1)
    guided = interpret.guided_backprop(model, variables, x, target).reshape(2, -1)
    vanilla = interpret.gradient(model, variables, x, target).reshape(2, -1)
    # Backward through the activation: its derivative times the upstream gradient w2[:, 1],
    # which guided backprop first clips at zero.
    np.testing.assert_allclose(
        guided, (derivative(h) * np.maximum(w2[:, 1], 0)) @ w1.T, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(vanilla, (derivative(h) * w2[:, 1]) @ w1.T, rtol=1e-5, atol=1e-6)
    assert np.abs(guided - vanilla).max() > 1e-3


def test_guided_backprop_differs_from_vanilla_on_lenet(lenet):
    model, variables, x = lenet
    target = interpret.class_score(3)
    guided = interpret.guided_backprop(model, variables, x, target)
    vanilla = interpret.gradient(model, variables, x, target)
    assert float(jnp.abs(guided - vanilla).max()) > 1e-3


def _rank_correlation(a, b) -> float:
    ra = np.argsort(np.argsort(np.ravel(a)))
    rb = np.argsort(np.argsort(np.ravel(b)))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_model_randomisation_changes_the_maps(lenet):
    """Adebayo et al. (2018): re-initialising the weights (top layer first, then all) must
    change a faithful saliency map; re-running with the same weights must not."""
    model, variables, x = lenet
    target = interpret.class_score(5)
    base = np.abs(np.asarray(interpret.gradient(model, variables, x, target)))
    same = np.abs(np.asarray(interpret.gradient(model, variables, x, target)))
    assert _rank_correlation(base, same) == pytest.approx(1.0)
    fresh = model.init(jax.random.key(42), x)["params"]
    top = {"params": {**variables["params"], "logits": fresh["logits"]}}
    for randomised in (top, {"params": fresh}):
        maps = np.abs(np.asarray(interpret.gradient(model, randomised, x, target)))
        assert _rank_correlation(base, maps) < 0.8
