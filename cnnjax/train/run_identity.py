"""What a checkpoint is a checkpoint *of*: the run identity saved in `meta`, checked on restore.

A workdir re-run with another model, class count, input shape, compute dtype or optimizer must
not try to load (and, failing, discard) the checkpoints of the first run. Each checkpoint's
`meta` records `describe(...)`; before anything is restored the saved identity is compared item by
item with the new run's, then the saved state's tree (every array's path and shape, from
Orbax's own metadata) with the state this run would restore into (which also catches a changed
`ema_decay`, `accumulate_steps`, `grad_clip_norm` or loss scaling); the first difference raises
`CheckpointMismatchError`.
"""

import json
from collections.abc import Mapping
from typing import Any

import jax

IDENTITY_KEY = "identity"
ABSENT = "absent"  # the value of a parameter one side does not have
# Compared in this order; the first that differs is reported. `state` is not saved in `meta`: it
# is read from the checkpoint's array metadata and compared with the restore target.
ITEMS = (
    "model", "model_kwargs", "num_classes", "input_shape", "dtype", "optimizer", "params", "state"
)  # fmt: skip
_TREES = {"params": "parameter", "state": "state entry"}


class CheckpointMismatchError(ValueError):
    """The checkpoints in a workdir were saved by a different run (model, shapes, optimizer)."""


def _key(entry: Any) -> str:
    for attribute in ("key", "name", "idx"):  # DictKey, GetAttrKey, SequenceKey
        if hasattr(entry, attribute):
            return str(getattr(entry, attribute))
    return str(entry)


def param_shapes(tree: Any) -> dict[str, list[int]]:
    """{"conv1/kernel": [5, 5, 1, 6], ...}: every leaf's path and shape.

    Args:
      tree: arrays, `jax.ShapeDtypeStruct`s or Orbax `ArrayMetadata` (anything with `.shape`);
        a `TrainState` and the dict Orbax saved it as give the same paths.
    """
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {
        "/".join(_key(k) for k in path): [int(d) for d in getattr(leaf, "shape", ())]
        for path, leaf in flat
    }


def _plain(value: Any) -> Any:
    """JSON-comparable form: tuples become lists, mappings dicts (as a JSON round trip would)."""
    if isinstance(value, Mapping) or hasattr(value, "to_dict"):
        value = value.to_dict() if hasattr(value, "to_dict") else value
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return json.loads(json.dumps(value, default=str))


def describe(
    *,
    model: str,
    model_kwargs: Any,
    num_classes: int,
    input_shape: tuple[int, ...],
    dtype: str,
    optimizer: str,
    params: Any,
) -> dict:
    """The identity of a run, as saved in each checkpoint's `meta["identity"]`.

    Args:
      model: registered model name (`config.model`).
      model_kwargs: `config.model_kwargs` (a ConfigDict or dict).
      num_classes: classes of the dataset (the head's width).
      input_shape: (H, W, C) the model sees.
      dtype: compute dtype name (`config.dtype`).
      optimizer: optimizer name (`config.optimizer`).
      params: the parameter tree (arrays or `jax.ShapeDtypeStruct`s; only shapes are kept).

    Returns:
      A JSON-serialisable dict with the keys of `ITEMS`.
    """
    return {
        "model": str(model),
        "model_kwargs": _plain(model_kwargs),
        "num_classes": int(num_classes),
        "input_shape": [int(d) for d in input_shape],
        "dtype": str(dtype),
        "optimizer": str(optimizer),
        "params": param_shapes(params),
    }


def first_difference(saved: Mapping, current: Mapping) -> tuple[str, Any, Any] | None:
    """(item, saved value, current value) of the first item in `ITEMS` that differs, or None.

    Items the saved identity does not record (older checkpoints) are not compared. Parameters and
    state entries are compared name by name: one that a side lacks, or the first differing shape.
    """
    for item in ITEMS:
        if item not in saved or item not in current:
            continue
        old, new = _plain(saved[item]), _plain(current[item])
        if item not in _TREES:
            if old != new:
                return item, old, new
            continue
        what = _TREES[item]
        for name in sorted(set(old) | set(new)):
            if name not in old or name not in new:
                return f"{what} {name!r}", old.get(name, ABSENT), new.get(name, ABSENT)
            if old[name] != new[name]:
                return f"shape of {what} {name!r}", old[name], new[name]
    return None


def check(saved: Mapping, current: Mapping, directory: str, step: int) -> None:
    """Raises `CheckpointMismatchError` when checkpoint `step` in `directory` is of another run.

    The message names the first differing item, both values, and the two ways out.
    """
    difference = first_difference(saved, current)
    if difference is None:
        return
    item, old, new = difference
    old, new = (v if v == ABSENT else repr(v) for v in (old, new))
    why = ""
    if item.startswith(("state entry", "shape of state entry")):
        why = (
            " (the saved state's layout follows optimizer, ema_decay, accumulate_steps, "
            "grad_clip_norm, weight_decay and dtype)"
        )
    raise CheckpointMismatchError(
        f"the checkpoints in {directory} belong to a different run: {item} is {old} in the "
        f"saved step {step} but {new} in this run{why}. Nothing was restored, changed or deleted. "
        f"To train this configuration, use a fresh --workdir; to start from those weights on "
        f"purpose, use transfer learning: --config.transfer.init_from={directory}/{step}"
    )


__all__ = [
    "CheckpointMismatchError",
    "IDENTITY_KEY",
    "ITEMS",
    "check",
    "describe",
    "first_difference",
    "param_shapes",
]
