"""Shared setup of the training-engine tests.

* `cached_datasets`: decode MNIST-5k once per module instead of once per run.
"""

import functools

import pytest


@pytest.fixture(scope="module")
def cached_datasets():
    import cnnjax.data

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cnnjax.data, "load_dataset", functools.lru_cache(cnnjax.data.load_dataset))
        yield
