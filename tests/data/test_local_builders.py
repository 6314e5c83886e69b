"""Local-file builders: tiny files written in the test are read back exactly; bad files fail
with one clear error (or a counted skip) and leave nothing behind in the data dir."""

import os
import pickle
import warnings

import numpy as np
import py2pickle
import pytest
from filemakers import (
    as_set,
    random_images,
    source_set,
    write_cifar_batch,
    write_folder,
    write_idx,
    write_pickle,
)

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


def test_empty_class_folder_is_an_error_naming_it(tmp_path):
    write_folder(tmp_path / "e", ["cat", "dog"], 2, (4, 4, 3), seed=12)
    os.makedirs(tmp_path / "e" / "owl")
    with pytest.raises(ValueError, match=r"class folder .*e/owl has no images \(1 of 3"):
        load_dataset(f"folder:{tmp_path / 'e'}", str(tmp_path / "data"))
    assert _empty(tmp_path / "data")


def test_mixed_sizes_are_resized_once_to_the_most_common_size(tmp_path, caplog):
    from PIL import Image

    write_folder(tmp_path / "m", ["a", "b"], 2, (8, 6, 3), seed=13)  # 4 images 6 wide, 8 high
    odd = random_images(1, (12, 12, 3), seed=14)[0]
    Image.fromarray(odd).save(tmp_path / "m" / "b" / "odd.png")
    # Independently: cover 6x8 from 12x12 is a bicubic 8x8, then the central 6 columns.
    expected = np.asarray(Image.fromarray(odd).resize((8, 8), Image.Resampling.BICUBIC))[:, 1:7]
    with caplog.at_level("WARNING"):
        dataset = load_dataset(f"folder:{tmp_path / 'm'}?test_fraction=0", str(tmp_path / "data"))
    assert dataset.image_shape == (8, 6, 3)  # stored at that size, not squared through 256
    images = [dataset.splits["train"][i]["image"] for i in range(5)]
    assert all(image.shape == (8, 6, 3) for image in images)
    assert any(np.array_equal(image, expected) for image in images)
    (line,) = [r.getMessage() for r in caplog.records if "come in" in r.getMessage()]
    assert "images come in 2 sizes; 1 of 5 are resized straight to the most common, 6x8" in line


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


@pytest.mark.parametrize("form", ["py2", "py3"])
@pytest.mark.parametrize("label, count", [("fine", 100), ("coarse", 20)])
def test_cifar100_fine_and_coarse_labels(tmp_path, form, label, count):
    root = tmp_path / "c100" / "cifar-100-python"
    root.mkdir(parents=True)
    images = random_images(4, (32, 32, 3), 12)
    labels = {"fine": [5, 99, 0, 7], "coarse": [1, 19, 0, 2]}
    for name in ("train", "test"):
        data = images.transpose(0, 3, 1, 2).reshape(4, -1)
        value = {"filenames": ["a.png", "b.png", "c.png", "d.png"], "batch_label": name}
        value.update(fine_labels=labels["fine"], coarse_labels=labels["coarse"], data=data)
        write_pickle(root / name, value, form)
    names = {k: [f"{k}{i}" for i in range(n)] for k, n in (("fine", 100), ("coarse", 20))}
    meta = {"fine_label_names": names["fine"], "coarse_label_names": names["coarse"]}
    write_pickle(root / "meta", meta, form)
    dataset = load_dataset(f"cifar:{root.parent}?label={label}", str(tmp_path / "data"))
    assert dataset.num_classes == count and dataset.class_names == tuple(names[label])
    assert source_set(dataset.splits["train"]) == as_set(images, labels[label])
    assert source_set(dataset.splits["test"]) == as_set(images, labels[label])


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("dtype", ["u1", "<i8", "<f4"])
def test_python2_cifar_pickles_match_a_reference_decode(tmp_path, dtype):
    """The fixture writer's bytes are those of the official files (their first bytes), and the
    restricted reader decodes them exactly as `pickle.loads(..., encoding="bytes")` does."""
    data = (np.arange(2 * 3072) % 251).astype(dtype).reshape(2, 3072)
    value = {"data": data, "labels": [6, 9], "batch_label": "training batch 1 of 5"}
    value["filenames"] = ["leptodactylus_pentadactylus_s_000004.png", "camion_s_000148.png"]
    raw = py2pickle.dumps(value)
    official_start = (
        b"\x80\x02}q\x01(U\x04dataq\x02cnumpy.core.multiarray\n_reconstruct\nq\x03cnumpy\n"
        b"ndarray\nq\x04K\x00\x85U\x01b\x87Rq\x05(K\x01K\x02M\x00\x0c\x86cnumpy\ndtype\nq\x06U\x02"
    )
    assert raw.startswith(official_start)
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    with warnings.catch_warnings():  # numpy 2 warns about numpy.core; the test data is trusted
        warnings.simplefilter("ignore", DeprecationWarning)
        reference = pickle.loads(raw, encoding="bytes")
    loaded = safe_pickle.load_restricted(str(path))
    assert set(loaded) == {b"data", b"labels", b"batch_label", b"filenames"}
    assert _same(loaded, reference)
    assert loaded[b"data"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded[b"data"], data)


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
