"""Pooling over the spatial dimensions of channels-last inputs (B, *spatial, C).

Gradients are the survey's pooling derivatives (../shared/survey/02-cnn-lecture-notes.txt,
"Derivatives of Pooling"), summed over the windows an input falls in: max pooling passes the
gradient to the arg-max only (1 there, 0 elsewhere), average pooling spreads it as 1/m, and
Lp pooling as (sum_k |x_k|^p)^(1/p - 1) |x_i|^(p-1) sign(x_i).
"""

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.ops import cpu_pool, dispatch
from cnnjax.ops.conv import _as_float, positive_tuple
from cnnjax.ops.padding import Padding, check_window_fits, normalize_padding


def _window_args(x, window, strides, padding):
    """Validates a pooling call; returns (x as float, window dims, strides, lax padding)."""
    x = _as_float(x)
    ndim = x.ndim - 2
    if ndim not in (1, 2, 3):
        raise ValueError(f"x of shape {x.shape}: expected (B, *spatial, C) with 1-3 spatial dims")
    window = positive_tuple(window, ndim, "window")
    strides = positive_tuple(window if strides is None else strides, ndim, "strides")
    pad = normalize_padding(padding, ndim)
    check_window_fits(x.shape[1:-1], window, pad, (1,) * ndim, "window")
    if not isinstance(pad, str):
        for k, (low, high) in zip(window, pad, strict=True):
            if low >= k or high >= k:
                raise ValueError(
                    f"padding={padding!r} must be smaller than the window {window} on every side"
                )
        pad = ((0, 0), *pad, (0, 0))
    return x, (1, *window, 1), (1, *strides, 1), pad


def max_pool(
    x: jax.Array,
    window: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> jax.Array:
    """Max pooling; padding never wins (it counts as -inf).

    Args:
      x: (B, *spatial, C) with 1-3 spatial dimensions.
      window, strides: per spatial dimension; strides default to the window (no overlap).
      padding: as in `cnnjax.ops.padding.normalize_padding`, each side smaller than the window.

    Returns:
      (B, *out_spatial, C), out size floor((n + lo + hi - k) / s) + 1.
    """
    x, dims, strides, pad = _window_args(x, window, strides, padding)
    if dispatch.current_path() == "cpu":  # XLA:CPU's own max-pool gradient is slow
        return cpu_pool.max_pool_saved_argmax(x, x.shape, dims, strides, pad)
    return _max_pool(x, dims, strides, pad)


def avg_pool(
    x: jax.Array,
    window: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    count_include_pad: bool = True,
) -> jax.Array:
    """Average pooling (arguments as in `max_pool`).

    Args:
      count_include_pad: divide by the full window size m (True, zeros padded) or by the
        number of real inputs in each window (False).

    Returns:
      (B, *out_spatial, C).
    """
    return _avg_pool(*_window_args(x, window, strides, padding), bool(count_include_pad))


def _check_p(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 1 <= p < math.inf:
        raise ValueError(f"p={p!r} must be a finite number >= 1 (p-norm pooling)")
    return float(p)


def _pth_root(total: jax.Array, p: float) -> jax.Array:
    # Windows of zeros have norm 0; the double `where` keeps their gradient 0 instead of NaN.
    positive = total > 0
    safe = jnp.where(positive, total, 1.0)
    return jnp.where(positive, safe ** (1.0 / p), 0.0)


def lp_pool(
    x: jax.Array,
    window: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    p: float = 2.0,
) -> jax.Array:
    """Lp (p-norm) pooling: ||x_window||_p = (sum |x_k|^p)^(1/p) (Sermanet et al., 2012).

    p = 1 is sum-of-absolute-values pooling; p -> inf approaches max pooling of |x|.

    Args:
      x, window, strides, padding: as in `max_pool` (zeros padded).
      p: finite norm order >= 1.

    Returns:
      (B, *out_spatial, C).
    """
    return _lp_pool(*_window_args(x, window, strides, padding), _check_p(p))


def _spatial_axes(x: jax.Array) -> tuple[int, ...]:
    if x.ndim < 3:
        raise ValueError(f"x of shape {x.shape}: expected (B, *spatial, C)")
    return tuple(range(1, x.ndim - 1))


def global_max_pool(x: jax.Array) -> jax.Array:
    """Maximum over all spatial positions: (B, *spatial, C) → (B, C)."""
    x = _as_float(x)
    return jnp.max(x, axis=_spatial_axes(x))


def global_avg_pool(x: jax.Array) -> jax.Array:
    """Mean over all spatial positions (Lin et al., 2014, "Network in network"): → (B, C)."""
    x = _as_float(x)
    return jnp.mean(x, axis=_spatial_axes(x))


def global_lp_pool(x: jax.Array, p: float = 2.0) -> jax.Array:
    """p-norm over all spatial positions: (B, *spatial, C) → (B, C)."""
    x = _as_float(x)
    return _global_lp_pool(x, _spatial_axes(x), _check_p(p))


# The computations, compiled once per static configuration: as one XLA program each rather
# than one per primitive when called eagerly; inlined when called inside another jit.
@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _max_pool(x, dims, strides, pad):
    return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, pad)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _avg_pool(x, dims, strides, pad, count_include_pad):
    total = lax.reduce_window(x, 0.0, lax.add, dims, strides, pad)
    if count_include_pad:
        return total / math.prod(dims)
    counts = lax.reduce_window(jnp.ones_like(x), 0.0, lax.add, dims, strides, pad)
    return total / counts


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _lp_pool(x, dims, strides, pad, p):
    return _pth_root(lax.reduce_window(jnp.abs(x) ** p, 0.0, lax.add, dims, strides, pad), p)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _global_lp_pool(x, axes, p):
    return _pth_root(jnp.sum(jnp.abs(x) ** p, axis=axes), p)
