"""Optimizers and learning-rate schedules from plain values, all built from optax parts.

`build_schedule` returns `lr(update) -> float` counted in optimizer *updates* (with gradient
accumulation over k micro-batches there is one update per k train steps); `build_optimizer`
chains clipping, masked weight decay, the optimizer, gradient accumulation (`optax.MultiSteps`).
"""

from collections.abc import Callable, Sequence

import jax
import optax

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "lamb")
SCHEDULES = ("constant", "piecewise", "cosine", "warmup_cosine", "onecycle", "exponential")
BOUNDARY_UNITS = ("epochs", "steps")


def build_schedule(
    learning_rate: float,
    updates_per_epoch: int,
    total_updates: int,
    *,
    name: str = "cosine",
    warmup_epochs: float = 0.0,
    boundaries: Sequence[float] = (),
    scales: Sequence[float] = (),
    boundaries_unit: str = "epochs",
    end_factor: float = 0.0,
    decay_rate: float = 0.1,
    decay_epochs: float = 30.0,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Callable[[int], float]:
    """The learning rate as a function of the optimizer update count.

    The keyword arguments are the config group `schedule.*` (`build_schedule(lr, e, t,
    **config.schedule)`); `cnnjax.train.config.validate` has checked them.

    Args:
      learning_rate: the peak (base) rate.
      updates_per_epoch: optimizer updates in one epoch.
      total_updates: optimizer updates in the whole run.
      name: one of `SCHEDULES`.
      warmup_epochs: linear warm-up from 0 (Goyal et al. 2017), in epochs.
      boundaries, scales: piecewise: the rate is multiplied by `scales[i]` from `boundaries[i]`
        on, counted in `boundaries_unit` (`epochs` or `steps`, i.e. optimizer updates).
      end_factor: (warmup_)cosine: the final rate is `end_factor * learning_rate`.
      decay_rate, decay_epochs: exponential: `lr * decay_rate ** (epoch / decay_epochs)`.
      pct_start, div_factor, final_div_factor: onecycle (Smith & Topin 2017).

    Returns:
      `schedule(update) -> learning rate` (jit-able).
    """
    lr = learning_rate
    epochs = lambda e: max(int(round(e * updates_per_epoch)), 0)
    warmup = epochs(warmup_epochs)
    if name == "onecycle":  # Smith & Topin 2017, "Super-convergence".
        return optax.cosine_onecycle_schedule(
            max(total_updates, 1),
            lr,
            pct_start=pct_start,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
        )
    if name == "warmup_cosine":  # Goyal et al. 2017 warmup + Loshchilov & Hutter 2017.
        return optax.warmup_cosine_decay_schedule(
            0.0, lr, warmup, max(total_updates, warmup + 1), end_value=lr * end_factor
        )
    after_warmup = max(total_updates - warmup, 1)
    if name == "constant":
        main = optax.constant_schedule(lr)
    elif name == "piecewise":
        unit = updates_per_epoch if boundaries_unit == "epochs" else 1
        steps = {
            int(round(b * unit)) - warmup: float(s) for b, s in zip(boundaries, scales, strict=True)
        }
        main = optax.piecewise_constant_schedule(lr, steps)
    elif name == "cosine":
        main = optax.cosine_decay_schedule(lr, after_warmup, alpha=end_factor)
    else:  # exponential: lr * rate ** (epoch / decay_epochs)
        main = optax.exponential_decay(lr, max(epochs(decay_epochs), 1), decay_rate)
    if warmup == 0:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def decay_mask(params) -> object:
    """True on weight matrices and conv kernels (ndim > 1); False on biases and norm scales."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def build_optimizer(
    name: str,
    schedule: Callable[[int], float],
    *,
    momentum: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    rmsprop_decay: float = 0.9,
    weight_decay: float = 0.0,
    grad_clip_norm: float = 0.0,
    accumulate_steps: int = 1,
    wrap: Callable[[optax.GradientTransformation], optax.GradientTransformation] | None = None,
) -> optax.GradientTransformation:
    """clip → weight decay (masked) → optimizer, wrapped in `optax.MultiSteps` when accumulating.

    `adamw` and `lamb` use their decoupled weight decay (Loshchilov & Hutter 2019; You et al.
    2020); the others add `weight_decay * w` to the gradient (L2), masked the same way.

    Args:
      name: one of `OPTIMIZERS` (config `optimizer`); the keyword arguments are those of the
        config group `optim.*` (checked by `cnnjax.train.config.validate`).
      schedule: learning rate per optimizer update (see `build_schedule`).
      momentum: momentum / nesterov / rmsprop (0: none).
      beta1, beta2, eps: adam / adamw / lamb moments; eps for rmsprop too.
      rmsprop_decay: rmsprop's squared-gradient decay.
      weight_decay: masked off biases and norm scales (`decay_mask`).
      grad_clip_norm: > 0: clip gradients to this global norm first.
      accumulate_steps: > 1: one update every k calls (`optax.MultiSteps`).
      wrap: `fn(tx) -> tx` applied inside the accumulation, e.g. transfer learning's frozen
        groups and per-group rates (`cnnjax.transfer.freeze.group_optimizer`).

    Returns:
      An optax `GradientTransformation` (a `MultiSteps` one when `accumulate_steps > 1`).
    """
    wd, b1, b2 = weight_decay, beta1, beta2
    if name == "sgd":
        opt = optax.sgd(schedule)
    elif name in ("momentum", "nesterov"):
        opt = optax.sgd(schedule, momentum=momentum, nesterov=name == "nesterov")
    elif name == "adam":
        opt = optax.adam(schedule, b1=b1, b2=b2, eps=eps)
    elif name == "adamw":
        opt = optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=wd, mask=decay_mask)
    elif name == "rmsprop":
        opt = optax.rmsprop(schedule, decay=rmsprop_decay, eps=eps, momentum=momentum or None)
    else:
        opt = optax.lamb(schedule, b1=b1, b2=b2, eps=eps, weight_decay=wd, mask=decay_mask)
    parts = []
    if grad_clip_norm > 0:
        parts.append(optax.clip_by_global_norm(grad_clip_norm))
    if wd > 0 and name not in ("adamw", "lamb"):
        parts.append(optax.add_decayed_weights(wd, mask=decay_mask))
    tx = optax.chain(*parts, opt) if parts else opt
    if wrap is not None:
        tx = wrap(tx)
    if accumulate_steps > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=accumulate_steps)
    return tx
