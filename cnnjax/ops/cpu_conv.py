"""2-D convolution in the forms XLA:CPU runs fastest, with results equal to XLA's own.

Measured on a 2-core AVX-512 machine (jax 0.10.2, `../shared/bench/README.md` and
`experiments/benchmark.py`): with `cnnjax.cpu_flags`' XLA flag, XLA:CPU's convolution runs
near its matmul speed except where the input is smaller than the kernel (VGG-16's 512-channel
layers on 2x2 maps: ~3 GFLOP/s, 60x slower than a matmul), and grouped convolutions run several
times slower than one convolution per group. So, on CPU:

* input smaller than the (dilated) kernel in a spatial dimension → groups 1:
  `cnnjax.ops.cpu_valid_taps.valid_taps_conv`, one GEMM per kernel tap over only the inputs
  that tap meets (VGG-16 trains 118.3 vs 115.7 img/s, 5 alternating rounds in one process);
  grouped: `matmul_conv`, the patches (im2col) times the kernel, one GEMM per group. Their
  gradients are GEMMs too (autodiff of dots and slices: col2im is the transpose of the slicing);
* depthwise (groups = C_in > 1, kernel (KH, KW, 1, C_in * m)) → `cnnjax.ops.depthwise`: k^2
  shifted, scaled slices summed (XLA's grouped convolution is ~17x slower forward);
* 2 <= groups <= `MAX_SPLIT_GROUPS` (not depthwise) → one convolution per group, concatenated;
* a one-channel input (LeNet-5's first layer) → `single_channel_conv`: the depthwise form
  (KH*KW broadcast products summed), 1.5-10x faster forward; when differentiated, stored by
  `computed_once` so that XLA does not recompute them inside each fusion that reads them
  (LeNet-5 trains 1.45x faster for that); its tangents and gradients are XLA's convolutions;
* float32, groups 1, no dilation, at most 64 input and 16, 32, 48 or 64 output channels,
  padding below the window, and a window larger than 1x1 unless strided, where cnnjax's C++
  kernels are built (`cnnjax.ops.direct_conv`, `cnnjax.ops.native`) → `direct_conv`: the
  forward pass, the kernel gradient and, at stride 1, the input gradient as direct
  convolutions in NHWC. ResNet-20 trains 439 → 525 img/s and evaluates 1,912 → 2,393, LeNet-5
  trains 20,702 → 26,844 on two cores (alternating rounds in one process); the forms below
  serve the other layers, and all layers where the kernels cannot be built;
* stride 1, no dilation, groups 1, a window larger than 1x1 →
  `cnnjax.ops.cpu_kernel_grad.swapped_conv`: XLA's convolution whose kernel gradient runs
  without the activation transpose XLA inserts for it (ResNet-20 training +7-14 % on one core;
  measured reasons in that module);
* strided 1x1 / 3x3 layers of >= 16 channels (ResNets' downsampling), and 3x3 layers on 2-4
  channels (RGB first layers) → `patches_grad_conv`: XLA's convolution and input gradient,
  the kernel gradient as one GEMM of the patches (XLA's window-dilated kernel-gradient
  convolution needs the activation transposed to batch-minor, with the stage's
  BatchNorm/ReLU/residual chain recomputed inside; on 3 channels it runs at ~20 GFLOP/s).
  With `swapped_conv` on the stride-1 layers, ResNet-20 trains 359-379 vs 334-352 img/s on
  two cores (3 alternating pairs of the benchmark entry point), evaluation unchanged
  (1,679-1,823 vs 1,628-1,829), compile 2.7-3.0 vs 2.3-2.5 s, +18 MB (the patches);
  the RGB layers take it at stride 1 only;
* anything else → `lax.conv_general_dilated`.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from cnnjax.ops import dispatch
from cnnjax.ops.cpu_kernel_grad import swapped_conv, takes_swapped_conv
from cnnjax.ops.cpu_valid_taps import valid_taps_conv
from cnnjax.ops.depthwise import depthwise, is_depthwise_conv
from cnnjax.ops.direct_conv import direct_conv, fits_direct_conv, kernels_available
from cnnjax.ops.fusion_boundary import computed_once
from cnnjax.ops.padding import explicit_padding

HIGHEST = lax.Precision.HIGHEST  # fp32 products wherever the forms run
MAX_SPLIT_GROUPS = 8  # more groups (e.g. depthwise) stay one grouped convolution
DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def native_conv(x, kernel, strides, padding, dilation, groups) -> jax.Array:
    """XLA's convolution (B, H, W, C) x (KH, KW, C // groups, O) -> (B, H', W', O)."""
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=strides,
        padding=padding,
        rhs_dilation=dilation,
        dimension_numbers=DIMENSION_NUMBERS,
        feature_group_count=groups,
    )


