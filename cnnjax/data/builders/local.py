"""Base class of the tfds builders that prepare local files (and embedded data) into ArrayRecord.

A subclass scans its source when constructed (so a missing or malformed source fails before
anything is written), inspects it unless it was prepared before (reading every image header of a
large folder is slow; a prepared dataset's features say the same), and lists each split as
`(key, load)` pairs, where `load()` returns one
uint8 (H, W, C) image and its label or raises `BadExample`. The base class PNG-encodes images
(tfds needs TensorFlow to encode arrays), checks labels, counts or refuses bad examples, and
stores the training split's per-channel mean/std and the skip counts in the dataset's metadata.
"""

import abc
import os
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from cnnjax.data.builders.encoding import png_bytes
from cnnjax.data.builders.prepare import local_data_dir

Example = tuple[np.ndarray, int]
# Spec options of every local kind (`LocalBuilder.__init__`); each kind adds its own.
OPTIONS = {"skip_bad": bool}


class BadExample(ValueError):
    """One example that cannot be used (unreadable image, label out of range, ...)."""


class RunningStats:
    """Per-channel mean and std of pixels in [0, 1], accumulated image by image."""

    def __init__(self):
        self.count, self.total, self.squares = 0, 0.0, 0.0

    def add(self, image: np.ndarray) -> None:
        pixels = image.reshape(-1, image.shape[-1]).astype(np.float64) / 255.0  # (H*W, C)
        self.count += len(pixels)
        self.total = self.total + pixels.sum(0)
        self.squares = self.squares + (pixels**2).sum(0)

    def result(self) -> tuple[list[float], list[float]]:
        mean = self.total / self.count
        std = np.sqrt(np.maximum(self.squares / self.count - mean**2, 0.0))
        return [float(m) for m in mean], [float(max(s, 1e-3)) for s in std]


class LocalBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Prepares a local source into ArrayRecord; see the module docstring.

    Subclasses set `image_shape` and `class_names` in `scan()` and implement `examples()`.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Prepared by cnnjax from local files."}
    TRAIN_SPLIT = "train"

    KIND = "local"
    # Where tfds looks for README/CITATIONS files (none): this package, also for subclasses
    # defined elsewhere, e.g. a builder registered from a script, whose module is no package.
    pkg_dir_path = epath.Path(os.path.dirname(os.path.abspath(__file__)))

    def __init__(
        self,
        *,
        source: str = "",
        skip_bad: bool = False,
        root: str | None = None,
        options: Mapping | None = None,
        **kwargs,
    ):
        """Scans `source`; with `root`, prepares into a data dir below it keyed by the source's
        path, `options` and files (see `prepare.local_data_dir`)."""
        self.source = source
        self.skip_bad = skip_bad
        self.image_shape: tuple = ()
        self.class_names: tuple[str, ...] = ()
        self.scan()
        prepared = None
        if root is not None:
            key = {**(options or {}), "skip_bad": skip_bad}
            kwargs["data_dir"] = local_data_dir(root, self.KIND, source, key, self.source_files())
            prepared = os.path.join(kwargs["data_dir"], self.name, str(self.VERSION))
        if prepared and os.path.exists(os.path.join(prepared, "dataset_info.json")):
            features = tfds.features.FeaturesDict.from_config(prepared)
            self.image_shape = tuple(features["image"].shape)
            self.class_names = tuple(features["label"].names)
        else:
            self.inspect()
        super().__init__(**kwargs)

    def source_files(self) -> list[str]:
        """The files the prepared data is made from (their sizes and mtimes key the data dir)."""
        return []

    @abc.abstractmethod
    def scan(self) -> None:
        """Finds the source's files and checks what is cheap to check (raises on bad sources)."""

    def inspect(self) -> None:
        """Sets `image_shape` and `class_names` if `scan` did not (runs only before preparing)."""

    @abc.abstractmethod
    def examples(self) -> Mapping[str, Iterable[tuple[str, Callable[[], Example]]]]:
        """Split name → `(key, load)` pairs; `load()` returns `(image (H, W, C) uint8, label)`."""

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=self.image_shape),
                    "label": tfds.features.ClassLabel(names=list(self.class_names)),
                }
            ),
            supervised_keys=("image", "label"),
            description=f"Prepared by cnnjax from {self.source or self.name}.",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # the data is local
        return {
            split: self._generate_examples(split, pairs) for split, pairs in self.examples().items()
        }

    def _generate_examples(self, split: str, pairs):
        stats = RunningStats() if split == self.TRAIN_SPLIT else None
        skipped = 0
        for key, load in pairs:
            try:
                image, label = load()
                if not 0 <= label < len(self.class_names):
                    raise BadExample(
                        f"label {label} of {key} is out of range: the dataset has "
                        f"{len(self.class_names)} classes (0..{len(self.class_names) - 1})"
                    )
            except BadExample as e:
                if not self.skip_bad:
                    raise BadExample(f"{e} (add ?skip_bad=1 to the dataset spec to skip)") from e
                skipped += 1
                logging.warning("skipping a bad example of split %s: %s", split, e)
                continue
            if stats is not None:
                stats.add(image)
            yield key, {"image": png_bytes(image), "label": int(label)}
        self.info.metadata.setdefault("skipped", {})[split] = skipped
        if skipped:
            logging.warning(
                "skipped %d bad examples of split %s of %s", skipped, split, self.source
            )
        if stats is not None:
            if stats.count == 0:
                raise ValueError(f"split {split!r} of {self.source} has no usable examples")
            self.info.metadata["mean"], self.info.metadata["std"] = stats.result()
