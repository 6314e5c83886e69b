"""From a config to everything a run needs: validated settings, data, model, optimizer, steps.

`validate` checks the whole config at the door (one clear error per bad value, before anything
is compiled); `build` loads the dataset and assembles the pure pieces the loop and the
evaluator share.
"""

import dataclasses
import difflib
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
from cnnjax.train import numbers, optim, parallel, precision, steps
from cnnjax.train.state import TrainState, create_train_state

BEST_METRICS = ("accuracy", "top5_accuracy", "loss")


def check_keys(config: ml_collections.ConfigDict) -> None:
    """Raises a ValueError naming top-level keys the base config does not have (typos)."""
    from experiments.configs.common import get_base_config

    known = set(get_base_config().keys())
    for key in config.keys():
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown config key {key!r}{hint} (every key must exist in "
                f"experiments/configs/common.py:get_base_config)"
            )


def check_workdir(workdir: str) -> None:
    """Creates `workdir` and checks it is writable; raises a ValueError saying why not."""
    try:
        os.makedirs(workdir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write-test-"):
            pass
    except OSError as e:
        raise ValueError(f"workdir {workdir!r} is not writable: {e.strerror or e}") from e


def validate(config: ml_collections.ConfigDict, devices=None) -> None:
    """Checks every name and number the engine reads; no dataset is loaded, nothing compiled."""
    check_keys(config)
    numbers.check_numbers(config)
    models.get_model_spec(config.model)
    optim.check_names(config)
    precision.policy(config.dtype, config.loss_scale)
    if config.nan_policy not in steps.NAN_POLICIES:
        raise ValueError(
            f"unknown nan_policy {config.nan_policy!r}; accepted are "
            f"{', '.join(steps.NAN_POLICIES)}"
        )
    if config.parallel not in parallel.PARALLEL_MODES:
        raise ValueError(
            f"unknown parallel mode {config.parallel!r}; accepted are "
            f"{', '.join(parallel.PARALLEL_MODES)}"
        )
    parallel.check_batch_size(config.batch_size, devices or jax.devices())
    if not 0.0 <= config.ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1), got {config.ema_decay}")
    if config.num_steps <= 0 and config.num_epochs <= 0:
        raise ValueError("set num_epochs > 0 or num_steps > 0")
    if config.best_metric not in BEST_METRICS:
        raise ValueError(
            f"unknown best_metric {config.best_metric!r}; accepted are {', '.join(BEST_METRICS)}"
        )
    if config.best_mode not in ("max", "min"):
        raise ValueError(f"unknown best_mode {config.best_mode!r}; accepted are max, min")
    for key in ("log_every_steps", "eval_every_epochs", "keep_checkpoints"):
        if config[key] < 1:
            raise ValueError(f"{key} must be >= 1, got {config[key]}")
    if config.checkpoint_every_steps < 0:
        raise ValueError(
            f"checkpoint_every_steps must be >= 0, got {config.checkpoint_every_steps}"
        )
    augment_lib.build(config.augment, 2)  # parses the spec: unknown ops raise here
    transfer.check_config(config)  # config.transfer: cnnjax/transfer/setup.py


def eval_batch_size(config: ml_collections.ConfigDict, devices) -> int:
    """`config.eval_batch_size` rounded up to a multiple of the device count."""
    count = len(devices)
    return -(-max(config.eval_batch_size, 1) // count) * count


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


def resolve_input_shape(config, dataset, spec) -> tuple[int, int, int]:
    """`config.input_shape`, else the dataset's shape if the model takes it, else the model's."""
    if config.input_shape:
        shape = tuple(int(d) for d in config.input_shape)
    elif None not in dataset.image_shape and min(dataset.image_shape[:2]) >= spec.min_input_size:
        shape = tuple(int(d) for d in dataset.image_shape)
    else:
        shape = spec.input_shape
    models.check_input_shape(config.model, shape)
    return shape


def build(config: ml_collections.ConfigDict, devices=None) -> Experiment:
    """Loads the data and builds model, optimizer and steps from a validated config."""
    devices = devices or jax.devices()
    dataset = data.load_dataset(config.dataset, config.data_dir or None)
    train_split = config.train_split or dataset.train_split
    eval_split = config.eval_split or dataset.eval_split
    for split in (train_split, eval_split):
        if split not in dataset.splits:
            raise ValueError(
                f"dataset {dataset.name!r} has no split {split!r}; it has "
                f"{', '.join(dataset.splits)}"
            )
    spec = models.get_model_spec(config.model)
    input_shape = resolve_input_shape(config, dataset, spec)
    policy = precision.policy(config.dtype, config.loss_scale)
    kwargs = dict(config.model_kwargs)
    if policy.compute_dtype != jax.numpy.float32:
        kwargs.setdefault("dtype", policy.compute_dtype)
    model = models.create_model(config.model, num_classes=dataset.num_classes, **kwargs)
    # Cross-replica BatchNorm: the engine's axis on every BatchNorm layer (None under `jit`).
    model = layers.with_batch_norm_axis(model, parallel.batch_norm_axis(config.parallel))
    prep = preprocess.build(
        dataset, input_shape, policy.compute_dtype, config.resize, tuple(config.input_range)
    )
    setup = None
    if transfer.active(config):  # source weights, frozen groups, rates or bottleneck features
        setup = transfer.build(config, dataset, model, input_shape, prep)
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
    numbers.check_warmup(config.warmup_epochs, steps_per_epoch, total_steps)
    k = config.accumulate_steps
    schedule = optim.build_schedule(config, max(steps_per_epoch // k, 1), max(total_steps // k, 1))
    tx = optim.build_optimizer(config, schedule, wrap=setup and setup.wrap_optimizer)

    options = steps.StepOptions(
        num_classes=dataset.num_classes,
        preprocess=prep,
        augment=augment_lib.build(config.augment, dataset.num_classes) if config.augment else None,
        label_smoothing=config.label_smoothing,
        aux_loss_weight=float(getattr(model, "aux_loss_weight", 0.0)),
        ema_decay=config.ema_decay,
    )
    init_fn = functools.partial(
        create_train_state,
        model,
        input_shape,
        tx,
        jax.random.PRNGKey(config.seed),
        input_dtype=policy.compute_dtype,
        use_ema=config.ema_decay > 0,
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
        options=options,
        init_fn=init_fn,
        train_fn=functools.partial(steps.train_step, options=options),
        eval_fn=functools.partial(steps.eval_step, options=options),
    )


def make_engine(config, experiment: Experiment, devices=None) -> parallel.Engine:
    """The engine of `config.parallel` for this experiment's steps and state shapes."""
    return parallel.make_engine(
        config.parallel,
        experiment.train_fn,
        experiment.eval_fn,
        jax.eval_shape(experiment.init_fn),
        devices=devices,
        shard_params=config.shard_params,
        shard_min_size=config.shard_min_size,
        preprocess_fn=experiment.options.preprocess,
    )


__all__ = ["Experiment", "build", "check_keys", "check_workdir", "make_engine", "validate"]
