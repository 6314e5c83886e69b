"""The one place where steps are compiled and placed on devices.

An `Engine` bundles how the state and batches are laid out on devices with the compiled steps:

* `jit` (default): a 1-D `jax.sharding.Mesh` named `data` over all devices of all processes;
  batches are sharded along `data`, the state is replicated, or, with `shard_params`, every large
  parameter / optimizer / EMA array is split along `data` on its largest divisible dimension
  (FSDP / ZeRO-3 style: XLA gathers it where it is used and reduce-scatters its gradient).
* `pmap`: the classic replicated-state `jax.pmap` step with `lax.pmean` over the axis; built by
  `cnnjax.train.parallel_pmap.make_pmap_engine` with the same signature as `make_jit_engine`.

Pure steps go in (`cnnjax.train.steps`), compiled callables come out; the loop never calls
`jax.jit` itself.
"""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from cnnjax.train.state import TrainState

PARALLEL_MODES = ("jit", "pmap")
AXIS = "data"


@dataclasses.dataclass(frozen=True)
class Engine:
    """Device layout + compiled steps. Every field is a plain callable, so engines compose.

    Attributes:
      name: `jit` or `pmap`.
      devices: the devices of the run (all processes).
      create_state: `fn(init_fn) -> state`: runs `init_fn() -> TrainState` straight into the
        engine's layout (no host copy of the parameters).
      restore_target: `fn(abstract_state) -> abstract_state` with `jax.ShapeDtypeStruct` leaves
        that carry the shardings Orbax should restore onto (global, unreplicated shapes).
      place_state: `fn(restored) -> state`: a state restored onto `restore_target` → the
        engine's layout (identity for `jit`, replicate for `pmap`).
      checkpoint_state: `fn(state) -> state` of global arrays as Orbax should save them.
      shard_batch: `fn(host-local numpy batch) -> device batch` (B_local = B / process_count).
      train_step: compiled `fn(state, batch) -> (state, metrics)`; donates the state.
      eval_step: compiled `fn(state, batch) -> summable metrics`.
      to_host: `fn(metrics) -> numpy` metrics (one value per metric, whatever the layout).
    """

    name: str
    devices: tuple
    create_state: Callable[[Callable[[], TrainState]], Any]
    restore_target: Callable[[TrainState], TrainState]
    place_state: Callable[[TrainState], Any]
    checkpoint_state: Callable[[Any], TrainState]
    shard_batch: Callable[[dict[str, np.ndarray]], Any]
    train_step: Callable
    eval_step: Callable
    to_host: Callable[[Any], Any]


def check_batch_size(batch_size: int, devices: Sequence, name: str = "batch_size") -> None:
    """Raises a ValueError unless `batch_size` splits evenly over devices and processes."""
    count = len(devices)
    processes = len({d.process_index for d in devices})
    if batch_size <= 0 or batch_size % count or batch_size % processes:
        example = count * max(batch_size // count, 1)
        raise ValueError(
            f"{name}={batch_size} must be a positive multiple of the device count {count} "
            f"(over {processes} process(es)); e.g. {name}={example}"
        )


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
    config: ml_collections.ConfigDict,
    train_fn: Callable,
    eval_fn: Callable,
    abstract_state: TrainState,
    devices: Sequence | None = None,
) -> Engine:
    """The `jax.jit` engine over a `data` mesh of `devices` (default: all devices).

    Args:
      config: reads `shard.params` and `shard.min_size`.
      train_fn: pure `fn(state, batch, rng, *, axis_name=None) -> (state, metrics)`.
      eval_fn: pure `fn(state, batch, *, axis_name=None) -> metrics`.
      abstract_state: `jax.eval_shape` of the state (shapes and dtypes, no values).
      devices: devices to run on.

    Returns:
      An `Engine`.
    """
    devices = tuple(jax.devices() if devices is None else devices)
    mesh = Mesh(np.asarray(devices), (AXIS,))
    replicated = NamedSharding(mesh, P())
    batch_sharding = NamedSharding(mesh, P(AXIS))
    state_sharding = state_shardings(
        abstract_state, mesh, config.shard.params, config.shard.min_size
    )

    def train(state, batch):
        return train_fn(state, batch, state.rng)

    train_step = jax.jit(
        train,
        in_shardings=(state_sharding, batch_sharding),
        out_shardings=(state_sharding, replicated),
        donate_argnums=0,
    )
    eval_step = jax.jit(
        eval_fn, in_shardings=(state_sharding, batch_sharding), out_shardings=replicated
    )

    def create_state(init_fn):
        return jax.jit(init_fn, out_shardings=state_sharding)()

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
    )


def make_engine(
    config: ml_collections.ConfigDict,
    train_fn: Callable,
    eval_fn: Callable,
    abstract_state: TrainState,
    devices: Sequence | None = None,
) -> Engine:
    """The engine named by `config.parallel` (`jit` or `pmap`); same arguments as the makers."""
    if config.parallel == "jit":
        return make_jit_engine(config, train_fn, eval_fn, abstract_state, devices)
    if config.parallel == "pmap":
        from cnnjax.train import parallel_pmap

        return parallel_pmap.make_pmap_engine(config, train_fn, eval_fn, abstract_state, devices)
    raise ValueError(
        f"unknown parallel mode {config.parallel!r}; accepted are {', '.join(PARALLEL_MODES)}"
    )
