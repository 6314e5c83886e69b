"""Local-file builders: tiny files written in the test are read back exactly; bad files fail
with one clear error (or a counted skip) and leave nothing behind in the data dir."""

import os
import pickle

import numpy as np
import pytest
from filemakers import as_set, random_images, source_set, write_cifar_batch, write_folder, write_idx

from cnnjax.data import load_dataset
from cnnjax.data.builders import folder, safe_pickle


def _empty(path):
    return not os.path.exists(path) or os.listdir(path) == []


def test_idx_files_read_back_exactly(idx_dir, tmp_path):
    root, splits = idx_dir
    data_dir = tmp_path / "data"
    dataset = load_dataset(f"idx:{root}", str(data_dir), cache=False)  # streamed: reads the records
    assert dataset.image_shape == (5, 4, 1) and dataset.num_classes == 3
    for split, (images, labels) in splits.items():
        assert source_set(dataset.splits[split]) == as_set(images[..., None], labels)
    train = splits["train"][0] / 255.0
    np.testing.assert_allclose(dataset.mean, [train.mean()], rtol=1e-9)
    np.testing.assert_allclose(dataset.std, [train.std()], rtol=1e-6)
    cached = load_dataset(f"idx:{root}", str(data_dir))  # prepared once; now cached in memory
    assert source_set(cached.splits["test"]) == source_set(dataset.splits["test"])


def test_idx_wrong_magic(idx_dir, tmp_path):
    root, _ = idx_dir
    write_idx(root / "t10k-labels-idx1-ubyte", np.zeros(5), magic=0x0803)
    with pytest.raises(
        ValueError, match=r"t10k-labels-idx1-ubyte is not an IDX file.*0x803, expected 0x801"
    ):
        load_dataset(f"idx:{root}", str(tmp_path / "data"))
    assert _empty(tmp_path / "data")


def test_idx_count_mismatch(idx_dir, tmp_path):
    root, _ = idx_dir
    write_idx(root / "t10k-labels-idx1-ubyte", np.zeros(4))
    with pytest.raises(ValueError, match="holds 5 images but .* holds 4 labels"):
        load_dataset(f"idx:{root}", str(tmp_path / "data"))
    assert _empty(tmp_path / "data")


def test_idx_labels_out_of_range_raise_or_are_counted_and_skipped(idx_dir, tmp_path):
    root, splits = idx_dir  # labels are 0, 1, 2
    with pytest.raises(
        ValueError, match="label 2 of .* is out of range: the dataset has 2 classes"
    ):
        load_dataset(f"idx:{root}?num_classes=2", str(tmp_path / "data"))
    assert _empty(tmp_path / "data"), "a failed preparation must leave nothing behind"
    dataset = load_dataset(f"idx:{root}?num_classes=2&skip_bad=1", str(tmp_path / "data"))
    images, labels = splits["train"]
    keep = labels < 2
    assert source_set(dataset.splits["train"]) == as_set(images[keep][..., None], labels[keep])
    assert dataset.num_classes == 2


def test_missing_idx_dir_says_where_and_how(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"no MNIST-format training files in .*nowhere.*train-images-idx3"
    ):
        load_dataset(f"idx:{tmp_path / 'nowhere'}", str(tmp_path / "data"))


def test_image_folder_with_split_fraction(tmp_path, monkeypatch):
    images, labels = write_folder(tmp_path / "flowers", ["daisy", "rose"], 5, (6, 7, 3), seed=4)
    dataset = load_dataset(
        f"folder:{tmp_path / 'flowers'}?test_fraction=0.2", str(tmp_path / "data")
    )
    assert dataset.class_names == ("daisy", "rose") and dataset.image_shape == (6, 7, 3)
    assert {k: len(v) for k, v in dataset.splits.items()} == {"train": 8, "test": 2}
    both = source_set(dataset.splits["train"]) + source_set(dataset.splits["test"])
    assert sorted(both) == as_set(images, labels)
    assert sorted(dataset.splits["test"].labels) == [0, 1]  # stratified

    def no_inspection(self):
        raise AssertionError("a prepared folder must not be inspected again")

    monkeypatch.setattr(folder.ImageFolder, "inspect", no_inspection)
    again = load_dataset(f"folder:{tmp_path / 'flowers'}?test_fraction=0.2", str(tmp_path / "data"))
    assert again.image_shape == (6, 7, 3) and again.class_names == ("daisy", "rose")
    assert source_set(again.splits["train"]) == source_set(dataset.splits["train"])


