"""`cifar:<dir>`: the CIFAR-10/100 "python version" batch files, prepared into ArrayRecord.

CIFAR-10 (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html): `data_batch_1..5`
(train), `test_batch`, `batches.meta` (`label_names`). CIFAR-100: `train`, `test`, `meta`
(`fine_label_names`, `coarse_label_names`). Each file is a pickled dict with `data` (N, 3072)
uint8, rows of 1024 red, 1024 green, 1024 blue values, and `labels` / `fine_labels`. The files
are read with `safe_pickle.load_restricted` (never `pickle.load`).
"""

import os

import numpy as np

from cnnjax import choices
from cnnjax.data.builders import local
from cnnjax.data.builders.local import LocalBuilder
from cnnjax.data.builders.safe_pickle import load_restricted
from cnnjax.data.registry import Entry, register

LAYOUTS = {
    10: {
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": "batches.meta",
    },
    100: {"train": ["train"], "test": ["test"], "meta": "meta"},
}
SUBDIRS = ("cifar-10-batches-py", "cifar-100-python")


def _text_keys(value):
    """Python 2 pickles have bytes keys and names; make them str."""
    if isinstance(value, dict):
        return {(k.decode() if isinstance(k, bytes) else k): v for k, v in value.items()}
    return value


def read_batch_file(path: str, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels (N,) int64 of one CIFAR batch file."""
    batch = _text_keys(load_restricted(path))
    if not isinstance(batch, dict) or "data" not in batch or label_key not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(
            f"{path} is not a CIFAR batch: expected keys 'data' and {label_key!r}, got {keys}"
        )
    data = np.asarray(batch["data"])
    labels = np.asarray(batch[label_key], np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: 'data' must be (N, 3072) uint8, got {data.shape} {data.dtype}")
    if len(data) != len(labels):
        raise ValueError(
            f"{path} holds {len(data)} images but {len(labels)} labels: the counts must match"
        )
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels  # (N, C, H, W) → NHWC


class CifarFiles(LocalBuilder, skip_registration=True):
    """CIFAR python batches; option `label` = `fine` (default) or `coarse` for CIFAR-100."""

    KIND = "cifar"

    def __init__(self, *, label: str = "fine", **kwargs):
        choices.check("cifar label", label, ("fine", "coarse"))
        self.label = label
        super().__init__(options={"label": label}, **kwargs)

    def scan(self) -> None:
        root = self.source
        for sub in SUBDIRS:
            if os.path.isdir(os.path.join(root, sub)):
                root = os.path.join(root, sub)
        self.root = root
        present = set(os.listdir(root)) if os.path.isdir(root) else set()
        found = [n for n, layout in LAYOUTS.items() if set(layout["train"]) <= present]
        if not found:
            raise FileNotFoundError(
                f"no CIFAR python batch files in {self.source}: expected data_batch_1..5 and "
                f"test_batch (CIFAR-10) or train and test (CIFAR-100), e.g. unpacked from "
                f"cifar-10-python.tar.gz of https://www.cs.toronto.edu/~kriz/cifar.html"
            )
        self.num_classes = found[-1]
        layout = LAYOUTS[self.num_classes]
        self.split_files = {
            split: [os.path.join(root, f) for f in layout[split]]
            for split in ("train", "test")
            if set(layout[split]) <= present
        }
        if self.num_classes == 10:
            self.label_key, names_key, count = "labels", "label_names", 10
        else:
            self.label_key = f"{self.label}_labels"
            names_key, count = f"{self.label}_label_names", 100 if self.label == "fine" else 20
        meta_path = os.path.join(root, layout["meta"])
        names = None
        if os.path.exists(meta_path):
            names = _text_keys(load_restricted(meta_path)).get(names_key)
        if names is None:
            names = [str(i) for i in range(count)]
        self.class_names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
        self.image_shape = (32, 32, 3)

    def source_files(self) -> list[str]:
        meta = os.path.join(self.root, LAYOUTS[self.num_classes]["meta"])
        return [p for files in self.split_files.values() for p in files] + (
            [meta] if os.path.exists(meta) else []
        )

    def examples(self):
        def pairs(split, files):
            for path in files:
                images, labels = read_batch_file(path, self.label_key)
                name = os.path.basename(path)
                for i in range(len(labels)):
                    yield (
                        f"{split}/{name}/{i}",
                        lambda i=i, im=images, lb=labels: (im[i], int(lb[i])),
                    )

        return {split: pairs(split, files) for split, files in self.split_files.items()}


register(
    Entry(
        "cifar",
        "local",
        CifarFiles,
        options={"label": str, **local.OPTIONS},
        raw_of=("cifar10", "cifar100"),
    )
)
