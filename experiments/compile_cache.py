"""The persistent XLA compilation cache of the entry points (the library never turns it on).

    python -m experiments.train                                  # cache in ~/.cache/cnnjax/xla
    python -m experiments.train --compilation_cache=/tmp/xla     # another directory
    python -m experiments.train --compilation_cache=             # off

A re-run of a command that compiles the same programs (same model, config, batch size, devices,
jax/jaxlib and XLA flags) loads them from the cache instead of compiling them: ResNet-20's train
step 4.2 -> 0.7 s and its initialisation 2.5 -> 0.6 s on one core (docs/speed.md). JAX keys each
entry on the program, its compile options, the devices and the versions, so an entry is only
used for the program it was made from. `$JAX_COMPILATION_CACHE_DIR`, when set, is the default.
Programs that compile in under a second are not cached (JAX's
`jax_persistent_cache_min_compile_time_secs`).
"""

import os

import jax
from absl import flags

DEFAULT_DIR = os.path.join("~", ".cache", "cnnjax", "xla")


def define_flag() -> flags.FlagHolder:
    """Defines `--compilation_cache`: the cache directory, empty to turn the cache off."""
    return flags.DEFINE_string(
        "compilation_cache",
        os.environ.get("JAX_COMPILATION_CACHE_DIR") or DEFAULT_DIR,
        "Directory of the persistent XLA compilation cache (re-runs load compiled programs "
        "from it); empty: off.",
    )


def configure(path: str) -> str | None:
    """Turns the persistent compilation cache on in `path`, or off when `path` is empty.

    Call it before anything is compiled: JAX decides once per process whether it uses the cache.

    Args:
      path: a directory (created when first written; `~` is expanded), or "" for no cache.

    Returns:
      The absolute directory in use, or None when the cache is off.

    Raises:
      ValueError: `path` exists and is not a directory.
    """
    if not path:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(
            f"--compilation_cache={path!r} is not a directory: give a directory (created if "
            f"missing) or an empty value to turn the cache off"
        )
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", path)
    return path


__all__ = ["DEFAULT_DIR", "configure", "define_flag"]
