"""ImageNet evaluation preprocessing: resize the shorter side, centre-crop, normalise.

The classic recipe (Krizhevsky et al. 2012; torchvision's and TensorFlow's evaluation): scale
so that the crop is `crop_fraction` (0.875: 224 of 256) of the shorter side, cut the central
`size` x `size` square, and normalise with the mean and standard deviation the weights were
trained with. Pure `jax.numpy`: the returned function can be jitted (shapes are static).
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision: RGB mean and std of ImageNet in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
TF_MEAN = TF_STD = (0.5, 0.5, 0.5)  # TensorFlow's EfficientNet-Lite: (x - 127.5) / 127.5


def make_preprocess(
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    crop_fraction: float = 0.875,
) -> Callable[[jax.Array], jax.Array]:
    """Returns `preprocess(images) -> (B, size, size, 3) float32` for one network.

    Args:
      size: side of the network's input.
      mean, std: per-channel RGB statistics on the [0, 1] scale.
      crop_fraction: crop side / shorter side after resizing.

    Returns:
      a function of uint8 images (B, H, W, 3) or one (H, W, 3) image, all of one size;
      antialiased bicubic resizing (jax.image.resize).
    """
    mean_, std_ = jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32)

    def preprocess(images: jax.Array) -> jax.Array:
        images = jnp.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"preprocess expects uint8 RGB images (B, H, W, 3) or (H, W, 3), got shape "
                f"{tuple(images.shape)}"
            )
        height, width = images.shape[1:3]
        scale = size / crop_fraction / min(height, width)
        new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
        x = images.astype(jnp.float32) / 255.0
        x = jax.image.resize(x, (x.shape[0], new_h, new_w, 3), "cubic", antialias=True)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        x = jnp.clip(x[:, top : top + size, left : left + size, :], 0.0, 1.0)
        return (x - mean_) / std_

    return preprocess
