"""Local response normalisation (Krizhevsky et al., 2012, §3.3)."""

import jax
import jax.numpy as jnp
from jax import lax


def local_response_norm(
    x: jax.Array, k: float = 2.0, n: int = 5, alpha: float = 1e-4, beta: float = 0.75
) -> jax.Array:
    """Cross-channel LRN: b_i = a_i / (k + alpha * sum_{j=i-n/2}^{i+n/2} a_j^2) ** beta.

    Args:
      x: (..., C) channels-last activations.
      k, n, alpha, beta: AlexNet's hyper-parameters (2, 5, 1e-4, 0.75); the sum runs over the
        `n` channels centred on i, clipped at the ends.

    Returns:
      Array of the same shape as x.
    """
    squared = jnp.square(x)
    half = n // 2
    window = (1,) * (x.ndim - 1) + (n,)
    padding = ((0, 0),) * (x.ndim - 1) + ((half, n - 1 - half),)
    sums = lax.reduce_window(squared, 0.0, lax.add, window, (1,) * x.ndim, padding)
    return x / jnp.power(k + alpha * sums, beta)
