"""Local response normalisation (Krizhevsky et al., 2012, §3.3)."""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.ops.conv import _as_float
from cnnjax.ops.padding import is_int


def local_response_norm(
    x: jax.Array, k: float = 2.0, n: int = 5, alpha: float = 1e-4, beta: float = 0.75
) -> jax.Array:
    """Cross-channel LRN: b_i = a_i / (k + alpha * sum_j a_j^2) ** beta.

    As in the AlexNet paper, j runs from max(0, i - n//2) to min(C - 1, i + n//2) for odd n
    (clipped at the ends) and alpha is *not* divided by n (PyTorch's LocalResponseNorm divides
    it). An even n takes the n channels i - n//2 .. i + n//2 - 1.

    Args:
      x: (..., C) channels-last activations; integer inputs are promoted to float.
      k, n, alpha, beta: AlexNet's hyper-parameters (2, 5, 1e-4, 0.75).

    Returns:
      Array of the same shape as x.
    """
    if not is_int(n) or n < 1:
        raise ValueError(f"n={n!r} must be a positive int (number of adjacent channels)")
    x = _as_float(x)
    if x.ndim < 1:
        raise ValueError(f"x of shape {x.shape}: expected (..., C)")
    return _local_response_norm(x, float(k), int(n), float(alpha), float(beta))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _local_response_norm(x, k, n, alpha, beta):
    squared = jnp.square(x)
    half = n // 2
    window = (1,) * (x.ndim - 1) + (n,)
    padding = ((0, 0),) * (x.ndim - 1) + ((half, n - 1 - half),)
    sums = lax.reduce_window(squared, 0.0, lax.add, window, (1,) * x.ndim, padding)
    return x / jnp.power(k + alpha * sums, beta)
