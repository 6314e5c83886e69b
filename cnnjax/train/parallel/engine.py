"""The `Engine` every parallel mode builds, and the checks its inputs must pass.

An engine bundles how the state and batches are laid out on devices with the compiled steps.
Pure steps go in (`cnnjax.train.steps`), compiled callables come out; nothing outside
`cnnjax.train.parallel` calls `jax.jit` or `jax.pmap` on the training path.
"""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from cnnjax.train.state import TrainState

AXIS = "data"  # the one device axis: the mesh axis under `jit`, the mapped axis under `pmap`


@dataclasses.dataclass(frozen=True)
class Engine:
    """Device layout + compiled steps. Every field is a plain callable, so engines compose.

    Attributes:
      name: the parallel mode (`jit` or `pmap`).
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
      preprocess: compiled `fn((B, h, w, c) uint8) -> (B, H, W, C)` model input on this
        process's default device (for pictures of a few examples), or None when the engine
        was built without a preprocessing function.
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
    preprocess: Callable | None = None


def check_batch_size(batch_size: int, devices: Sequence, name: str = "batch_size") -> None:
    """Raises a ValueError unless `batch_size` splits evenly over devices and processes.

    Args:
      batch_size: the global batch size B.
      devices: the devices of the run (all processes).
      name: the config key named in the message.
    """
    count = len(devices)
    processes = len({d.process_index for d in devices})
    if batch_size <= 0 or batch_size % count or batch_size % processes:
        example = count * max(batch_size // count, 1)
        raise ValueError(
            f"{name}={batch_size} must be a positive multiple of the device count {count} "
            f"(over {processes} process(es)); e.g. {name}={example}"
        )


def compile_preprocess(preprocess_fn: Callable | None) -> Callable | None:
    """`preprocess_fn` compiled for a few host examples on the default device (or None)."""
    return None if preprocess_fn is None else jax.jit(preprocess_fn)


__all__ = ["AXIS", "Engine", "check_batch_size", "compile_preprocess"]
