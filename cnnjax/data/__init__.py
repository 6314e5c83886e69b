"""Datasets (tfds sources, embedded data, local-file builders), grain loaders, preprocessing."""

from cnnjax.data.datasets import Dataset, list_datasets, load_dataset, resolve_data_dir
from cnnjax.data.loader import eval_batches, train_iterator
from cnnjax.data.preprocess import normalize

__all__ = [
    "Dataset",
    "eval_batches",
    "list_datasets",
    "load_dataset",
    "normalize",
    "resolve_data_dir",
    "train_iterator",
]
