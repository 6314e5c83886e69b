"""The `jit` engine: one program over a 1-D `data` mesh of all devices of all processes.

Batches are sharded along `data`; the state is replicated, or, with `shard_params`, every large
parameter / optimizer / EMA array is split along `data` on its largest divisible dimension
(FSDP / ZeRO-3 style: XLA gathers it where it is used and reduce-scatters its gradient;
Rajbhandari et al., 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter
Models"). The batch is one global array, so means (loss, gradients, BatchNorm statistics) are
global without any named axis: BatchNorm layers need no `axis_name` here.
"""

from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from cnnjax import cpu_flags
from cnnjax.ops import dispatch
from cnnjax.train.parallel.engine import AXIS, Engine, compile_preprocess
from cnnjax.train.state import TrainState

SHARD_MIN_SIZE = 2**18  # default: arrays with fewer elements stay replicated
BATCH_NORM_AXIS = None  # the global batch is one array: BatchNorm statistics are global as is


def fsdp_spec(shape: tuple[int, ...], num_shards: int, min_size: int) -> P:
    """Partition spec splitting the largest dimension divisible by `num_shards` over `data`.

    Arrays smaller than `min_size` elements, or with no divisible dimension, are replicated.
    """
    if int(np.prod(shape, dtype=np.int64)) < min_size or num_shards == 1:
        return P()
    for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
        if shape[dim] % num_shards == 0:
            spec = [None] * len(shape)
            spec[dim] = AXIS
            return P(*spec)
    return P()


def state_shardings(
    abstract_state: TrainState, mesh: Mesh, shard_params: bool, min_size: int
) -> TrainState:
    """A `NamedSharding` for every leaf: replicated, or FSDP-split for params/opt/EMA."""
    replicated = NamedSharding(mesh, P())
    if not shard_params:
        return jax.tree.map(lambda _: replicated, abstract_state)
    size = mesh.shape[AXIS]
    split = lambda x: NamedSharding(mesh, fsdp_spec(tuple(x.shape), size, min_size))
    return abstract_state.replace(
        step=replicated,
        params=jax.tree.map(split, abstract_state.params),
        batch_stats=jax.tree.map(lambda _: replicated, abstract_state.batch_stats),
        opt_state=jax.tree.map(split, abstract_state.opt_state),
        ema_params=jax.tree.map(split, abstract_state.ema_params),
        rng=replicated,
        dynamic_scale=jax.tree.map(lambda _: replicated, abstract_state.dynamic_scale),
    )


def make_jit_engine(
    train_fn: Callable,
    eval_fn: Callable,
    abstract_state: TrainState,
    *,
    devices: Sequence | None = None,
    shard_params: bool = False,
    shard_min_size: int = SHARD_MIN_SIZE,
    preprocess_fn: Callable | None = None,
) -> Engine:
    """The `jax.jit` engine over a `data` mesh of `devices` (default: all devices).

    Args:
      train_fn: pure `fn(state, batch, rng, *, axis_name=None) -> (state, metrics)`.
      eval_fn: pure `fn(state, batch, *, axis_name=None) -> metrics`.
      abstract_state: `jax.eval_shape` of the state (shapes and dtypes, no values).
      devices: devices to run on.
      shard_params: split large parameter / optimizer / EMA arrays over the devices (FSDP).
      shard_min_size: arrays with fewer elements stay replicated under `shard_params`.
      preprocess_fn: `fn(uint8 images) -> model input`, compiled as `Engine.preprocess`.

    Returns:
      An `Engine`.
    """
    devices = tuple(jax.devices() if devices is None else devices)
    mesh = Mesh(np.asarray(devices), (AXIS,))
    replicated = NamedSharding(mesh, P())
    batch_sharding = NamedSharding(mesh, P(AXIS))
    state_sharding = state_shardings(abstract_state, mesh, shard_params, shard_min_size)

    def train(state, batch):
        return train_fn(state, batch, state.rng)

    if len(devices) > 1:  # XLA cannot partition cnnjax's custom-call kernels over devices
        train = dispatch.traced_without_kernels(train)
        eval_fn = dispatch.traced_without_kernels(eval_fn)

    train_step = jax.jit(
        train,
        in_shardings=(state_sharding, batch_sharding),
        out_shardings=(state_sharding, replicated),
        donate_argnums=0,
    )
    eval_step = jax.jit(
        eval_fn,
        in_shardings=(state_sharding, batch_sharding),
        out_shardings=replicated,
        compiler_options=cpu_flags.eval_compiler_options(devices[0].platform),
    )

    def create_state(init_fn):
        return jax.jit(
            init_fn,
            out_shardings=state_sharding,
            compiler_options=cpu_flags.init_compiler_options(devices[0].platform),
        )()

    def restore_target(abstract):
        return jax.tree.map(
            lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
            abstract,
            state_sharding,
        )

    def shard_batch(batch):
        return jax.tree.map(
            lambda x: jax.make_array_from_process_local_data(batch_sharding, np.asarray(x)), batch
        )

    return Engine(
        name="jit",
        devices=devices,
        create_state=create_state,
        restore_target=restore_target,
        place_state=lambda state: state,
        checkpoint_state=lambda state: state,
        shard_batch=shard_batch,
        train_step=train_step,
        eval_step=eval_step,
        to_host=jax.device_get,
        preprocess=compile_preprocess(preprocess_fn),
    )


__all__ = ["BATCH_NORM_AXIS", "SHARD_MIN_SIZE", "fsdp_spec", "make_jit_engine", "state_shardings"]
