"""Occlusion sensitivity (Zeiler & Fergus, 2014, "Visualizing and Understanding Convolutional
Networks", §4.2): slide a grey square over the image and record how much the true class's
probability drops. All windows of all images are evaluated by `jax.lax.map` over passes of a
few occluded copies each (`cnnjax.interpret.batching`), not by a Python loop over windows.
"""

import jax
import jax.numpy as jnp

from cnnjax.interpret import rewrite
from cnnjax.interpret.activations import check_images
from cnnjax.interpret.batching import images_per_pass, split
from cnnjax.interpret.targets import class_score


def window_masks(size: tuple[int, int], patch: int, stride: int) -> jax.Array:
    """(nh * nw, H, W) bool masks, True inside each window, row-major over window positions."""
    height, width = size
    rows = jnp.arange(0, height - patch + 1, stride)  # (nh,)
    cols = jnp.arange(0, width - patch + 1, stride)  # (nw,)
    r = jnp.arange(height)[None, :] - rows[:, None]  # (nh, H)
    c = jnp.arange(width)[None, :] - cols[:, None]  # (nw, W)
    in_r = (r >= 0) & (r < patch)
    in_c = (c >= 0) & (c < patch)
    masks = in_r[:, None, :, None] & in_c[None, :, None, :]  # (nh, nw, H, W)
    return masks.reshape(-1, height, width)


def occlusion(
    model,
    variables,
    images: jax.Array,
    labels,
    *,
    patch: int = 4,
    stride: int = 1,
    fill: float = 0.0,
    batch_size: int | None = None,
) -> jax.Array:
    """Drop in the probability of `labels` when each patch x patch window is filled with `fill`.

    Args:
      images: (B, H, W, C) as the model sees them.
      labels: (B,) class per image (e.g. the true or the predicted class).
      patch, stride: window side and step in pixels.
      fill: the value written into the window (0 is the dataset mean after normalisation).
      batch_size: occluded copies per forward pass (default: as many as fit in
        `batching.VALUES_PER_PASS` input values; 1 for a 224x224 RGB image, which XLA:CPU
        runs fastest one at a time).

    Returns:
      (B, nh, nw) map, nh = (H - patch) // stride + 1: p(label | image) - p(label | occluded).
    """
    labels = jnp.asarray(labels)
    class_score(labels).validate(check_images(model, variables, images))
    b, height, width, _ = images.shape
    if not 1 <= patch <= min(height, width):
        raise ValueError(f"patch={patch} must be between 1 and the image side {min(height, width)}")
    if stride < 1:
        raise ValueError(f"stride={stride} must be >= 1")
    masks = window_masks((height, width), patch, stride)  # (n, H, W)
    n = masks.shape[0]
    if batch_size is None:
        batch_size = images_per_pass(images.shape[1:])
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    passes, per_pass = split(n, max(1, batch_size // b))  # windows per forward pass
    padded = passes * per_pass
    masks = jnp.concatenate([masks, jnp.zeros((padded - n, height, width), bool)])

    def probs(x):  # (N, H, W, C) -> (N, classes); depthwise convolutions made fast on CPU
        return jax.nn.softmax(rewrite.forward(model, variables, x)["logits"], -1)

    def chunk(m):  # (per_pass, H, W) -> (per_pass, B) probability of each image's label
        occluded = jnp.where(m[:, None, :, :, None], fill, images[None])  # (w, B, H, W, C)
        p = probs(occluded.reshape(-1, *images.shape[1:]))  # (w * B, classes)
        return jnp.take_along_axis(p.reshape(per_pass, b, -1), labels[None, :, None], 2)[..., 0]

    occluded_p = jax.lax.map(chunk, masks.reshape(-1, per_pass, height, width))
    occluded_p = occluded_p.reshape(padded, b)[:n]  # (n, B)
    clean = jnp.take_along_axis(probs(images), labels[:, None], 1)[:, 0]  # (B,)
    rows = (height - patch) // stride + 1
    return (clean[None] - occluded_p).T.reshape(b, rows, -1)
