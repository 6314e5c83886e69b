"""Restore one saved step of a run for inspection (evaluation, visualisation), checked first.

The run's identity (model, classes, input shape, dtype, optimizer, parameter shapes) is compared
with the checkpoint's before anything is read, as the training loop does, so a checkpoint of
another run is one `CheckpointMismatchError`, never an obscure restore failure.
"""

import os

import jax

from cnnjax.train import checkpoint, experiment


def restore_step(config, exp: experiment.Experiment, workdir: str, step: int, devices):
    """Restores `step` (-1: the newest) of `workdir` onto `devices`.

    Returns:
      `(state, step, engine)`: the restored `TrainState`, the step restored, and the engine
      (its `place_state` puts the state on `devices`).

    Raises:
      ValueError: no checkpoints, or no checkpoint of `step` (the saved steps are listed).
      CheckpointMismatchError: the checkpoints belong to another run.
    """
    directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    if not os.path.isdir(directory):
        raise ValueError(f"no checkpoints in {directory}: train first with the same --workdir")
    ckpt = checkpoint.Checkpointer(directory, keep_best=0, async_save=False)
    try:
        steps = ckpt.all_steps()
        if not steps:
            raise ValueError(f"no checkpoints in {directory}: train first with the same --workdir")
        step = steps[-1] if step < 0 else step
        if step not in steps:
            raise ValueError(f"no checkpoint of step {step} in {directory}; saved steps: {steps}")
        engine = experiment.make_engine(config, exp, devices)
        abstract_state = jax.eval_shape(exp.init_fn)
        identity = experiment.identity(config, exp, abstract_state)
        state, _ = ckpt.restore(step, engine.restore_target(abstract_state), identity=identity)
    finally:
        ckpt.close()
    return state, step, engine
