"""The training state: one pytree holding everything a run needs to continue exactly.

`apply_fn` and `tx` are static (not leaves), so the state can cross `jax.jit` boundaries, be
sharded leaf by leaf and be saved by Orbax as it is.
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.dynamic_scale import DynamicScale

PyTree = Any


class TrainState(struct.PyTreeNode):
    """Parameters, BatchNorm statistics, optimizer state, EMA, step, RNG and loss scale.

    Attributes:
      step: () int32, train steps taken (micro-batches when gradients are accumulated).
      params: the model's `params` collection (kept in float32 whatever the compute dtype).
      batch_stats: the `batch_stats` collection ({} for models without BatchNorm).
      opt_state: the optax state of `tx`.
      ema_params: an exponential moving average of `params` used for evaluation, or None.
      rng: (2,) uint32 base key of the run; step `s` draws from `fold_in(rng, s)`.
      dynamic_scale: flax `DynamicScale` for float16 loss scaling, or None.
      apply_fn: the model's `apply` (static).
      tx: the optax `GradientTransformation` (static).
    """

    step: jax.Array
    params: PyTree
    batch_stats: PyTree
    opt_state: optax.OptState
    ema_params: PyTree | None
    rng: jax.Array
    dynamic_scale: DynamicScale | None
    apply_fn: Callable = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)

    @property
    def eval_params(self) -> PyTree:
        """The parameters to evaluate: the EMA when it is kept, else the raw parameters."""
        return self.params if self.ema_params is None else self.ema_params

    def variables(self, params: PyTree | None = None) -> dict:
        """`{"params": ..., "batch_stats": ...}` for `apply_fn` (no empty collections)."""
        variables = {"params": self.params if params is None else params}
        if self.batch_stats:
            variables["batch_stats"] = self.batch_stats
        return variables


def create_train_state(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    tx: optax.GradientTransformation,
    rng: jax.Array,
    *,
    input_dtype=jnp.float32,
    use_ema: bool = False,
    loss_scale: float | None = None,
) -> TrainState:
    """Initialises the model on a (1, H, W, C) dummy batch and builds the `TrainState`.

    Pure: call it under `jax.jit` (with `out_shardings`) or `jax.eval_shape`.

    Args:
      model: a linen module `model(x, *, train)`.
      input_shape: (H, W, C) of one model input.
      tx: the optimizer.
      rng: (2,) uint32 key; split into the init key and the run's base key.
      input_dtype: dtype of the dummy input (the compute dtype).
      use_ema: keep an EMA of the parameters (initialised to the parameters).
      loss_scale: initial dynamic loss scale (float16 training), or None for no scaling.

    Returns:
      A `TrainState` at step 0.
    """
    init_rng, dropout_rng, run_rng = jax.random.split(rng, 3)
    dummy = jnp.zeros((1, *input_shape), input_dtype)
    variables = model.init({"params": init_rng, "dropout": dropout_rng}, dummy, train=False)
    params = variables["params"]
    dynamic_scale = None
    if loss_scale is not None:
        dynamic_scale = DynamicScale(
            fin_steps=jnp.zeros((), jnp.int32), scale=jnp.asarray(loss_scale, jnp.float32)
        )
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        ema_params=jax.tree.map(jnp.copy, params) if use_ema else None,
        rng=run_rng,
        dynamic_scale=dynamic_scale,
        apply_fn=model.apply,
        tx=tx,
    )
