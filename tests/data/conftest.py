"""Fixtures writing tiny datasets inside each test (writers live in `filemakers`)."""

import numpy as np
import pytest
from filemakers import random_images, write_cifar_batch, write_idx, write_pickle


@pytest.fixture
def idx_dir(tmp_path):
    """MNIST-format files: train (gzipped, 12 images) and t10k (raw, 5 images), 5x4 pixels."""
    root = tmp_path / "idx"
    root.mkdir()
    splits = {}
    for prefix, n, gz, seed in (("train", 12, ".gz", 1), ("t10k", 5, "", 2)):
        images, labels = random_images(n, (5, 4), seed), np.arange(n) % 3
        write_idx(root / f"{prefix}-images-idx3-ubyte{gz}", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{gz}", labels)
        splits["train" if prefix == "train" else "test"] = (images, labels)
    return root, splits


@pytest.fixture(params=["py2", "py3"])
def cifar_dir(tmp_path, request):
    """CIFAR-10 layout in cifar-10-batches-py/: 5 train batches of 2 images, a test batch of 3.

    `py2`: the byte format of the official files (Python 2 cPickle); `py3`: Python 3 pickles.
    """
    form = request.param
    root = tmp_path / "cifar" / "cifar-10-batches-py"
    root.mkdir(parents=True)
    images = random_images(13, (32, 32, 3), 3)
    labels = np.arange(13) % 10
    for i in range(5):
        write_cifar_batch(
            root / f"data_batch_{i + 1}",
            images[2 * i : 2 * i + 2],
            labels[2 * i : 2 * i + 2],
            form=form,
        )
    write_cifar_batch(root / "test_batch", images[10:], labels[10:], form=form)
    names = [f"class{i}" for i in range(10)]
    meta = {"num_cases_per_batch": 2, "label_names": names, "num_vis": 3072}
    write_pickle(root / "batches.meta", meta, form)
    return root.parent, (images[:10], labels[:10]), (images[10:], labels[10:]), names
