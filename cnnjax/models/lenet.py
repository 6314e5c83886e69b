"""LeNet-5 (LeCun et al., 1998, "Gradient-based learning applied to document recognition").

`LeNet5` is the modern variant: 28x28x1 input, ReLU, max-pooling, C1-C3-F5-F6-output with
6-16-120-84-10 units (61,706 parameters at 10 classes).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.models import layers
from cnnjax.models.intermediates import record
from cnnjax.models.registry import register_model


class LeNet5(nn.Module):
    """Modern LeNet-5. Input (B, 28, 28, C) → logits (B, num_classes)."""

    num_classes: int = 10
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        del train  # no dropout or BatchNorm in LeNet-5
        conv = lambda f, k, p, name: layers.Conv(f, k, padding=p, dtype=self.dtype, name=name)
        x = record(self, "conv1", nn.relu(conv(6, 5, 2, "conv1")(x)))  # (B, 28, 28, 6)
        x = record(self, "pool1", layers.max_pool(x, 2))  # (B, 14, 14, 6)
        x = record(self, "conv2", nn.relu(conv(16, 5, 0, "conv2")(x)))  # (B, 10, 10, 16)
        x = record(self, "pool2", layers.max_pool(x, 2))  # (B, 5, 5, 16)
        x = x.reshape(x.shape[0], -1)  # (B, 400)
        x = record(self, "fc1", nn.relu(nn.Dense(120, dtype=self.dtype, name="fc1")(x)))
        x = record(self, "pre_logits", nn.relu(nn.Dense(84, dtype=self.dtype, name="fc2")(x)))
        return nn.Dense(self.num_classes, dtype=self.dtype, name="logits")(x)


@register_model("lenet5", input_shape=(28, 28, 1), min_input_size=28)
def lenet5(num_classes: int = 10, **kwargs) -> nn.Module:
    return LeNet5(num_classes=num_classes, **kwargs)
