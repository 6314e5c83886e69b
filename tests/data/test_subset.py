"""The `classes=` and `per_class=` dataset options (cnnjax/data/subset.py)."""

import numpy as np
import pytest

from cnnjax.data import datasets, subset
from cnnjax.data.sources import ArraySource

LABELS = np.repeat(np.arange(10), 30)  # 30 examples of each of 10 classes
IMAGES = (np.arange(len(LABELS)) % 256).astype(np.uint8)[:, None, None, None] * np.ones(
    (1, 2, 2, 1), np.uint8
)
SPLITS = {"train": ArraySource(IMAGES, LABELS), "test": ArraySource(IMAGES[::3], LABELS[::3])}
NAMES = tuple(str(i) for i in range(10))


def _select(classes=None, per_class=None):
    return subset.select(
        SPLITS, 10, NAMES, train_split="train", classes=classes, per_class=per_class
    )


def test_parse_classes_reads_ranges_and_lists():
    assert subset.parse_classes("5-9", 10) == (5, 6, 7, 8, 9)
    assert subset.parse_classes("3, 1,4", 10) == (3, 1, 4)
    for bad in ("5-12", "a", "1,1", "-1"):
        with pytest.raises(ValueError, match="classes="):
            subset.parse_classes(bad, 10)


def test_classes_are_kept_and_relabelled_in_every_split():
    splits, count, names = _select(classes="7,5")
    assert (count, names) == (2, ("7", "5"))
    for name, source in splits.items():
        batch = source.read_batch(np.arange(len(source)))
        original = SPLITS[name].labels[source.indices]
        # Counted a second way: the original labels of the kept examples, mapped by hand.
        np.testing.assert_array_equal(batch["label"], np.where(original == 7, 0, 1))
        assert set(original) == {5, 7}
        assert len(source) == (LABELS[:: 1 if name == "train" else 3] >= 0).sum() // 5
        assert source[0]["label"] == batch["label"][0]


def test_per_class_thins_only_the_training_split_and_is_nested():
    ten, _, _ = _select(classes="5-9", per_class=10)
    twenty, _, _ = _select(classes="5-9", per_class=20)
    labels = ten["train"].read_batch(np.arange(len(ten["train"])))["label"]
    np.testing.assert_array_equal(np.bincount(labels), [10] * 5)
    assert len(ten["test"]) == 50  # all 10 held-out examples of each kept class
    assert set(ten["train"].indices) <= set(twenty["train"].indices)
    with pytest.raises(ValueError, match="class 5 .* has only 30"):
        _select(classes="5-9", per_class=31)


def test_every_spec_kind_accepts_the_options():
    assert datasets.parse_spec("mnist5k?classes=0-4&per_class=10")[2] == {
        "classes": "0-4",
        "per_class": 10,
    }
    assert datasets.parse_spec("idx:/x?per_class=3")[2] == {"per_class": 3}
    with pytest.raises(ValueError, match="per_class=.*must be a int"):
        datasets.parse_spec("mnist5k?per_class=many")


def test_repeat_lists_the_training_split_over_and_leaves_the_rest():
    splits, _, _ = subset.select(
        SPLITS, 10, NAMES, train_split="train", classes="5-9", per_class=4, repeat=3
    )
    once, _, _ = _select(classes="5-9", per_class=4)
    np.testing.assert_array_equal(splits["train"].indices, np.tile(once["train"].indices, 3))
    assert len(splits["test"]) == 50
    assert (
        subset.without_per_class("idx:/x?classes=1-3&per_class=4&repeat=3") == "idx:/x?classes=1-3"
    )
    assert subset.without_per_class("mnist5k?per_class=4") == "mnist5k"