def _taps(x, window, strides, padding, dilation) -> list[jax.Array]:
    """The input under each kernel tap, (i, j) row-major: KH*KW arrays (B, H', W', C)."""
    batch, height, width, channels = x.shape
    (kh, kw), (sh, sw), (dh, dw) = window, strides, dilation
    pads = explicit_padding((height, width), (kh, kw), strides, dilation, padding)
    xp = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (*pads[0], 0), (*pads[1], 0), (0, 0, 0)))
    out_h = (xp.shape[1] - (kh - 1) * dh - 1) // sh + 1
    out_w = (xp.shape[2] - (kw - 1) * dw - 1) // sw + 1
    return [
        lax.slice(
            xp,
            (0, i * dh, j * dw, 0),
            (batch, i * dh + (out_h - 1) * sh + 1, j * dw + (out_w - 1) * sw + 1, channels),
            (1, sh, sw, 1),
        )
        for i in range(kh)
        for j in range(kw)
    ]


def matmul_conv(x, kernel, strides, padding, dilation, groups) -> jax.Array:
    """Convolution as patches (im2col) times kernel: one (B*H'*W', KH*KW*C_g) GEMM per group.

    Args:
      x: (B, H, W, C).
      kernel: (KH, KW, C // groups, O).
      strides, dilation: two ints each; padding: "SAME", "VALID" or two (low, high) pairs.
      groups: feature groups.

    Returns:
      (B, H', W', O), equal to `native_conv` up to fp32 summation order.
    """
    patches = patches_of(x, kernel.shape[:2], strides, padding, dilation)
    return patches_times(patches, kernel, groups)


def patches_of(x, window, strides, padding, dilation) -> jax.Array:
    """(B, H', W', KH*KW*C): the input under each tap, tap-major like the HWIO kernel reshaped
    to (KH*KW*C, O). Built by concatenation: a stacked 6-D layout made XLA:CPU's dot 4x slower
    (303 vs 74 ms at 2x2x512)."""
    return jnp.concatenate(_taps(x, window, strides, padding, dilation), axis=-1)