def test_image_folder_train_test_layout_grey(tmp_path):
    train = write_folder(tmp_path / "d" / "train", ["a", "b", "c"], 2, (4, 4, 1), seed=5, mode="L")
    test = write_folder(tmp_path / "d" / "test", ["a", "b", "c"], 1, (4, 4, 1), seed=6, mode="L")
    dataset = load_dataset(f"folder:{tmp_path / 'd'}", str(tmp_path / "data"))
    assert dataset.image_shape == (4, 4, 1)
    assert source_set(dataset.splits["train"]) == as_set(*train)
    assert source_set(dataset.splits["test"]) == as_set(*test)


def test_image_folder_of_varying_sizes_is_squared(tmp_path):
    write_folder(tmp_path / "v" / "x", ["p"], 1, (10, 6, 3), seed=7)
    write_folder(tmp_path / "v" / "y", ["q"], 1, (8, 8, 3), seed=8)
    for name in ("x", "y"):  # move the class folders under one root
        os.rename(
            tmp_path / "v" / name / ("p" if name == "x" else "q"),
            tmp_path / "v" / ("p" if name == "x" else "q"),
        )
        os.rmdir(tmp_path / "v" / name)
    dataset = load_dataset(
        f"folder:{tmp_path / 'v'}?test_fraction=0&size=5", str(tmp_path / "data")
    )
    assert dataset.image_shape == (5, 5, 3)
    assert all(dataset.splits["train"][i]["image"].shape == (5, 5, 3) for i in range(2))


def test_unreadable_image_raises_or_is_counted_and_skipped(tmp_path):
    images, labels = write_folder(tmp_path / "f", ["a", "b"], 5, (4, 4, 3), seed=9)
    (tmp_path / "f" / "b" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"cannot read image file .*broken.png"):
        load_dataset(f"folder:{tmp_path / 'f'}", str(tmp_path / "data"))
    assert _empty(tmp_path / "data")
    dataset = load_dataset(
        f"folder:{tmp_path / 'f'}?skip_bad=1&test_fraction=0", str(tmp_path / "data")
    )
    assert source_set(dataset.splits["train"]) == as_set(images, labels)


def test_image_folder_test_class_unknown_to_training_is_out_of_range(tmp_path):
    write_folder(tmp_path / "g" / "train", ["a", "b"], 1, (4, 4, 3), seed=10)
    write_folder(tmp_path / "g" / "test", ["a", "zebra"], 1, (4, 4, 3), seed=11)
    with pytest.raises(ValueError, match="class folder 'zebra' is not among the training classes"):
        load_dataset(f"folder:{tmp_path / 'g'}", str(tmp_path / "data"))
    assert _empty(tmp_path / "data")


def test_cifar10_batches_read_back_exactly(cifar_dir, tmp_path):
    root, train, test, names = cifar_dir
    dataset = load_dataset(f"cifar:{root}", str(tmp_path / "data"))
    assert dataset.class_names == tuple(names) and dataset.image_shape == (32, 32, 3)
    assert source_set(dataset.splits["train"]) == as_set(*train)
    assert source_set(dataset.splits["test"]) == as_set(*test)


def test_cifar100_coarse_labels(tmp_path):
    root = tmp_path / "c100"
    root.mkdir()
    images = random_images(4, (32, 32, 3), 12)
    for name in ("train", "test"):
        data = images.transpose(0, 3, 1, 2).reshape(4, -1)
        with open(root / name, "wb") as f:
            pickle.dump(
                {"data": data, "fine_labels": [5, 99, 0, 7], "coarse_labels": [1, 19, 0, 2]},
                f,
                protocol=2,
            )
    dataset = load_dataset(f"cifar:{root}?label=coarse", str(tmp_path / "data"))
    assert dataset.num_classes == 20
    assert source_set(dataset.splits["train"]) == as_set(images, [1, 19, 0, 2])


