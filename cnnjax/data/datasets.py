"""Dataset specs (`mnist5k`, `mnist`, `idx:<dir>`, ...) → random-access tfds sources.

Every dataset is read through `tfds.data_source` from prepared ArrayRecord files: no TensorFlow
is imported to read. Embedded datasets are prepared on first use by cnnjax's own builders.
"""

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import tensorflow_datasets as tfds

from cnnjax.data.sources import cache_in_memory

DEFAULT_DATA_DIR = os.path.join("~", ".cache", "cnnjax", "datasets")

# Per-dataset pixel statistics in [0, 1] units (channel order RGB).
STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet2012": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Random-access splits of one dataset plus what a model needs to know about it.

    Attributes:
      name: the spec it was loaded from.
      splits: split name → random-access source; `source[i]` is `{"image": (H, W, C) uint8,
        "label": int}`.
      num_classes: number of labels.
      image_shape: (H, W, C) of every image (None entries where sizes vary).
      class_names: one name per label.
      mean, std: per-channel pixel statistics in [0, 1] units for normalisation.
      train_split, eval_split: the split names used for training and held-out evaluation.
    """

    name: str
    splits: Mapping[str, Sequence[Any]]
    num_classes: int
    image_shape: tuple
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_split: str = "train"
    eval_split: str = "test"


def resolve_data_dir(data_dir: str | None) -> str:
    """`data_dir`, else $CNNJAX_DATA_DIR, else ~/.cache/cnnjax/datasets (user-expanded)."""
    return os.path.expanduser(data_dir or os.environ.get("CNNJAX_DATA_DIR") or DEFAULT_DATA_DIR)


def _embedded_builder(name: str) -> Callable[[str], tfds.core.DatasetBuilder]:
    def make(data_dir: str) -> tfds.core.DatasetBuilder:
        from cnnjax.data.builders import mnist5k

        classes = {"mnist5k": mnist5k.Mnist5k}
        return classes[name](data_dir=data_dir, file_format="array_record")

    return make


EMBEDDED = {"mnist5k": _embedded_builder("mnist5k")}


def _from_builder(
    name: str, builder: tfds.core.DatasetBuilder, stats_key: str, cache: bool
) -> Dataset:
    info = builder.info
    label = info.features["label"]
    image_shape = tuple(info.features["image"].shape)
    mean, std = STATS.get(stats_key, ((0.5,) * image_shape[-1], (0.5,) * image_shape[-1]))
    splits = builder.as_data_source()
    if cache:
        splits = {name: cache_in_memory(source) for name, source in splits.items()}
    eval_split = "test" if "test" in splits else ("validation" if "validation" in splits else "train")
    return Dataset(
        name=name,
        splits=dict(splits),
        num_classes=label.num_classes,
        image_shape=image_shape,
        class_names=tuple(label.names),
        mean=tuple(mean),
        std=tuple(std),
        eval_split=eval_split,
    )


def list_datasets() -> list[str]:
    """Names accepted by `load_dataset` (any tfds name prepared in the data dir works too)."""
    return sorted(EMBEDDED)


def load_dataset(spec: str, data_dir: str | None = None, cache: bool = False) -> Dataset:
    """Loads a dataset spec, preparing embedded datasets on first use.

    Args:
      spec: an embedded name (`mnist5k`) or a tfds name prepared in `data_dir` (`mnist`, ...).
      data_dir: where prepared datasets live (see `resolve_data_dir`).
      cache: decode every split into memory once (embedded datasets always are).

    Returns:
      A `Dataset`.
    """
    data_dir = resolve_data_dir(data_dir)
    if spec in EMBEDDED:
        builder = EMBEDDED[spec](data_dir)
        builder.download_and_prepare()
        return _from_builder(spec, builder, stats_key="mnist", cache=True)
    try:
        builder = tfds.builder(spec, data_dir=data_dir)
    except Exception as e:  # tfds raises several types for unknown names
        raise ValueError(
            f"unknown dataset {spec!r}; accepted are {', '.join(list_datasets())} or a tfds "
            f"dataset name"
        ) from e
    if not builder.is_prepared():
        raise FileNotFoundError(
            f"dataset {spec!r} is not prepared in {data_dir}. Prepare it offline with "
            f"`tfds build {spec} --data_dir={data_dir} --file_format=array_record` "
            f"(needs the `tf` extra: pip install -e '.[tf]')"
        )
    return _from_builder(spec, builder, stats_key=spec, cache=cache)
