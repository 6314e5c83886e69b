"""`train_and_evaluate(config, workdir)`: the training loop (flax `examples/imagenet` style).

Validate the whole config (`config.validate`) → build data, model, engine → resume from the newest
readable checkpoint (state and data position) → train, logging at intervals (the only host syncs),
evaluating and checkpointing at each epoch end (and every `checkpoint.every_steps` /
`checkpoint.every_minutes`) → pictures → the final line `<split>_accuracy=<value>` (`test_accuracy=`
unless the evaluated split is another one, e.g. `validation_accuracy=`). Re-running the same
command on the same workdir continues it. Faults a cluster produces end the run cleanly and
resumably: SIGTERM / SIGINT save at the step reached (`preemption`), a failed save stops the run at
the next step (`checkpoint.CheckpointSaveError`), a lost process ends the others (`peers`).
"""

import contextlib
import functools
import logging
import os
import time

import jax
import ml_collections
import numpy as np

from cnnjax import data, transfer
from cnnjax.train import (
    checkpoint,
    distributed,
    evaluation,
    experiment,
    lock,
    parallel,
    peers,
    pictures,
    preemption,
    run_identity,
    writers,
)
from cnnjax.train import config as config_lib
from cnnjax.train.progress import Progress

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """A step produced a non-finite loss or gradient under `nan_policy="stop"`."""


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains `config.model` on `config.dataset`, writing everything into `workdir`.

    Args:
      config: a config built on `cnnjax.train.config.get_base_config()`.
      workdir: run directory: `checkpoints/`, `metrics.jsonl`, `tensorboard/`, `pictures/`.

    Returns:
      Final evaluation on the held-out split: `loss`, `accuracy`, `top5_accuracy`, `count`,
      `per_class_accuracy`, `confusion`, plus `step` and `train_seconds`.

    Raises:
      ValueError: a bad config value or an unwritable workdir (before anything is compiled).
      CheckpointMismatchError: `workdir` holds checkpoints of a different run (another model,
        class count, input shape, dtype or optimizer); nothing in it was changed.
      lock.WorkdirLockedError: another live run holds the workdir.
      NonFiniteLossError: a non-finite loss under `nan_policy="stop"` (the newest checkpoint
        is the last good state).
      checkpoint.CheckpointSaveError: a checkpoint could not be written (disk full, ...).
      preemption.Preempted: SIGTERM / SIGINT; a checkpoint of the step reached was saved.
    """
    config_lib.validate(config)  # every key, name and number; JAX is not started yet
    distributed.initialize(**config.multihost)  # multi-host: must precede every other JAX call
    devices = jax.devices()
    parallel.check_batch_size(config.batch_size, devices)
    experiment.check_workdir(workdir)
    # A transfer source is never the run's own workdir.
    transfer.check_workdir(experiment.transfer_options(config), workdir)
    is_main = jax.process_index() == 0
    lock_path = lock.acquire(workdir) if is_main else None
    ckpt_dir = os.path.join(os.path.abspath(workdir), "checkpoints")

    def release() -> None:
        if lock_path is not None:
            lock.release(lock_path)

    try:
        with contextlib.ExitStack() as stack:
            if jax.process_count() > 1:
                last_good = functools.partial(_last_good, ckpt_dir)
                stack.enter_context(
                    peers.PeerWatch(config.multihost.peer_timeout, last_good, release)
                )
            stop = stack.enter_context(
                preemption.StopSignals(release, config.multihost.peer_timeout)
            )
            return _run(config, workdir, devices, is_main, stop)
    finally:
        release()


def _last_good(directory: str) -> str:
    steps = checkpoint.finished_steps(directory)
    return f"step {steps[-1]} in {directory}" if steps else f"none yet (in {directory})"


def _train_iterator(config, exp, engine):
    """This process's training batches, placed on devices `data.prefetch_batches` ahead."""
    processes = jax.process_count()
    iterator = data.train_iterator(
        exp.dataset.splits[exp.train_split],
        batch_size=config.batch_size // processes,
        seed=config.seed,
        shard_index=jax.process_index(),
        shard_count=processes,
        worker_count=config.data.worker_count,
    )
    # The wrapper's checkpointed position is that of the first batch not yet handed out, so
    # batches in flight are read again after a resume, never skipped.
    return data.DevicePrefetch(
        iterator, size=max(1, config.data.prefetch_batches), put=engine.shard_batch
    )


