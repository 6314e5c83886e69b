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

import errno
import logging
import os
import shutil
from collections.abc import Callable
from typing import Any

import grain.checkpoint as grain_checkpoint
import jax
import orbax.checkpoint as ocp
from etils import epath
from orbax.checkpoint import checkpoint_managers as policies

from cnnjax.train import recovery, run_identity
from cnnjax.train.run_identity import CheckpointMismatchError
from cnnjax.train.state import TrainState

log = logging.getLogger(__name__)
TMP_MARK = ".orbax-checkpoint-tmp"


class CheckpointSaveError(OSError):
    """A checkpoint could not be written; the message names the cause and the last good step.

    A failed asynchronous save (disk full, no permission) is noticed by
    `Checkpointer.raise_if_failed`, which the loop calls after every step, not only at the next
    save. Its partial `*.orbax-checkpoint-tmp*` folder is removed when the next run opens the
    directory (`cleanup_tmp_directories`); finished checkpoints are never touched.
    """


def finished_steps(directory: str) -> list[int]:
    """Steps with a finished checkpoint in `directory` (orbax renames a step's folder from its
    temporary name only once it is complete), read from the file system alone (thread-safe)."""
    try:
        return sorted(int(d) for d in os.listdir(directory) if d.isdigit())
    except OSError:
        return []


def remove_unfinished(directory: str) -> list[str]:
    """Removes the temporary folders of saves that never finished (a failed or killed run).

    Orbax's own clean-up (`cleanup_tmp_directories`) runs in the background and can race with a
    new save of the same step; this one is done before the manager opens the directory, by
    process 0 only. Finished step folders are never touched.

    Returns:
      The names removed.
    """
    if jax.process_index() != 0 or not os.path.isdir(directory):
        return []
    removed = sorted(d for d in os.listdir(directory) if TMP_MARK in d)
    for name in removed:
        shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    if removed:
        log.warning(
            "removed %d unfinished checkpoint folder(s) of an earlier run in %s: %s",
            len(removed),
            directory,
            ", ".join(removed),
        )
    return removed


def describe_cause(error: BaseException) -> str:
    """The first OSError in `error`'s chain as "No space left on device (ENOSPC)", else its text."""
    seen = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            name = errno.errorcode.get(seen.errno, str(seen.errno))
            return f"{seen.strerror or os.strerror(seen.errno)} ({name})"
        seen = seen.__cause__ or seen.__context__
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300] if text else ''}"


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
        remove_unfinished(directory)
        self.manager = ocp.CheckpointManager(directory, options=options)
        self._last_saved: int | None = self.manager.latest_step()
        self._pending: int | None = None  # a step whose asynchronous save is not confirmed yet

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

        Raises:
          CheckpointSaveError: this save, or a previous asynchronous one, failed.
        """
        if step == self._last_saved:
            return False
        self.raise_if_failed(wait=True, step=step)
        items = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(meta)}
        if iterator is not None:
            items["data"] = grain_checkpoint.CheckpointSave(iterator)
        if metrics is not None:
            metrics = {self.best_metric: float(metrics[self.best_metric])}
        try:
            self.manager.save(step, args=ocp.args.Composite(**items), metrics=metrics, force=True)
        except Exception as e:  # noqa: BLE001 - any failure to write is reported the same way
            raise self._save_error(step, e) from e
        self._last_saved, self._pending = step, step
        return True

    def read_meta(self, step: int) -> dict:
        """The `meta` item of `step` (step, epoch, identity, ...), read alone."""
        restored = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        return dict(restored.meta)

    def raise_if_failed(self, wait: bool = False, step: int | None = None) -> None:
        """Raises `CheckpointSaveError` if the pending asynchronous save has failed.

        Cheap enough for every step: without `wait` it returns at once while the save is still
        being written, and looks at its outcome once the background thread is done.

        Args:
          wait: block until the pending save is finished first.
          step: the training step just finished (named in the message).
        """
        if self._pending is None or (not wait and self.manager.is_saving_in_progress()):
            return
        pending, self._pending = self._pending, None
        try:
            self.manager.wait_until_finished()  # a finished save: returns or re-raises at once
        except Exception as e:  # noqa: BLE001 - any failure to write is reported the same way
            self._last_saved = None
            raise self._save_error(pending, e, step) from e

    def _save_error(
        self, step: int, error: BaseException, now: int | None = None
    ) -> CheckpointSaveError:
        good = [s for s in finished_steps(self.directory) if s != step]
        last = f"step {good[-1]}" if good else "none yet"
        noticed = f" (noticed after step {now})" if now is not None else ""
        return CheckpointSaveError(
            f"saving the checkpoint of step {step} in {self.directory} failed{noticed}: "
            f"{describe_cause(error)}. The run stopped; the newest good checkpoint is {last}. "
            f"Free space or fix the permissions, then run the same command again to resume"
        )

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
        """Blocks until pending asynchronous saves are on disk; raises `CheckpointSaveError`."""
        self.raise_if_failed(wait=True)
        self.manager.wait_until_finished()

    def close(self) -> None:
        """Waits for pending saves and closes; never raises (`wait` is what reports failures),
        so that it cannot hide the error a failed run is ending with."""
        try:
            self.raise_if_failed(wait=True)
            self.manager.close()
        except Exception as e:  # noqa: BLE001 - see the docstring
            log.warning("closing the checkpoints in %s: %s", self.directory, describe_cause(e))
