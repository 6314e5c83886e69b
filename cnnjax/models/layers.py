"""The layer wrappers every model in the zoo uses (built on `cnnjax.ops`).

Models never call `flax.linen.Conv` or `lax` pooling directly: a faster convolution for
one backend slots in here (through `cnnjax.ops.conv_general`) without touching model files.
"""

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax import ops

Dtype = Any
default_kernel_init = nn.initializers.lecun_normal()


class Conv(nn.Module):
    """2-D convolution layer: kernel (KH, KW, C_in // groups, features) and optional bias.

    Attributes mirror `cnnjax.ops.conv_general`; `dtype` is the compute dtype, parameters
    are stored in `param_dtype`.
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] = 1
    padding: ops.conv.Padding = "SAME"
    dilation: int | Sequence[int] = 1
    groups: int = 1
    use_bias: bool = True
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32
    kernel_init: Callable = default_kernel_init
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        window = ops.conv._tuple(self.kernel_size, 2, "kernel_size")
        in_features = x.shape[-1]
        if in_features % self.groups or self.features % self.groups:
            raise ValueError(
                f"{self.name}: channels in={in_features}, out={self.features} must both be "
                f"divisible by groups={self.groups}"
            )
        kernel = self.param(
            "kernel",
            self.kernel_init,
            (*window, in_features // self.groups, self.features),
            self.param_dtype,
        )
        y = ops.conv_general(
            x.astype(self.dtype),
            kernel.astype(self.dtype),
            strides=self.strides,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
        )
        if self.use_bias:
            bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            y = y + bias.astype(self.dtype)
        return y


def max_pool(x: jax.Array, window: int, strides: int | None = None, padding="VALID"):
    """Max pooling layer (B, H, W, C) → (B, H', W', C)."""
    return ops.max_pool(x, window, strides, padding)


def avg_pool(x: jax.Array, window: int, strides: int | None = None, padding="VALID"):
    """Average pooling layer (B, H, W, C) → (B, H', W', C)."""
    return ops.avg_pool(x, window, strides, padding)


def global_avg_pool(x: jax.Array) -> jax.Array:
    """(B, H, W, C) → (B, C)."""
    return jnp.mean(x, axis=(1, 2))
