"""Tiny models with known closed-form gradients for the interpret tests."""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.models import layers
from cnnjax.models.intermediates import record


class Linear(nn.Module):
    """logits = flatten(x) @ W + b: its saliency for class c is exactly W[:, c]."""

    num_classes: int = 3

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        return nn.Dense(self.num_classes, name="logits")(x.reshape(x.shape[0], -1))


class OneHidden(nn.Module):
    """logits = act(flatten(x) @ W1) @ W2: guided backprop has a one-line numpy reference."""

    activation: Callable = jax.nn.relu
    hidden: int = 16
    num_classes: int = 3

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        h = nn.Dense(self.hidden, use_bias=False, name="fc1")(x.reshape(x.shape[0], -1))
        h = record(self, "fc1", self.activation(h))
        return nn.Dense(self.num_classes, use_bias=False, name="logits")(h)


class ConvGap(nn.Module):
    """conv -> relu -> global average pool -> dense: Grad-CAM reduces to CAM (Zhou et al., 2016)."""

    num_classes: int = 4

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        x = record(self, "conv1", nn.relu(layers.Conv(4, 3, name="conv1")(x)))
        x = record(self, "conv2", nn.relu(layers.Conv(6, 3, name="conv2")(x)))
        return nn.Dense(self.num_classes, name="logits")(jnp.mean(x, axis=(1, 2)))


def init(model, shape, seed: int = 0):
    """(variables, images) of `model` for a batch of `shape` standard normal images."""
    x = jax.random.normal(jax.random.key(seed + 1), shape)
    return model.init(jax.random.key(seed), x), x
