"""Geometric augmentations of one (H, W, C) image: crops, flips, rotation, zoom, shifts, cutout.

The pure transforms (`affine`, `rotate_image`, `zoom_image`, `shift_image`) take their parameters
explicitly; the registered ops draw those parameters from a key. Pixels that come from outside
the image follow `fill`: `nearest` (the default, as Keras' ImageDataGenerator: MNIST's black
background stays black), `constant` (0, the dataset mean once images are normalised), `reflect`
or `wrap`.
"""

import math

import jax
import jax.numpy as jnp
from jax.scipy import ndimage

from cnnjax.data.augment.registry import check, register_op

PAD_MODES = ("constant", "reflect", "edge")
FILL_MODES = ("nearest", "constant", "reflect", "wrap")


def _randint(key: jax.Array, shape: tuple, low: int, high) -> jax.Array:
    """Uniform integers in [low, high) as floor(uniform * n): `jax.random.randint`'s exact
    modular sampling costs seconds of compile per call site on CPU, this costs milliseconds."""
    draw = jax.random.uniform(key, shape) * (high - low)
    return low + jnp.minimum(draw.astype(jnp.int32), high - low - 1)


def affine(
    image: jax.Array, matrix, offset=(0.0, 0.0), order: int = 1, fill: str = "constant"
) -> jax.Array:
    """Resamples `image` (H, W, C): out[p] = image[matrix @ (p - centre) + centre + offset].

    Coordinates are (row, column); interpolation is bilinear (`order=1`) or nearest (`order=0`);
    `fill` says what lies outside (see the module docstring). Computed elementwise (no matmul),
    so an identity matrix with integer offsets reproduces pixels exactly on every backend.
    """
    height, width, _ = image.shape
    ci, cj = (height - 1) / 2, (width - 1) / 2
    rows, cols = jnp.meshgrid(
        jnp.arange(height, dtype=jnp.float32) - ci,
        jnp.arange(width, dtype=jnp.float32) - cj,
        indexing="ij",
    )  # (H, W) each, centred
    (a, b), (c, d) = matrix
    src_rows = a * rows + b * cols + (ci + offset[0])
    src_cols = c * rows + d * cols + (cj + offset[1])

    def sample(channel):  # (H, W) → (H, W)
        return ndimage.map_coordinates(channel, [src_rows, src_cols], order, mode=fill)

    return jax.vmap(sample, in_axes=2, out_axes=2)(image)


def rotate_image(image: jax.Array, angle: jax.Array, fill: str = "constant") -> jax.Array:
    """Rotates (H, W, C) counter-clockwise (as displayed) by `angle` radians about the centre."""
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    return affine(image, ((cos, sin), (-sin, cos)), fill=fill)


def zoom_image(image: jax.Array, scale: jax.Array, fill: str = "constant") -> jax.Array:
    """Magnifies (H, W, C) by `scale` about the centre (scale < 1 shrinks, leaving a border)."""
    return affine(image, ((1 / scale, 0.0), (0.0, 1 / scale)), fill=fill)


def shift_image(image: jax.Array, rows, cols, fill: str = "constant") -> jax.Array:
    """Moves the content of (H, W, C) down `rows` and right `cols` pixels (may be fractional)."""
    return affine(image, ((1.0, 0.0), (0.0, 1.0)), offset=(-rows, -cols), fill=fill)


def _check_fill(fill: str) -> None:
    check(fill in FILL_MODES, f"fill must be one of {', '.join(FILL_MODES)}, got {fill!r}")


@register_op("pad_crop")
def pad_crop(padding: int, mode: str = "constant"):
    """Random crop of the original size from the image padded by `padding` on every side (the
    CIFAR augmentation of He et al. 2016). `mode`: constant (0: the mean of normalised
    images), reflect or edge (keeps MNIST's background black)."""
    check(
        isinstance(padding, int) and padding >= 0, f"padding must be an int >= 0, got {padding!r}"
    )
    check(mode in PAD_MODES, f"mode must be one of {', '.join(PAD_MODES)}, got {mode!r}")

    def fn(key, image):
        height, width, channels = image.shape
        padded = jnp.pad(image, ((padding, padding), (padding, padding), (0, 0)), mode=mode)
        top, left = _randint(key, (2,), 0, 2 * padding + 1)
        return jax.lax.dynamic_slice(padded, (top, left, 0), (height, width, channels))

    return fn


def _flip(axis: int, p: float):
    check(0 <= p <= 1, f"probability p must lie in [0, 1], got {p!r}")

    def fn(key, image):
        return jnp.where(jax.random.bernoulli(key, p), jnp.flip(image, axis), image)

    return fn


