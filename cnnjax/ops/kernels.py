"""Hand-made image kernels and helpers to apply them (cross-correlation, as `conv2d`).

Before CNNs learned their filters, edge detectors, blurs and sharpeners were designed by hand
(survey: ../shared/survey/02-cnn-lecture-notes.txt §60.2, 03-cnn-slides.txt "Examples of
filters"). Each kernel is returned as a fresh float32 numpy array of shape (KH, KW), so it can
be edited, and applies to grey or RGB images with `apply_kernel`.

Sign convention: with cross-correlation, `sobel_x` responds positively where the image gets
brighter to the right (a vertical edge) and `sobel_y` where it gets brighter downwards (a
horizontal edge).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import choices
from cnnjax.ops.conv import _as_float, conv2d
from cnnjax.ops.padding import Padding, is_int, normalize_padding


def _kernel(rows) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def sobel_x() -> np.ndarray:
    """Sobel (1968) horizontal derivative: smoothing [1, 2, 1]^T times difference [-1, 0, 1]."""
    return _kernel([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])


def sobel_y() -> np.ndarray:
    """Sobel vertical derivative (the transpose of `sobel_x`)."""
    return sobel_x().T.copy()


def prewitt_x() -> np.ndarray:
    """Prewitt (1970) horizontal derivative: box smoothing [1, 1, 1]^T times [-1, 0, 1]."""
    return _kernel([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]])


def prewitt_y() -> np.ndarray:
    """Prewitt vertical derivative (the transpose of `prewitt_x`)."""
    return prewitt_x().T.copy()


def scharr_x() -> np.ndarray:
    """Scharr (2000) horizontal derivative, smoothing [3, 10, 3]^T (better rotation symmetry)."""
    return _kernel([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]])


def scharr_y() -> np.ndarray:
    """Scharr vertical derivative (the transpose of `scharr_x`)."""
    return scharr_x().T.copy()


def laplacian(diagonal: bool = False) -> np.ndarray:
    """Discrete Laplacian d²/dx² + d²/dy²: the 4-neighbour stencil, or 8-neighbour if diagonal.

    Its negation is the "edge detection" filter of the survey slides; the 8-neighbour one is
    their "strong edge detection" up to sign.
    """
    if diagonal:
        return _kernel([[1, 1, 1], [1, -8, 1], [1, 1, 1]])
    return _kernel([[0, 1, 0], [1, -4, 1], [0, 1, 0]])


def sharpen() -> np.ndarray:
    """Sharpening: the identity minus the 4-neighbour Laplacian (weights sum to 1)."""
    return _kernel([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])


def emboss() -> np.ndarray:
    """Emboss: a diagonal derivative plus the identity, giving a relief look (sum 1)."""
    return _kernel([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])


def _check_size(size, name: str = "size") -> int:
    if not is_int(size) or size < 1 or size % 2 == 0:
        raise ValueError(f"{name}={size!r} must be a positive odd int")
    return int(size)


def box_blur(size: int = 3) -> np.ndarray:
    """Mean filter: a (size, size) kernel of 1 / size²."""
    size = _check_size(size)
    return np.full((size, size), 1.0 / size**2, dtype=np.float32)


def gaussian(sigma: float, size: int | None = None) -> np.ndarray:
    """Gaussian blur exp(-(dx² + dy²) / (2 sigma²)), normalised to sum 1.

    Args:
      sigma: standard deviation in pixels (> 0).
      size: odd side length; default 2 * ceil(3 sigma) + 1 (covers ±3 sigma).

    Returns:
      (size, size) float32 kernel.
    """
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not 0 < sigma < math.inf:
        raise ValueError(f"sigma={sigma!r} must be a positive finite number")
    size = _check_size(2 * math.ceil(3 * sigma) + 1 if size is None else size)
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2
    squared = offsets[:, None] ** 2 + offsets[None, :] ** 2
    weights = np.exp(-squared / (2.0 * sigma**2))
    return (weights / weights.sum()).astype(np.float32)


def x_diagonal() -> np.ndarray:
    """The survey's first "X" feature detector: the main diagonal stroke (\\)."""
    return _kernel([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]])


