"""Encoding helpers for tfds builders that must prepare datasets without TensorFlow."""

import io

import numpy as np
from PIL import Image


def png_bytes(image: np.ndarray) -> bytes:
    """PNG-encodes a uint8 (H, W) or (H, W, C) image with PIL (tfds would need TF for arrays)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"images must be uint8 to be PNG-encoded, got {image.dtype}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def stratified_test_mask(labels: np.ndarray, test_fraction: float) -> np.ndarray:
    """Deterministic stratified split: every k-th example of each class goes to the test split.

    Args:
      labels: (N,) integer labels in any order.
      test_fraction: fraction of each class held out, in (0, 1).

    Returns:
      (N,) bool mask, True for held-out examples.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction={test_fraction} must lie strictly between 0 and 1")
    every = round(1 / test_fraction)
    mask = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        (indices,) = np.nonzero(labels == label)
        mask[indices[every - 1 :: every]] = True
    return mask
