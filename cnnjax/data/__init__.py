"""Datasets (tfds sources, embedded data, local-file builders), grain loaders, preprocessing and
on-device augmentation. Each builder registers its datasets in `registry` (`list_datasets()`).

    dataset = load_dataset("mnist5k")               # or "cifar10", "idx:<dir>", "folder:<dir>", ...
    batches = train_iterator(dataset.splits["train"], batch_size=128, seed=0)
    prep = preprocess.build(dataset, input_shape=(32, 32, 1))
    aug = augment.build("pad_crop(4)|rotate(10)", dataset.num_classes)
"""

from cnnjax.data import augment, preprocess, registry
from cnnjax.data.datasets import Dataset, list_datasets, load_dataset, resolve_data_dir
from cnnjax.data.loader import DevicePrefetch, eval_batches, train_iterator
from cnnjax.data.preprocess import normalize

__all__ = [
    "Dataset",
    "DevicePrefetch",
    "augment",
    "eval_batches",
    "list_datasets",
    "load_dataset",
    "normalize",
    "preprocess",
    "registry",
    "resolve_data_dir",
    "train_iterator",
]
