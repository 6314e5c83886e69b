"""Class names of `idx:<dir>`: Fashion-MNIST's, asked for (`names=fashion`) or recognised."""

import hashlib

import numpy as np
import pytest
from filemakers import random_images, write_idx

from cnnjax.data import load_dataset
from cnnjax.data.builders import idx

FASHION = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


@pytest.fixture
def fashion_dir(tmp_path):
    """Fashion-MNIST's file names and format, 12 training and 4 test images of 6x6 pixels, the
    first labels of the official sets (9 = ankle boot, 0 = T-shirt/top, ...)."""
    root = tmp_path / "fashion-mnist"
    root.mkdir()
    for prefix, labels, seed in (
        ("train", [9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9], 1),
        ("t10k", [9, 2, 1, 1], 2),
    ):
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", random_images(len(labels), (6, 6), seed))
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", np.asarray(labels))
    return root


def test_names_fashion_gives_the_official_class_names(fashion_dir, tmp_path):
    plain = load_dataset(f"idx:{fashion_dir}", str(tmp_path))
    assert plain.class_names == tuple(str(i) for i in range(10))
    named = load_dataset(f"idx:{fashion_dir}?names=fashion", str(tmp_path))
    assert named.class_names == FASHION and named.num_classes == 10
    test_labels = named.splits["test"].labels
    assert sorted(named.class_names[i] for i in test_labels) == [
        "Ankle boot", "Pullover", "Trouser", "Trouser"
    ]  # fmt: skip
    few = load_dataset(f"idx:{fashion_dir}?names=fashion&classes=9,0", str(tmp_path))
    assert few.class_names == ("Ankle boot", "T-shirt/top")


def test_the_official_training_labels_are_recognised(fashion_dir, tmp_path, monkeypatch):
    """The real digest is that of the 60,000 official labels; here the fixture's stands in."""
    labels = idx.read_idx(str(fashion_dir / "train-labels-idx1-ubyte.gz"), idx.LABELS_MAGIC)
    monkeypatch.setitem(
        idx.KNOWN_TRAIN_LABELS, hashlib.sha256(labels.tobytes()).hexdigest(), "fashion"
    )
    assert load_dataset(f"idx:{fashion_dir}", str(tmp_path)).class_names == FASHION


@pytest.mark.parametrize(
    "options, message",
    [
        ("names=fashon", "unknown idx class names 'fashon'; accepted are fashion; did you mean"),
        ("names=fashion&num_classes=12", r"gives 10 class names .*num_classes=12"),
    ],
)
def test_bad_names_are_refused_before_anything_is_written(fashion_dir, tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(f"idx:{fashion_dir}?{options}", str(tmp_path / "data"))
    assert not (tmp_path / "data").exists()


def test_labels_beyond_the_names_are_refused(fashion_dir, tmp_path):
    write_idx(fashion_dir / "t10k-labels-idx1-ubyte.gz", np.asarray([9, 2, 10, 1]))
    with pytest.raises(ValueError, match="gives 10 class names .* labels up to 10"):
        load_dataset(f"idx:{fashion_dir}?names=fashion", str(tmp_path / "data"))
