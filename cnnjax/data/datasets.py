"""Dataset specs → random-access splits read from prepared ArrayRecord files (no TensorFlow).

Specs (one string in the config, `--config.dataset=...`), resolved through `cnnjax.data.registry`
where each builder module registers what it serves (`list_datasets()` lists them):
  - an embedded dataset, prepared on first use from data inside installed wheels: `mnist5k`,
    `digits`;
  - a tfds name prepared in the data dir (`mnist`, `fashion_mnist`, `cifar10`, `cifar100`,
    `imagenette`, `imagenet2012`, ...), read with `tfds` data sources;
  - local files prepared once by cnnjax's builders: `idx:<dir>`, `folder:<dir>`, `cifar:<dir>`.
Options follow a `?`, e.g. `folder:~/flowers?size=128&test_fraction=0.1`,
`idx:~/emnist?transpose=1`, `idx:~/mnist?validation=10000` (the last 10,000 training digits
become the `validation` split, which is then the evaluation split), `imagenette?size=256`,
`cifar:~/c10?skip_bad=1`. Every spec also takes `classes=5-9` (keep those classes,
relabelled from 0) and `per_class=10` (that many training examples per class), see
`cnnjax.data.subset`. Images of varying size are resized on the host (shorter side to
`size`, default 256, then a centre crop) so that batches have one shape; `preprocess.build` then
fits them to the model on the device.
"""

import dataclasses
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow_datasets as tfds
from absl import logging

from cnnjax import choices
from cnnjax.data import (
    builders,  # noqa: F401  (importing it registers every builder)
    registry,
    sources,
    subset,
)
from cnnjax.data.builders.prepare import prepare

DEFAULT_DATA_DIR = os.path.join("~", ".cache", "cnnjax", "datasets")
DEFAULT_IMAGE_SIZE = 256  # square side for datasets whose images vary in size
ANY_TFDS = "or any prepared tfds dataset name"


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Random-access splits of one dataset plus what a model needs to know about it.

    Attributes:
      name: the spec it was loaded from.
      splits: split name → random-access source; `source[i]` is `{"image": (H, W, C) uint8,
        "label": int}`.
      num_classes: number of labels.
      image_shape: (H, W, C) of every image.
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


def list_datasets() -> list[str]:
    """Spec forms accepted by `load_dataset` (any tfds name prepared in the data dir works too)."""
    return registry.forms()


