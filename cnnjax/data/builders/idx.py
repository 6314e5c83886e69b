"""`idx:<dir>`: MNIST-format files (MNIST, Fashion-MNIST, KMNIST, EMNIST) prepared into ArrayRecord.

A split is a pair `<prefix>-images-idx3-ubyte[.gz]` / `<prefix>-labels-idx1-ubyte[.gz]`; prefixes
containing `train` form the train split, `t10k` or `test` the test split. With the option
`validation=N`, the last N training examples form a `validation` split and the train split keeps
the rest (the usual MNIST tuning split is the last 10,000 of the 60,000 training digits; LeCun et
al. 1998 §III-A). File format (LeCun et
al., http://yann.lecun.com/exdb/mnist/): a big-endian int32 magic 0x0803 (images, 3 dims) or
0x0801 (labels, 1 dim), then one int32 per dimension, then the uint8 data in row-major order.

Class names are '0', '1', ... unless the option `names=fashion` gives Fashion-MNIST's (Xiao et al.
2017, arXiv:1708.07747, github.com/zalandoresearch/fashion-mnist). The official Fashion-MNIST
files are recognised without it: they are named exactly like MNIST's, so the training labels are
(their SHA-256, `KNOWN_TRAIN_LABELS`; gzip-independent, unlike a checksum of the .gz files).
"""

import gzip
import hashlib
import os
import re

import numpy as np

from cnnjax import choices
from cnnjax.data.builders import local
from cnnjax.data.builders.local import LocalBuilder
from cnnjax.data.registry import Entry, register

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
_PATTERN = re.compile(r"^(?P<prefix>.*)-images[-.]idx3-ubyte(?P<gz>\.gz)?$")
# Values of the `names=` option: the class names of a known dataset, label 0 first.
CLASS_NAMES = {
    "fashion": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}  # fmt: skip
# SHA-256 of the label bytes (after the header) of official training sets → their `names=` value.
KNOWN_TRAIN_LABELS = {
    "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7": "fashion",  # 60,000
}


def _open(path: str):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def read_idx_header(path: str, magic: int) -> tuple[int, ...]:
    """The dimensions in the header of IDX file `path`, whose magic number must be `magic`."""
    ndim = magic & 0xFF
    try:
        with _open(path) as f:
            header = f.read(4 + 4 * ndim)
    except (OSError, EOFError) as e:
        raise ValueError(f"cannot read IDX file {path}: {e}") from e
    found = int.from_bytes(header[:4], "big") if len(header) >= 4 else None
    if found != magic:
        kind = "images, ubyte, 3 dims" if magic == IMAGES_MAGIC else "labels, ubyte, 1 dim"
        raise ValueError(
            f"{path} is not an IDX file of this kind: its magic number is "
            f"{found if found is None else hex(found)}, expected {hex(magic)} ({kind})"
        )
    if len(header) < 4 + 4 * ndim:
        raise ValueError(f"{path}: the IDX header is truncated")
    return tuple(int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))


def read_idx(path: str, magic: int) -> np.ndarray:
    """Reads one IDX file (gzip or raw) whose header must carry `magic`; returns its uint8 array."""
    dims = read_idx_header(path, magic)
    offset = 4 + 4 * len(dims)
    try:
        with _open(path) as f:
            body = f.read()[offset:]
    except (OSError, EOFError) as e:
        raise ValueError(f"cannot read IDX file {path}: {e}") from e
    if len(body) != int(np.prod(dims)):
        raise ValueError(
            f"{path}: header says shape {dims} ({int(np.prod(dims))} bytes) but the file holds "
            f"{len(body)} bytes of data"
        )
    return np.frombuffer(body, np.uint8).reshape(dims)


