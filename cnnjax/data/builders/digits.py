"""Digits: scikit-learn's 1,797 8x8 handwritten digits (UCI optdigits test set), embedded `digits`.

Pixel counts 0..16 are scaled to uint8 0..255 (round(v * 255 / 16)); every 5th digit of each
class is held out (1,442 train / 355 test). Normalised with its own training split's statistics.
"""

import numpy as np

from cnnjax.data.builders.embedded import DIGIT_NAMES, EmbeddedBuilder, register_embedded


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """Images (1797, 8, 8) uint8 in [0, 255] and labels (1797,) int64 from scikit-learn."""
    from sklearn.datasets import load_digits  # imported here: sklearn costs seconds to import

    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    return images, bunch.target.astype(np.int64)


class Digits(EmbeddedBuilder):
    """scikit-learn's 8x8 digits."""

    RELEASE_NOTES = {"1.0.0": "Stratified 80/20 split of sklearn.datasets.load_digits."}
    IMAGE_SHAPE = (8, 8, 1)
    CLASS_NAMES = DIGIT_NAMES

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        return read_digits()


register_embedded(Digits)
