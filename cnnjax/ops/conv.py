"""Convolution as in deep-learning frameworks (cross-correlation), channels-last.

Every convolution in cnnjax goes through `conv_general`, the one place where the backend's
implementation is chosen (`cnnjax.ops.dispatch`): on CPU, 2-D convolutions run in the forms of
`cnnjax.ops.cpu_conv` (same results); GPUs and TPUs keep XLA's native convolution.
`conv1d`, `conv2d` and `conv3d` add unbatched inputs and single-filter kernels on top of it: a
(KH, KW, C) filter spanning the whole depth of an (H, W, C) image gives one 2-D feature map, as
in the survey notes (../shared/survey/01-convolution-and-cnns.txt, "What about 3D convolutions?").

Bad arguments raise a `ValueError` naming the value before anything is traced or compiled.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.ops import cpu_conv, dispatch
from cnnjax.ops.padding import Padding, check_window_fits, is_int, normalize_padding


def _tuple(value: int | Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    """An int broadcast to `ndim` entries, or a sequence of exactly `ndim` ints."""
    if is_int(value):
        return (int(value),) * ndim
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{name}={value!r} must be an int or a sequence of {ndim} ints") from None
    if len(items) != ndim or not all(is_int(v) for v in items):
        raise ValueError(f"{name}={value!r} must be an int or a sequence of {ndim} ints")
    return tuple(int(v) for v in items)


def positive_tuple(value: int | Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    """Like `_tuple`, and every entry must be >= 1 (strides, dilations, windows)."""
    values = _tuple(value, ndim, name)
    if any(v < 1 for v in values):
        raise ValueError(f"{name}={value!r} must be positive (>= 1)")
    return values


def _as_float(x: jax.Array) -> jax.Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))


def conv_general(
    x: jax.Array,
    kernel: jax.Array,
    *,
    strides: int | Sequence[int] = 1,
    padding: Padding = "VALID",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> jax.Array:
    """N-d cross-correlation of a batched channels-last input (N = 1, 2 or 3).

    out[b, o, co] = sum_{w, ci} x_pad[b, o * s + w * d, g(co) * C_in/groups + ci] kernel[w, ci, co]
    where g(co) is the group of output channel co.

    Args:
      x: (B, *spatial, C_in); integer inputs are promoted to float.
      kernel: (*window, C_in // groups, C_out); cast to x's dtype.
      strides, padding, dilation: per spatial dimension (an int applies to all); padding as in
        `cnnjax.ops.padding.normalize_padding`. Output size per dimension:
        floor((n + lo + hi - (k-1)d - 1) / s) + 1.
      groups: feature groups (C_in and C_out divisible by it); groups = C_in is depthwise.

    Returns:
      (B, *out_spatial, C_out).
    """
    x, kernel = _as_float(x), jnp.asarray(kernel)
    ndim = x.ndim - 2
    if ndim not in (1, 2, 3):
        raise ValueError(f"x of shape {x.shape}: expected (B, *spatial, C) with 1-3 spatial dims")
    if kernel.ndim != ndim + 2:
        raise ValueError(
            f"kernel of shape {kernel.shape} does not fit an input of shape {x.shape}: "
            f"expected (*window[{ndim}], C_in // groups, C_out)"
        )
    if not is_int(groups) or groups < 1:
        raise ValueError(f"groups={groups!r} must be a positive int")
    c_in, c_out = x.shape[-1], kernel.shape[-1]
    if c_in != kernel.shape[-2] * groups:
        raise ValueError(
            f"input has {c_in} channels but the kernel of shape {kernel.shape} expects "
            f"{kernel.shape[-2]} x {groups} groups = {kernel.shape[-2] * groups}"
        )
    if c_out % groups:
        raise ValueError(f"{c_out} output channels are not divisible by groups={groups}")
    strides = positive_tuple(strides, ndim, "strides")
    dilation = positive_tuple(dilation, ndim, "dilation")
    padding = normalize_padding(padding, ndim)
    check_window_fits(x.shape[1:-1], kernel.shape[:-2], padding, dilation, "kernel")
    if ndim == 2 and dispatch.current_path() == "cpu":
        return cpu_conv.conv2d_cpu(x, kernel.astype(x.dtype), strides, padding, dilation, groups)
    spatial = "DHW"[-ndim:]
    return lax.conv_general_dilated(
        x,
        kernel.astype(x.dtype),
        window_strides=strides,
        padding=padding,
        rhs_dilation=dilation,
        dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"),
        feature_group_count=groups,
    )


def _conv_nd(x, kernel, ndim: int, name: str, **kwargs) -> jax.Array:
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    if x.ndim not in (ndim + 1, ndim + 2):
        raise ValueError(
            f"{name}: x of shape {x.shape} must be (*spatial[{ndim}], C) or (B, *spatial, C)"
        )
    if kernel.ndim not in (ndim + 1, ndim + 2):
        raise ValueError(
            f"{name}: kernel of shape {kernel.shape} must be (*window[{ndim}], C_in, C_out) "
            f"or a single filter (*window[{ndim}], C_in)"
        )
    single_filter = kernel.ndim == ndim + 1
    unbatched = x.ndim == ndim + 1
    y = conv_general(
        x[None] if unbatched else x, kernel[..., None] if single_filter else kernel, **kwargs
    )
    y = y[0] if unbatched else y
    return y[..., 0] if single_filter else y


def conv1d(
    x: jax.Array,
    kernel: jax.Array,
    *,
    strides: int | Sequence[int] = 1,
    padding: Padding = "VALID",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> jax.Array:
    """1-D cross-correlation (see `conv_general` for the arguments).

    Args:
      x: (W, C_in) or (B, W, C_in).
      kernel: (K, C_in // groups, C_out), or one filter (K, C_in // groups).

    Returns:
      (W', C_out) / (B, W', C_out); without the channel axis for a single filter.
    """
    kwargs = dict(strides=strides, padding=padding, dilation=dilation, groups=groups)
    return _conv_nd(x, kernel, 1, "conv1d", **kwargs)


def conv2d(
    x: jax.Array,
    kernel: jax.Array,
    *,
    strides: int | Sequence[int] = 1,
    padding: Padding = "VALID",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> jax.Array:
    """2-D cross-correlation (see `conv_general` for the arguments).

    Args:
      x: (H, W, C_in) or (B, H, W, C_in).
      kernel: (KH, KW, C_in // groups, C_out), or one filter (KH, KW, C_in // groups): a filter
        spanning the whole depth of an RGB image gives a single 2-D map.

    Returns:
      (H', W', C_out) / (B, H', W', C_out); (H', W') / (B, H', W') for a single filter.
    """
    kwargs = dict(strides=strides, padding=padding, dilation=dilation, groups=groups)
    return _conv_nd(x, kernel, 2, "conv2d", **kwargs)


def conv3d(
    x: jax.Array,
    kernel: jax.Array,
    *,
    strides: int | Sequence[int] = 1,
    padding: Padding = "VALID",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> jax.Array:
    """3-D cross-correlation (see `conv_general` for the arguments).

    Args:
      x: (D, H, W, C_in) or (B, D, H, W, C_in).
      kernel: (KD, KH, KW, C_in // groups, C_out), or one filter (KD, KH, KW, C_in // groups).

    Returns:
      (D', H', W', C_out) / (B, D', H', W', C_out); without the channel axis for one filter.
    """
    kwargs = dict(strides=strides, padding=padding, dilation=dilation, groups=groups)
    return _conv_nd(x, kernel, 3, "conv3d", **kwargs)
