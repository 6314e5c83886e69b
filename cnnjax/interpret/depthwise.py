"""Depthwise convolutions as sums of shifted, scaled copies of the input.

XLA:CPU (jax 0.10) has no fast kernel for grouped convolutions: it emits a generic loop for
`conv_general_dilated` with `feature_group_count > 1`. A k x k depthwise convolution is k^2
strided slices of the padded input, each scaled by one kernel tap per channel and summed —
element-wise work that XLA fuses. Measured on 2 busy CPU cores, a 3x3 depthwise convolution of a
(1, 112, 112, 96) activation takes 6.5 ms this way against 111 ms as a grouped convolution; the
two agree to float rounding (4e-6). Depthwise networks (MobileNet, EfficientNet: Howard et al.,
2017; Tan & Le, 2019) spend most of their CPU time there.

`cnnjax.interpret.rewrite` swaps it in for every depthwise convolution of a model's traced
program; nothing in the models changes.
"""

import jax
from jax import lax

# NHWC input, HWIO kernel, NHWC output: flax's layout, as jax writes it in a jaxpr.
_FLAX_LAYOUT = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1),
                                        out_spec=(0, 3, 1, 2))  # fmt: skip


def is_depthwise(eqn) -> bool:
    """Whether a jaxpr equation is a depthwise convolution `depthwise` computes: flax layout,
    one input channel per group, one output channel per input channel, no input dilation."""
    if eqn.primitive.name != "conv_general_dilated":
        return False
    p = eqn.params
    lhs, rhs = eqn.invars[0].aval, eqn.invars[1].aval
    return (
        p["dimension_numbers"] == _FLAX_LAYOUT
        and p["batch_group_count"] == 1
        and all(d == 1 for d in p["lhs_dilation"])
        and len(lhs.shape) == 4
        and p["feature_group_count"] == lhs.shape[3] > 1
        and rhs.shape[2] == 1
        and rhs.shape[3] == lhs.shape[3]
    )


def depthwise(
    x: jax.Array,
    kernel: jax.Array,
    window_strides: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    rhs_dilation: tuple[int, int] = (1, 1),
) -> jax.Array:
    """`lax.conv_general_dilated(x, kernel, ..., feature_group_count=C)` in flax's layout.

    Args:
      x: (B, H, W, C) input.
      kernel: (kh, kw, 1, C) one filter per channel.
      window_strides, padding, rhs_dilation: as `lax.conv_general_dilated` takes them
        (padding as explicit (low, high) pairs; negative values crop).

    Returns:
      (B, H', W', C), H' = (H + pads - (kh - 1) * dilation - 1) // stride + 1.
    """
    kh, kw = kernel.shape[:2]
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
