"""Optimizers and learning-rate schedules from the config, all built from optax parts.

`build_schedule` returns `lr(update) -> float` counted in optimizer *updates* (with gradient
accumulation over k micro-batches there is one update per k train steps); `build_optimizer`
chains clipping, masked weight decay, the optimizer, gradient accumulation (`optax.MultiSteps`).
"""

from collections.abc import Callable

import jax
import ml_collections
import optax

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "lamb")
SCHEDULES = ("constant", "piecewise", "cosine", "warmup_cosine", "onecycle", "exponential")
BOUNDARY_UNITS = ("epochs", "steps")


def check_names(config: ml_collections.ConfigDict) -> None:
    """Raises a ValueError naming an unknown optimizer, schedule or boundary unit."""
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {config.optimizer!r}; accepted are {', '.join(OPTIMIZERS)}"
        )
    if config.schedule not in SCHEDULES:
        raise ValueError(
            f"unknown schedule {config.schedule!r}; accepted are {', '.join(SCHEDULES)}"
        )
    if config.lr_boundaries_unit not in BOUNDARY_UNITS:
        raise ValueError(
            f"unknown lr_boundaries_unit {config.lr_boundaries_unit!r}; accepted are "
            f"{', '.join(BOUNDARY_UNITS)}"
        )
    if len(config.lr_boundaries) != len(config.lr_scales):
        raise ValueError(
            f"lr_boundaries {tuple(config.lr_boundaries)} and lr_scales {tuple(config.lr_scales)} "
            f"must have the same length"
        )
    if config.accumulate_steps < 1:
        raise ValueError(f"accumulate_steps must be >= 1, got {config.accumulate_steps}")


def build_schedule(
    config: ml_collections.ConfigDict, updates_per_epoch: int, total_updates: int
) -> Callable[[int], float]:
    """The learning rate as a function of the optimizer update count.

    Args:
      config: reads `schedule`, `learning_rate`, `warmup_epochs`, `lr_boundaries`, `lr_scales`,
        `lr_boundaries_unit`, `lr_end_factor`, `lr_decay_rate`, `lr_decay_epochs` and the
        `onecycle_*` keys.
      updates_per_epoch: optimizer updates in one epoch.
      total_updates: optimizer updates in the whole run.

    Returns:
      `schedule(update) -> learning rate` (jit-able).
    """
    check_names(config)
    lr = config.learning_rate
    epochs = lambda e: max(int(round(e * updates_per_epoch)), 0)
    warmup = epochs(config.warmup_epochs)
    if config.schedule == "onecycle":  # Smith & Topin 2017, "Super-convergence".
        return optax.cosine_onecycle_schedule(
            max(total_updates, 1),
            lr,
            pct_start=config.onecycle_pct_start,
            div_factor=config.onecycle_div_factor,
            final_div_factor=config.onecycle_final_div_factor,
        )
    if config.schedule == "warmup_cosine":  # Goyal et al. 2017 warmup + Loshchilov & Hutter 2017.
        return optax.warmup_cosine_decay_schedule(
            0.0, lr, warmup, max(total_updates, warmup + 1), end_value=lr * config.lr_end_factor
        )
    after_warmup = max(total_updates - warmup, 1)
    if config.schedule == "constant":
        main = optax.constant_schedule(lr)
    elif config.schedule == "piecewise":
        unit = updates_per_epoch if config.lr_boundaries_unit == "epochs" else 1
        boundaries = {
            int(round(b * unit)) - warmup: float(s)
            for b, s in zip(config.lr_boundaries, config.lr_scales, strict=True)
        }
        main = optax.piecewise_constant_schedule(lr, boundaries)
    elif config.schedule == "cosine":
        main = optax.cosine_decay_schedule(lr, after_warmup, alpha=config.lr_end_factor)
    else:  # exponential: lr * rate ** (epoch / decay_epochs)
        main = optax.exponential_decay(
            lr, max(epochs(config.lr_decay_epochs), 1), config.lr_decay_rate
        )
    if warmup == 0:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def decay_mask(params) -> object:
    """True on weight matrices and conv kernels (ndim > 1); False on biases and norm scales."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def build_optimizer(
    config: ml_collections.ConfigDict,
    schedule: Callable[[int], float],
    wrap: Callable[[optax.GradientTransformation], optax.GradientTransformation] | None = None,
) -> optax.GradientTransformation:
    """clip → weight decay (masked) → optimizer, wrapped in `optax.MultiSteps` when accumulating.

    `adamw` and `lamb` use their decoupled weight decay (Loshchilov & Hutter 2019; You et al.
    2020); the others add `weight_decay * w` to the gradient (L2), masked the same way.

    Args:
      config: reads `optimizer`, `momentum`, `beta1`, `beta2`, `eps`, `rmsprop_decay`,
        `weight_decay`, `grad_clip_norm` and `accumulate_steps`.
      schedule: learning rate per optimizer update (see `build_schedule`).
      wrap: `fn(tx) -> tx` applied inside the accumulation, e.g. transfer learning's frozen
        groups and per-group rates (`cnnjax.transfer.freeze.group_optimizer`).

    Returns:
      An optax `GradientTransformation` (a `MultiSteps` one when `accumulate_steps > 1`).
    """
    check_names(config)
    name, wd = config.optimizer, config.weight_decay
    b1, b2, eps = config.beta1, config.beta2, config.eps
    if name == "sgd":
        opt = optax.sgd(schedule)
    elif name in ("momentum", "nesterov"):
        opt = optax.sgd(schedule, momentum=config.momentum, nesterov=name == "nesterov")
    elif name == "adam":
        opt = optax.adam(schedule, b1=b1, b2=b2, eps=eps)
    elif name == "adamw":
        opt = optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=wd, mask=decay_mask)
    elif name == "rmsprop":
        opt = optax.rmsprop(
            schedule, decay=config.rmsprop_decay, eps=eps, momentum=config.momentum or None
        )
    else:
        opt = optax.lamb(schedule, b1=b1, b2=b2, eps=eps, weight_decay=wd, mask=decay_mask)
    parts = []
    if config.grad_clip_norm > 0:
        parts.append(optax.clip_by_global_norm(config.grad_clip_norm))
    if wd > 0 and name not in ("adamw", "lamb"):
        parts.append(optax.add_decayed_weights(wd, mask=decay_mask))
    tx = optax.chain(*parts, opt) if parts else opt
    if wrap is not None:
        tx = wrap(tx)
    if config.accumulate_steps > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=config.accumulate_steps)
    return tx
