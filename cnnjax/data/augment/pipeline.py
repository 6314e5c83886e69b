"""Compose registered ops into one jit-able batch augmentation (big_vision-style spec strings).

    augment = build("pad_crop(4)|flip_lr|mixup(0.2)", num_classes=10)
    images, labels = jax.jit(augment)(key, images, labels)  # (B, H, W, C), (B, K) one-hot

Consecutive per-example ops form one stage applied with `jax.vmap` over per-example keys; a batch
op (mixup, cutmix) is a stage of its own. Stage `s` uses `fold_in(key, s)`; in a per-example stage
example `b` uses `split(stage_key, B)[b]`, and its ops `split(example_key, n_ops)`.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from cnnjax.data.augment.registry import BATCH, EXAMPLE, parse_spec

ExampleFn = Callable[[jax.Array, jax.Array], jax.Array]
BatchFn = Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def _chain(fns: list[ExampleFn]) -> ExampleFn:
    def example(key, image):
        for fn, op_key in zip(fns, jax.random.split(key, len(fns)), strict=True):
            image = fn(op_key, image)
        return image

    return example


def _vmapped(example_fn: ExampleFn) -> BatchFn:
    def stage(key, images, labels):
        keys = jax.random.split(key, images.shape[0])
        return jax.vmap(example_fn)(keys, images), labels

    return stage


def build_example(spec: str) -> ExampleFn:
    """The per-example function `fn(key, image (H, W, C)) -> image` of a spec of per-example ops.

    `build(spec, k)(key, images, labels)[0][b]` equals `build_example(spec)(keys[b], images[b])`
    with `keys = jax.random.split(jax.random.fold_in(key, 0), B)`.

    Raises:
      ValueError: for unknown ops, bad arguments or a batch op (mixup, cutmix) in `spec`.
    """
    ops = parse_spec(spec)
    batch_ops = [op.name for op, _ in ops if op.kind == BATCH]
    if batch_ops:
        raise ValueError(f"{', '.join(batch_ops)} act on whole batches; use `build` for {spec!r}")
    fns = [fn for _, fn in ops]
    return _chain(fns) if fns else (lambda key, image: image)


def build(spec: str, num_classes: int) -> BatchFn:
    """Builds `fn(key, images, labels) -> (images, labels)` from `"op(args)|op|..."`.

    Args:
      spec: ops separated by `|`; the empty string is the identity. See `list_ops()`.
      num_classes: K, the width of the (soft) label vectors.

    Returns:
      A pure, jit-able function of a PRNG key, normalised float images (B, H, W, C) and labels
      (B, K) float (one-hot or soft), returning arrays of the same shapes and dtypes.

    Raises:
      ValueError: naming an unknown op or bad argument and listing the accepted ops; at trace
        time, labels whose shape is not (B, num_classes).
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    stages: list[BatchFn] = []
    pending: list[ExampleFn] = []
    for op, fn in parse_spec(spec):
        if op.kind == EXAMPLE:
            pending.append(fn)
            continue
        if pending:
            stages.append(_vmapped(_chain(pending)))
            pending = []
        stages.append(fn)
    if pending:
        stages.append(_vmapped(_chain(pending)))

    def augment(key, images, labels):
        if labels.shape != (images.shape[0], num_classes):
            raise ValueError(
                f"labels must have shape (B, num_classes) = ({images.shape[0]}, {num_classes}), "
                f"got {labels.shape}"
            )
        dtype = images.dtype
        images = images.astype(jnp.promote_types(dtype, jnp.float32))
        for index, stage in enumerate(stages):
            images, labels = stage(jax.random.fold_in(key, index), images, labels)
        return images.astype(dtype), labels

    return augment
