"""Gradient-ascent images: class models raise the score; a first-layer unit's optimum under a
norm bound is its normalised filter."""

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import interpret
from cnnjax.models import create_model


def test_class_model_ascent_raises_the_class_score():
    model = create_model("lenet5", num_classes=10)
    x0 = 0.1 * jax.random.normal(jax.random.key(3), (1, 28, 28, 1))  # random init: ReLUs at 0
    variables = model.init(jax.random.key(0), x0)
    score = lambda x: float(model.apply(variables, x)[0, 3])  # noqa: E731
    image = interpret.class_model(
        model, variables, 3, x0, jax.random.key(1), steps=30, learning_rate=0.05,
        decay=0.01, jitter=1, blur_sigma=0.5, pixel_percentile=5, clip=(-0.5, 2.8),
    )  # fmt: skip
    assert score(image) > score(x0) + 0.3
    assert float(image.min()) >= -0.5 and float(image.max()) <= 2.8


def test_first_layer_unit_under_a_norm_bound_converges_to_its_filter():
    model = create_model("lenet5", num_classes=10)
    x0 = 1e-3 * jax.random.normal(jax.random.key(2), (1, 28, 28, 1))
    variables = model.init(jax.random.key(0), x0)
    params = dict(variables["params"])
    params["conv1"] = {**params["conv1"], "bias": jnp.full((6,), 0.1)}  # the unit starts active
    variables = {"params": params}
    channel, radius = 4, 3.0
    image = interpret.maximize(
        model, variables, interpret.unit("conv1", channel, (14, 14)), x0, jax.random.key(0),
        steps=40, learning_rate=0.5, norm=radius,
    )  # fmt: skip
    kernel = np.asarray(params["conv1"]["kernel"][:, :, 0, channel])  # (5, 5)
    # conv1 is 5x5 with padding 2: unit (14, 14) sees input rows and columns 12..16.
    crop = np.asarray(image[0, 12:17, 12:17, 0])
    np.testing.assert_allclose(crop, radius * kernel / np.linalg.norm(kernel), atol=2e-3)
    assert float(jnp.linalg.norm(image)) <= radius + 1e-4


def test_deep_dream_amplifies_the_layer():
    model = create_model("lenet5", num_classes=10)
    x = jax.random.normal(jax.random.key(1), (1, 28, 28, 1))
    variables = model.init(jax.random.key(0), x)
    energy = lambda z: float((interpret.forward(model, variables, z)["conv2"] ** 2).mean())  # noqa: E731
    dream = interpret.deep_dream(
        model, variables, x, "conv2", jax.random.key(0), octaves=2, steps=5, learning_rate=0.05
    )
    assert dream.shape == x.shape
    assert energy(dream) > 1.5 * energy(x)
