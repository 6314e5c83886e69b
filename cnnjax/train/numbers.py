"""Range checks of every numeric config key, run at the door (nothing loaded or compiled yet).

A negative learning rate trains by gradient ascent and a `nan` one fails only after compiling;
both, and every other number out of its range, raise one `ValueError` here that names the key,
the value and the accepted range.
"""

import math
from collections.abc import Callable

import ml_collections

# key → (test, the accepted range in words). Ranges follow the optimisers' definitions: optax's
# `sgd(momentum)`, `adam(b1, b2, eps)`, `rmsprop(decay)`; label smoothing as in Szegedy et al.
# 2016 (eq. 1: 1 would erase the label); EMA decay as in Polyak & Juditsky 1992.
_Range = tuple[Callable[[float], bool], str]
POSITIVE: _Range = (lambda v: v > 0, "> 0")
NON_NEGATIVE: _Range = (lambda v: v >= 0, ">= 0")
UNIT_OPEN: _Range = (lambda v: 0 <= v < 1, "in [0, 1)")
AT_LEAST_ONE: _Range = (lambda v: v >= 1, ">= 1")

FLOAT_RANGES: dict[str, _Range] = {
    "learning_rate": POSITIVE,
    "momentum": UNIT_OPEN,
    "beta1": UNIT_OPEN,
    "beta2": UNIT_OPEN,
    "eps": POSITIVE,
    "rmsprop_decay": UNIT_OPEN,
    "weight_decay": NON_NEGATIVE,
    "grad_clip_norm": NON_NEGATIVE,
    "warmup_epochs": NON_NEGATIVE,
    "lr_end_factor": NON_NEGATIVE,
    "lr_decay_rate": POSITIVE,
    "lr_decay_epochs": POSITIVE,
    "onecycle_pct_start": (lambda v: 0 < v < 1, "in (0, 1)"),
    "onecycle_div_factor": POSITIVE,
    "onecycle_final_div_factor": POSITIVE,
    "label_smoothing": UNIT_OPEN,
    "ema_decay": UNIT_OPEN,
    "checkpoint_every_minutes": NON_NEGATIVE,
    "peer_timeout": POSITIVE,
}
INT_RANGES: dict[str, _Range] = {
    "eval_batch_size": AT_LEAST_ONE,
    "accumulate_steps": AT_LEAST_ONE,
    "worker_count": NON_NEGATIVE,
    "prefetch_batches": NON_NEGATIVE,
    "shard_min_size": NON_NEGATIVE,
    "log_every_steps": AT_LEAST_ONE,
    "eval_every_epochs": AT_LEAST_ONE,
    "checkpoint_every_steps": NON_NEGATIVE,
    "keep_checkpoints": AT_LEAST_ONE,
    "keep_best_checkpoints": NON_NEGATIVE,
    "initialization_timeout": POSITIVE,
}


def _number(key: str, value, kind: type) -> float:
    """`value` as a finite number of `kind` (bools are not numbers here)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or not math.isfinite(value):
        what = "a finite number" if kind is float else "a whole number"
        raise ValueError(f"{key} must be {what}, got {value!r}")
    return value


def check_numbers(config: ml_collections.ConfigDict) -> None:
    """Raises a ValueError naming the first numeric key outside its accepted range.

    Args:
      config: a config built on `experiments/configs/common.py:get_base_config` (keys it does
        not have are skipped, so partial configs of tests and tools pass through).

    Raises:
      ValueError: "<key> must be <range>, got <value>", or a warm-up not shorter than training.
    """
    for ranges, kind in ((FLOAT_RANGES, float), (INT_RANGES, int)):
        for key, (accepted, words) in ranges.items():
            if key not in config:
                continue
            value = _number(key, config[key], kind)
            if not accepted(value):
                raise ValueError(f"{key} must be {words}, got {value!r}")
    for key in ("lr_boundaries", "lr_scales"):
        for value in config.get(key, ()):
            if _number(key, value, float) < 0:
                raise ValueError(f"{key} must hold numbers >= 0, got {tuple(config[key])}")
    epochs = config.get("num_epochs", 0)
    if config.get("num_steps", -1) <= 0 and 0 < epochs <= config.get("warmup_epochs", 0):
        raise ValueError(
            f"warmup_epochs={config.warmup_epochs} must be shorter than training "
            f"(num_epochs={epochs})"
        )


def check_warmup(warmup_epochs: float, steps_per_epoch: int, total_steps: int) -> None:
    """Raises a ValueError when the warm-up is not shorter than training (counted in steps)."""
    if warmup_epochs > 0 and warmup_epochs * steps_per_epoch >= total_steps:
        raise ValueError(
            f"warmup_epochs={warmup_epochs} ({warmup_epochs * steps_per_epoch:g} steps) must be "
            f"shorter than training ({total_steps} steps)"
        )


__all__ = ["check_numbers", "check_warmup"]
