"""Dataset specs → random-access splits read from prepared ArrayRecord files (no TensorFlow).

Specs (one string in the config, `--config.dataset=...`):
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

from cnnjax.data import sources, subset
from cnnjax.data.builders.prepare import prepare

DEFAULT_DATA_DIR = os.path.join("~", ".cache", "cnnjax", "datasets")
DEFAULT_IMAGE_SIZE = 256  # square side for datasets whose images vary in size

# Per-dataset pixel statistics in [0, 1] units (channel order RGB).
STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "mnist5k": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "kmnist": ((0.1918,), (0.3483,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenette": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "imagenet2012": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
EMBEDDED = ("digits", "mnist5k")
LOCAL_KINDS = ("cifar", "folder", "idx")
# Options each kind of spec accepts, with their types (plus `subset.SUBSET_OPTIONS` for all).
OPTIONS = {
    "idx": {
        "num_classes": int,
        "transpose": bool,
        "skip_bad": bool,
        "validation": int,
        **subset.SUBSET_OPTIONS,
    },
    "folder": {"test_fraction": float, "size": int, "skip_bad": bool, **subset.SUBSET_OPTIONS},
    "cifar": {"label": str, "skip_bad": bool, **subset.SUBSET_OPTIONS},
    "tfds": {"size": int, **subset.SUBSET_OPTIONS},
}
# Raw-file alternatives to suggest when a tfds dataset is not prepared.
RAW_ALTERNATIVES = {
    "mnist": "idx", "fashion_mnist": "idx", "kmnist": "idx", "emnist": "idx",
    "cifar10": "cifar", "cifar100": "cifar",
}  # fmt: skip


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
    tfds_names = sorted(set(STATS) - set(EMBEDDED))
    return [*EMBEDDED, *tfds_names, *(f"{kind}:<dir>" for kind in LOCAL_KINDS)]


def parse_spec(spec: str) -> tuple[str, str | None, dict[str, Any]]:
    """`"folder:~/x?size=64"` → ("folder", "/home/.../x", {"size": 64}); `"mnist"` → ("mnist",
    None, {}). Raises ValueError for unknown or malformed options."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"dataset spec must be a non-empty string, got {spec!r}; {_accepted()}")
    body, _, query = spec.strip().partition("?")
    kind, colon, path = body.partition(":")
    if colon and kind not in LOCAL_KINDS:
        raise ValueError(f"unknown dataset kind {kind!r} in {spec!r}; {_accepted()}")
    if colon and not path:
        raise ValueError(f"dataset spec {spec!r} names no directory after {kind!r}:")
    accepted = OPTIONS[kind if colon else "tfds"]
    options = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key not in accepted:
            raise ValueError(
                f"unknown option {key!r} in dataset spec {spec!r}; {kind if colon else 'tfds'} "
                f"specs accept {', '.join(sorted(accepted))}"
            )
        options[key] = _convert(key, value, accepted[key], spec)
    return kind, (os.path.abspath(os.path.expanduser(path)) if colon else None), options


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


def _accepted() -> str:
    return f"accepted are {', '.join(list_datasets())} or any prepared tfds dataset name"


def _local_builder(kind: str, path: str, options: dict, root: str) -> tfds.core.DatasetBuilder:
    from cnnjax.data.builders import cifar, folder, idx

    cls = {"idx": idx.IdxDataset, "folder": folder.ImageFolder, "cifar": cifar.CifarFiles}[kind]
    return cls(source=path, root=root, file_format="array_record", **options)


def _embedded_builder(name: str, root: str) -> tfds.core.DatasetBuilder:
    from cnnjax.data.builders import digits, mnist5k

    classes = {"mnist5k": mnist5k.Mnist5k, "digits": digits.Digits}
    return classes[name](data_dir=root, file_format="array_record")


def _not_prepared(name: str, builder: tfds.core.DatasetBuilder, root: str) -> FileNotFoundError:
    raw = RAW_ALTERNATIVES.get(name.split("/")[0].split(":")[0])
    alternative = (
        f", or point cnnjax at the raw files you have with `--config.dataset={raw}:<dir>`"
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
        raise ValueError(f"unknown dataset {name!r}; {_accepted()}") from e
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
    kind, path, options = parse_spec(spec)
    subset_options = {k: options.pop(k, None) for k in subset.SUBSET_OPTIONS}
    stats = None
    if path is not None:
        builder = _local_builder(kind, path, options, root)
        prepare(builder, root)
        splits = dict(builder.as_data_source())
    elif kind in EMBEDDED:
        builder = _embedded_builder(kind, root)
        prepare(builder, root)
        splits = dict(builder.as_data_source())
        stats = STATS.get(kind)
    else:
        builder, splits = _tfds_splits(kind, root, download)
        stats = STATS.get(kind.split("/")[0].split(":")[0])
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
    if None in image_shape[:2] or (path is None and "size" in options):
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