def _run(config, workdir: str, devices, is_main: bool, stop) -> dict:
    exp = experiment.build(config, devices)
    engine = experiment.make_engine(config, exp, devices)
    eval_batch = experiment.eval_batch_size(config.eval.batch_size, devices)
    eval_source = exp.dataset.splits[exp.eval_split]
    abstract_state = jax.eval_shape(exp.init_fn)
    c = config.checkpoint
    ckpt = checkpoint.Checkpointer(
        os.path.join(os.path.abspath(workdir), "checkpoints"),
        keep=c.keep,
        keep_best=c.keep_best,
        best_metric=c.best_metric,
        best_mode=c.best_mode,
        async_save=c.async_save,
        identity=experiment.identity(config, exp, abstract_state),
    )
    writer = writers.MetricWriter(workdir, enabled=is_main)
    try:
        target = engine.restore_target(abstract_state)
        restored = ckpt.restore_latest(target, lambda: _train_iterator(config, exp, engine))
        if restored is None:
            iterator = _train_iterator(config, exp, engine)
            state, start = engine.create_state(exp.init_fn), 0
        else:
            state, meta, iterator = restored
            state, start = engine.place_state(state), int(meta["step"])
            log.info("resumed from step %d in %s", start, workdir)
        writer.truncate_after(start)
        loop = _Loop(config, exp, engine, ckpt, writer, iterator, is_main, stop)
        state, final = loop.run(state, start, eval_source, eval_batch)
        ckpt.wait()
        if is_main and config.log.write_pictures:
            _pictures(workdir, writer.path, exp, engine, state, final, eval_source)
    finally:
        writer.close()
        ckpt.close()
    final = {**final, "train_seconds": loop.train_seconds}
    if is_main:
        print(f"trained to step {final['step']} in {loop.train_seconds:.1f} s", flush=True)
        print(f"{exp.eval_split}_accuracy={final['accuracy']:.4f}", flush=True)
    return final


