"""A convolution whose kernel gradient XLA:CPU computes without its slow layout transposes.

XLA:CPU computes a convolution (and so every gradient convolution) with Eigen in one canonical
layout: input (batch, H, W, feature), kernel (H, W, in, out). The kernel gradient that JAX's
own transpose rule emits contracts the batch axis, so it runs as a convolution whose input is
the activation x (B, H, W, C) laid out as (C, H, W, B) and whose kernel is the output gradient
dy laid out as (H, W, B, O). XLA makes the first of these copies by a loop that reads x with a
stride of H*W*C elements per batch step, and fuses into that copy the BatchNorm / ReLU /
residual chain that produced x, recomputed from the convolution outputs it started from. In
ResNet-20's training step (batch 128, one core, `jax.profiler`, ~860 ms) such copies took
270 ms: 11-14 ms each for a (128, 32, 32, 16) activation and up to 64 ms where a stage's whole
residual chain was recomputed inside.

`swapped_conv` is XLA's convolution with a custom JVP whose kernel tangent is written as a
convolution of the (reversed) kernel tangent, as input, with the (reversed) activation, as
window. Its transpose (what reverse mode runs for the kernel gradient) is a convolution of dy,
as input laid out (O, H, W, B), with x as the window laid out (H, W, B, C): x only moves its
batch axis (contiguous runs of C values on both sides of the copy) and dy, the one that moves
its channel axis, is read from one buffer without a recomputed chain. The same numbers are
summed (fp32 order aside). Measured in one process on one core, ResNet-20 train img/s (rounds,
same sitting): XLA's form 163.9 (158-168) vs this form on stride-1 layers 178.8 (172-181), the
same as a `custom_vjp` with this kernel gradient written directly (174.9); eval unchanged.
Benchmark entry point, separate processes alternating: 153.6-155.3 -> 164.1-175.8 img/s, eval,
compile and peak memory unchanged; VGG-16 (57.2 vs 56.9) and LeNet-5 (3,762 vs 3,755) neutral.
Where it applies (`takes_swapped_conv`, measured):

* stride 1, dilation 1, groups 1, at least 2 input channels, a window larger than 1x1, an
  input at least as large as the kernel, and size-keeping ("SAME") padding. On two cores a
  layer without it ran its kernel gradient 5-8x slower in this form (jit, median of 30, one
  layer, XLA vs swapped: (256, 14, 14, 6) -> 16, 5x5 VALID, LeNet-5's conv2: 3.3 vs 15.8 ms;
  (256, 28, 28, 6) -> 16 VALID: 17 vs 146 ms; the kernel tangent is then padded by H - K on
  both sides and XLA runs it as a large padded convolution), and LeNet-5's whole training step
  fell from 12,500-13,200 to 7,600-7,700 img/s (benchmark entry point, 2 rounds). A SAME layer
  alone is 1.1-1.25x slower in this form ((128, 32, 32, 16) -> 16: 13.5 vs 16.6 ms); in the
  network the transposes it avoids pay for that: ResNet-20 trains 340-357 img/s vs 324-334
  without the form on two cores (2 rounds), VGG-16 unchanged (118-121 vs 116-122). 1x1
  layers (no ResNet-20 layer is one at stride 1) were not measured and keep XLA's form.
  Strided layers in this form ran slower (ResNet-20 125 vs 164 img/s: the strided tangent
  becomes an input-dilated convolution with a 32x32 window), so they keep XLA's.
* The first form tried, a kernel tangent whose transpose reversed x and dy spatially, gained
  1 % (164.7 vs 163.1); one GEMM of x^T against 9 shifted copies of dy lost (134.8), as did
  writing those copies as a sum of pads (79.4): copying dy nine times costs more than the
  transposes it saves.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from cnnjax.ops.fusion_boundary import computed_once

HIGHEST = lax.Precision.HIGHEST
DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")
# Kernel tangent (KH, KW, C, O) as the input (batch O, feature C), x transposed to (H, W, B, C)
# as the window (out-feature B, in-feature C), the result as (B, H', W', O).
_KERNEL_AS_INPUT = lax.ConvDimensionNumbers((3, 2, 0, 1), (2, 3, 0, 1), (3, 0, 1, 2))


def _kernel_as_input_padding(spatial, window, strides, pads):
    """Padding of the reversed kernel tangent such that `_kernel_tangent` equals conv(x, k)."""
    padding = []
    for n, k, s, (lo, hi) in zip(spatial, window, strides, pads, strict=True):
        out = (n + lo + hi - k) // s + 1
        padding.append((n + lo - k, s * (out - 1) - lo))
    return padding


def _kernel_tangent(x, kernel, kernel_dot, strides, pads) -> jax.Array:
    """conv(x, kernel_dot) as a convolution of the reversed kernel_dot with the reversed x.

    y[b, h'] = sum_a x[b, a] k[a - s*h' + lo] (1-D, channels left out); with a = H-1-a' and
    r = k reversed this is sum_a' rev(x)[b, a'] r[a' + s*h' + K - H - lo]: a convolution of r,
    padded low by H + lo - K, with rev(x) as its window. JAX transposes it with respect to r
    into a convolution of dy with rev(rev(x)) = x, which XLA's simplifier reads as x itself.
    """
    padding = _kernel_as_input_padding(x.shape[1:3], kernel_dot.shape[:2], strides, pads)
    # x laid out (H, W, B, C) for the kernel gradient by `computed_once` from the stored x, not
    # by a copy of XLA's that recomputes the chain producing x (ResNet-20 +2 %, 384.5 -> 392.1
    # img/s, 4 alternating rounds in one process, two cores). The primal kernel is the predicate's
    # source, so a vmap over images (per-example gradients) keeps one stored conditional.
    window = computed_once(lambda _, x: jnp.transpose(x, (1, 2, 0, 3)), kernel, x)
    return lax.conv_general_dilated(
        kernel_dot[::-1, ::-1],
        window[::-1, ::-1],
        strides,
        padding,
        dimension_numbers=_KERNEL_AS_INPUT,
        precision=HIGHEST,
    )


def _native(x, kernel, strides, pads) -> jax.Array:
    return lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=DIMENSION_NUMBERS)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def swapped_conv(x, kernel, strides, pads) -> jax.Array:
    """XLA's convolution (groups 1, no dilation) whose kernel gradient runs without the slow
    activation transpose (module docstring).

    Args:
      x: (B, H, W, C).
      kernel: (KH, KW, C, O).
      strides: two ints.
      pads: two (low, high) pairs of explicit padding, with low <= strides * (H' - 1).

    Returns:
      (B, H', W', O), XLA's own convolution; its derivatives equal XLA's up to fp32 order.
    """
    return _native(x, kernel, strides, pads)


def _swapped_jvp(strides, pads, primals, tangents):
    """Bilinear: the input tangent is XLA's convolution, the kernel tangent `_kernel_tangent`.
    Symbolic zero tangents are skipped (a frozen kernel or data input costs nothing)."""
    (x, kernel), (x_dot, kernel_dot) = primals, tangents
    y = swapped_conv(x, kernel, strides, pads)
    terms = []
    if not isinstance(x_dot, SymbolicZero):
        terms.append(_native(x_dot, kernel, strides, pads))
    if not isinstance(kernel_dot, SymbolicZero):
        terms.append(_kernel_tangent(x, kernel, kernel_dot, strides, pads))
    return y, functools.reduce(jnp.add, terms) if terms else jnp.zeros_like(y)


swapped_conv.defjvp(_swapped_jvp, symbolic_zeros=True)


def fits_swapped_form(x_shape, kernel_shape, strides, pads) -> bool:
    """Whether `swapped_conv` can express the geometry: an input at least as large as the
    kernel and a low padding within the output (always so at stride 1)."""
    if any(n < k for n, k in zip(x_shape[1:3], kernel_shape[:2], strict=True)):
        return False
    padding = _kernel_as_input_padding(x_shape[1:3], kernel_shape[:2], strides, pads)
    return all(lo >= 0 and hi >= 0 for lo, hi in padding)


def takes_swapped_conv(x_shape, kernel_shape, strides, dilation, groups, pads) -> bool:
    """Where `swapped_conv` was measured faster (module docstring): stride 1, dilation 1,
    groups 1, >= 2 input channels, a window larger than 1x1, an input at least as large as the
    kernel, size-keeping padding.

    Args:
      x_shape: (B, H, W, C); kernel_shape: (KH, KW, C // groups, O); strides, dilation: two
      ints each; groups: feature groups; pads: two (low, high) pairs.

    Returns:
      Whether `conv2d_cpu` runs the layer as `swapped_conv`.
    """
    if groups != 1 or x_shape[-1] < 2 or tuple(strides) != (1, 1) or tuple(dilation) != (1, 1):
        return False
    if max(kernel_shape[:2]) < 2:  # 1x1 layers (Inception, MobileNet, bottlenecks): unmeasured
        return False
    if any(lo + hi != k - 1 for (lo, hi), k in zip(pads, kernel_shape[:2], strict=True)):
        return False  # not size-keeping (LeNet-5's VALID conv2): 5-8x slower on two cores
    return fits_swapped_form(x_shape, kernel_shape, strides, pads)
