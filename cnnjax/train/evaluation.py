"""Evaluation over a whole split with any engine: top-1, top-5, loss, per-class, confusion."""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from cnnjax import data
from cnnjax.train import losses
from cnnjax.train.parallel import Engine


def evaluate(engine: Engine, state: Any, source: Sequence, batch_size: int) -> dict:
    """Runs `engine.eval_step` over every example of `source` exactly once.

    Each process reads its own shard (padded batches with a mask, so every example counts once
    and every process runs the same number of steps). Sums stay on device until the end.

    Args:
      engine: the run's engine.
      state: the state in the engine's layout.
      source: a random-access split.
      batch_size: global eval batch (a multiple of the device count).

    Returns:
      `losses.summarize` of the sums: loss, accuracy, top5_accuracy, count, per_class_accuracy
      (K,), confusion (K, K).
    """
    processes, index = jax.process_count(), jax.process_index()
    totals = None
    for batch in data.eval_batches(
        source, batch_size=batch_size // processes, shard_index=index, shard_count=processes
    ):
        sums = engine.eval_step(state, engine.shard_batch(batch))
        totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    if totals is None:
        raise ValueError("cannot evaluate an empty split")
    return losses.summarize(engine.to_host(totals))
