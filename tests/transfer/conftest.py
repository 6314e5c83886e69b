"""Shared sources of the transfer tests: short pre-training runs on MNIST-5k digits 0-4.

* `lenet_source`: a quick-start-style workdir (LeNet-5, the quick-start config, 8 steps).
* `resnet_source`: a tiny ResNet with BatchNorm (stages of one block, 4 and 8 maps).
Each is trained once per session; `tree_hash` fingerprints a directory so the tests can prove
that no transfer run ever modified its source.
"""

import functools
import hashlib
import os

import pytest

TINY_RESNET = {"stage_sizes": (1, 1), "widths": (4, 8)}


def tiny_config(**overrides):
    """The quick-start config, cut to a few steps of 32 (no pictures, no bar)."""
    from experiments.configs import quickstart

    config = quickstart.get_config()
    config.update(
        dataset="mnist5k?classes=0-4",
        num_steps=8,
        batch_size=32,
        log_every_steps=4,
        write_pictures=False,
        progress_bar=False,
    )
    transfer = overrides.pop("transfer", {})
    config.update(overrides)
    config.transfer.update(transfer)
    return config


def tree_hash(directory: str) -> str:
    """sha256 over every file's relative path and bytes under `directory`."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, directory).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


@pytest.fixture(scope="session", autouse=True)
def cached_datasets():
    """Decode MNIST-5k once for the whole directory instead of once per run."""
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
