"""Photometric augmentations of one normalised (H, W, C) image: noise, brightness, contrast,
saturation and AlexNet's PCA lighting noise. Amounts are in normalised units (dataset stds)."""

import jax
import jax.numpy as jnp

from cnnjax.data.augment.registry import check, register_op
from cnnjax.data.preprocess import LUMA

# Principal components of ImageNet RGB pixels in [0, 1] units, as used by fb.resnet.torch for
# AlexNet-style lighting noise (Krizhevsky et al. 2012, §4.1). Columns of EIGVEC are eigenvectors.
EIGVAL = (0.2175, 0.0188, 0.0045)
EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)


def _factor_range(lo: float, hi: float, name: str) -> None:
    check(0 <= lo <= hi, f"{name} needs 0 <= lo <= hi, got {lo}, {hi}")


@register_op("gaussian_noise")
def gaussian_noise(stddev: float):
    """Adds i.i.d. N(0, stddev²) noise to every pixel."""
    check(stddev >= 0, f"stddev must be >= 0, got {stddev!r}")

    def fn(key, image):
        return image + stddev * jax.random.normal(key, image.shape, image.dtype)

    return fn


@register_op("brightness")
def brightness(delta: float):
    """Adds one offset drawn uniformly from [-delta, delta] to every pixel."""
    check(delta >= 0, f"delta must be >= 0, got {delta!r}")

    def fn(key, image):
        return image + jax.random.uniform(key, (), minval=-delta, maxval=delta)

    return fn


@register_op("contrast")
def contrast(lo: float = 0.8, hi: float = 1.2):
    """Scales each channel's deviation from its spatial mean by a factor from [lo, hi]."""
    _factor_range(lo, hi, "contrast")

    def fn(key, image):
        factor = jax.random.uniform(key, (), minval=lo, maxval=hi)
        mean = jnp.mean(image, axis=(0, 1), keepdims=True)
        return (image - mean) * factor + mean

    return fn


@register_op("saturation")
def saturation(lo: float = 0.8, hi: float = 1.2):
    """Blends RGB with its luma by a factor from [lo, hi] (0: grey, 1: unchanged); grey images
    are left as they are."""
    _factor_range(lo, hi, "saturation")

    def fn(key, image):
        if image.shape[-1] != 3:
            return image
        factor = jax.random.uniform(key, (), minval=lo, maxval=hi)
        grey = jnp.sum(image * jnp.asarray(LUMA, image.dtype), axis=-1, keepdims=True)
        return grey + factor * (image - grey)

    return fn


@register_op("pca_lighting")
def pca_lighting(alphastd: float = 0.1):
    """AlexNet lighting noise: adds Σ_i α_i λ_i p_i with α_i ~ N(0, alphastd²) along the RGB
    principal components p_i (eigenvalues λ_i) of ImageNet pixels. Needs 3 channels."""
    check(alphastd >= 0, f"alphastd must be >= 0, got {alphastd!r}")

    def fn(key, image):
        if image.shape[-1] != 3:
            raise ValueError(f"pca_lighting needs RGB images, got {image.shape[-1]} channels")
        alpha = alphastd * jax.random.normal(key, (3,))
        shift = jnp.asarray(EIGVEC) @ (alpha * jnp.asarray(EIGVAL))  # (3,) RGB offset
        return image + shift.astype(image.dtype)

    return fn
