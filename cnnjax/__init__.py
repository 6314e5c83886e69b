"""cnnjax: a JAX/Flax functional CNN research framework."""

from cnnjax import cpu_flags  # first: sets an XLA:CPU flag before JAX creates its backends

__version__ = "0.1.0"
__all__ = ["cpu_flags"]
