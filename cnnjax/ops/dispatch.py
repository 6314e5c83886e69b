"""Which implementation the convolution and max-pooling ops run: XLA's native one or the CPU forms.

XLA:CPU runs some convolutions far below its matmul speed (see `cnnjax.ops.cpu_conv`) and
differentiates max pooling with a slow `select_and_scatter`; on CPU cnnjax therefore runs
equivalent forms that give the same results. GPUs and TPUs always keep XLA's native ops.

The choice is made in Python when an op is traced:

* `$CNNJAX_FAST_CPU=0` (also `false`, `off`, `no`) turns the CPU forms off for the process (and
  the XLA flag of `cnnjax.cpu_flags`);
* `with use_path("native"):` / `with use_path("cpu"):` forces one for the ops traced inside
  (tests compare the two; shape analysis traces the native primitives);
* otherwise the CPU forms run when `jax.default_backend()` is `cpu`.

A function compiled under `jax.jit` keeps the choice made when it was traced.

cnnjax's C++ kernels (`cnnjax.ops.direct_conv`) are XLA custom calls, which XLA's SPMD
partitioner cannot split: under a `jax.jit` whose inputs are sharded over several devices it
would gather every operand and run each call whole on every device. `without_kernels` turns
them off for what is traced inside; the jit engine traces its steps so when its mesh has more
than one device (the pmap engine's per-device programs keep them).
"""

import contextlib
import contextvars
import functools
import os

import jax

from cnnjax import choices

PATHS = ("native", "cpu")
ENV_VAR = "CNNJAX_FAST_CPU"
_OFF = ("0", "false", "off", "no")
_forced: contextvars.ContextVar[str | None] = contextvars.ContextVar("cnnjax_path", default=None)
_no_kernels: contextvars.ContextVar[bool] = contextvars.ContextVar("no_kernels", default=False)


def is_off(value: str) -> bool:
    """Whether an opt-out variable's value says off: `0`, `false`, `off` or `no` (any case)."""
    return value.strip().lower() in _OFF


def fast_cpu_enabled() -> bool:
    """False when `$CNNJAX_FAST_CPU` turns the CPU fast path off (read at every call)."""
    return not is_off(os.environ.get(ENV_VAR, "1"))


def current_path() -> str:
    """`native` or `cpu`: the implementation an op traced now runs."""
    forced = _forced.get()
    if forced is not None:
        return forced
    if not fast_cpu_enabled():
        return "native"
    return "cpu" if jax.default_backend() == "cpu" else "native"


@contextlib.contextmanager
def use_path(path: str):
    """Forces `path` (`native` or `cpu`) for the ops traced inside the `with` block.

    Args:
      path: `native` (XLA's convolution and `reduce_window` gradient) or `cpu` (the CPU forms,
        whatever the backend: they are correct everywhere, just tuned for XLA:CPU).
    """
    if path not in PATHS:
        raise choices.unknown("ops path", path, PATHS)
    token = _forced.set(path)
    try:
        yield
    finally:
        _forced.reset(token)


def kernels_allowed() -> bool:
    """False inside `without_kernels`: the CPU forms then use XLA's operations only."""
    return not _no_kernels.get()


@contextlib.contextmanager
def without_kernels():
    """Keeps cnnjax's C++ custom-call kernels out of the ops traced inside the `with` block."""
    token = _no_kernels.set(True)
    try:
        yield
    finally:
        _no_kernels.reset(token)


def traced_without_kernels(fn):
    """`fn`, traced inside `without_kernels` (for programs partitioned over several devices)."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with without_kernels():
            return fn(*args, **kwargs)

    return wrapped
