"""Shared sources of the transfer tests: short pre-training runs on MNIST-5k digits 0-4.

* `lenet_source`: a quick-start-style workdir (LeNet-5, the quick-start config, 8 steps).
* `resnet_source`: a tiny ResNet with BatchNorm (stages of one block, 4 and 8 maps).
Each is trained once per session (`transfer_helpers.tree_hash` lets the tests prove that no
transfer run ever modified its source).
"""

import functools

import pytest
from transfer_helpers import TINY_RESNET, tiny_config


@pytest.fixture(scope="module", autouse=True)
def cached_datasets():
    """Decode MNIST-5k once per module instead of once per run."""
    import cnnjax.data

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cnnjax.data, "load_dataset", functools.lru_cache(cnnjax.data.load_dataset))
        yield


def _pretrain(tmp_path_factory, name, **overrides):
    from cnnjax.train import train_and_evaluate

    workdir = str(tmp_path_factory.mktemp(name))
    train_and_evaluate(tiny_config(**overrides), workdir)
    return workdir


@pytest.fixture(scope="session")
def lenet_source(tmp_path_factory):
    return _pretrain(tmp_path_factory, "lenet-source")


@pytest.fixture(scope="session")
def resnet_source(tmp_path_factory):
    return _pretrain(
        tmp_path_factory, "resnet-source", model="resnet20", model_kwargs=dict(TINY_RESNET)
    )
