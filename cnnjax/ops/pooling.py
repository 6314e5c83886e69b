"""Pooling over the spatial dimensions of channels-last inputs."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.ops.conv import Padding, _tuple, normalize_padding


def _window_args(x, window, strides, padding):
    ndim = x.ndim - 2
    window = _tuple(window, ndim, "window")
    strides = _tuple(window if strides is None else strides, ndim, "strides")
    pad = normalize_padding(padding, ndim)
    if not isinstance(pad, str):
        pad = ((0, 0), *pad, (0, 0))
    return (1, *window, 1), (1, *strides, 1), pad


def max_pool(
    x: jax.Array,
    window: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> jax.Array:
    """Max pooling; x is (B, *spatial, C). Strides default to the window (no overlap)."""
    dims, strides, pad = _window_args(x, window, strides, padding)
    return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, pad)


def avg_pool(
    x: jax.Array,
    window: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    count_include_pad: bool = True,
) -> jax.Array:
    """Average pooling; x is (B, *spatial, C)."""
    dims, strides, pad = _window_args(x, window, strides, padding)
    total = lax.reduce_window(x, 0.0, lax.add, dims, strides, pad)
    if count_include_pad:
        return total / jnp.prod(jnp.array(dims))
    counts = lax.reduce_window(jnp.ones_like(x), 0.0, lax.add, dims, strides, pad)
    return total / counts
