"""Maximally-activating dataset patches (Zeiler & Fergus, 2014; Girshick et al., 2014): scan a
dataset for the top-k activations of one channel of a layer and crop each from its image through
that unit's theoretical receptive field (`cnnjax.analysis`).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import analysis
from cnnjax.interpret import rewrite
from cnnjax.interpret.activations import check_images, check_layer


@dataclasses.dataclass(frozen=True)
class Patch:
    """One top activation: its value, where it is, and the input pixels its unit sees.

    Attributes:
      value: the activation.
      index: which dataset image.
      position: (i, j) of the unit in the feature map.
      box: ((top, left), (height, width)) of the receptive field in the image, clipped to it.
      pixels: (height, width, C) crop of the display image.
    """

    value: float
    index: int
    position: tuple[int, int]
    box: tuple[tuple[int, int], tuple[int, int]]
    pixels: np.ndarray


def receptive_box(fields, position, size) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, left), (height, width)) of unit `position`'s receptive field, clipped to `size`."""
    corners = []
    for field, p, n in zip(fields, position, size, strict=True):
        first, last = field.window(p)
        corners.append((max(int(first), 0), min(int(last), int(n) - 1)))
    (top, bottom), (left, right) = corners
    return (top, left), (bottom - top + 1, right - left + 1)


def top_activations(
    model, variables, images, layer: str, channel: int, *, k: int = 9, batch_size: int = 256
):
    """The k largest activations of `channel` of `layer` over all images and positions.

    Args:
      images: (N, H, W, C) model inputs (numpy or device arrays), scanned in batches.

    Returns:
      (values (k,), image indices (k,), positions (k, 2)) numpy arrays, largest first.
    """
    shape = check_layer(layer, check_images(model, variables, images[:1]), spatial=True)
    if not 0 <= channel < shape[-1]:
        raise ValueError(f"{layer} channel {channel} is out of range; accepted 0..{shape[-1] - 1}")
    if not 1 <= k <= len(images) * shape[0] * shape[1]:
        raise ValueError(f"k={k} must be between 1 and the number of units scanned")

    @jax.jit
    def best(v, x):  # top-k of one batch: values and flat (image, i, j) indices
        a = rewrite.forward(model, v, x)[layer][..., channel]  # (B, H', W')
        return jax.lax.top_k(a.reshape(-1), min(k, a.size))

    values, flat = [], []
    for start in range(0, len(images), batch_size):
        v, i = best(variables, jnp.asarray(images[start : start + batch_size]))
        values.append(np.asarray(v))
        flat.append(np.asarray(i) + start * shape[0] * shape[1])
    values, flat = np.concatenate(values), np.concatenate(flat)
    order = np.argsort(-values, kind="stable")[:k]
    index, rest = np.divmod(flat[order], shape[0] * shape[1])
    return values[order], index, np.stack(np.divmod(rest, shape[1]), 1)


def max_activating_patches(
    model, variables, images, layer: str, channel: int, *, display=None, k: int = 9,
    batch_size: int = 256,
) -> list[Patch]:  # fmt: skip
    """Top-k patches of `channel` of `layer`, cropped through each unit's receptive field.

    Args:
      images: (N, H, W, C) model inputs.
      display: (N, H, W, c) images to crop (e.g. the uint8 originals); defaults to `images`.
      k: how many patches.

    Returns:
      k `Patch`es, largest activation first; each crop is exactly the receptive field, clipped
      at the image borders.

    Raises:
      ValueError: unknown or non-spatial layer, channel out of range, or a receptive field
        that cannot be followed (e.g. a unit that sees the whole image).
    """
    display = images if display is None else display
    height, width = np.shape(images)[1:3]
    fields = analysis.summary(model, (height, width, np.shape(images)[3])).activations[layer][1]
    if isinstance(fields, str):
        raise ValueError(f"layer {layer!r} has a {fields} receptive field; choose a conv layer")
    values, index, positions = top_activations(
        model, variables, images, layer, channel, k=k, batch_size=batch_size
    )
    patches = []
    for value, i, position in zip(values, index, positions, strict=True):
        (top, left), (h, w) = box = receptive_box(fields, tuple(position), (height, width))
        pixels = np.asarray(display[int(i)])[top : top + h, left : left + w]
        patches.append(Patch(float(value), int(i), tuple(int(p) for p in position), box, pixels))
    return patches
