"""Shared setup of the training-engine tests.

* `cached_datasets`: decode MNIST-5k once per module instead of once per run.
* `runs`: the session's parallel-engine subprocess runs (`parallel_runs.py`), waited for up to
  the single- and eight-device groups.
"""

import functools

import parallel_runs as pr
import pytest


@pytest.fixture(scope="module")
def cached_datasets():
    import cnnjax.data

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cnnjax.data, "load_dataset", functools.lru_cache(cnnjax.data.load_dataset))
        yield


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    started = pr.runs(tmp_path_factory)
    started.get("single")
    started.get("eight")
    return started
