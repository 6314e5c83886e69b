"""Numbers of the config: the accepted ranges, and one check that names key, value and range.

A negative learning rate trains by gradient ascent and a `nan` one fails only after compiling;
both, and every other number out of its range, raise one `ValueError` that names the key, the
value and the accepted range. `cnnjax.train.config.SCHEMA` assigns a range to each key.
"""

import math
from collections.abc import Callable, Sequence

# (test, the accepted range in words). Ranges follow the optimisers' definitions: optax's
# `sgd(momentum)`, `adam(b1, b2, eps)`, `rmsprop(decay)`; label smoothing as in Szegedy et al.
# 2016 (eq. 1: 1 would erase the label); EMA decay as in Polyak & Juditsky 1992.
Range = tuple[Callable[[float], bool], str]
POSITIVE: Range = (lambda v: v > 0, "> 0")
NON_NEGATIVE: Range = (lambda v: v >= 0, ">= 0")
UNIT: Range = (lambda v: 0 <= v < 1, "in [0, 1)")
OPEN_UNIT: Range = (lambda v: 0 < v < 1, "in (0, 1)")
AT_LEAST_ONE: Range = (lambda v: v >= 1, ">= 1")


def _number(name: str, value, kind: type) -> float:
    """`value` as a finite number of `kind` (bools are not numbers here)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or not math.isfinite(value):
        what = "a finite number" if kind is float else "a whole number"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def check_number(name: str, value, kind: type, accepted: Range | None = None) -> None:
    """Raises a ValueError unless `value` is a finite number of `kind` within `accepted`.

    Args:
      name: the key, e.g. `optim.momentum` (named in the message).
      value: the value given.
      kind: `int` (whole numbers) or `float`.
      accepted: a range such as `POSITIVE`; None: any finite number.

    Raises:
      ValueError: "<name> must be <range>, got <value>" (or "a finite / whole number").
    """
    value = _number(name, value, kind)
    if accepted is not None and not accepted[0](value):
        raise ValueError(f"{name} must be {accepted[1]}, got {value!r}")


def check_sequence(name: str, values: Sequence, accepted: Range | None = None) -> None:
    """Raises a ValueError unless every item of `values` is a finite number within `accepted`."""
    for value in values:
        value = _number(name, value, float)
        if accepted is not None and not accepted[0](value):
            raise ValueError(f"{name} must hold numbers {accepted[1]}, got {tuple(values)}")


def check_warmup(warmup_epochs: float, steps_per_epoch: int, total_steps: int) -> None:
    """Raises a ValueError when the warm-up is not shorter than training (counted in steps)."""
    if warmup_epochs > 0 and warmup_epochs * steps_per_epoch >= total_steps:
        raise ValueError(
            f"schedule.warmup_epochs={warmup_epochs} ({warmup_epochs * steps_per_epoch:g} steps) "
            f"must be shorter than training ({total_steps} steps)"
        )


__all__ = [
    "AT_LEAST_ONE",
    "NON_NEGATIVE",
    "OPEN_UNIT",
    "POSITIVE",
    "UNIT",
    "Range",
    "check_number",
    "check_sequence",
    "check_warmup",
]
