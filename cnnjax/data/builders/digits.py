"""Digits: scikit-learn's 1,797 8x8 handwritten digits (UCI optdigits test set) as a tfds dataset.

Pixel counts 0..16 are scaled to uint8 0..255 (round(v * 255 / 16)); a deterministic stratified
split holds out every 5th digit of each class. Prepared once into ArrayRecord without TensorFlow.
"""

import numpy as np

from cnnjax.data.builders.encoding import stratified_test_mask
from cnnjax.data.builders.local import LocalBuilder

TEST_FRACTION = 0.2


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """Images (1797, 8, 8) uint8 in [0, 255] and labels (1797,) int64 from scikit-learn."""
    from sklearn.datasets import load_digits  # imported here: sklearn costs seconds to import

    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    return images, bunch.target.astype(np.int64)


class Digits(LocalBuilder):
    """scikit-learn's 8x8 digits (registered with tfds as `digits`)."""

    RELEASE_NOTES = {"1.0.0": "Stratified 80/20 split of sklearn.datasets.load_digits."}

    def scan(self) -> None:
        self.image_shape = (8, 8, 1)
        self.class_names = tuple(str(i) for i in range(10))

    def examples(self):
        images, labels = read_digits()
        held_out = stratified_test_mask(labels, TEST_FRACTION)

        def pairs(mask):
            for i in np.nonzero(mask)[0]:
                yield int(i), lambda i=i: (images[i][..., None], int(labels[i]))

        return {"train": pairs(~held_out), "test": pairs(held_out)}
