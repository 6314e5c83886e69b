"""Partial restore: source variables into a model whose head differs, with a report.

Parameter paths are `/`-joined (`conv1/kernel`, `stage2/block1/bn1/scale`). Every target path
is either *matched* (same path and shape in the source: copied), *new* (the head, or absent from
the source: freshly initialised) — and source paths the target lacks are *unused*. A path
present in both with another shape outside the head means another architecture: one clear
error, never a silent skip.
"""

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": x}}` → `{"a/b": x}`, keeping the tree's own key order."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict:
    """Inverse of `flatten`."""
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, last = path.split("/")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return tree


def flatten_collections(variables: Mapping) -> dict[str, Any]:
    """`{"params": {"conv1": {"kernel": x}}}` → `{"params/conv1/kernel": x}` (+ batch_stats)."""
    return {
        f"{c}/{p}": v
        for c in ("params", "batch_stats")
        for p, v in flatten(variables.get(c) or {}).items()
    }


def module_order(model, input_shape: tuple[int, ...]) -> list[str]:
    """Parameter paths in the order the model creates them (no compile: traced once)."""
    order: list[str] = []

    def init():
        variables = model.init(
            {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)},
            jnp.zeros((1, *input_shape), jnp.float32),
            train=False,
        )
        order.extend(flatten(variables["params"]))  # creation order: before jit sorts keys
        return variables

    jax.eval_shape(init)
    return order


def default_head(paths: Iterable[str]) -> str:
    """A regex matching the last top-level module in creation order (the classifier)."""
    paths = list(paths)
    if not paths:
        raise ValueError("the model has no parameters to transfer into")
    return f"^{re.escape(paths[-1].split('/')[0])}/"


@dataclasses.dataclass(frozen=True)
class Report:
    """Which target arrays came from the source.

    Attributes:
      matched: paths copied from the source.
      new: paths freshly initialised (the head, or absent from the source).
      unused: source paths the target does not have (or the source's own head).
    """

    matched: tuple[str, ...]
    new: tuple[str, ...]
    unused: tuple[str, ...]

    def summary(self, source: str) -> str:
        show = lambda p: ", ".join(p[:6]) + (f", ... ({len(p)} in all)" if len(p) > 6 else "")
        return (
            f"transfer from {source}: {len(self.matched)} arrays matched, "
            f"{len(self.new)} newly initialised [{show(self.new)}], "
            f"{len(self.unused)} unused [{show(self.unused)}]"
        )


def plan_restore(target: Mapping, source: Mapping, head: str, source_name: str) -> Report:
    """Matches target paths to source paths; raises on a shape mismatch outside the head.

    Args:
      target: `{"params": ..., "batch_stats": ...}` of the new model (arrays or shape structs).
      source: the same collections of the source.
      head: regex on paths (`params/...` excluded) of the re-initialised head.
      source_name: for messages.

    Returns:
      A `Report` (paths prefixed with their collection, e.g. `params/conv1/kernel`).

    Raises:
      ValueError: shapes differ outside the head, or nothing matches at all.
    """
    head_re = re.compile(head)
    flat_t, flat_s = flatten_collections(target), flatten_collections(source)
    in_head = lambda path: bool(head_re.search(path.split("/", 1)[1]))
    matched, new, mismatched = [], [], []
    for path, leaf in flat_t.items():
        if in_head(path) or path not in flat_s:
            new.append(path)
        elif tuple(np.shape(flat_s[path])) == tuple(leaf.shape):
            matched.append(path)
        else:
            mismatched.append(
                f"{path}: source {tuple(np.shape(flat_s[path]))}, model {tuple(leaf.shape)}"
            )
    if mismatched:
        raise ValueError(
            f"transfer.init_from={source_name!r} holds another architecture: "
            f"{len(mismatched)} parameter(s) outside the head (transfer.head={head!r}) have other "
            f"shapes: {'; '.join(mismatched[:5])}. Use the model (and model_kwargs) the source "
            f"was trained with, or widen transfer.head"
        )
    if not matched:
        raise ValueError(
            f"transfer.init_from={source_name!r} shares no parameter path with the model; source "
            f"paths: {', '.join(list(flat_s)[:8])}; model paths: {', '.join(list(flat_t)[:8])}"
        )
    unused = [p for p in flat_s if p not in flat_t or in_head(p)]
    return Report(tuple(matched), tuple(new), tuple(unused))


def apply_restore(variables: Mapping, source: Mapping, report: Report) -> dict:
    """`variables` with every matched array replaced by the source's (cast to its dtype).

    Pure and jit-able (the source arrays become constants of the traced function).
    """
    flat = {f"{c}/{p}": v for c in variables for p, v in flatten(variables[c]).items()}
    flat_s = {f"{c}/{p}": v for c in source for p, v in flatten(source[c] or {}).items()}
    for path in report.matched:
        flat[path] = jnp.asarray(flat_s[path], dtype=flat[path].dtype)
    out = unflatten(flat)
    return {c: out.get(c, {}) for c in variables}


__all__ = ["Report", "apply_restore", "default_head", "flatten", "module_order", "plan_restore"]
