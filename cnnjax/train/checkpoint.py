"""Orbax checkpoints of the whole run: state, data-iterator position and bookkeeping.

Each step directory holds three items: `state` (the `TrainState` arrays, saved asynchronously;
restorable onto any mesh), `data` (grain's iterator state, one JSON per process) and `meta`
(JSON: step, epoch, ...). The newest `keep` steps are kept, plus the best `keep_best` by an
evaluation metric. Orbax writes into a temporary directory and renames it when complete, so a
killed save never looks finished; a newest checkpoint that is finished but unreadable
(truncated, corrupted) is reported with a warning, deleted, and the previous one is used.
"""

import logging
from collections.abc import Callable
from typing import Any

import grain.checkpoint as grain_checkpoint
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

from cnnjax.train.state import TrainState

log = logging.getLogger(__name__)


class Checkpointer:
    """A `CheckpointManager` over `<workdir>/checkpoints` with fault-tolerant restore.

    Args:
      directory: where step directories go.
      keep: the newest `keep` checkpoints are kept.
      keep_best: the best `keep_best` checkpoints by `best_metric` are kept too (0: none).
      best_metric: key of the evaluation metrics passed to `save` (e.g. `accuracy`).
      best_mode: `max` or `min`.
      async_save: write arrays in a background thread.
    """

    def __init__(
        self,
        directory: str,
        *,
        keep: int = 3,
        keep_best: int = 1,
        best_metric: str = "accuracy",
        best_mode: str = "max",
        async_save: bool = True,
    ):
        if best_mode not in ("max", "min"):
            raise ValueError(f"unknown best_mode {best_mode!r}; accepted are max, min")
        if keep < 1:
            raise ValueError(f"keep_checkpoints must be >= 1, got {keep}")
        kept = [policies.LatestN(keep)]
        if keep_best > 0:
            sign = 1.0 if best_mode == "max" else -1.0
            kept.append(
                policies.BestN(
                    get_metric_fn=lambda m: sign * float(m[best_metric]),
                    n=keep_best,
                    keep_checkpoints_without_metrics=False,
                )
            )
        options = ocp.CheckpointManagerOptions(
            preservation_policy=policies.AnyPreservationPolicy(kept),
            enable_async_checkpointing=async_save,
            cleanup_tmp_directories=True,
            create=True,
        )
        self.directory = directory
        self.best_metric = best_metric
        self.manager = ocp.CheckpointManager(directory, options=options)
        self._last_saved: int | None = self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def save(
        self,
        step: int,
        state: TrainState,
        iterator: Any | None,
        meta: dict,
        metrics: dict | None = None,
    ) -> bool:
        """Starts saving `state` (global arrays), the iterator position and `meta` at `step`.

        Returns False (and does nothing) when `step` is already saved.
        """
        if step == self._last_saved:
            return False
        items = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(meta)}
        if iterator is not None:
            items["data"] = grain_checkpoint.CheckpointSave(iterator)
        if metrics is not None:
            metrics = {self.best_metric: float(metrics[self.best_metric])}
        self.manager.save(step, args=ocp.args.Composite(**items), metrics=metrics, force=True)
        self._last_saved = step
        return True

    def restore(
        self, step: int, target: TrainState, iterator: Any | None = None
    ) -> tuple[TrainState, dict]:
        """Restores `step` onto `target` (abstract arrays carrying the wanted shardings).

        Args:
          step: a saved step.
          target: `jax.ShapeDtypeStruct` tree (see `Engine.restore_target`).
          iterator: a fresh grain iterator whose position is set to the saved one, or None.

        Returns:
          (state, meta).
        """
        items = {"state": ocp.args.StandardRestore(target), "meta": ocp.args.JsonRestore()}
        if iterator is not None:
            items["data"] = grain_checkpoint.CheckpointRestore(iterator)
        restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        return restored.state, dict(restored.meta)

    def restore_latest(
        self, target: TrainState, make_iterator: Callable[[], Any] | None = None
    ) -> tuple[TrainState, dict, Any] | None:
        """The newest checkpoint that restores; unreadable newer ones are warned about and deleted.

        Args:
          target: abstract state with shardings (see `restore`).
          make_iterator: builds a fresh data iterator at the start of the data (each attempt
            gets its own, so a failed attempt cannot leave a half-set position behind).

        Returns:
          (state, meta, iterator positioned after the saved step), or None when no checkpoint
          is readable.
        """
        for step in reversed(self.all_steps()):
            iterator = make_iterator() if make_iterator is not None else None
            try:
                return (*self.restore(step, target, iterator), iterator)
            except Exception as e:  # noqa: BLE001 - any failure to read means "corrupt"
                log.warning(
                    "checkpoint step %d in %s is unreadable (%s: %s); deleting it and falling "
                    "back to the previous one",
                    step,
                    self.directory,
                    type(e).__name__,
                    str(e).splitlines()[0][:300] if str(e) else "",
                )
                self.manager.delete(step)
                self._last_saved = self.manager.latest_step()
        return None

    def wait(self) -> None:
        """Blocks until pending asynchronous saves are on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
