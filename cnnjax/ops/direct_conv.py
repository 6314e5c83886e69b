"""Convolutions of up to 64 channels run by cnnjax's own C++ kernels on XLA:CPU.

XLA:CPU runs a convolution as Eigen's im2col + GEMM. With 16-64 output channels the GEMM is
only that wide and the packing of its operands dominates; the kernel gradient first copies the
activation into a batch-minor layout (`cnnjax.ops.cpu_kernel_grad`), and strided and RGB layers
needed the patches (`cnnjax.ops.cpu_conv.patches_grad_conv`). The kernels of `cnnjax.ops.native`
read NHWC tensors in place and keep a tile of outputs in vector registers. Measured per layer
(jit, median of 10, two cores, 3x3 SAME, huge pages), kernels vs XLA's:

| layer (batch, size, channels) | forward | input gradient | kernel gradient |
|---|---|---|---|
| 128, 32x32, 16 -> 16 | 3.34 vs 4.18 ms | 3.48 vs 4.27 | 2.37 vs 11.47 |
| 128, 16x16, 32 -> 32 | 2.16 vs 2.64 | 2.18 vs 2.71 | 2.51 vs 6.03 |
| 128, 8x8, 64 -> 64 | 2.23 vs 3.32 | 2.23 vs 2.38 | 3.92 vs 3.96 |
| 64, 32x32, 64 -> 64 | 20.5 vs 19.1 | 17.6 vs 18.9 | 18.5 vs 34.6 |
| 64, 8x8, 256 -> 256 | 27.0 vs 14.4 | 27.4 vs 15.2 | 34.4 vs 15.7 (not used: > 64) |

and against the CPU forms they replace (forward + kernel gradient): VGG-16's RGB layer
(64, 32x32, 3 -> 64) 12.2 -> 4.6 ms, ResNet-20's (128, 32x32, 3 -> 16) 10.8 -> 2.6 ms, its
strided 3x3 16 -> 32 16.2 -> 3.5 ms, LeNet-5's VALID 5x5 6 -> 16 3.4 -> 2.8 ms. Wider layers
stream the kernel from L2 for every 8 outputs and lose (`MAX_CHANNELS`).

Two primitives, both bilinear, each the other's transpose partner, so reverse mode, forward
mode and higher derivatives all stay on the kernels:

* `direct_conv_p(x, k)`: y = conv(x, k). Its transpose is the input gradient for x (at stride
  1 `direct_conv_p(ct, flip(k))`: the convolution of dy with the kernel rotated 180 degrees,
  its channel axes swapped, padded by K - 1 - pad; strided, XLA's) and `kernel_grad_p(x, ct)`
  for k.
* `kernel_grad_p(x, dy)`: dk = sum over images and positions of x (at the tap) times dy. Its
  transpose is `direct_conv_p(x, ct)` for dy and the input gradient with kernel ct for x.

Both carry a leading group axis N (each group its own kernel), which is how `jax.vmap` over a
kernel (per-example gradients) is batched; a vmap over the activation alone joins the batch.
On other backends, or when lowered for one, they lower to XLA's convolution. Each image's
kernel-gradient terms are summed apart before being added: fp32 error 4.7e-7 of the largest
entry against a float64 sum, XLA's 5.6e-7 (128 images of 32x32x16).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from cnnjax.ops import native
from cnnjax.ops.cpu_kernel_grad import DIMENSION_NUMBERS, HIGHEST

LANES = 16  # the kernels' vector width in float32 values: channel counts must be multiples
MAX_CHANNELS = 64  # wider layers stream the kernel from L2 per output tile (table above)


def fits_direct_conv(x_shape, kernel_shape, strides, dilation, groups, pads, dtype) -> bool:
    """Whether the kernels compute this layer: float32, groups 1, no dilation, at most 64
    input and a multiple of 16 up to 64 output channels, 0 <= padding < window, and a window
    larger than 1x1 unless strided (a 1x1 stride-1 layer is a plain GEMM, XLA's best case).

    Args:
      x_shape: (B, H, W, C); kernel_shape: (KH, KW, C // groups, O); strides, dilation: two
      ints each; groups: feature groups; pads: two (low, high) pairs; dtype: x's dtype.
    """
    if jnp.dtype(dtype) != jnp.float32 or groups != 1 or tuple(dilation) != (1, 1):
        return False
    if max(kernel_shape[:2]) < 2 and tuple(strides) == (1, 1):
        return False
    if x_shape[-1] > MAX_CHANNELS or kernel_shape[-1] % LANES or kernel_shape[-1] > MAX_CHANNELS:
        return False
    dims = list(zip(x_shape[1:3], kernel_shape[:2], pads, strict=True))
    if any(n + lo + hi < k for n, k, (lo, hi) in dims):
        return False  # no output
    return all(0 <= lo < k and 0 <= hi < k for _, k, (lo, hi) in dims)


def direct_conv(x, kernel, strides, pads) -> jax.Array:
    """conv(x, kernel) with `strides` and explicit `pads`, on the kernels (`fits_direct_conv`).

    Args:
      x: (B, H, W, C) float32.
      kernel: (KH, KW, C, O) float32.
      strides: two ints.
      pads: two (low, high) pairs, each 0 <= p < window.

    Returns:
      (B, H', W', O), equal to `lax.conv_general_dilated` up to fp32 summation order.
    """
    strides = tuple(int(s) for s in strides)
    pads = tuple((int(lo), int(hi)) for lo, hi in pads)
    return direct_conv_p.bind(x[None], kernel[None], strides=strides, pads=pads)[0]


def _out_spatial(spatial, window, strides, pads):
    dims = zip(spatial, window, strides, pads, strict=True)
    return tuple((n + lo + hi - k) // s + 1 for n, k, s, (lo, hi) in dims)


def _flipped(kernel):
    """(N, KH, KW, C, O) -> (N, KH, KW, O, C), rotated 180 degrees: the input gradient's kernel."""
    return jnp.swapaxes(kernel[:, ::-1, ::-1], -1, -2)


def _input_gradient(dy, kernel, x_shape, strides, pads):
    """dx of y = conv(x, kernel): at stride 1 the convolution of dy with the rotated kernel,
    padded by K - 1 - pad, on the kernels (its output channels are x's: below 16 the kernels'
    column-vector tiles take them as they are, above they are zero-padded to a multiple of 16
    and sliced off after); strided, XLA's (an input-dilated convolution)."""
    window, channels = kernel.shape[1:3], kernel.shape[3]
    if strides == (1, 1):
        flipped = zip(window, pads, strict=True)
        flipped_pads = tuple((k - 1 - lo, k - 1 - hi) for k, (lo, hi) in flipped)
        extra = -channels % LANES if channels > LANES else 0  # below 16: the narrow tiles
        rotated = jnp.pad(_flipped(kernel), ((0, 0),) * 4 + ((0, extra),))
        dx = direct_conv_p.bind(dy, rotated, strides=(1, 1), pads=flipped_pads)
        return dx[..., :channels] if extra else dx

    def one(dy, kernel):
        conv = lambda x: _xla_conv(x, kernel, strides, pads)
        return jax.vjp(conv, jnp.zeros(x_shape[1:], dy.dtype))[1](dy)[0]

    return jax.vmap(one)(dy, kernel)


def _xla_conv(x, kernel, strides, pads):
    return lax.conv_general_dilated(
        x, kernel, strides, pads, dimension_numbers=DIMENSION_NUMBERS,
        precision=HIGHEST,
    )  # fmt: skip


# --- direct_conv_p: (N, B, H, W, C) x (N, KH, KW, C, O) -> (N, B, H', W', O) ---------------

direct_conv_p = Primitive("cnnjax_direct_conv")


def _conv_abstract(x, k, *, strides, pads):
    n, b, h, w, _ = x.shape
    out = _out_spatial((h, w), k.shape[1:3], strides, pads)
    return jax.core.ShapedArray((n, b, *out, k.shape[-1]), x.dtype)


def _conv_reference(x, k, *, strides, pads):
    """XLA's convolution, group by group: the lowering off CPU and the tests' reference."""
    return jax.vmap(functools.partial(_xla_conv, strides=strides, pads=pads))(x, k)


def _conv_transpose_x(ct, x, k, *, strides, pads):
    return _input_gradient(ct, k, x.aval.shape, strides, pads)


def _conv_transpose_k(ct, x, k, *, strides, pads):
    window = tuple(k.aval.shape[1:3])
    return kernel_grad_p.bind(x, ct, strides=strides, pads=pads, window=window)


def _conv_batch(args, dims, *, strides, pads):
    x, k = args
    bx, bk = dims
    if bk is None:  # one kernel: the mapped axis joins the images
        x = jnp.moveaxis(x, bx, 1)
        n, m, b = x.shape[:3]
        y = direct_conv_p.bind(x.reshape(n, m * b, *x.shape[3:]), k, strides=strides, pads=pads)
        return y.reshape(n, m, b, *y.shape[2:]), 1
    x, k = _groups_first(x, bx, k, bk)
    m, n = k.shape[:2]
    y = direct_conv_p.bind(_merge(x), _merge(k), strides=strides, pads=pads)
    return y.reshape(m, n, *y.shape[1:]), 0


# --- kernel_grad_p: (N, B, H, W, C) x (N, B, H', W', O) -> (N, KH, KW, C, O) ---------------

kernel_grad_p = Primitive("cnnjax_direct_conv_kernel_grad")


def _grad_abstract(x, dy, *, strides, pads, window):
    return jax.core.ShapedArray((x.shape[0], *window, x.shape[-1], dy.shape[-1]), x.dtype)


def _grad_reference(x, dy, *, strides, pads, window):
    def one(x, dy):
        kernel = jnp.zeros((*window, x.shape[-1], dy.shape[-1]), x.dtype)
        return jax.vjp(lambda k: _xla_conv(x, k, strides, pads), kernel)[1](dy)[0]

    return jax.vmap(one)(x, dy)


def _grad_transpose_x(ct, x, dy, *, strides, pads, window):
    return _input_gradient(dy, ct, x.aval.shape, strides, pads)


def _grad_transpose_dy(ct, x, dy, *, strides, pads, window):
    return direct_conv_p.bind(x, ct, strides=strides, pads=pads)


def _grad_batch(args, dims, *, strides, pads, window):
    x, dy = _groups_first(args[0], dims[0], args[1], dims[1])
    m, n = x.shape[:2]
    dk = kernel_grad_p.bind(_merge(x), _merge(dy), strides=strides, pads=pads, window=window)
    return dk.reshape(m, n, *dk.shape[1:]), 0


# --- shared ---------------------------------------------------------------------------------


def _groups_first(a, da, b, db):
    """Both operands with the mapped axis first (broadcast where one is not mapped)."""
    size = a.shape[da] if da is not None else b.shape[db]
    a = jnp.moveaxis(a, da, 0) if da is not None else jnp.broadcast_to(a, (size, *a.shape))
    b = jnp.moveaxis(b, db, 0) if db is not None else jnp.broadcast_to(b, (size, *b.shape))
    return a, b


def _merge(a):
    return a.reshape(a.shape[0] * a.shape[1], *a.shape[2:])


def _cpu_lowering(target, reference):
    """The kernel's FFI call, or XLA's convolution where the kernels could not be built."""
    ffi_rule = jax.ffi.ffi_lowering(target)

    def lower(ctx, *args, strides, pads, **params):
        if not native.available():
            return reference(ctx, *args, strides=strides, pads=pads, **params)
        return ffi_rule(
            ctx,
            *args,
            pad_top=np.int64(pads[0][0]),
            pad_left=np.int64(pads[1][0]),
            stride_h=np.int64(strides[0]),
            stride_w=np.int64(strides[1]),
        )

    return lower


@functools.cache
def _compiled(primitive, params):
    return jax.jit(functools.partial(primitive.bind, **dict(params)))


def _impl(primitive):
    """Eager calls run the primitive's compiled program (one per set of parameters)."""

    def impl(*args, **params):
        return _compiled(primitive, tuple(sorted(params.items())))(*args)

    return impl


def _define(primitive, abstract, reference, transposes, batch) -> None:
    primitive.def_impl(_impl(primitive))
    primitive.def_abstract_eval(abstract)
    ad.defbilinear(primitive, *transposes)
    batching.primitive_batchers[primitive] = batch
    reference_lowering = mlir.lower_fun(reference, multiple_results=False)
    mlir.register_lowering(primitive, reference_lowering)
    mlir.register_lowering(
        primitive, _cpu_lowering(primitive.name, reference_lowering), platform="cpu"
    )


_define(
    direct_conv_p,
    _conv_abstract,
    _conv_reference,
    (_conv_transpose_x, _conv_transpose_k),
    _conv_batch,
)
_define(
    kernel_grad_p,
    _grad_abstract,
    _grad_reference,
    (_grad_transpose_x, _grad_transpose_dy),
    _grad_batch,
)


def kernels_available() -> bool:
    """Whether the C++ kernels are compiled and registered (`cnnjax.ops.native.available`)."""
    return native.available()
