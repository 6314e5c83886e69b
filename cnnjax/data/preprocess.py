"""On-device preprocessing: uint8 images → normalised float arrays."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp


def normalize(
    images: jax.Array, mean: Sequence[float], std: Sequence[float], dtype=jnp.float32
) -> jax.Array:
    """(B, H, W, C) uint8 in [0, 255] → (x / 255 - mean) / std in `dtype`."""
    images = images.astype(jnp.float32) / 255.0
    mean = jnp.asarray(mean, jnp.float32)
    std = jnp.asarray(std, jnp.float32)
    return ((images - mean) / std).astype(dtype)