def find_idx_pairs(directory: str) -> dict[str, tuple[str, str]]:
    """Split name → (images path, labels path) found in `directory`."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(_missing(directory, "the directory does not exist"))
    pairs = {}
    for name in sorted(os.listdir(directory)):
        match = _PATTERN.match(name)
        if not match:
            continue
        prefix = match["prefix"]
        split = (
            "train" if "train" in prefix else ("test" if re.search("t10k|test", prefix) else None)
        )
        if split is None:
            continue
        stem = name.replace("-images-idx3-ubyte", "-labels-idx1-ubyte").replace(
            "-images.idx3-ubyte", "-labels.idx1-ubyte"
        )
        candidates = [stem, stem.removesuffix(".gz"), stem + ".gz"]
        labels = next((c for c in candidates if os.path.exists(os.path.join(directory, c))), None)
        if labels is None:
            raise FileNotFoundError(f"{os.path.join(directory, name)} has no labels file {stem}")
        if split in pairs:
            raise ValueError(f"two {split} image files in {directory}: {pairs[split][0]}, {name}")
        pairs[split] = (os.path.join(directory, name), os.path.join(directory, labels))
    if "train" not in pairs:
        raise FileNotFoundError(_missing(directory, f"found {sorted(os.listdir(directory))[:10]}"))
    return pairs


def _missing(directory: str, detail: str) -> str:
    return (
        f"no MNIST-format training files in {directory} ({detail}). Expected "
        f"train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] (and t10k-* for the test "
        f"split), e.g. from http://yann.lecun.com/exdb/mnist/, copied there offline"
    )


def recognise(labels: np.ndarray) -> str | None:
    """The `names=` value of an official training set with these (N,) uint8 labels, or None."""
    return KNOWN_TRAIN_LABELS.get(
        hashlib.sha256(np.asarray(labels, np.uint8).tobytes()).hexdigest()
    )


class IdxDataset(LocalBuilder, skip_registration=True):
    """MNIST-format IDX pairs; options: `num_classes` (default: largest label + 1), `transpose`
    (EMNIST stores images column-major), `validation` (the last N training examples become the
    `validation` split; 0: none), `names` (a key of `CLASS_NAMES`; default: recognised from the
    training labels, else '0', '1', ...)."""

    KIND = "idx"

    def __init__(
        self,
        *,
        num_classes: int | None = None,
        transpose: bool = False,
        validation: int = 0,
        names: str | None = None,
        source: str = "",
        **kwargs,
    ):
        if names is not None:
            choices.check("idx class names", names, sorted(CLASS_NAMES))
        else:  # before preparing: the names key the prepared data (see `prepare.local_data_dir`)
            names = recognise(read_idx(find_idx_pairs(source)["train"][1], LABELS_MAGIC))
        self.num_classes, self.transpose, self.validation = num_classes, transpose, validation
        self.names = names
        options = {"num_classes": num_classes, "transpose": transpose, "validation": validation}
        if names is not None:  # absent otherwise, so data prepared before names existed is reused
            options["names"] = names
        super().__init__(source=source, options=options, **kwargs)

    def scan(self) -> None:
        self.pairs = find_idx_pairs(self.source)
        self.labels, sizes = {}, set()
        for split, (images_path, labels_path) in self.pairs.items():
            dims = read_idx_header(images_path, IMAGES_MAGIC)
            self.labels[split] = read_idx(labels_path, LABELS_MAGIC)
            if dims[0] != len(self.labels[split]):
                raise ValueError(
                    f"{images_path} holds {dims[0]} images but {labels_path} holds "
                    f"{len(self.labels[split])} labels: the counts must match"
                )
            sizes.add(dims[1:][::-1] if self.transpose else dims[1:])
        if len(sizes) != 1:
            raise ValueError(f"splits in {self.source} have different image sizes: {sorted(sizes)}")
        count = len(self.labels["train"])
        if not 0 <= self.validation < count:
            raise ValueError(
                f"validation={self.validation} in the spec of {self.source}: accepted is a count "
                f"from 0 (no validation split) to {count - 1}, fewer than the {count} training "
                f"examples of {self.pairs['train'][0]}"
            )
        self.image_shape = (*sizes.pop(), 1)
        largest = max(int(labels.max(initial=0)) for labels in self.labels.values())
        if self.names is None:
            self.class_names = tuple(str(i) for i in range(self.num_classes or largest + 1))
            return
        self.class_names = CLASS_NAMES[self.names]
        if largest >= len(self.class_names) or self.num_classes not in (
            None,
            len(self.class_names),
        ):
            raise ValueError(
                f"names={self.names} gives {len(self.class_names)} class names but {self.source} "
                f"has labels up to {largest} (num_classes={self.num_classes}); drop names= or "
                f"num_classes="
            )

    def source_files(self) -> list[str]:
        return [p for pair in self.pairs.values() for p in pair]

    def examples(self):
        def pairs(file_split, start, stop):
            images = read_idx(self.pairs[file_split][0], IMAGES_MAGIC)  # (N, H, W)
            if self.transpose:
                images = images.transpose(0, 2, 1)
            labels = self.labels[file_split]
            for i in range(start, len(labels) if stop is None else stop):
                yield f"{file_split}/{i}", lambda i=i: (images[i][..., None], int(labels[i]))

        splits = {split: pairs(split, 0, None) for split in self.pairs}
        if self.validation:
            cut = len(self.labels["train"]) - self.validation
            splits["train"] = pairs("train", 0, cut)
            splits["validation"] = pairs("train", cut, None)
        return splits


register(
    Entry(
        "idx",
        "local",
        IdxDataset,
        options={
            "num_classes": int,
            "transpose": bool,
            "validation": int,
            "names": str,
            **local.OPTIONS,
        },
        raw_of=("mnist", "fashion_mnist", "kmnist", "emnist"),
    )
)
