"""grain input pipelines: checkpointable shuffled training batches and padded eval batches.

Pipelines shuffle and batch *indices* and read each batch in one call (`read_batch`), so an
in-memory source costs one fancy-index per batch and a tfds source one batched read.
"""

import functools
from collections.abc import Iterator, Sequence
from typing import Any

import grain
import numpy as np

from cnnjax.data.sources import read_batch


def train_iterator(
    source: Sequence[Any],
    *,
    batch_size: int,
    seed: int,
    num_epochs: int | None = None,
    shard_index: int = 0,
    shard_count: int = 1,
    worker_count: int = 0,
) -> grain.DatasetIterator:
    """Shuffled, repeated, batched examples of this process's shard.

    Every epoch is a fresh global permutation of `source` (seeded); process `shard_index` of
    `shard_count` takes every `shard_count`-th example of it, so processes never overlap. The
    iterator's `get_state()` / `set_state()` make a resumed run see exactly the same batches.

    Args:
      source: random-access source, `source[i] = {"image": (H, W, C) uint8, "label": int}`.
      batch_size: examples per batch on this process (the remainder of the stream is dropped).
      seed: shuffle seed.
      num_epochs: passes over the data (None: forever).
      shard_index, shard_count: this process's shard.
      worker_count: grain worker processes (0: read in the main process).

    Returns:
      An iterator of `{"image": (B, H, W, C) uint8, "label": (B,) int32}`.
    """
    indices = grain.MapDataset.range(len(source)).shuffle(seed=seed).repeat(num_epochs)
    indices = indices[shard_index::shard_count].batch(batch_size, drop_remainder=True)
    dataset = indices.map(functools.partial(read_batch, source)).to_iter_dataset()
    if worker_count > 0:
        dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=worker_count))
    return iter(dataset)


def eval_batches(
    source: Sequence[Any],
    *,
    batch_size: int,
    shard_index: int = 0,
    shard_count: int = 1,
) -> Iterator[dict[str, np.ndarray]]:
    """Every example of this process's shard once, in order, in batches of exactly `batch_size`.

    The last batch is padded by repeating index 0; `mask` is False on padding so metrics count
    each real example exactly once. Every process yields the same number of batches, so
    collective operations stay in step.

    Yields:
      `{"image": (B, H, W, C) uint8, "label": (B,) int32, "mask": (B,) bool}`.
    """
    indices = np.arange(shard_index, len(source), shard_count)
    per_shard = -(-len(source) // shard_count)
    for start in range(0, per_shard, batch_size):
        chunk = indices[start : start + batch_size]
        mask = np.zeros(batch_size, bool)
        mask[: len(chunk)] = True
        padded = np.concatenate([chunk, np.zeros(batch_size - len(chunk), chunk.dtype)])
        yield {**read_batch(source, padded), "mask": mask}
