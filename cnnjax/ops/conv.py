"""Convolution as in deep-learning frameworks (cross-correlation), channels-last.

Every convolution in cnnjax goes through `conv_general`, so a faster backend-specific
implementation can slot in at this one place.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

Padding = str | int | Sequence[int] | Sequence[tuple[int, int]]


def _tuple(value: int | Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * ndim
    value = tuple(int(v) for v in value)
    if len(value) != ndim:
        raise ValueError(f"{name}={value} must be an int or a sequence of {ndim} ints")
    return value


def normalize_padding(padding: Padding, ndim: int) -> str | tuple[tuple[int, int], ...]:
    """Returns "SAME"/"VALID" or one (low, high) pair per spatial dimension."""
    if isinstance(padding, str):
        upper = padding.upper()
        if upper not in ("SAME", "VALID"):
            raise ValueError(f"padding={padding!r}: accepted are 'SAME', 'VALID', ints or pairs")
        return upper
    if isinstance(padding, int):
        pairs = ((padding, padding),) * ndim
    else:
        items = list(padding)
        if len(items) != ndim:
            raise ValueError(f"padding={padding!r} must give {ndim} spatial entries")
        pairs = tuple((p, p) if isinstance(p, int) else tuple(p) for p in items)
    for low, high in pairs:
        if low < 0 or high < 0:
            raise ValueError(f"padding={padding!r} is negative; padding must be >= 0")
    return tuple((int(low), int(high)) for low, high in pairs)


def conv_general(
    x: jax.Array,
    kernel: jax.Array,
    *,
    strides: int | Sequence[int] = 1,
    padding: Padding = "VALID",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> jax.Array:
    """N-d cross-correlation of a batched channels-last input.

    Args:
      x: (B, *spatial, C_in).
      kernel: (*window, C_in // groups, C_out).
      strides, padding, dilation: per spatial dimension (an int applies to all).
      groups: feature groups (C_in and C_out divisible by it).

    Returns:
      (B, *out_spatial, C_out).
    """
    ndim = x.ndim - 2
    if kernel.ndim != ndim + 2:
        raise ValueError(f"kernel of rank {kernel.ndim} does not fit an input of rank {x.ndim}")
    if x.shape[-1] != kernel.shape[-2] * groups:
        raise ValueError(
            f"input has {x.shape[-1]} channels but the kernel expects "
            f"{kernel.shape[-2]} x {groups} groups = {kernel.shape[-2] * groups}"
        )
    spatial = "DHW"[-ndim:] if ndim <= 3 else None
    if spatial is None:
        raise ValueError(f"only 1-3 spatial dimensions are supported, got {ndim}")
    dimension_numbers = (f"N{spatial}C", f"{spatial}IO", f"N{spatial}C")
    return lax.conv_general_dilated(
        x,
        kernel.astype(x.dtype),
        window_strides=_tuple(strides, ndim, "strides"),
        padding=normalize_padding(padding, ndim),
        rhs_dilation=_tuple(dilation, ndim, "dilation"),
        dimension_numbers=dimension_numbers,
        feature_group_count=groups,
    )


def conv2d(x: jax.Array, kernel: jax.Array, **kwargs) -> jax.Array:
    """2-D cross-correlation; x is (H, W, C) or (B, H, W, C), kernel (KH, KW, C_in, C_out)."""
    if x.ndim == 3:
        return conv_general(x[None], kernel, **kwargs)[0]
    return conv_general(x, kernel, **kwargs)