class _Loop:
    """The step loop; a class only to keep the bookkeeping of one run together."""

    def __init__(self, config, exp, engine, ckpt, writer, iterator, is_main, stop):
        self.config, self.exp, self.engine = config, exp, engine
        self.ckpt, self.writer, self.iterator = ckpt, writer, iterator
        self.is_main, self.stop = is_main, stop
        self.last_save = time.monotonic()
        self.pending: list = []  # device metrics not yet fetched
        self.skipped = 0
        self.train_seconds = 0.0

    def flush(self, step: int, progress: Progress, seconds: float) -> None:
        """Fetches pending metrics (a host sync), checks them for non-finite steps, logs."""
        if not self.pending:
            return
        fetched = self.engine.to_host(self.pending)
        first = step - len(fetched) + 1
        bad = [first + i for i, m in enumerate(fetched) if float(m["nonfinite"]) > 0]
        self.pending = []
        if bad and self.config.nan_policy == "stop":
            newest = checkpoint.finished_steps(self.ckpt.directory)
            good = (
                f"The newest checkpoint (step {newest[-1]} in {self.ckpt.directory}) is the last "
                f"good state"
                if newest
                else "No checkpoint was saved before it"
            )
            raise NonFiniteLossError(
                f"non-finite loss or gradients at step {bad[0]}: the run stopped and saved "
                f"nothing after it. {good}. Lower the learning rate, clip gradients "
                f"(optim.grad_clip_norm) or set nan_policy='skip'."
            )
        if bad:
            self.skipped += len(bad)
            log.warning("skipped %d non-finite step(s): %s", len(bad), bad[:10])
        good = [m for m in fetched if float(m["nonfinite"]) == 0] or fetched
        mean = {k: float(np.mean([float(m[k]) for m in good])) for k in good[0]}
        mean["learning_rate"] = self.exp.learning_rate(step - 1, self.config.optim.accumulate_steps)
        mean["images_per_second"] = len(fetched) * self.config.batch_size / max(seconds, 1e-9)
        mean["skipped_steps"] = self.skipped
        self.writer.write(step, "train", mean)
        progress.update(step, mean["loss"], mean["accuracy"], mean["images_per_second"])

    def save(self, state, step: int, epoch: float, metrics: dict | None) -> None:
        meta = {"step": step, "epoch": epoch, "steps_per_epoch": self.exp.steps_per_epoch}
        meta[run_identity.IDENTITY_KEY] = self.ckpt.identity
        self.ckpt.save(step, self.engine.checkpoint_state(state), self.iterator, meta, metrics)
        self.last_save = time.monotonic()

    def time_to_save(self, step: int, logged: bool) -> bool:
        """`checkpoint.every_minutes` has passed since the last save (process 0 decides, at log
        steps, for every process: clocks differ, the checkpoint step must not)."""
        minutes = self.config.checkpoint.every_minutes
        if minutes <= 0:
            return False
        due = time.monotonic() - self.last_save >= 60 * minutes
        if jax.process_count() == 1:
            return due
        if not logged:
            return False
        from jax.experimental import multihost_utils

        return bool(multihost_utils.broadcast_one_to_all(np.int32(due)))

    def preempt(self, state, step: int, progress: Progress, tick: float) -> None:
        """Saves `step` (already saved: nothing to write), waits for it, raises `Preempted`."""
        self.flush(step, progress, time.time() - tick)
        self.save(state, step, step / self.exp.steps_per_epoch, None)
        self.ckpt.wait()
        name = preemption.signal_name(self.stop.stopped_by)
        raise preemption.Preempted(
            f"{name}: stopped at step {step} of {self.exp.total_steps} and saved its checkpoint "
            f"in {self.ckpt.directory}; run the same command again to resume from step {step}",
            self.stop.stopped_by,
        )

    def run(self, state, start: int, eval_source, eval_batch: int):
        config, exp = self.config, self.exp
        total, per_epoch = exp.total_steps, exp.steps_per_epoch
        progress = Progress(total, start, self.is_main, config.log.progress_bar)
        final = None
        t0 = tick = time.time()
        step = start
        try:
            while step < total:
                batch = next(self.iterator)  # already on devices (DevicePrefetch)
                state, metrics = self.engine.train_step(state, batch)
                self.pending.append(metrics)
                step += 1
                self.ckpt.raise_if_failed(step=step)  # a failed async save stops the run here
                epoch_end = step % per_epoch == 0 or step == total
                logged = step % config.log.every_steps == 0
                every = config.checkpoint.every_steps
                periodic = (every > 0 and step % every == 0) or self.time_to_save(step, logged)
                if logged or epoch_end or periodic:
                    self.flush(step, progress, time.time() - tick)
                    tick = time.time()
                if epoch_end:
                    epoch = step // per_epoch
                    metrics = None
                    if step == total or epoch % config.eval.every_epochs == 0:
                        final = evaluation.evaluate(self.engine, state, eval_source, eval_batch)
                        self.writer.write(step, "eval", {**final, "epoch": step / per_epoch})
                        progress.write(
                            f"epoch {step / per_epoch:.2f} step {step}: eval loss="
                            f"{final['loss']:.4f} accuracy={final['accuracy']:.4f} "
                            f"top5={final['top5_accuracy']:.4f}"
                        )
                        metrics = final
                    self.save(state, step, step / per_epoch, metrics)
                    tick = time.time()
                elif periodic:
                    self.save(state, step, step / per_epoch, None)
                if self.stop.should_stop(step):
                    self.preempt(state, step, progress, tick)
            self.train_seconds = time.time() - t0
        finally:
            progress.close()
            self.writer.flush()
        if final is None:  # nothing left to train (a finished run re-run): evaluate again
            final = evaluation.evaluate(self.engine, state, eval_source, eval_batch)
        return state, {**final, "step": step}


def _pictures(workdir, metrics_path, exp, engine, state, final, eval_source) -> None:
    try:
        host = jax.device_get(engine.checkpoint_state(state))
        variables = host.variables(host.eval_params)
        example = eval_source[0]
        image = np.asarray(example["image"], np.uint8)
        image = image[..., None] if image.ndim == 2 else image
        model_input = np.asarray(engine.preprocess(image[None])[0])
        pictures.write_pictures(
            os.path.join(workdir, "pictures"),
            history=writers.read_metrics(metrics_path),
            confusion=final["confusion"],
            class_names=exp.dataset.class_names,
            model=exp.model,
            variables=variables,
            image=image,
            model_input=model_input,
        )
    except Exception as e:  # noqa: BLE001 - pictures must never cost a finished run
        log.warning("could not write the pictures: %s: %s", type(e).__name__, e)
