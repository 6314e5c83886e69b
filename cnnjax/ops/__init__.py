"""Pure convolution, pooling and normalisation functions on jnp arrays."""

from cnnjax.ops.conv import conv2d, conv_general
from cnnjax.ops.normalization import local_response_norm
from cnnjax.ops.pooling import avg_pool, max_pool

__all__ = ["avg_pool", "conv2d", "conv_general", "local_response_norm", "max_pool"]
