"""Mixed-precision policy: compute dtype from the config, float32 parameters and loss.

bfloat16 has float32's exponent range and needs no loss scaling; float16 does (Micikevicius et
al. 2018, "Mixed precision training"): the loss is multiplied by a dynamic scale, gradients are
unscaled, and a step whose gradients overflow is skipped while the scale is halved (flax's
`DynamicScale`).
"""

import dataclasses

import jax.numpy as jnp

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}
LOSS_SCALES = ("auto", "dynamic", "none")


@dataclasses.dataclass(frozen=True)
class Policy:
    """Attributes:
    compute_dtype: dtype of activations and matmuls (parameters stay float32).
    loss_scale: initial dynamic loss scale, or None for no loss scaling.
    """

    compute_dtype: object
    loss_scale: float | None


def policy(dtype: str, loss_scale: str = "auto", initial_scale: float = 2.0**15) -> Policy:
    """The precision policy of config keys `dtype` and `loss_scale`.

    Args:
      dtype: `float32`, `bfloat16` or `float16` (checked at the door: `cnnjax.train.config`).
      loss_scale: `auto` (dynamic for float16 only), `dynamic` or `none`.
      initial_scale: the first loss scale when scaling.

    Returns:
      A `Policy`.
    """
    scaled = loss_scale == "dynamic" or (loss_scale == "auto" and dtype == "float16")
    return Policy(DTYPES[dtype], float(initial_scale) if scaled else None)
