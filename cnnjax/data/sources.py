"""Random-access sources and batch reads.

A source is anything with `len(source)` and `source[i] -> {"image": (H, W, C) uint8,
"label": int}` (a `tfds.data_source` split is one). `ArraySource` keeps a small dataset decoded
in memory, so an epoch costs one fancy-index per batch instead of one PNG decode per image.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np


class ArraySource:
    """A source over in-memory arrays: images (N, H, W, C) uint8, labels (N,) int."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels: counts must match")
        images = np.asarray(images, np.uint8)
        self.images = images[..., None] if images.ndim == 3 else images
        self.labels = np.asarray(labels, np.int32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.images[index], "label": self.labels[index]}

    def read_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {"image": self.images[indices], "label": self.labels[indices]}


def read_batch(source: Sequence[Any], indices: np.ndarray) -> dict[str, np.ndarray]:
    """Reads `source[indices]` as `{"image": (B, H, W, C) uint8, "label": (B,) int32}`."""
    if hasattr(source, "read_batch"):
        return source.read_batch(indices)
    indices = [int(i) for i in indices]
    records = source.__getitems__(indices) if hasattr(source, "__getitems__") else [
        source[i] for i in indices
    ]
    images = np.stack([np.asarray(r["image"], np.uint8) for r in records])
    if images.ndim == 3:
        images = images[..., None]  # (B, H, W) → (B, H, W, 1)
    labels = np.asarray([r["label"] for r in records], np.int32)
    return {"image": images, "label": labels}


def cache_in_memory(source: Sequence[Any], chunk: int = 1024) -> ArraySource:
    """Decodes every example of `source` once into an `ArraySource`."""
    parts = [
        read_batch(source, np.arange(start, min(start + chunk, len(source))))
        for start in range(0, len(source), chunk)
    ]
    return ArraySource(
        np.concatenate([p["image"] for p in parts]), np.concatenate([p["label"] for p in parts])
    )
