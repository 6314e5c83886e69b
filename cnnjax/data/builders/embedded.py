"""Embedded datasets: arrays shipped inside an installed wheel, prepared once into ArrayRecord.

One pattern for every embedded dataset: its module reads the arrays from the wheel, subclasses
`EmbeddedBuilder` (the class name is the tfds name: `Mnist5k` → `mnist5k`) with its image shape,
class names and `read`, and registers it with `register_embedded`. The builder holds out every
5th example of each class (`stratified_test_mask`, 80/20) as the test split; `LocalBuilder`
PNG-encodes the images (no TensorFlow) and stores the training split's pixel statistics.
"""

import abc

import numpy as np

from cnnjax.data.builders.encoding import stratified_test_mask
from cnnjax.data.builders.local import LocalBuilder
from cnnjax.data.registry import Entry, Stats, register
from cnnjax.data.sources import SQUARE_OPTIONS

TEST_FRACTION = 0.2
DIGIT_NAMES = tuple(str(i) for i in range(10))


class EmbeddedBuilder(LocalBuilder, skip_registration=True):
    """Base of the embedded builders; subclasses set `IMAGE_SHAPE`, `CLASS_NAMES` and `read`."""

    IMAGE_SHAPE: tuple[int, int, int] = (0, 0, 0)  # (H, W, C)
    CLASS_NAMES: tuple[str, ...] = ()

    @abc.abstractmethod
    def read(self) -> tuple[np.ndarray, np.ndarray]:
        """Images (N, H, W) or (N, H, W, C) uint8 and labels (N,) int from the wheel."""

    def scan(self) -> None:
        self.image_shape, self.class_names = self.IMAGE_SHAPE, self.CLASS_NAMES

    def examples(self):
        images, labels = self.read()
        if images.ndim == 3:
            images = images[..., None]  # (N, H, W) → (N, H, W, 1)
        held_out = stratified_test_mask(labels, TEST_FRACTION)

        def pairs(mask):
            for i in np.nonzero(mask)[0]:
                yield int(i), lambda i=i: (images[i], int(labels[i]))

        return {"train": pairs(~held_out), "test": pairs(held_out)}


def register_embedded(builder: type[EmbeddedBuilder], stats: Stats | None = None) -> Entry:
    """Registers `builder` under its tfds name; `stats` None: measured on its training split."""
    return register(Entry(builder.name, "embedded", builder, SQUARE_OPTIONS, stats))
