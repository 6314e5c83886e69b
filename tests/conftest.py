"""Test-wide setup, done before anything imports cnnjax (subprocesses inherit the environment).

* Prepared datasets go to one temporary data dir shared by the session; under pytest-xdist
  each worker prepares its own (in a subfolder), so no two processes write one dataset at once.
* A persistent XLA compilation cache for the session, shared by the xdist workers: the loop
  tests compile the same small programs many times, in this process and in the subprocesses
  they start.
* The C++ kernels (`cnnjax.ops.native`) compile into a cache of the session's own, so every run
  exercises the compile on first use rather than a library left in the home directory.
* The modules that read the session's parallel-engine runs (`train/parallel_runs.py`) go to one
  xdist worker (`pytest_xdist_make_scheduler`), so those subprocess runs start once.
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


_data_dir = _session_dir("CNNJAX_DATA_DIR", "cnnjax-test-data-")
_worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ... in an xdist worker
if _worker and os.path.basename(_data_dir) != _worker:  # inherited from the controller
    os.environ["CNNJAX_DATA_DIR"] = os.path.join(_data_dir, _worker)
    os.makedirs(os.environ["CNNJAX_DATA_DIR"], exist_ok=True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = _session_dir("CNNJAX_TEST_JAX_CACHE", "cnnjax-jax-")
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["CNNJAX_KERNEL_CACHE"] = _session_dir("CNNJAX_TEST_KERNEL_CACHE", "cnnjax-kernels-")
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (setup.cfg): one worker per CPU this process may run on, at most 4 (each worker
    is a JAX process of its own; more would cost memory and start-up time for little gain)."""
    return max(1, min(len(os.sched_getaffinity(0)), 4))


# Modules whose tests read the session's parallel-engine runs (train/parallel_runs.py).
SHARED_RUNS_MODULES = (
    "tests/train/test_parallel.py",
    "tests/train/test_multihost.py",
    "tests/train/test_restore_mesh.py",
)


def pytest_xdist_make_scheduler(config, log):
    """`load` scheduling, except that the `SHARED_RUNS_MODULES` form one unit of work for one
    worker. (xdist's own `xdist_group` mark does not take effect under pytest 9, which no longer
    reads the `_nodeid` attribute xdist 3.8 rewrites; a scope of our own does not depend on it.)"""
    from xdist.scheduler import LoadScopeScheduling

    class SharedRunsScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "shared-parallel-runs" if module in SHARED_RUNS_MODULES else nodeid

    return SharedRunsScheduling(config, log)
