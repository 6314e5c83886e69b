"""cnnjax: a JAX/Flax functional CNN research framework."""

__version__ = "0.1.0"