def patches_times(patches, kernel, groups) -> jax.Array:
    """`patches_of`'s result (B, H', W', KH*KW*C) times kernel (KH, KW, C // groups, O)."""
    kh, kw, group_channels, out_channels = kernel.shape
    batch, out_h, out_w, depth = patches.shape
    if groups == 1:
        rows = patches.reshape(batch * out_h * out_w, depth)
        y = jnp.dot(rows, kernel.reshape(depth, out_channels), precision=HIGHEST)
    else:
        patches = patches.reshape(batch, out_h, out_w, kh * kw, groups, group_channels)
        weights = kernel.reshape(kh * kw, group_channels, groups, out_channels // groups)
        y = jnp.einsum("bhwtgc,tcgo->bhwgo", patches, weights, precision=HIGHEST)
    return y.reshape(batch, out_h, out_w, out_channels)  # groups are contiguous output blocks


def _native(x, kernel, strides, padding, dilation) -> jax.Array:
    return native_conv(x, kernel, strides, padding, dilation, 1)


def _bilinear_tangent(x_dot, input_term, kernel_dot, kernel_term, y) -> jax.Array:
    """The tangent of a convolution, bilinear in (x, kernel): input_term(x_dot) +
    kernel_term(kernel_dot), skipping symbolic zero tangents (a frozen kernel or a data input
    costs no convolution)."""
    terms = []
    if not isinstance(x_dot, SymbolicZero):
        terms.append(input_term(x_dot))
    if not isinstance(kernel_dot, SymbolicZero):
        terms.append(kernel_term(kernel_dot))
    return functools.reduce(jnp.add, terms) if terms else jnp.zeros_like(y)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def single_channel_conv(x, kernel, strides, padding, dilation) -> jax.Array:
    """A one-channel convolution (B, H, W, 1) x (KH, KW, 1, O), forward as KH*KW broadcast
    products summed: the depthwise form (`depthwise_conv`, channel multiplier O), summed in fp32.

    XLA:CPU runs LeNet-5's first layer (256x28x28x1 -> 6, 5x5) 10x faster so (1.4 vs 14.0 ms
    forward on one core) than as its convolution, but differentiates that convolution well: the
    custom JVP's tangents, and so the gradients, are XLA's own convolutions.

    Args:
      x: (B, H, W, 1).
      kernel: (KH, KW, 1, O).
      strides, dilation: two ints each; padding: "SAME", "VALID" or two (low, high) pairs.

    Returns:
      (B, H', W', O), equal to `native_conv` up to fp32 summation order.
    """
    return _broadcast_products(x, kernel, strides, padding, dilation)


def _broadcast_products(x, kernel, strides, padding, dilation) -> jax.Array:
    wide = jnp.promote_types(x.dtype, jnp.float32)  # bf16 inputs still sum in fp32
    y = depthwise_conv(x.astype(wide), kernel.astype(wide), strides, padding, dilation)
    return y.astype(x.dtype)


def _single_channel_jvp(strides, padding, dilation, primals, tangents):
    """The convolution is bilinear: its tangent is XLA's convolution of each tangent, so reverse
    mode runs XLA's input- and kernel-gradient convolutions. Symbolic zero tangents are skipped:
    the data input of a first layer costs no convolution. Differentiated, the products are
    stored by `computed_once`, since the backward pass reads them again (through the ReLU and
    pooling after them); forward-only programs keep XLA's fusion of them into their consumer
    (storing them cost LeNet-5's evaluation ~10 %)."""
    (x, kernel), (x_dot, kernel_dot) = primals, tangents
    products = functools.partial(
        _broadcast_products, strides=strides, padding=padding, dilation=dilation
    )
    # The kernel first: its value is the predicate's, so a vmap over images (per-example
    # gradients) keeps one branch instead of evaluating both under a batched predicate.
    y = computed_once(lambda kernel, x: products(x, kernel), kernel, x)
    geometry = (strides, padding, dilation)
    return y, _bilinear_tangent(
        x_dot, lambda t: _native(t, kernel, *geometry),
        kernel_dot, lambda t: _native(x, t, *geometry), y,
    )  # fmt: skip


single_channel_conv.defjvp(_single_channel_jvp, symbolic_zeros=True)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def patches_grad_conv(x, kernel, strides, padding, dilation) -> jax.Array:
    """XLA's convolution (groups 1) whose kernel gradient is one GEMM of the patches.

    Args:
      x: (B, H, W, C).
      kernel: (KH, KW, C, O).
      strides, dilation: two ints each; padding: "SAME", "VALID" or two (low, high) pairs.

    Returns:
      (B, H', W', O), XLA's own convolution; its derivatives equal XLA's up to fp32 order.
    """
    return _native(x, kernel, strides, padding, dilation)


def _patches_grad_jvp(strides, padding, dilation, primals, tangents):
    """Bilinear: the input tangent is XLA's convolution, the kernel tangent the patches times
    the kernel tangent, whose transpose is patches^T times dy: one GEMM. The patches are built
    by `computed_once` from the stored x: otherwise XLA recomputes the BatchNorm/ReLU/residual
    chain that produced x inside each of the KH*KW tap slices (ResNet-20 trains 373.5 -> 381.2
    img/s, 4 alternating rounds in one process, two cores)."""
    (x, kernel), (x_dot, kernel_dot) = primals, tangents
    y = patches_grad_conv(x, kernel, strides, padding, dilation)
    geometry = (strides, padding, dilation)

    def kernel_term(t):
        # The kernel first: its value is the predicate's, so per-example gradients (a vmap over
        # images) keep one stored conditional, not a select evaluating both branches.
        patches = computed_once(lambda _, x: patches_of(x, t.shape[:2], *geometry), kernel, x)
        return patches_times(patches, t, 1)

    return y, _bilinear_tangent(
        x_dot, lambda t: _native(t, kernel, *geometry), kernel_dot, kernel_term, y
    )


patches_grad_conv.defjvp(_patches_grad_jvp, symbolic_zeros=True)


def patches_kernel_gradient_pays(channels, window, strides, groups) -> bool:
    """Where `patches_grad_conv` was measured faster: strided 1x1 and 3x3 layers of >= 16
    channels, and stride-1 3x3 (or smaller) layers on 2-4 channels, RGB first layers (strided
    ones, e.g. MobileNet's stem, were not measured): there XLA's kernel
    gradient runs at ~20 GFLOP/s (VGG-16's conv1_1, 64x32x32x3 -> 64, two cores: 11.1 vs 3.1
    ms; ResNet-20 trains 367.4 -> 375.7 img/s, 4 alternating rounds in one process; VGG-16
    unchanged, 114.5 vs 113.9)."""
    if groups != 1 or max(window) > 3:
        return False
    if max(strides) > 1:
        return channels >= 16
    return 2 <= channels <= 4


def split_groups_conv(x, kernel, strides, padding, dilation, groups) -> jax.Array:
    """A grouped convolution as `groups` ordinary ones on channel slices, concatenated."""
    c_in, c_out = x.shape[-1] // groups, kernel.shape[-1] // groups
    outs = [
        conv2d_cpu(
            x[..., g * c_in : (g + 1) * c_in],
            kernel[..., g * c_out : (g + 1) * c_out],
            strides,
            padding,
            dilation,
            1,
        )
        for g in range(groups)
    ]
    return jnp.concatenate(outs, axis=-1)


def smaller_than_kernel(spatial, window, dilation) -> bool:
    """True when the input is smaller than the dilated kernel in some spatial dimension."""
    return any(n < (k - 1) * d + 1 for n, k, d in zip(spatial, window, dilation, strict=True))


def depthwise_conv(x, kernel, strides, padding, dilation) -> jax.Array:
    """A depthwise convolution as shifted slices (`cnnjax.ops.depthwise.depthwise`), any padding."""
    pads = explicit_padding(x.shape[1:3], kernel.shape[:2], strides, dilation, padding)
    return depthwise(x, kernel, strides, pads, dilation)


def conv2d_cpu(x, kernel, strides, padding, dilation, groups) -> jax.Array:
    """The CPU choice among `depthwise_conv`, `split_groups_conv`, `single_channel_conv`,
    `valid_taps_conv`, `matmul_conv`, `direct_conv`, `patches_grad_conv`, `swapped_conv` and
    `native_conv`.

    Args:
      x: (B, H, W, C); kernel: (KH, KW, C // groups, O); strides, dilation: two ints each;
      padding: "SAME", "VALID" or two (low, high) pairs; groups: feature groups.

    Returns:
      (B, H', W', O).
    """
    if is_depthwise_conv(x.shape[-1], kernel.shape, groups):
        return depthwise_conv(x, kernel, strides, padding, dilation)
    if 1 < groups <= MAX_SPLIT_GROUPS and groups < x.shape[-1]:
        return split_groups_conv(x, kernel, strides, padding, dilation, groups)
    if groups == 1 and x.shape[-1] == 1:
        return single_channel_conv(x, kernel, strides, padding, dilation)
    if smaller_than_kernel(x.shape[1:3], kernel.shape[:2], dilation):
        if groups == 1:
            return valid_taps_conv(x, kernel, strides, padding, dilation)
        return matmul_conv(x, kernel, strides, padding, dilation, groups)
    pads = explicit_padding(x.shape[1:3], kernel.shape[:2], strides, dilation, padding)
    if fits_direct_conv(x.shape, kernel.shape, strides, dilation, groups, pads, x.dtype):
        if dispatch.kernels_allowed() and kernels_available():
            return direct_conv(x, kernel, strides, pads)
    if patches_kernel_gradient_pays(x.shape[-1], kernel.shape[:2], strides, groups):
        return patches_grad_conv(x, kernel, tuple(strides), padding, tuple(dilation))
    if takes_swapped_conv(x.shape, kernel.shape, strides, dilation, groups, pads):
        return swapped_conv(x, kernel, tuple(strides), pads)
    return native_conv(x, kernel, strides, padding, dilation, groups)
