"""The layer wrappers every model in the zoo uses (built on `cnnjax.ops`).

Models never call `flax.linen.Conv` or `lax` pooling directly: a faster convolution for
one backend slots in here (`conv`, through `cnnjax.ops.conv_general`) without touching model
files.
"""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax import ops
from cnnjax.ops import dispatch
from cnnjax.ops.batch_norm import batch_norm_train

Dtype = Any
default_kernel_init = nn.initializers.lecun_normal()


def conv(
    x: jax.Array,
    kernel: jax.Array,
    *,
    strides: int | Sequence[int] = 1,
    padding: ops.conv.Padding = "VALID",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> jax.Array:
    """The convolution every zoo layer runs: `cnnjax.ops.conv_general` (same arguments).

    Args:
      x: (B, H, W, C_in).
      kernel: (KH, KW, C_in // groups, C_out).

    Returns:
      (B, H', W', C_out).
    """
    return ops.conv_general(
        x, kernel, strides=strides, padding=padding, dilation=dilation, groups=groups
    )


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
        y = conv(
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


def batch_norm(
    train: bool,
    *,
    dtype: Dtype = jnp.float32,
    name: str | None = None,
    zero_init=False,
    epsilon: float = 1e-5,
    axis_name: str | None = None,
):
    """BatchNorm as every zoo model uses it (PyTorch's defaults: momentum 0.9, epsilon 1e-5).

    Args:
      train: normalise with batch statistics and update the running ones in `batch_stats`;
        otherwise use the running statistics.
      dtype: compute dtype; scale, bias and statistics stay float32.
      name: submodule name (e.g. `bn1`).
      zero_init: start the scale (gamma) at zero, e.g. for the last BN of a residual branch
        (Goyal et al., 2017) so that each block starts as the identity.
      epsilon: added to the variance; TensorFlow-trained networks (EfficientNet) use 1e-3,
        and their imported statistics are only right with it.
      axis_name: in training, average the batch mean and variance over this mapped axis (the
        statistics of the global batch: cross-replica BatchNorm under `pmap`; Ioffe &
        Szegedy, 2015, normalise over the whole mini-batch); None: this device's examples.
    """
    return BatchNorm(
        use_running_average=not train,
        momentum=0.9,
        epsilon=epsilon,
        dtype=dtype,
        scale_init=nn.initializers.zeros_init() if zero_init else nn.initializers.ones_init(),
        axis_name=axis_name,
        name=name,
    )


class BatchNorm(nn.BatchNorm):
    """`flax.linen.BatchNorm` (the same fields, variables and outputs) whose training pass on
    the CPU path of `cnnjax.ops.dispatch` differentiates with `cnnjax.ops.batch_norm_train`'s
    hand-written backward pass instead of XLA's autodiff of flax's formula.

    Configurations that function does not cover (a feature axis other than the last, a mask,
    no scale or bias, reduced precision, `axis_index_groups`, the exact-variance option) run
    flax's code, as do initialisation and inference.
    """

    @nn.compact
    def __call__(self, x, use_running_average: bool | None = None, *, mask=None):
        running = nn.merge_param(
            "use_running_average", self.use_running_average, use_running_average
        )
        if running or self.is_initializing() or not self._hand_written_fits(x, mask):
            return super().__call__(x, use_running_average, mask=mask)
        features = (x.shape[-1],)
        ra_mean = self.variable("batch_stats", "mean", jnp.zeros, features, jnp.float32)
        ra_var = self.variable("batch_stats", "var", jnp.ones, features, jnp.float32)
        scale = self.param("scale", self.scale_init, features, self.param_dtype)
        bias = self.param("bias", self.bias_init, features, self.param_dtype)
        y, mean, var = batch_norm_train(x, scale, bias, self.epsilon, self.axis_name)
        ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
        ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
        return y

    def _hand_written_fits(self, x, mask) -> bool:
        float32 = (None, jnp.float32)
        return (
            dispatch.current_path() == "cpu"
            and mask is None
            and x.ndim >= 2
            and self.axis in (-1, x.ndim - 1)
            and self.use_scale
            and self.use_bias
            and self.use_fast_variance
            and self.force_float32_reductions
            and self.axis_index_groups is None
            and x.dtype == jnp.float32
            and self.dtype in float32
            and self.param_dtype == jnp.float32
        )


def with_batch_norm_axis(model: nn.Module, axis_name: str | None) -> nn.Module:
    """`model` whose BatchNorm layers average their batch statistics over `axis_name`.

    Models with BatchNorm carry a `bn_axis_name` field that they pass down to every
    `batch_norm(..., axis_name=...)`; a model without that field has no BatchNorm and is
    returned as it is.

    Args:
      model: a linen module.
      axis_name: the mapped axis (e.g. the `pmap` engine's `data`), or None.

    Returns:
      `model.clone(bn_axis_name=axis_name)`, or `model`.
    """
    if "bn_axis_name" not in {f.name for f in dataclasses.fields(model)}:
        return model
    return model.clone(bn_axis_name=axis_name)


def local_response_norm(
    x: jax.Array, k: float = 2.0, n: int = 5, alpha: float = 1e-4, beta: float = 0.75
) -> jax.Array:
    """Cross-channel LRN (`cnnjax.ops.local_response_norm`), computed in float32.

    The power of `k + alpha * sum a^2` loses most of its digits in bfloat16, so the
    normalisation runs in float32 and the result is cast back to `x.dtype`.
    """
    return ops.local_response_norm(x.astype(jnp.float32), k, n, alpha, beta).astype(x.dtype)


Window = tuple[int, int, int | str]  # (kernel, stride, padding) along one spatial axis


def _output_size(size: int, window: Window) -> int:
    kernel, stride, padding = window
    if padding == "SAME":
        return -(-size // stride)
    padding = 0 if padding == "VALID" else padding
    return (size + 2 * padding - kernel) // stride + 1 if size + 2 * padding >= kernel else 0


def smallest_input(path: Sequence[Window]) -> int:
    """Smallest H (= W) a chain of convolutions and poolings accepts.

    That is the smallest size for which every layer on `path` has a non-empty output, and at
    least the total stride, so that the last feature map is not made of padding alone.

    Args:
      path: the (kernel, stride, padding) of each layer from input to the last feature map;
        padding is an int per side, "VALID" or "SAME".

    Returns:
      e.g. 67 for AlexNet (11/4 valid conv, three 3/2 valid max-pools).
    """
    total_stride = 1
    for _, stride, _ in path:
        total_stride *= stride
    size = 1
    while True:
        out = size
        for window in path:
            out = _output_size(out, window)
            if out < 1:
                break
        if out >= 1:
            return max(size, total_stride)
        size += 1


def check_input_size(x: jax.Array, min_size: int, model: str) -> None:
    """Raises a ValueError (at trace time, before any compile) if x is not (B, H, W, C) with
    H, W >= min_size."""
    if x.ndim != 4:
        raise ValueError(f"{model} expects a (B, H, W, C) input, got shape {tuple(x.shape)}")
    height, width = x.shape[1], x.shape[2]
    if min(height, width) < min_size:
        raise ValueError(
            f"{model} needs inputs of at least {min_size}x{min_size} pixels, "
            f"got {height}x{width} (input shape {tuple(x.shape)})"
        )
