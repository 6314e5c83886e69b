"""On-device preprocessing: uint8 batches of the dataset's shape → normalised floats of the model's.

`build(dataset, input_shape)` returns one jit-able function that converts channels (grey ↔ RGB),
fits the spatial size (pad, centre-crop or resize), and normalises with the dataset's mean/std (or
maps pixel values linearly onto a given range, as LeCun et al. 1998 do). Everything is checked
when the function is built, before anything is compiled.
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import choices

# ITU-R BT.601 luma weights, the grey conversion of PIL's `convert("L")`.
LUMA = (0.299, 0.587, 0.114)

RESIZE_MODES = ("auto", "pad", "crop", "resize")

# `auto` pads or centre-crops when the sizes differ by at most this factor, else it resizes.
_NEAR = 1.25


def normalize(
    images: jax.Array, mean: Sequence[float], std: Sequence[float], dtype=jnp.float32
) -> jax.Array:
    """(B, H, W, C) uint8 in [0, 255] → (x / 255 - mean) / std in `dtype`."""
    images = images.astype(jnp.float32) / 255.0
    mean = jnp.asarray(mean, jnp.float32)
    std = jnp.asarray(std, jnp.float32)
    return ((images - mean) / std).astype(dtype)


def convert_channels(images: jax.Array, channels: int) -> jax.Array:
    """(B, H, W, c) → (B, H, W, channels), c, channels ∈ {1, 3}: grey is repeated, RGB → luma."""
    have = images.shape[-1]
    if have == channels:
        return images
    if (have, channels) == (1, 3):
        return jnp.repeat(images, 3, axis=-1)
    if (have, channels) == (3, 1):
        return jnp.tensordot(images.astype(jnp.float32), jnp.asarray(LUMA), axes=1)[..., None]
    raise ValueError(f"cannot convert {have} channels to {channels}; accepted are 1 ↔ 3")


def convert_stats(stats: Sequence[float], channels: int) -> tuple[float, ...]:
    """Per-channel mean or std after `convert_channels`.

    Grey → RGB repeats the value; RGB → grey takes the luma-weighted sum (exact for the mean, and
    for the std when the channels are perfectly correlated, the usual case for natural images).
    """
    stats = tuple(float(s) for s in stats)
    if len(stats) == channels:
        return stats
    if (len(stats), channels) == (1, 3):
        return stats * 3
    if (len(stats), channels) == (3, 1):
        return (float(np.dot(LUMA, stats)),)
    raise ValueError(f"cannot convert {len(stats)}-channel statistics to {channels} channels")


def range_stats(low: float, high: float, channels: int) -> tuple[tuple, tuple]:
    """The (mean, std) per channel with which `(x - mean) / std` maps x = 0 → low, x = 1 → high.

    LeCun et al. (1998, §III-A): "the value of the background level (white) corresponds to a
    value of -0.1 and the foreground (black) corresponds to 1.175. This makes the mean input
    roughly 0, and the variance roughly 1" — `range_stats(-0.1, 1.175, 1)`.

    Args:
      low, high: the values of pixel 0 and pixel 255, `low < high`.
      channels: how many channels the statistics are for.

    Returns:
      `(mean, std)`, two tuples of `channels` floats: std = 1 / (high - low), mean = -low * std.
    """
    if not (all(isinstance(v, int | float) and np.isfinite(v) for v in (low, high)) and low < high):
        raise ValueError(f"input_range must be two finite numbers low < high, got ({low}, {high})")
    std = 1.0 / (high - low)
    return (-low * std,) * channels, (std,) * channels


def center_pad(images: jax.Array, height: int, width: int) -> jax.Array:
    """(B, h, w, C) → (B, height, width, C), zero-padded about the centre (h, w ≤ height, width)."""
    _, h, w, _ = images.shape
    top, left = (height - h) // 2, (width - w) // 2
    pads = ((0, 0), (top, height - h - top), (left, width - w - left), (0, 0))
    return jnp.pad(images, pads)


def center_crop(images: jax.Array, height: int, width: int) -> jax.Array:
    """(B, h, w, C) → the central (B, height, width, C) window (h ≥ height, w ≥ width)."""
    _, h, w, _ = images.shape
    top, left = (h - height) // 2, (w - width) // 2
    return images[:, top : top + height, left : left + width, :]


def resize_crop(images: jax.Array, height: int, width: int) -> jax.Array:
    """Bilinear (antialiased) resize keeping the aspect ratio so the image covers (height, width),
    then a centre crop. (B, h, w, C) float → (B, height, width, C)."""
    batch, h, w, c = images.shape
    scale = max(height / h, width / w)
    new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    images = jax.image.resize(images, (batch, new_h, new_w, c), "bilinear", antialias=True)
    return center_crop(images, height, width)


def fit_mode(source_hw: tuple[int, int], target_hw: tuple[int, int], mode: str = "auto") -> str:
    """How `build` fits (h, w) to (H, W): `same`, `pad`, `crop` or `resize`.

    `auto` pads when the image fits inside the target and is at most 1.25x smaller (MNIST 28 →
    LeNet's 32, as in LeCun et al. 1998), centre-crops when it is at most 1.25x larger (256 → 224,
    the ImageNet evaluation crop), and otherwise resizes (CIFAR 32 → AlexNet's 224).
    """
    choices.check("resize mode", mode, RESIZE_MODES)
    (h, w), (height, width) = source_hw, target_hw
    if (h, w) == (height, width):
        return "same"
    fits, covers = h <= height and w <= width, h >= height and w >= width
    if mode == "pad" and not fits:
        raise ValueError(f"cannot pad {h}x{w} images to {height}x{width}: they are larger")
    if mode == "crop" and not covers:
        raise ValueError(f"cannot crop {h}x{w} images to {height}x{width}: they are smaller")
    if mode != "auto":
        return mode
    if fits and max(height / h, width / w) <= _NEAR:
        return "pad"
    if covers and max(h / height, w / width) <= _NEAR:
        return "crop"
    return "resize"


def build(
    dataset: Any,
    input_shape: tuple[int, int, int],
    dtype=jnp.float32,
    resize: str = "auto",
    input_range: Sequence[float] = (),
) -> Callable[[jax.Array], jax.Array]:
    """A jit-able function turning a dataset's uint8 batches into the model's normalised input.

    Order: channels (grey ↔ RGB) → spatial fit (see `fit_mode`; padding is with black pixels,
    before normalisation) → (x / 255 - mean) / std with the dataset's statistics, or with
    `range_stats(*input_range)` → `dtype`.

    Args:
      dataset: a `cnnjax.data.Dataset` (uses `image_shape`, `mean`, `std`, `name`).
      input_shape: the model's (H, W, C), C ∈ {1, 3} or equal to the dataset's channels.
      dtype: output dtype (e.g. `jnp.bfloat16`).
      resize: `auto`, `pad`, `crop` or `resize` (see `fit_mode`).
      input_range: empty for the dataset's mean/std, or `(low, high)`: pixel 0 (and padding) → low,
        255 → high, e.g. LeNet-5's (-0.1, 1.175).

    Returns:
      `fn(images)`: (B, h, w, c) uint8 with (h, w, c) = `dataset.image_shape` → (B, H, W, C)
      `dtype`.

    Raises:
      ValueError: at build time, for a malformed `input_shape`, a dataset of unknown image size,
        an impossible channel conversion, bad statistics or a bad `input_range`.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or not all(
        isinstance(d, int | np.integer) and d > 0 for d in input_shape
    ):
        raise ValueError(f"input_shape must be (H, W, C) positive ints, got {input_shape!r}")
    image_shape = tuple(dataset.image_shape)
    if len(image_shape) != 3 or any(d is None for d in image_shape):
        raise ValueError(
            f"dataset {dataset.name!r} has images of varying size {image_shape}; load it with a "
            f"fixed `image_size` so batches have one shape"
        )
    height, width, channels = (int(d) for d in input_shape)
    h, w, c = image_shape
    if len(dataset.mean) != c or len(dataset.std) != c:
        raise ValueError(
            f"dataset {dataset.name!r} has {c} channels but mean/std of length "
            f"{len(dataset.mean)}/{len(dataset.std)}"
        )
    if min(dataset.std) <= 0:
        raise ValueError(f"dataset {dataset.name!r} has a non-positive std {dataset.std}")
    if c != channels and {c, channels} != {1, 3}:
        raise ValueError(
            f"the model wants {channels} channels but dataset {dataset.name!r} has {c}; accepted "
            f"conversions are 1 ↔ 3"
        )
    mean, std = convert_stats(dataset.mean, channels), convert_stats(dataset.std, channels)
    if len(input_range) not in (0, 2):
        raise ValueError(f"input_range must be empty or (low, high), got {tuple(input_range)}")
    if input_range:
        mean, std = range_stats(*input_range, channels)
    mode = fit_mode((h, w), (height, width), resize)

    def preprocess(images: jax.Array) -> jax.Array:
        if tuple(images.shape[1:]) != image_shape:
            raise ValueError(
                f"expected images of shape (B, {h}, {w}, {c}) from {dataset.name!r}, got "
                f"{tuple(images.shape)}"
            )
        x = convert_channels(images.astype(jnp.float32), channels)
        if mode == "pad":
            x = center_pad(x, height, width)
        elif mode == "crop":
            x = center_crop(x, height, width)
        elif mode == "resize":
            x = resize_crop(x, height, width)
        x = (x / 255.0 - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)
        return x.astype(dtype)

    return preprocess
