"""grain input pipelines: checkpointable shuffled training batches and padded eval batches.

Pipelines compute each batch's *indices* with numpy and read the batch in one call
(`read_batch`), so an in-memory source costs one fancy-index per batch and a tfds source one
batched read. Reading runs ahead of the consumer in threads (`prefetch` batches) or in
`worker_count` processes; grain's iterator state counts consumed batches, so checkpoints stay
exact despite read-ahead. `DevicePrefetch` adds transfer-ahead to devices, keeping that exact.
"""

import collections
import functools
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grain
import jax
import numpy as np

from cnnjax.data.sources import read_batch


class EpochPermutations:
    """`perms(epoch)`: the seeded global permutation of `range(n)` for that epoch (a few cached).

    Every process computes the same permutation from (seed, epoch), so shards never overlap.
    """

    def __init__(self, n: int, seed: int):
        self.n, self.seed = n, seed
        self.cache: dict[int, np.ndarray] = {}

    def __call__(self, epoch: int) -> np.ndarray:
        # Reader threads share the cache: only atomic dict operations, and the result is held
        # in a local, so a concurrent eviction cannot take it away.
        perm = self.cache.get(epoch)
        if perm is None:
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            keys = list(self.cache)
            if len(keys) >= 3:
                self.cache.pop(min(keys), None)
            self.cache[epoch] = perm
        return perm


def batch_indices(
    batch: int,
    *,
    perms: EpochPermutations,
    batch_size: int,
    shard_index: int,
    shard_count: int,
) -> np.ndarray:
    """Source indices of this shard's batch number `batch`: (B,) int64.

    The global stream is the concatenation of the epochs' permutations; shard k takes stream
    positions k, k + shard_count, ...; batch b is the b-th run of `batch_size` of those.
    """
    local = batch * batch_size + np.arange(batch_size)
    epochs, within = np.divmod(shard_index + shard_count * local, perms.n)
    indices = np.empty(batch_size, np.int64)
    for epoch in np.unique(epochs):  # one epoch, or two where the batch straddles a boundary
        mask = epochs == epoch
        indices[mask] = perms(int(epoch))[within[mask]]
    return indices


def _read(index: int, *, source, **kwargs) -> dict[str, np.ndarray]:
    return read_batch(source, batch_indices(index, **kwargs))


def train_iterator(
    source: Sequence[Any],
    *,
    batch_size: int,
    seed: int,
    num_epochs: int | None = None,
    shard_index: int = 0,
    shard_count: int = 1,
    worker_count: int = 0,
    prefetch: int = 4,
) -> grain.DatasetIterator:
    """Shuffled, repeated, batched examples of this process's shard.

    Every epoch is a fresh global permutation of `source` (seeded by `(seed, epoch)`); process
    `shard_index` of `shard_count` takes every `shard_count`-th example of the stream of epochs,
    so processes never overlap. grain iterates over batch *numbers* and each batch's indices are
    computed at once with numpy (`batch_indices`), so the pipeline costs one vectorised gather
    and one `read_batch` per batch. The iterator's `get_state()` / `set_state()` make a resumed
    run see exactly the same batches.

    Args:
      source: random-access source, `source[i] = {"image": (H, W, C) uint8, "label": int}`.
      batch_size: examples per batch on this process (the remainder of the stream is dropped).
      seed: shuffle seed.
      num_epochs: passes over the data (None: forever).
      shard_index, shard_count: this process's shard, e.g. `jax.process_index()`,
        `jax.process_count()`.
      worker_count: grain worker processes (0: read in the main process). grain reads its absl
        flags when it starts them, so the program must have parsed its flags: an absl app has
        (`experiments/*`); elsewhere mark absl's flags parsed first (the library never does).
      prefetch: batches each reader keeps ready ahead of the consumer (0: read on demand).

    Returns:
      An iterator of `{"image": (B, H, W, C) uint8, "label": (B,) int32}`.
    """
    if batch_size < 1 or shard_count < 1 or not 0 <= shard_index < shard_count:
        raise ValueError(
            f"need batch_size >= 1 and 0 <= shard_index < shard_count, got batch_size="
            f"{batch_size}, shard_index={shard_index}, shard_count={shard_count}"
        )
    if num_epochs is not None and num_epochs < 1:
        raise ValueError(f"num_epochs must be >= 1 or None, got {num_epochs}")
    if len(source) // shard_count < batch_size:
        raise ValueError(
            f"batch_size={batch_size} is larger than this process's share of the source "
            f"({len(source)} examples over {shard_count} processes)"
        )
    if num_epochs is None:
        num_batches = sys.maxsize // (batch_size * shard_count)
    else:  # this shard's stream positions below n * num_epochs, in whole batches
        num_batches = (len(source) * num_epochs - shard_index - 1) // shard_count + 1
        num_batches //= batch_size
    read = functools.partial(
        _read,
        source=source,
        perms=EpochPermutations(len(source), seed),
        batch_size=batch_size,
        shard_index=shard_index,
        shard_count=shard_count,
    )
    batches = grain.MapDataset.range(num_batches).map(read)
    in_memory = hasattr(source, "read_batch")  # a fancy-index per batch: threads would only contend
    threads = 0 if in_memory or prefetch == 0 else min(prefetch, 8)
    options = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=prefetch)
    dataset = batches.to_iter_dataset(options)
    if worker_count > 0:
        dataset = dataset.mp_prefetch(
            grain.MultiprocessingOptions(
                num_workers=worker_count, per_worker_buffer_size=max(prefetch // worker_count, 1)
            )
        )
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


class DevicePrefetch:
    """Keeps `size` batches of `iterator` already transferred to devices, checkpointably.

    `get_state()` returns the state the wrapped iterator had *before* the next unconsumed batch
    was read, so restoring it replays exactly the batches not yet handed out. The state is JSON
    bytes and `start_prefetch` exists, so `grain.checkpoint.CheckpointSave/Restore` (Orbax)
    accept this wrapper as they accept grain's own iterators.

    Args:
      iterator: a grain iterator (anything with `__next__`, `get_state`, `set_state`).
      size: batches in flight (2 overlaps one transfer with one step).
      put: host batch → device batch, e.g. `jax.device_put` or an engine's `shard_batch`.
    """

    def __init__(self, iterator, size: int = 2, put: Callable[[Any], Any] = jax.device_put):
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.iterator, self.size, self.put = iterator, size, put
        self.queue: collections.deque = collections.deque()

    def _fill(self) -> None:
        while len(self.queue) < self.size:
            state = self.iterator.get_state()
            try:
                batch = next(self.iterator)
            except StopIteration:
                self.iterator.set_state(state)
                return
            self.queue.append((state, self.put(batch)))

    def __iter__(self):
        return self

    def __next__(self):
        self._fill()
        if not self.queue:
            raise StopIteration
        return self.queue.popleft()[1]

    def get_state(self) -> bytes:
        state = self.queue[0][0] if self.queue else self.iterator.get_state()
        return json.dumps(state).encode()

    def set_state(self, state: bytes | str | dict) -> None:
        self.queue.clear()
        self.iterator.set_state(state if isinstance(state, dict) else json.loads(state))

    def start_prefetch(self) -> None:
        """Called by grain's checkpoint handler after a restore; batches are fetched on demand."""
