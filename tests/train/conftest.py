"""Shared setup of the training-engine tests.

* A persistent XLA compilation cache for the session (also handed to subprocesses through
  `compile_cache_env`): the loop tests run the same small programs many times.
* `cached_datasets`: decode MNIST-5k once per module instead of once per run.
"""

import functools
import os
import tempfile

import jax
import pytest

CACHE_DIR = os.environ.get("CNNJAX_TEST_JAX_CACHE") or tempfile.mkdtemp(prefix="cnnjax-jax-cache-")
os.environ["CNNJAX_TEST_JAX_CACHE"] = CACHE_DIR
jax.config.update("jax_compilation_cache_dir", CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def compile_cache_env() -> dict:
    """Environment variables giving a subprocess the session's compilation cache."""
    return {
        "JAX_COMPILATION_CACHE_DIR": CACHE_DIR,
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


@pytest.fixture(scope="module")
def cached_datasets():
    import cnnjax.data

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cnnjax.data, "load_dataset", functools.lru_cache(cnnjax.data.load_dataset))
        yield
