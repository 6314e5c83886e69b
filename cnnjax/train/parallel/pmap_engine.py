"""The `pmap` engine: classic replicated-state data parallelism with `jax.pmap`.

Every local device holds a full copy of the state, stacked along a new leading axis of size
`n_local` (the layout `flax.jax_utils.replicate` makes); a host batch of `B_local` examples is
reshaped to (n_local, B_local / n_local, ...) and each device runs the pure step on its slice.
The steps are called with `axis_name="data"`, so they `pmean` gradients, loss, accuracy and
BatchNorm running statistics over all devices of all processes. For every BatchNorm layer to
normalise with the statistics of the *global* batch (cross-replica BatchNorm, as flax's
`examples/imagenet` does with `nn.BatchNorm(axis_name="batch")`), the model must be built with
its BatchNorm layers' `axis_name` set to `BATCH_NORM_AXIS` (`cnnjax.models.layers.
with_batch_norm_axis`, which the experiment builder applies for this mode). With the same global
batch and seed the `pmap` and `jit` engines therefore compute the same function and agree to
float32 rounding.

Random draws (dropout, augmentation) are the exception: under `pmap` each device folds its
index into the step key (`cnnjax.train.steps.train_step`), so they differ from `jit`'s
(which do not depend on the device count), while following the same distribution.

Checkpoints hold global, unreplicated arrays (one copy, replicated over a `data` mesh of all
devices), exactly what the `jit` engine saves: a checkpoint written by either engine restores
under the other and onto any device count.
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from cnnjax.train.parallel.engine import AXIS, Engine, compile_preprocess
from cnnjax.train.state import TrainState

BATCH_NORM_AXIS = AXIS  # each device sees a slice: BatchNorm must `pmean` over the devices


def _view(x: jax.Array, sharding: NamedSharding) -> jax.Array:
    """The per-device buffers of `x` seen as one array of `sharding` (no copy, no transfer)."""
    return jax.make_array_from_single_device_arrays(
        x.shape, sharding, [s.data for s in x.addressable_shards]
    )


def make_pmap_engine(
    train_fn: Callable,
    eval_fn: Callable,
    abstract_state: TrainState,
    *,
    devices: Sequence | None = None,
    shard_params: bool = False,
    shard_min_size: int | None = None,
    preprocess_fn: Callable | None = None,
) -> Engine:
    """The `jax.pmap` engine over `devices` (default: all devices of all processes).

    The global batch size must be a multiple of the device count (`engine.check_batch_size`,
    checked at the door by the experiment builder); `shard_batch` refuses a host batch that
    does not split over this process's devices.

    Args:
      train_fn: pure `fn(state, batch, rng, *, axis_name=None) -> (state, metrics)`.
      eval_fn: pure `fn(state, batch, *, axis_name=None) -> summable metrics`.
      abstract_state: `jax.eval_shape` of the state (global shapes, no values).
      devices: devices to map over; every process must pass the same sequence.
      shard_params: must be False: parameters are replicated under `pmap`; use the `jit`
        engine to shard them.
      shard_min_size: unused (nothing is sharded); accepted so every engine of
        `cnnjax.train.parallel.ENGINES` is built with the same arguments.
      preprocess_fn: `fn(uint8 images) -> model input`, compiled as `Engine.preprocess`.

    Returns:
      An `Engine` whose state leaves are (n_local, *shape) stacks of identical copies.

    Raises:
      ValueError: `shard_params` is set.
    """
    del shard_min_size, abstract_state  # shapes come from the restored / initialised state
    if shard_params:
        raise ValueError(
            "shard.params=True needs parallel='jit' (the pmap engine replicates the whole "
            "state on every device); set parallel='jit' or shard.params=False"
        )
    devices = tuple(jax.devices() if devices is None else devices)
    mesh = Mesh(np.asarray(devices), (AXIS,))
    n_local = mesh.local_mesh.size
    stacked = NamedSharding(mesh.local_mesh, P(AXIS))  # pmap's host-local layout
    local_copy = NamedSharding(mesh.local_mesh, P())
    replicated = NamedSharding(mesh, P())  # the checkpoint layout, as under `jit`
    # Layout changes are one program over this process's devices (no cross-process
    # collective, so process 0 may call `checkpoint_state` alone), whatever the leaf count.
    first_copy = jax.jit(lambda tree: jax.tree.map(lambda x: x[0], tree), out_shardings=local_copy)
    copies = jax.jit(
        lambda tree: jax.tree.map(lambda x: jnp.broadcast_to(x, (n_local, *x.shape)), tree),
        out_shardings=stacked,
    )

    def train(state, batch):
        return train_fn(state, batch, state.rng, axis_name=AXIS)

    train_step = jax.pmap(train, axis_name=AXIS, devices=devices, donate_argnums=0)
    eval_step = jax.pmap(
        lambda state, batch: eval_fn(state, batch, axis_name=AXIS), axis_name=AXIS, devices=devices
    )

    def create_state(init_fn):
        # Each device runs the (deterministic) initialisation itself: no host copy, no transfer.
        return jax.pmap(lambda _: init_fn(), axis_name=AXIS, devices=devices)(np.zeros(n_local))

    def restore_target(abstract):
        return jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), abstract
        )

    def place_state(restored):
        def local(x):  # a global replicated array → the same buffers seen locally
            if not (isinstance(x, jax.Array) and x.sharding.is_equivalent_to(replicated, x.ndim)):
                x = jax.device_put(x, replicated)
            return _view(x, local_copy)

        return copies(jax.tree.map(local, restored))

    def checkpoint_state(state):
        return jax.tree.map(lambda x: _view(x, replicated), first_copy(state))

    def shard_batch(batch):
        def split(x):
            x = np.asarray(x)
            if x.shape[0] % n_local:
                raise ValueError(
                    f"a batch of {x.shape[0]} examples on process {jax.process_index()} cannot "
                    f"be split over its {n_local} devices; use a batch size that is a multiple "
                    f"of the device count {len(devices)}"
                )
            # (B_local, ...) → (n_local, B_local / n_local, ...): device i gets rows i*b:(i+1)*b.
            return jax.device_put(x.reshape(n_local, x.shape[0] // n_local, *x.shape[1:]), stacked)

        return jax.tree.map(split, batch)

    def to_host(metrics):
        # Every device holds the same (pmean-ed / psum-ed) value: keep device 0's.
        return jax.tree.map(lambda x: np.asarray(x)[0], jax.device_get(metrics))

    return Engine(
        name="pmap",
        devices=devices,
        create_state=create_state,
        restore_target=restore_target,
        place_state=place_state,
        checkpoint_state=checkpoint_state,
        shard_batch=shard_batch,
        train_step=train_step,
        eval_step=eval_step,
        to_host=to_host,
        preprocess=compile_preprocess(preprocess_fn),
    )


__all__ = ["BATCH_NORM_AXIS", "make_pmap_engine"]
