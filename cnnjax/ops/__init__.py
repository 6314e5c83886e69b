"""Pure convolution, pooling, normalisation and hand-made-kernel functions on jnp arrays."""

from cnnjax.ops import kernels
from cnnjax.ops.batch_norm import batch_norm_train
from cnnjax.ops.conv import conv1d, conv2d, conv3d, conv_general
from cnnjax.ops.kernels import apply_kernel, edge_magnitude
from cnnjax.ops.normalization import local_response_norm
from cnnjax.ops.padding import normalize_padding
from cnnjax.ops.pooling import (
    avg_pool,
    global_avg_pool,
    global_lp_pool,
    global_max_pool,
    lp_pool,
    max_pool,
)

__all__ = [
    "apply_kernel",
    "avg_pool",
    "batch_norm_train",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_general",
    "edge_magnitude",
    "global_avg_pool",
    "global_lp_pool",
    "global_max_pool",
    "kernels",
    "local_response_norm",
    "lp_pool",
    "max_pool",
    "normalize_padding",
]
