"""Test-wide setup, done before anything imports cnnjax (subprocesses inherit the environment).

* Prepared datasets go to one temporary data dir shared by the session.
* A persistent XLA compilation cache for the session: the loop tests compile the same small
  programs many times, in this process and in the subprocesses they start.
"""

import atexit
import os
import shutil
import tempfile

import matplotlib

matplotlib.use("Agg")


def _session_dir(variable: str, prefix: str) -> str:
    if variable not in os.environ:
        os.environ[variable] = tempfile.mkdtemp(prefix=prefix)
        atexit.register(shutil.rmtree, os.environ[variable], ignore_errors=True)
    return os.environ[variable]


_session_dir("CNNJAX_DATA_DIR", "cnnjax-test-data-")
os.environ["JAX_COMPILATION_CACHE_DIR"] = _session_dir("CNNJAX_TEST_JAX_CACHE", "cnnjax-jax-")
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