def x_cross() -> np.ndarray:
    """The survey's second "X" feature detector: the crossing at the centre of an X."""
    return _kernel([[1, -1, 1], [-1, 1, -1], [1, -1, 1]])


def x_antidiagonal() -> np.ndarray:
    """The survey's third "X" feature detector: the anti-diagonal stroke (/)."""
    return _kernel([[-1, -1, 1], [-1, 1, -1], [1, -1, -1]])


def x_detectors() -> dict[str, np.ndarray]:
    """The three 3x3 filters that together recognise an "X" (survey slides, "Filters")."""
    return {"x_diagonal": x_diagonal(), "x_cross": x_cross(), "x_antidiagonal": x_antidiagonal()}


def named_kernels(blur_size: int = 5, sigma: float = 2.0) -> dict[str, np.ndarray]:
    """Every hand-made kernel by name, in a fixed order (blurs with the given size / sigma)."""
    return {
        "sobel_x": sobel_x(),
        "sobel_y": sobel_y(),
        "prewitt_x": prewitt_x(),
        "prewitt_y": prewitt_y(),
        "scharr_x": scharr_x(),
        "scharr_y": scharr_y(),
        "laplacian": laplacian(),
        "laplacian_8": laplacian(diagonal=True),
        "sharpen": sharpen(),
        "emboss": emboss(),
        "box_blur": box_blur(blur_size),
        "gaussian": gaussian(sigma),
        **x_detectors(),
    }


def apply_kernel(image: jax.Array, kernel: jax.Array, padding: Padding = "SAME") -> jax.Array:
    """Filters a grey or colour image with one 2-D kernel, each channel independently.

    Args:
      image: (H, W) grey, or (H, W, C) with C = 1 (grey) or 3 (RGB) or any other C;
        integer images are promoted to float (values are not rescaled).
      kernel: (KH, KW).
      padding: as in `conv2d`; the default "SAME" (zeros) keeps the image size.

    Returns:
      (H', W') for an (H, W) image, else (H', W', C).
    """
    image, kernel = _as_float(image), jnp.asarray(kernel)
    if kernel.ndim != 2:
        raise ValueError(f"kernel of shape {kernel.shape} must be 2-D (KH, KW)")
    if image.ndim not in (2, 3):
        raise ValueError(f"image of shape {image.shape} must be (H, W) or (H, W, C)")
    return _apply_kernel(image, kernel, normalize_padding(padding, 2))


# One compiled program per image shape, kernel shape and padding (shape errors still surface
# as ValueErrors while tracing, before anything is compiled).
@functools.partial(jax.jit, static_argnums=(2,))
def _apply_kernel(image, kernel, padding):
    if image.ndim == 2:
        return conv2d(image[..., None], kernel[..., None], padding=padding)
    channels = image.shape[-1]
    depthwise = jnp.broadcast_to(kernel[:, :, None, None], (*kernel.shape, 1, channels))
    return conv2d(image, depthwise, padding=padding, groups=channels)


_GRADIENTS = {"sobel": (sobel_x, sobel_y), "prewitt": (prewitt_x, prewitt_y),
              "scharr": (scharr_x, scharr_y)}  # fmt: skip


def edge_magnitude(
    image: jax.Array, operator: str = "sobel", padding: Padding = "SAME"
) -> jax.Array:
    """Gradient magnitude sqrt(gx² + gy²), summed over the channels of a colour image.

    Args:
      image: (H, W) or (H, W, C), as in `apply_kernel`.
      operator: "sobel", "prewitt" or "scharr".
      padding: as in `apply_kernel`.

    Returns:
      (H', W') non-negative edge strength.
    """
    choices.check("operator", operator, sorted(_GRADIENTS))
    image = _as_float(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image of shape {image.shape} must be (H, W) or (H, W, C)")
    return _edge_magnitude(image, operator, normalize_padding(padding, 2))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _edge_magnitude(image, operator, padding):
    kx, ky = (jnp.asarray(make()) for make in _GRADIENTS[operator])
    squared = _apply_kernel(image, kx, padding) ** 2 + _apply_kernel(image, ky, padding) ** 2
    if squared.ndim == 3:
        squared = squared.sum(axis=-1)
    # sqrt has an infinite slope at 0: flat regions get gradient 0 instead of NaN.
    positive = squared > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)