def test_cifar_label_out_of_range_and_count_mismatch(cifar_dir, tmp_path):
    root, train, _, _ = cifar_dir
    batches = root / "cifar-10-batches-py"
    write_cifar_batch(batches / "test_batch", train[0][:2], [3, 10])
    with pytest.raises(
        ValueError, match="label 10 of .* is out of range: the dataset has 10 classes"
    ):
        load_dataset(f"cifar:{root}", str(tmp_path / "data"))
    assert _empty(tmp_path / "data")
    write_cifar_batch(batches / "test_batch", train[0][:2], [3])
    with pytest.raises(ValueError, match="holds 2 images but 1 labels"):
        load_dataset(f"cifar:{root}", str(tmp_path / "data"))
    assert _empty(tmp_path / "data")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = str(tmp_path / "pwned")
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": _Exploit(marker)}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load global posix.mkdir"):
        safe_pickle.load_restricted(str(path))
    assert not os.path.exists(marker)


def test_restricted_unpickler_reads_numpy_arrays_of_any_byte_order(tmp_path):
    value = {"a": np.arange(6, dtype=">i4").reshape(2, 3), "b": np.eye(2), "c": [1, "x", b"y"]}
    path = tmp_path / "p"
    path.write_bytes(pickle.dumps(value, protocol=2))
    loaded = safe_pickle.load_restricted(str(path))
    np.testing.assert_array_equal(loaded["a"], value["a"])
    np.testing.assert_array_equal(loaded["b"], value["b"])
    assert loaded["c"] == [1, "x", b"y"]
    path.write_bytes(pickle.dumps({"o": np.array([{}], dtype=object)}, protocol=2))
    with pytest.raises(ValueError, match="refusing dtype 'O8'|refusing"):
        safe_pickle.load_restricted(str(path))


def test_idx_validation_option_holds_out_the_last_training_examples(idx_dir, tmp_path):
    root, splits = idx_dir
    images, labels = splits["train"]  # 12 examples
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        os.remove(root / name)  # like ../shared/data/mnist-train: no test files
    dataset = load_dataset(f"idx:{root}?validation=4", str(tmp_path / "data"))
    assert {k: len(v) for k, v in dataset.splits.items()} == {"train": 8, "validation": 4}
    assert dataset.eval_split == "validation"
    assert source_set(dataset.splits["train"]) == as_set(images[:8, ..., None], labels[:8])
    assert source_set(dataset.splits["validation"]) == as_set(images[8:, ..., None], labels[8:])
    train = images[:8] / 255.0  # statistics of the training part only
    np.testing.assert_allclose(dataset.mean, [train.mean()], rtol=1e-9)
    np.testing.assert_allclose(dataset.std, [train.std()], rtol=1e-6)


def test_idx_validation_next_to_test_files_keeps_the_test_split(idx_dir, tmp_path):
    root, splits = idx_dir
    dataset = load_dataset(f"idx:{root}?validation=2", str(tmp_path / "data"))
    assert {k: len(v) for k, v in dataset.splits.items()} == {
        "train": 10,
        "validation": 2,
        "test": 5,
    }
    assert dataset.eval_split == "validation"
    assert load_dataset(f"idx:{root}", str(tmp_path / "data")).eval_split == "test"


@pytest.mark.parametrize("count", [12, 13, -1])
def test_idx_validation_larger_than_train_raises_and_leaves_nothing(idx_dir, tmp_path, count):
    root, _ = idx_dir
    with pytest.raises(ValueError, match=rf"validation={count} .* accepted is a count from 0"):
        load_dataset(f"idx:{root}?validation={count}", str(tmp_path / "data"))
    assert _empty(tmp_path / "data")
