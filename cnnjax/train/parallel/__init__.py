"""The one place where training steps are compiled and placed on devices.

* `engine`: the `Engine` type (device layout + compiled steps) and the checks of its inputs.
* `jit_engine` (default mode `jit`): one program over a `data` mesh of all devices, the state
  replicated or FSDP-sharded (`shard_params`).
* `pmap_engine` (mode `pmap`): classic replicated-state `jax.pmap` data parallelism.
* `modes`: the table `ENGINES` of mode name → builder, and `make_engine(mode, ...)`.

Pure steps go in (`cnnjax.train.steps`), compiled callables come out; the loop never calls
`jax.jit` itself. Cross-replica BatchNorm is the model's own: its BatchNorm layers get the
`axis_name` of `batch_norm_axis(mode)` where the model is built.
"""

from cnnjax.train.parallel.engine import AXIS, Engine, check_batch_size
from cnnjax.train.parallel.jit_engine import (
    SHARD_MIN_SIZE,
    fsdp_spec,
    make_jit_engine,
    state_shardings,
)
from cnnjax.train.parallel.modes import (
    ENGINES,
    PARALLEL_MODES,
    Mode,
    batch_norm_axis,
    make_engine,
)
from cnnjax.train.parallel.pmap_engine import make_pmap_engine

__all__ = [
    "AXIS",
    "ENGINES",
    "PARALLEL_MODES",
    "SHARD_MIN_SIZE",
    "Engine",
    "Mode",
    "batch_norm_axis",
    "check_batch_size",
    "fsdp_spec",
    "make_engine",
    "make_jit_engine",
    "make_pmap_engine",
    "state_shardings",
]
