"""Orbax checkpoints of the whole run: state, data-iterator position and bookkeeping.

Each step directory holds three items: `state` (the `TrainState` arrays, saved asynchronously;
restorable onto any mesh), `data` (grain's iterator state, one JSON per process) and `meta`
(JSON: step, epoch, the run's identity, ...). The newest `keep` steps are kept, plus the best
`keep_best` by an evaluation metric. Orbax writes into a temporary directory and renames it when
complete, so a killed save never looks finished.

Restoring never deletes anything. Checkpoints of another run (model, classes, input shape, dtype,
optimizer or parameter shapes differ from `meta["identity"]`) raise `CheckpointMismatchError`
before anything is touched. A finished but unreadable step (truncated or garbled file, missing
item) is moved to `<directory>/unreadable/<step>` with a `<step>.reason.txt` beside it, and the
previous step is used, with a warning. Errors of the environment (permission denied, no space,
I/O error) are raised as they are, with nothing moved.
"""

import logging
from collections.abc import Callable
from typing import Any

import grain.checkpoint as grain_checkpoint
import orbax.checkpoint as ocp
from etils import epath
from orbax.checkpoint import checkpoint_managers as policies

from cnnjax.train import recovery, run_identity
from cnnjax.train.run_identity import CheckpointMismatchError
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
      identity: what the run is (`run_identity.describe`): saved into each step's `meta` by the
        loop and checked by `restore_latest`; None: no check.
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
        identity: dict | None = None,
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
        self.identity = identity
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

    def read_meta(self, step: int) -> dict:
        """The `meta` item of `step` (step, epoch, identity, ...), read alone."""
        restored = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        return dict(restored.meta)

    def restore(
        self,
        step: int,
        target: TrainState,
        iterator: Any | None = None,
        identity: dict | None = None,
    ) -> tuple[TrainState, dict]:
        """Restores `step` onto `target` (abstract arrays carrying the wanted shardings).

        Args:
          step: a saved step.
          target: `jax.ShapeDtypeStruct` tree (see `Engine.restore_target`).
          iterator: a fresh grain iterator whose position is set to the saved one, or None.
          identity: this run's `run_identity.describe(...)`; when given, the step's saved identity
            is checked first.

        Returns:
          (state, meta).

        Raises:
          CheckpointMismatchError: the step was saved by a different run (`identity` given).
        """
        if identity is not None:
            identity = {**identity, "state": run_identity.param_shapes(target)}
            run_identity.check(self._saved_identity(step), identity, self.directory, step)
        items = {"state": ocp.args.StandardRestore(target), "meta": ocp.args.JsonRestore()}
        if iterator is not None:
            items["data"] = grain_checkpoint.CheckpointRestore(iterator)
        restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        return restored.state, dict(restored.meta)

    def _saved_identity(self, step: int) -> dict:
        """What `step` is: its `meta` identity, plus every saved array's path and shape (`state`).

        Checkpoints saved before `meta` held an identity are described by their arrays alone.
        """
        meta = self.read_meta(step)
        path = epath.Path(self.directory) / str(step) / "state"
        tree = ocp.StandardCheckpointHandler().metadata(path).tree
        saved = dict(meta.get(run_identity.IDENTITY_KEY) or {})
        saved.setdefault("params", run_identity.param_shapes(tree["params"]))
        saved["state"] = run_identity.param_shapes(tree)
        return saved

    def restore_latest(
        self,
        target: TrainState,
        make_iterator: Callable[[], Any] | None = None,
        identity: dict | None = None,
    ) -> tuple[TrainState, dict, Any] | None:
        """The newest checkpoint that restores; unreadable newer ones are moved aside (not deleted).

        First every step's `meta` and array metadata are read and, when `identity` is given,
        compared with it and with `target`'s tree: a checkpoint of another run raises before
        anything is touched. Then the steps are tried
        newest first; one that cannot be read is moved to `<directory>/unreadable/` (with a
        `.reason.txt`) and the next older one is tried.

        Args:
          target: abstract state with shardings (see `restore`).
          make_iterator: builds a fresh data iterator at the start of the data (each attempt
            gets its own, so a failed attempt cannot leave a half-set position behind).
          identity: this run's `run_identity.describe(...)`; default: the checkpointer's.

        Returns:
          (state, meta, iterator positioned after the saved step), or None when no checkpoint
          is readable.

        Raises:
          CheckpointMismatchError: the checkpoints were saved by a different run.
          OSError / ValueError: an error of the environment (permission denied, no space, I/O
            error), raised as it is; nothing was moved.
        """
        identity = self.identity if identity is None else identity
        if identity is not None:
            identity = {**identity, "state": run_identity.param_shapes(target)}
        steps = list(reversed(self.all_steps()))
        unreadable: dict[int, BaseException] = {}
        for step in steps:
            try:
                saved = self._saved_identity(step) if identity is not None else None
            except Exception as e:  # noqa: BLE001 - classified right below
                if recovery.environment_error(e) is not None:
                    raise
                unreadable[step] = e
                continue
            if saved is not None:
                run_identity.check(saved, identity, self.directory, step)
        for step in steps:
            error = unreadable.get(step)
            if error is None:
                iterator = make_iterator() if make_iterator is not None else None
                try:
                    return (*self.restore(step, target, iterator), iterator)
                except CheckpointMismatchError:
                    raise
                except Exception as e:  # noqa: BLE001 - classified right below
                    if recovery.environment_error(e) is not None:
                        raise
                    error = e
            destination = recovery.move_aside(self.directory, step, error)
            log.warning(
                "checkpoint step %d in %s is unreadable (%s); moved it to %s and falling back "
                "to the previous one",
                step,
                self.directory,
                recovery.first_line(error),
                destination,
            )
            self.manager.reload()
            self._last_saved = self.manager.latest_step()
        return None

    def wait(self) -> None:
        """Blocks until pending asynchronous saves are on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
