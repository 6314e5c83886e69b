"""The table of engines: parallel mode name → how to build its engine, what BatchNorm needs.

Adding a mode is one module with a `make_*_engine` of the common signature and one row here.
"""

import dataclasses
from collections.abc import Callable, Sequence

from cnnjax import choices
from cnnjax.train.parallel import jit_engine, pmap_engine
from cnnjax.train.parallel.engine import Engine
from cnnjax.train.state import TrainState


@dataclasses.dataclass(frozen=True)
class Mode:
    """One row of `ENGINES`.

    Attributes:
      make: `fn(train_fn, eval_fn, abstract_state, *, devices, shard_params, shard_min_size,
        preprocess_fn) -> Engine`.
      batch_norm_axis: the axis name BatchNorm layers must average their batch statistics
        over for the engine to see the global batch (None: the batch is global already).
    """

    make: Callable[..., Engine]
    batch_norm_axis: str | None


ENGINES: dict[str, Mode] = {
    "jit": Mode(jit_engine.make_jit_engine, jit_engine.BATCH_NORM_AXIS),
    "pmap": Mode(pmap_engine.make_pmap_engine, pmap_engine.BATCH_NORM_AXIS),
}
PARALLEL_MODES = tuple(ENGINES)


def mode(name: str) -> Mode:
    """The row of parallel mode `name`; a ValueError listing the modes for any other name."""
    choices.check("parallel mode", name, ENGINES)
    return ENGINES[name]


def batch_norm_axis(name: str) -> str | None:
    """The `axis_name` the models' BatchNorm layers need under parallel mode `name`."""
    return mode(name).batch_norm_axis


def make_engine(
    name: str,
    train_fn: Callable,
    eval_fn: Callable,
    abstract_state: TrainState,
    *,
    devices: Sequence | None = None,
    shard_params: bool = False,
    shard_min_size: int = jit_engine.SHARD_MIN_SIZE,
    preprocess_fn: Callable | None = None,
) -> Engine:
    """The engine of parallel mode `name` (`jit` or `pmap`).

    Args:
      name: the parallel mode, a key of `ENGINES`.
      train_fn: pure `fn(state, batch, rng, *, axis_name=None) -> (state, metrics)`.
      eval_fn: pure `fn(state, batch, *, axis_name=None) -> summable metrics`.
      abstract_state: `jax.eval_shape` of the state (shapes and dtypes, no values).
      devices: devices to run on (default: all devices of all processes).
      shard_params: split large parameter / optimizer / EMA arrays over the devices (`jit`).
      shard_min_size: arrays with fewer elements stay replicated under `shard_params`.
      preprocess_fn: `fn(uint8 images) -> model input`, compiled as `Engine.preprocess`.

    Returns:
      An `Engine`.

    Raises:
      ValueError: an unknown mode, or values the mode cannot honour (`shard_params` under
        `pmap`).
    """
    return mode(name).make(
        train_fn,
        eval_fn,
        abstract_state,
        devices=devices,
        shard_params=shard_params,
        shard_min_size=shard_min_size,
        preprocess_fn=preprocess_fn,
    )


__all__ = ["ENGINES", "PARALLEL_MODES", "Mode", "batch_norm_axis", "make_engine", "mode"]