def resolve(spec: str) -> tuple[registry.Entry, str, str | None, dict[str, Any]]:
    """`"folder:~/x?size=64"` → (the `folder` entry, "folder", "/home/.../x", {"size": 64});
    `"imagenette/320px"` → (the `imagenette` entry, "imagenette/320px", None, {}). A name nobody
    registered is a tfds name (`registry.unlisted_tfds`).

    Raises:
      ValueError: an empty spec, an unknown kind, a missing directory, unknown or mistyped options.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(
            f"dataset spec must be a non-empty string, got {spec!r}; accepted are "
            f"{', '.join(list_datasets())} {ANY_TFDS}"
        )
    body, _, query = spec.strip().partition("?")
    name, colon, path = body.partition(":")
    entry = registry.lookup(name)
    if colon:
        if entry is None or entry.kind != "local":
            local = [e.name for e in registry.entries("local")]
            raise choices.unknown(
                "dataset kind", name, local, extra=f"(as kind:<dir>; in {spec!r})"
            )
        if not path:
            raise ValueError(f"dataset spec {spec!r} names no directory after {name!r}:")
    elif entry is not None and entry.kind == "local":
        raise ValueError(f"dataset spec {spec!r}: {name!r} reads a directory, as {entry.form}")
    entry = entry or registry.unlisted_tfds(name)
    accepted = entry.accepted_options
    options = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key not in accepted:
            raise choices.unknown(
                "option", key, sorted(accepted), extra=f"(of {entry.form}, in {spec!r})"
            )
        options[key] = _convert(key, value, accepted[key], spec)
    return entry, name, (os.path.abspath(os.path.expanduser(path)) if colon else None), options


def parse_spec(spec: str) -> tuple[str, str | None, dict[str, Any]]:
    """`"folder:~/x?size=64"` → ("folder", "/home/.../x", {"size": 64}); `"mnist"` → ("mnist",
    None, {}). Raises ValueError for unknown or malformed options (see `resolve`)."""
    _, name, path, options = resolve(spec)
    return name, path, options


def _convert(key: str, value: str, kind: type, spec: str) -> Any:
    if kind is bool:
        if value.lower() in ("1", "true", "yes", ""):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
    else:
        try:
            return kind(value)
        except ValueError:
            pass
    raise ValueError(f"option {key}={value!r} in {spec!r} must be a {kind.__name__}")


def _not_prepared(name: str, builder: tfds.core.DatasetBuilder, root: str) -> FileNotFoundError:
    raw = registry.raw_reader(name)
    alternative = (
        f", or point cnnjax at the raw files you have with `--config.dataset={raw.form}`"
        if raw
        else ""
    )
    return FileNotFoundError(
        f"dataset {name!r} is not prepared: looked for ArrayRecord files in {builder.data_dir} "
        f"(data dir {root}). Prepare it offline with `tfds build {name} --data_dir={root} "
        f"--file_format=array_record` (needs the `tf` extra: pip install -e '.[tf]'; manual "
        f"downloads go in {root}/downloads/manual), or pass download=True{alternative}"
    )


def _tfds_splits(name: str, root: str, download: bool) -> tuple[Any, dict]:
    try:
        builder = tfds.builder(name, data_dir=root)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise choices.unknown("dataset", name, list_datasets(), extra=ANY_TFDS) from e
    if download:
        prepare(builder, root)
    try:
        # Split names come from the prepared dataset_info.json; `tfds.testing.mock_data` records
        # none but serves any name asked for.
        names = list(builder.info.splits) or ["train", "test"]
        return builder, {split: builder.as_data_source(split=split) for split in names}
    except Exception as e:  # tfds raises assorted types when files are missing or in TFRecord
        if not builder.is_prepared():
            raise _not_prepared(name, builder, root) from e
        raise ValueError(
            f"dataset {name!r} in {builder.data_dir} cannot be read without TensorFlow: {e}. "
            f"Prepare it again with --file_format=array_record"
        ) from e


def load_dataset(
    spec: str,
    data_dir: str | None = None,
    cache: bool | str = "auto",
    *,
    download: bool = False,
) -> Dataset:
    """Loads a dataset spec (see the module docstring), preparing embedded and local data once.

    Args:
      spec: `mnist5k`, `digits`, a tfds name, or `idx:|folder:|cifar:<dir>`, with `?options`.
      data_dir: where prepared datasets live (see `resolve_data_dir`).
      cache: `"auto"` decodes every split into memory when the decoded dataset is at most
        `sources.CACHE_LIMIT_BYTES` (else streams from disk); True always, False never.
      download: let tfds download and prepare a missing tfds dataset (may need TensorFlow).

    Returns:
      A `Dataset`.

    Raises:
      ValueError: unknown names, kinds or options, malformed local files.
      FileNotFoundError: a missing dataset, saying where it was looked for and how to prepare it.
    """
    if cache not in (True, False, "auto"):
        raise ValueError(f"cache must be True, False or 'auto', got {cache!r}")
    root = resolve_data_dir(data_dir)
    entry, name, path, options = resolve(spec)
    subset_options = {k: options.pop(k, None) for k in subset.SUBSET_OPTIONS}
    if entry.kind == "tfds":
        builder, splits = _tfds_splits(name, root, download)
    else:
        if entry.kind == "local":
            builder = entry.builder(source=path, root=root, file_format="array_record", **options)
        else:
            builder = entry.builder(data_dir=root, file_format="array_record")
        prepare(builder, root)
        splits = dict(builder.as_data_source())
    stats = entry.stats
    info = builder.info
    if not {"image", "label"} <= set(info.features.keys()):
        raise ValueError(
            f"dataset {spec!r} has features {sorted(info.features.keys())}; cnnjax needs an "
            f"'image' and a 'label' feature"
        )
    metadata = info.metadata or {}
    if stats is None and "mean" in metadata:
        stats = (metadata["mean"], metadata["std"])
    image_shape = tuple(info.features["image"].shape)
    if len(image_shape) == 2:
        image_shape = (*image_shape, 1)
    if None in image_shape[:2] or (entry.kind != "local" and "size" in options):
        size = options.get("size", DEFAULT_IMAGE_SIZE)
        splits = {s: sources.SquareSource(src, size) for s, src in splits.items()}
        image_shape = (size, size, image_shape[2])
    channels = image_shape[2]
    mean, std = stats or ((0.5,) * channels, (0.5,) * channels)
    if cache is True or (cache == "auto" and sources.fits_in_memory(splits, image_shape)):
        splits = {s: sources.cache_in_memory(src) for s, src in splits.items()}
    elif cache == "auto":
        logging.info("streaming %s from disk: it is larger than the in-memory cache limit", spec)
    label = info.features["label"]
    # Asking for a validation split means tuning on it: it is then evaluated instead of the test.
    order = ("validation", "test") if options.get("validation") else ("test", "validation")
    eval_split = next((s for s in (*order, "train") if s in splits), "train")
    dataset = Dataset(
        name=spec,
        splits=splits,
        num_classes=label.num_classes,
        image_shape=image_shape,
        class_names=tuple(label.names),
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        eval_split=eval_split,
    )
    return subset.subset_dataset(dataset, **subset_options)
