"""From a validated config to everything a run needs: data, model, optimizer, steps.

The one place that unpacks the config (`cnnjax.train.config`, checked by its `validate` at the
door): `build` loads the dataset and hands plain values to the pure pieces the loop and the
evaluator share.
"""

import dataclasses
import functools
import os
import tempfile
from collections.abc import Callable
from typing import Any

import jax
import ml_collections

from cnnjax import data, models, transfer
from cnnjax.data import augment as augment_lib
from cnnjax.data import preprocess
from cnnjax.models import layers
from cnnjax.train import numbers, optim, parallel, precision, run_identity, steps
from cnnjax.train.state import TrainState, create_train_state


def check_workdir(workdir: str) -> None:
    """Creates `workdir` and checks it is writable; raises a ValueError saying why not."""
    try:
        os.makedirs(workdir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write-test-"):
            pass
    except OSError as e:
        raise ValueError(f"workdir {workdir!r} is not writable: {e.strerror or e}") from e


def eval_batch_size(batch_size: int, devices) -> int:
    """`batch_size` (config `eval.batch_size`) rounded up to a multiple of the device count."""
    count = len(devices)
    return -(-max(batch_size, 1) // count) * count


def transfer_options(config: ml_collections.ConfigDict) -> transfer.Options:
    """The `transfer.*` group as `cnnjax.transfer.Options`."""
    return transfer.Options(**config.transfer)


def identity(config: ml_collections.ConfigDict, experiment, abstract_state) -> dict:
    """What the run is (`run_identity.describe`): checked against every checkpoint it reads."""
    return run_identity.describe(
        model=config.model,
        model_kwargs=config.model_kwargs,
        num_classes=experiment.dataset.num_classes,
        input_shape=experiment.input_shape,
        dtype=config.dtype,
        optimizer=config.optimizer,
        params=abstract_state.params,
    )


@dataclasses.dataclass(frozen=True)
class Experiment:
    """The assembled pieces of a run (all pure; nothing placed on devices yet).

    Attributes:
      dataset: the loaded `cnnjax.data.Dataset`.
      model: the linen module.
      input_shape: (H, W, C) the model sees.
      train_split, eval_split: split names.
      steps_per_epoch: train steps per pass over the training split.
      total_steps: train steps of the whole run.
      schedule: learning rate per optimizer update.
      options: `steps.StepOptions`.
      init_fn: `fn() -> TrainState` at step 0 (pure; run it under jit).
      train_fn, eval_fn: the pure steps with their options bound.
    """

    dataset: Any
    model: Any
    input_shape: tuple[int, int, int]
    train_split: str
    eval_split: str
    steps_per_epoch: int
    total_steps: int
    schedule: Callable
    options: steps.StepOptions
    init_fn: Callable[[], TrainState]
    train_fn: Callable
    eval_fn: Callable

    def learning_rate(self, step: int, accumulate_steps: int) -> float:
        return float(self.schedule(step // accumulate_steps))


def resolve_input_shape(model: str, requested, dataset, spec) -> tuple[int, int, int]:
    """`requested` (config `data.input_shape`), else the dataset's shape if the model takes it,
    else the model's registered one."""
    if requested:
        shape = tuple(int(d) for d in requested)
    elif None not in dataset.image_shape and min(dataset.image_shape[:2]) >= spec.min_input_size:
        shape = tuple(int(d) for d in dataset.image_shape)
    else:
        shape = spec.input_shape
    models.check_input_shape(model, shape)
    return shape


def build(config: ml_collections.ConfigDict, devices=None) -> Experiment:
    """Loads the data and builds model, optimizer and steps from a validated config."""
    devices = devices or jax.devices()
    d = config.data
    dataset = data.load_dataset(config.dataset, d.dir or None)
    train_split = d.train_split or dataset.train_split
    eval_split = d.eval_split or dataset.eval_split
    for split in (train_split, eval_split):
        if split not in dataset.splits:
            raise ValueError(
                f"dataset {dataset.name!r} has no split {split!r}; it has "
                f"{', '.join(dataset.splits)}"
            )
    spec = models.get_model_spec(config.model)
    input_shape = resolve_input_shape(config.model, d.input_shape, dataset, spec)
    policy = precision.policy(config.dtype, config.loss_scale)
    kwargs = dict(config.model_kwargs)
    if policy.compute_dtype != jax.numpy.float32:
        kwargs.setdefault("dtype", policy.compute_dtype)
    model = models.create_model(config.model, num_classes=dataset.num_classes, **kwargs)
    # Cross-replica BatchNorm: the engine's axis on every BatchNorm layer (None under `jit`).
    model = layers.with_batch_norm_axis(model, parallel.batch_norm_axis(config.parallel))
    prep = preprocess.build(dataset, input_shape, policy.compute_dtype, d.resize, d.input_range)
    setup = None
    options = transfer_options(config)
    if options.mode:  # source weights, frozen groups, rates or bottleneck features
        setup = transfer.build(
            options,
            dataset,
            model,
            input_shape,
            prep,
            seed=config.seed,
            data_dir=d.dir,
            input_size=int(d.input_shape[0]) if d.input_shape else None,
        )
        dataset, model, input_shape, prep = (
            setup.dataset,
            setup.model,
            setup.input_shape,
            setup.preprocess,
        )

    steps_per_epoch = len(dataset.splits[train_split]) // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(
            f"batch_size={config.batch_size} is larger than the {train_split!r} split "
            f"({len(dataset.splits[train_split])} examples)"
        )
    total_steps = config.num_steps if config.num_steps > 0 else config.num_epochs * steps_per_epoch
    numbers.check_warmup(config.schedule.warmup_epochs, steps_per_epoch, total_steps)
    o = config.optim
    k = o.accumulate_steps
    schedule = optim.build_schedule(
        config.learning_rate,
        max(steps_per_epoch // k, 1),
        max(total_steps // k, 1),
        **config.schedule,
    )
    tx = optim.build_optimizer(
        config.optimizer,
        schedule,
        momentum=o.momentum,
        beta1=o.beta1,
        beta2=o.beta2,
        eps=o.eps,
        rmsprop_decay=o.rmsprop_decay,
        weight_decay=o.weight_decay,
        grad_clip_norm=o.grad_clip_norm,
        accumulate_steps=k,
        wrap=setup and setup.wrap_optimizer,
    )

    step_options = steps.StepOptions(
        num_classes=dataset.num_classes,
        preprocess=prep,
        augment=augment_lib.build(config.augment, dataset.num_classes) if config.augment else None,
        label_smoothing=config.label_smoothing,
        aux_loss_weight=float(getattr(model, "aux_loss_weight", 0.0)),
        ema_decay=o.ema_decay,
        reject_logit=getattr(model, "reject_logit", None),
    )
    init_fn = functools.partial(
        create_train_state,
        model,
        input_shape,
        tx,
        jax.random.PRNGKey(config.seed),
        input_dtype=policy.compute_dtype,
        use_ema=o.ema_decay > 0,
        loss_scale=policy.loss_scale,
    )
    if setup is not None:
        init_fn = setup.wrap_init(init_fn)
    return Experiment(
        dataset=dataset,
        model=model,
        input_shape=input_shape,
        train_split=train_split,
        eval_split=eval_split,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        schedule=schedule,
        options=step_options,
        init_fn=init_fn,
        train_fn=functools.partial(steps.train_step, options=step_options),
        eval_fn=functools.partial(steps.eval_step, options=step_options),
    )


def make_engine(config, experiment: Experiment, devices=None) -> parallel.Engine:
    """The engine of `config.parallel` for this experiment's steps and state shapes."""
    return parallel.make_engine(
        config.parallel,
        experiment.train_fn,
        experiment.eval_fn,
        jax.eval_shape(experiment.init_fn),
        devices=devices,
        shard_params=config.shard.params,
        shard_min_size=config.shard.min_size,
        preprocess_fn=experiment.options.preprocess,
    )


__all__ = [
    "Experiment",
    "build",
    "check_workdir",
    "eval_batch_size",
    "identity",
    "make_engine",
    "resolve_input_shape",
    "transfer_options",
]
