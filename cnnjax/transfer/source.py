"""Where transferred weights come from: a cnnjax run (workdir or step dir) or a pretrained name.

A cnnjax checkpoint is read without a `CheckpointManager` (which may tidy temporary directories)
and without a restore target: the `state` item's metadata gives the tree, then only `params`
and `batch_stats` are read, as numpy arrays. Nothing under the source directory is written.
"""

import dataclasses
import hashlib
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

PyTree = Any


@dataclasses.dataclass(frozen=True)
class Source:
    """Variables to start from.

    Attributes:
      name: what `init_from` said.
      path: the step directory read (empty for a pretrained network).
      variables: `{"params": ..., "batch_stats": ...}` of numpy arrays.
      model: the pretrained linen module (None for a cnnjax checkpoint: the config's model).
      preprocess: the pretrained network's input preprocessing, or None.
      fingerprint: sha256 over the variables' paths, shapes and bytes (cache keys use it).
    """

    name: str
    path: str
    variables: dict
    model: Any = None
    preprocess: Any = None
    fingerprint: str = ""


def _is_step_dir(path: str) -> bool:
    return os.path.isdir(os.path.join(path, "state"))


def _numeric_steps(directory: str) -> list[int]:
    if not os.path.isdir(directory):
        return []
    names = [n for n in os.listdir(directory) if n.isdigit()]
    return sorted(int(n) for n in names if _is_step_dir(os.path.join(directory, n)))


def find_step_dir(init_from: str) -> str:
    """The checkpoint step directory `init_from` names: itself, or the newest in a run.

    Args:
      init_from: a step directory (`<workdir>/checkpoints/<step>`), a `checkpoints/`
        directory or a workdir.

    Returns:
      The absolute step directory (holding `state/`).

    Raises:
      FileNotFoundError: nothing there, or no finished checkpoint in it.
    """
    path = os.path.abspath(os.path.expanduser(init_from))
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"transfer.init_from={init_from!r} does not exist; give a cnnjax workdir, a "
            f"checkpoint step directory (<workdir>/checkpoints/<step>) or a pretrained name"
        )
    if _is_step_dir(path):
        return path
    for directory in (os.path.join(path, "checkpoints"), path):
        steps = _numeric_steps(directory)
        if steps:
            return os.path.join(directory, str(steps[-1]))
    raise FileNotFoundError(
        f"transfer.init_from={init_from!r} holds no finished cnnjax checkpoint (looked for "
        f"{os.path.join(path, 'checkpoints', '<step>', 'state')} and {path}/<step>/state)"
    )


def checkpoint_shapes(step_dir: str) -> dict:
    """`{"params": tree, "batch_stats": tree}` of `jax.ShapeDtypeStruct`, from metadata only."""
    state_dir = os.path.join(step_dir, "state")
    try:
        metadata = ocp.PyTreeCheckpointer().metadata(state_dir)
    except Exception as e:  # noqa: BLE001 - any unreadable metadata is one clear error
        raise ValueError(f"cannot read the checkpoint in {step_dir}: {e}") from e
    tree = getattr(metadata, "item_metadata", metadata)
    tree = getattr(tree, "tree", tree)
    if not isinstance(tree, dict) or "params" not in tree:
        raise ValueError(f"{step_dir} is not a cnnjax training checkpoint (no params in its state)")
    to_struct = lambda m: jax.ShapeDtypeStruct(tuple(m.shape), m.dtype)
    return {
        "params": jax.tree.map(to_struct, tree["params"]),
        "batch_stats": jax.tree.map(to_struct, tree.get("batch_stats") or {}),
    }


def read_checkpoint(step_dir: str) -> dict:
    """Reads `params` and `batch_stats` of a cnnjax checkpoint as numpy arrays (read-only)."""
    shapes = checkpoint_shapes(step_dir)
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), shapes)
    restored = ocp.PyTreeCheckpointer().restore(
        os.path.join(step_dir, "state"),
        args=ocp.args.PyTreeRestore(item=shapes, restore_args=restore_args, partial_restore=True),
    )
    return {"params": restored["params"], "batch_stats": restored.get("batch_stats") or {}}


def fingerprint(variables: PyTree) -> str:
    """sha256 over every leaf's path, shape, dtype and bytes."""
    digest = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
        leaf = np.asarray(leaf)
        digest.update(f"{jax.tree_util.keystr(path)}{leaf.shape}{leaf.dtype}".encode())
        digest.update(np.ascontiguousarray(leaf).tobytes())
    return digest.hexdigest()


def pretrained_names() -> tuple[str, ...]:
    """Names `cnnjax.pretrained.load` accepts (empty when that package is absent)."""
    try:
        from cnnjax.pretrained import PRETRAINED
    except ImportError:
        return ()
    return tuple(PRETRAINED)


def load_source(init_from: str) -> Source:
    """A `Source` for `init_from`: a pretrained name, else a cnnjax workdir or step directory.

    Raises:
      FileNotFoundError: a path that does not exist or holds no checkpoint.
      ValueError: an unreadable checkpoint.
    """
    if init_from in pretrained_names():
        from cnnjax import pretrained

        model, variables, preprocess = pretrained.load(init_from)
        variables = {
            "params": jax.tree.map(np.asarray, dict(variables["params"])),
            "batch_stats": jax.tree.map(np.asarray, dict(variables.get("batch_stats", {}))),
        }
        return Source(init_from, "", variables, model, preprocess, fingerprint(variables))
    step_dir = find_step_dir(init_from)
    variables = read_checkpoint(step_dir)
    return Source(init_from, step_dir, variables, fingerprint=fingerprint(variables))
