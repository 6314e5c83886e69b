"""The reproduction configs: valid for the engine, runnable as their docstrings say, and their
learning-rate schedules are the papers' (checked through the engine's own schedule builder)."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models
from cnnjax.data import preprocess
from cnnjax.data.datasets import Dataset
from cnnjax.train import config as config_lib
from cnnjax.train import optim

CONFIGS = [
    "lenet5_mnist",
    "lenet5_modern_mnist",
    "lenet5_fashion_mnist",
    "alexnet_imagenet",
    "vgg16_imagenet",
    "vgg16_cifar10",
    "resnet20_cifar10",
    "resnet50_imagenet",
    "googlenet_imagenet",
]


def load(name):
    return importlib.import_module(f"experiments.configs.{name}")


@pytest.mark.parametrize("name", CONFIGS)
def test_config_is_valid_and_documented(name):
    module = load(name)
    config = module.get_config()
    config_lib.validate(config)  # every key known, every name accepted
    assert config.model in models.list_models()
    models.create_model(config.model, num_classes=10, **config.model_kwargs)
    doc = module.__doc__
    assert f"python -m experiments.train --config=experiments/configs/{name}.py" in doc
    assert "Paper:" in doc or "Reference:" in doc
    assert "Recipe" in doc and "--config.num_steps=" in doc


def learning_rates(name, updates_per_epoch, total_updates, at, **overrides):
    config = load(name).get_config()
    config.update(overrides)
    schedule = optim.build_schedule(
        config.learning_rate, updates_per_epoch, total_updates, **config.schedule
    )
    return [float(schedule(step)) for step in at]


def test_resnet20_divides_by_10_at_32k_and_48k_iterations():
    rates = learning_rates("resnet20_cifar10", 390, 64_000, [0, 31_999, 32_000, 48_000, 63_999])
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.001, 0.001])


def test_lenet5_follows_the_papers_global_learning_rate_ratios():
    """LeCun et al. 1998, §III-B: 0.0005, 0.0002, 0.0001, 0.00005, 0.00001 after 2, 5, 8, 12 passes.

    The config trains with a cosine decay (it generalised better here) and keeps the paper's steps
    one flag away: `--config.schedule.name=piecewise`."""
    epochs = [0, 2, 5, 8, 12, 19]
    at = [100 * e for e in epochs]
    rates = learning_rates("lenet5_mnist", 100, 2000, at, schedule={"name": "piecewise"})
    paper = [5e-4, 2e-4, 1e-4, 5e-5, 1e-5, 1e-5]
    assert [r / rates[0] for r in rates] == pytest.approx([p / paper[0] for p in paper])


def test_googlenet_decreases_the_learning_rate_4_percent_every_8_epochs():
    rates = learning_rates("googlenet_imagenet", 100, 9000, [0, 800, 1600])
    assert rates == pytest.approx([0.04, 0.04 * 0.96, 0.04 * 0.96**2])


def test_lenet5_mnist_feeds_the_papers_input_range():
    """LeCun et al. 1998 §II-B: background (and the 2-pixel padding to 32x32) -0.1, ink 1.175."""
    config = load("lenet5_mnist").get_config()
    mnist = Dataset("toy", {}, 10, (28, 28, 1), tuple("0123456789"), (0.1307,), (0.3081,))
    fn = preprocess.build(
        mnist,
        config.data.input_shape,
        resize=config.data.resize,
        input_range=config.data.input_range,
    )
    digit = np.zeros((1, 28, 28, 1), np.uint8)
    digit[0, 10:18, 13:15] = 255  # a stroke
    x = np.asarray(fn(digit))[0, ..., 0]
    assert x.shape == (32, 32)
    assert x[0, 0] == pytest.approx(-0.1) and x[12, 12] == pytest.approx(-0.1)
    assert x[12, 15] == pytest.approx(1.175)


DECAYED = {
    "lenet5_mnist": {"C1/kernel", "C3/connections", "C5/kernel", "F6/kernel", "output/kernel"},
    "lenet5_modern_mnist": {
        "conv1/kernel", "conv2/kernel", "fc1/kernel", "fc2/kernel", "logits/kernel"
    },
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DECAYED))
def test_lenet5_configs_decay_the_weights_but_not_biases_or_subsampling_coefficients(name):
    """With a zero gradient, one AdamW update of the config's optimizer is w ← w (1 − lr·wd) on the
    kernels (and C3's connections) and leaves every 1-d parameter (biases, the subsampling
    coefficients of the classic net) alone."""
    config = load(name).get_config()
    assert config.optimizer == "adamw" and config.optim.weight_decay > 0
    model = models.create_model(config.model, num_classes=10, **config.model_kwargs)
    shape = config.data.input_shape or models.get_model_spec(config.model).input_shape
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, *shape)))["params"]
    params = jax.tree.map(lambda p: p + 0.1, params)  # biases start at 0: make decay visible
    schedule = optim.build_schedule(config.learning_rate, 100, 2000, **config.schedule)
    o = config.optim
    tx = optim.build_optimizer(config.optimizer, schedule, weight_decay=o.weight_decay)
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    factor = float(schedule(0)) * config.optim.weight_decay
    flat = {
        "/".join(k.key for k in path): (leaf, update)
        for (path, leaf), update in zip(
            jax.tree_util.tree_leaves_with_path(params), jax.tree.leaves(updates), strict=True
        )
    }
    assert {n for n, (leaf, _) in flat.items() if leaf.ndim > 1} == DECAYED[name]
    for n, (leaf, update) in flat.items():
        expected = -factor * leaf if n in DECAYED[name] else jnp.zeros_like(leaf)
        np.testing.assert_allclose(update, expected, rtol=1e-5, atol=1e-12, err_msg=n)
