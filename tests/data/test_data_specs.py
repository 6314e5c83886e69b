"""Dataset specs: embedded data, tfds names (through `tfds.testing.mock_data`), errors, no TF."""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow_datasets as tfds
from filemakers import as_set, source_set

from cnnjax.data import load_dataset, sources
from cnnjax.data.builders.digits import read_digits
from cnnjax.data.datasets import parse_spec

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_digits_are_sklearn_digits_split_by_class(tmp_path):
    dataset = load_dataset("digits", str(tmp_path))
    images, labels = read_digits()
    assert dataset.image_shape == (8, 8, 1) and dataset.num_classes == 10
    assert {k: len(v) for k, v in dataset.splits.items()} == {"train": 1442, "test": 355}
    both = source_set(dataset.splits["train"]) + source_set(dataset.splits["test"])
    assert sorted(both) == as_set(images[..., None], labels)
    counts = np.bincount(dataset.splits["test"].labels, minlength=10)
    np.testing.assert_array_equal(counts, np.bincount(labels, minlength=10) // 5)  # every 5th
    np.testing.assert_allclose(dataset.mean, [images[~_held_out(labels)].mean() / 255], rtol=1e-9)


def _held_out(labels):
    from cnnjax.data.builders.encoding import stratified_test_mask

    return stratified_test_mask(labels, 0.2)


def test_tfds_name_through_mock_data(tmp_path):
    with tfds.testing.mock_data(num_examples=6):
        dataset = load_dataset("mnist", str(tmp_path))
        assert dataset.image_shape == (28, 28, 1) and dataset.num_classes == 10
        assert dataset.mean == (0.1307,) and dataset.std == (0.3081,)
        assert len(dataset.splits["train"]) == 6
        image = dataset.splits["train"][0]["image"]
        assert image.shape == (28, 28, 1) and image.dtype == np.uint8


def test_tfds_images_of_varying_size_are_squared(tmp_path):
    with tfds.testing.mock_data(num_examples=3):
        dataset = load_dataset("imagenette?size=16", str(tmp_path), cache=False)
        assert dataset.image_shape == (16, 16, 3)
        assert isinstance(dataset.splits["train"], sources.SquareSource)
        assert all(dataset.splits["train"][i]["image"].shape == (16, 16, 3) for i in range(3))


def test_missing_tfds_dataset_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("fashion_mnist", str(tmp_path))
    message = str(error.value)
    assert str(tmp_path / "fashion_mnist") in message
    assert f"tfds build fashion_mnist --data_dir={tmp_path} --file_format=array_record" in message
    assert "idx:<dir>" in message
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "spec, message",
    [
        ("no_such_dataset_xyz", "unknown dataset 'no_such_dataset_xyz'; accepted are .*mnist5k"),
        ("zip:/data", "unknown dataset kind 'zip'"),
        ("idx:", "names no directory"),
        (
            "idx:/d?size=3",
            "unknown option 'size'; accepted are classes, names, num_classes, per_class, repeat",
        ),
        ("folder:/d?test_fraction=half", "test_fraction='half'.*must be a float"),
        ("", "non-empty string"),
    ],
)
def test_bad_specs(spec, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        load_dataset(spec, str(tmp_path))


def test_spec_options_are_typed():
    kind, path, options = parse_spec("folder:~/x?size=64&skip_bad=true&test_fraction=0.1")
    assert (kind, path) == ("folder", os.path.expanduser("~/x"))
    assert options == {"size": 64, "skip_bad": True, "test_fraction": 0.1}


def test_cache_threshold_streams_large_data(idx_dir, tmp_path, monkeypatch):
    root, _ = idx_dir
    small = load_dataset(f"idx:{root}", str(tmp_path))
    assert isinstance(small.splits["train"], sources.ArraySource)
    monkeypatch.setattr(sources, "CACHE_LIMIT_BYTES", 100)  # 17 images of 20 bytes do not fit
    large = load_dataset(f"idx:{root}", str(tmp_path))
    assert not isinstance(large.splits["train"], sources.ArraySource)
    assert source_set(large.splits["train"]) == source_set(small.splits["train"])


@pytest.mark.parametrize("cifar_dir", ["py2"], indirect=True)
def test_reading_every_kind_never_imports_tensorflow(idx_dir, cifar_dir, tmp_path):
    """In a fresh interpreter, so that no other test can have imported TensorFlow first."""
    script = textwrap.dedent(
        f"""
        import sys
        import tensorflow_datasets as tfds
        from cnnjax.data import load_dataset, train_iterator
        data_dir = {str(tmp_path / "data")!r}
        for spec in ["digits", "idx:{idx_dir[0]}", "cifar:{cifar_dir[0]}"]:
            dataset = load_dataset(spec, data_dir, cache=False)
            batch = next(train_iterator(dataset.splits["train"], batch_size=4, seed=0))
            assert batch["image"].dtype.name == "uint8", spec
        with tfds.testing.mock_data(num_examples=4):
            load_dataset("cifar10", data_dir)
        print("tensorflow" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=240, cwd=REPO
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
