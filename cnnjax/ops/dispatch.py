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
"""

import contextlib
import contextvars
import os

import jax

from cnnjax import choices

PATHS = ("native", "cpu")
ENV_VAR = "CNNJAX_FAST_CPU"
_OFF = ("0", "false", "off", "no")
_forced: contextvars.ContextVar[str | None] = contextvars.ContextVar("cnnjax_path", default=None)


def fast_cpu_enabled() -> bool:
    """False when `$CNNJAX_FAST_CPU` turns the CPU fast path off (read at every call)."""
    return os.environ.get(ENV_VAR, "1").strip().lower() not in _OFF


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