@register_op("flip_lr")
def flip_lr(p: float = 0.5):
    """Mirrors left ↔ right with probability `p`."""
    return _flip(1, p)


@register_op("flip_ud")
def flip_ud(p: float = 0.5):
    """Mirrors top ↔ bottom with probability `p`."""
    return _flip(0, p)


@register_op("rotate")
def rotate(degrees: float, fill: str = "nearest"):
    """Rotates by an angle drawn uniformly from [-degrees, degrees] (bilinear)."""
    check(0 <= degrees <= 180, f"degrees must lie in [0, 180], got {degrees!r}")
    _check_fill(fill)
    limit = math.radians(degrees)

    def fn(key, image):
        angle = jax.random.uniform(key, (), minval=-limit, maxval=limit)
        return rotate_image(image, angle, fill)

    return fn


@register_op("zoom")
def zoom(min_scale: float = 0.9, max_scale: float = 1.1, fill: str = "nearest"):
    """Zooms about the centre by a factor drawn log-uniformly from [min_scale, max_scale]."""
    check(
        0 < min_scale <= max_scale, f"need 0 < min_scale <= max_scale, got {min_scale}, {max_scale}"
    )
    _check_fill(fill)
    lo, hi = math.log(min_scale), math.log(max_scale)

    def fn(key, image):
        scale = jnp.exp(jax.random.uniform(key, (), minval=lo, maxval=hi))
        return zoom_image(image, scale, fill)

    return fn


@register_op("translate")
def translate(max_shift: float, fill: str = "nearest"):
    """Shifts by offsets drawn uniformly from [-max_shift, max_shift] per axis: an int is pixels
    (whole-pixel shifts, exact), a float < 1 a fraction of the side (bilinear)."""
    check(max_shift >= 0, f"max_shift must be >= 0, got {max_shift!r}")
    check(
        isinstance(max_shift, int) or max_shift < 1,
        f"max_shift must be an int (pixels) or a float fraction < 1, got {max_shift!r}",
    )
    _check_fill(fill)

    def fn(key, image):
        if isinstance(max_shift, int):
            rows, cols = _randint(key, (2,), -max_shift, max_shift + 1)
        else:
            size = jnp.asarray(image.shape[:2], jnp.float32)
            rows, cols = jax.random.uniform(key, (2,), minval=-max_shift, maxval=max_shift) * size
        return shift_image(image, rows, cols, fill)

    return fn


@register_op("inception_crop")
def inception_crop(min_area: float = 0.08, max_area: float = 1.0):
    """Random-resized crop (Szegedy et al. 2015): a box of area fraction in [min_area, max_area]
    and aspect ratio in [3/4, 4/3], stretched back to the full size (bilinear)."""
    check(
        0 < min_area <= max_area <= 1,
        f"need 0 < min_area <= max_area <= 1, got {min_area}, {max_area}",
    )

    def fn(key, image):
        height, width, _ = image.shape
        k_area, k_ratio, k_pos = jax.random.split(key, 3)
        area = jax.random.uniform(k_area, (), minval=min_area, maxval=max_area)
        ratio = jnp.exp(
            jax.random.uniform(k_ratio, (), minval=math.log(3 / 4), maxval=math.log(4 / 3))
        )
        box_h = jnp.minimum(jnp.sqrt(area / ratio), 1.0) * height
        box_w = jnp.minimum(jnp.sqrt(area * ratio), 1.0) * width
        u = jax.random.uniform(k_pos, (2,))
        offset_rows = (u[0] - 0.5) * (height - box_h)  # box centre minus image centre
        offset_cols = (u[1] - 0.5) * (width - box_w)
        matrix = ((box_h / height, 0.0), (0.0, box_w / width))
        return affine(image, matrix, offset=(offset_rows, offset_cols), fill="nearest")

    return fn


@register_op("cutout")
def cutout(size: int):
    """Zeroes a size x size square at a uniformly drawn centre, clipped at the borders (DeVries &
    Taylor 2017)."""
    check(isinstance(size, int) and size > 0, f"size must be an int > 0, got {size!r}")

    def fn(key, image):
        height, width, _ = image.shape
        k_row, k_col = jax.random.split(key)
        top = _randint(k_row, (), 0, height) - size // 2
        left = _randint(k_col, (), 0, width) - size // 2
        rows = jnp.arange(height)[:, None, None]
        cols = jnp.arange(width)[None, :, None]
        inside = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
        return jnp.where(inside, jnp.zeros_like(image), image)

    return fn
