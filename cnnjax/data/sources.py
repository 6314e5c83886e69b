"""Random-access sources and batch reads.

A source is anything with `len(source)` and `source[i] -> {"image": (H, W, C) uint8,
"label": int}` (a `tfds.data_source` split is one). `ArraySource` keeps a small dataset decoded
in memory, so an epoch costs one fancy-index per batch instead of one PNG decode per image.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

# Datasets whose decoded splits together fit in this many bytes are cached in memory; larger ones
# are streamed from their ArrayRecord files (MNIST: 55 MB, CIFAR: 184 MB, Imagenette@256: 2.5 GB).
CACHE_LIMIT_BYTES = 1 << 30
# The spec option of names (tfds, embedded) whose images `SquareSource` squares on the host.
SQUARE_OPTIONS = {"size": int}


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
    records = None
    if hasattr(source, "__getitems__"):  # tfds ArrayRecord sources: one batched read
        try:
            records = source.__getitems__(indices)
        except TypeError:  # `tfds.testing.mock_data` sources implement only __getitem__
            records = None
    if records is None:
        records = [source[i] for i in indices]
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


def decoded_bytes(splits: Mapping[str, Sequence[Any]], image_shape: tuple) -> int | None:
    """Bytes the splits take decoded to uint8 arrays of `image_shape` (None if sizes vary)."""
    if any(d is None for d in image_shape):
        return None
    return sum(len(s) for s in splits.values()) * int(np.prod(image_shape))


def fits_in_memory(splits: Mapping[str, Sequence[Any]], image_shape: tuple) -> bool:
    """Whether decoding every split stays under `CACHE_LIMIT_BYTES`."""
    size = decoded_bytes(splits, image_shape)
    return size is not None and size <= CACHE_LIMIT_BYTES


def resize_to_square(image: np.ndarray, size: int) -> np.ndarray:
    """(h, w, C) uint8 → (size, size, C): shorter side to `size` (bicubic), then a centre crop."""
    height, width = image.shape[:2]
    if (height, width) == (size, size):
        return image
    grey = image.shape[-1] == 1
    pil = Image.fromarray(image[..., 0] if grey else image)
    scale = size / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    pil = pil.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    out = np.asarray(pil.crop((left, top, left + size, top + size)), np.uint8)
    return out[..., None] if grey else out


class SquareSource:
    """Wraps a source of images of varying size so that every image is (size, size, C).

    Resizing happens on the host when an example is read (in grain workers when there are any);
    on-device preprocessing then crops or resizes to the model's input.
    """

    def __init__(self, source: Sequence[Any], size: int):
        self.source, self.size = source, size

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.source[index]
        image = np.asarray(record["image"], np.uint8)
        image = image[..., None] if image.ndim == 2 else image
        return {"image": resize_to_square(image, self.size), "label": record["label"]}
