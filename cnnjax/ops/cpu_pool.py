"""Max pooling whose gradient XLA:CPU runs fast: the arg-max is saved as a small integer.

XLA differentiates `reduce_window(max)` with `select_and_scatter`, which XLA:CPU runs slowly
(44 ms at 64x32x32x64 on a 2-core machine, ../shared/bench/README.md). Here the forward pass
also records, per output, which window tap held the maximum (int8 for windows of up to 127
taps), and the backward pass routes each output gradient to that tap: one fused select and pad
per tap, ~1 ms. The index is saved, never recomputed from `x == max` in the backward pass: XLA
may recompute `x` with other rounding there and drop gradients.

Ties: the first maximal tap in row-major window order takes the whole gradient, which is also
what XLA's `select_and_scatter` (with `>=`) does. Padding is -inf and never wins unless a whole
window is padding. `max_pool_saved_argmax` is a `jax.custom_vjp`: reverse-mode only (no jvp).
"""

import functools
import itertools

import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.ops.padding import explicit_padding


def _geometry(shape, dims, strides, pad):
    """Padded shape, output shape and the window taps (offset per dimension) of a pooling."""
    pads = explicit_padding(shape, dims, strides, (1,) * len(shape), pad)
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(shape, pads, strict=True))
    out = tuple((n - k) // s + 1 for n, k, s in zip(padded, dims, strides, strict=True))
    taps = list(itertools.product(*(range(k) for k in dims)))
    return pads, padded, out, taps


def _index_dtype(count: int):
    return jnp.int8 if count <= 127 else jnp.int16 if count <= 32767 else jnp.int32


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def max_pool_saved_argmax(x: jax.Array, shape, dims, strides, pad) -> jax.Array:
    """`reduce_window(x, -inf, max, dims, strides, pad)` with the saved-arg-max gradient.

    Args:
      x: (B, *spatial, C) float.
      shape: `x.shape` (static, needed by the backward pass).
      dims, strides: window and strides per dimension of x, 1 on batch and channels.
      pad: "SAME", "VALID" or a (low, high) pair per dimension of x.

    Returns:
      (B, *out_spatial, C).
    """
    return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, pad)


def _forward(x, shape, dims, strides, pad):
    pads, _, out, taps = _geometry(shape, dims, strides, pad)
    xp = lax.pad(x, jnp.asarray(-jnp.inf, x.dtype), [(lo, hi, 0) for lo, hi in pads])
    best, index = None, None
    for t, offsets in enumerate(taps):
        limits = [o + (n - 1) * s + 1 for o, n, s in zip(offsets, out, strides, strict=True)]
        tap = lax.slice(xp, offsets, limits, strides)  # (B, *out_spatial, C): tap t of each window
        if best is None:
            best, index = tap, jnp.zeros(out, _index_dtype(len(taps)))
        else:
            better = tap > best  # strict: the first maximal tap keeps the gradient
            best = jnp.where(better, tap, best)
            index = jnp.where(better, jnp.asarray(t, index.dtype), index)
    return best, index


def _backward(shape, dims, strides, pad, index, dy):
    pads, padded, out, taps = _geometry(shape, dims, strides, pad)
    dxp = jnp.zeros(padded, dy.dtype)
    zero = jnp.zeros((), dy.dtype)
    for t, offsets in enumerate(taps):
        routed = jnp.where(index == t, dy, zero)  # (B, *out_spatial, C)
        config = [
            (o, p - o - (n - 1) * s - 1, s - 1)  # back to positions o, o + s, ... of the input
            for o, p, n, s in zip(offsets, padded, out, strides, strict=True)
        ]
        dxp = dxp + lax.pad(routed, zero, config)
    starts = [lo for lo, _ in pads]
    return (lax.slice(dxp, starts, [lo + n for lo, n in zip(starts, shape, strict=True)]),)


max_pool_saved_argmax.defvjp(_forward, _backward)
