"""Images made by gradient ascent: class models, unit maximisation and DeepDream.

- Class model (Simonyan, Vedaldi & Zisserman, 2013, §2): argmax_I S_c(I) - lambda ||I||^2 on
  the class *score*, with the regularisers of Yosinski et al. (2015, "Understanding Neural
  Networks Through Deep Visualization", §3): L2 decay, jitter, Gaussian blur, clipping of
  low-norm pixels, plus clipping to the data's value range.
- Unit maximisation under a norm bound: projected ascent onto ||I|| <= r. For a first-layer
  unit the optimum is r times its filter normalised (the survey's claim; a test checks it).
- DeepDream (Mordvintsev, Olah & Tyka, 2015): maximise the mean square of a layer's
  activations, coarse octaves first, with jitter.

One loop (`ascend`, a `lax.fori_loop`) serves all three; everything is batched and jit-able.
"""

import math

import jax
import jax.numpy as jnp

from cnnjax.interpret import rewrite
from cnnjax.interpret.activations import check_images, check_layer
from cnnjax.interpret.targets import Target


def gaussian_blur(x: jax.Array, sigma: float) -> jax.Array:
    """(B, H, W, C) separable Gaussian blur per channel, edge-padded."""
    radius = max(1, math.ceil(2 * sigma))
    taps = jnp.exp(-0.5 * (jnp.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(x.dtype)
    channels = x.shape[-1]
    x = jnp.pad(x, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="edge")
    for kernel in (taps[:, None], taps[None, :]):  # rows, then columns; one filter per channel
        kernel = jnp.tile(kernel[:, :, None, None], (1, 1, 1, channels))  # (kh, kw, 1, C)
        x = jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID", feature_group_count=channels,
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))  # fmt: skip
    return x


def ascend(
    objective,
    x0: jax.Array,
    key: jax.Array,
    *,
    steps: int = 200,
    learning_rate: float = 1.0,
    decay: float = 0.0,
    jitter: int = 0,
    blur_sigma: float = 0.0,
    blur_every: int = 4,
    clip: tuple[float, float] | None = None,
    pixel_percentile: float = 0.0,
    norm: float | None = None,
) -> jax.Array:
    """Normalised gradient ascent on `objective(x).sum()` with image regularisers.

    Each step: shift x by a random (dy, dx) in [-jitter, jitter] (the objective sees the shifted
    image), step along the gradient scaled to unit mean |g| per image, decay x <- (1 - decay) x,
    blur every `blur_every` steps, zero pixels whose norm (over channels) is below the
    `pixel_percentile`-th percentile, clip to `clip`, and project onto ||x|| <= `norm`.

    Args:
      objective: (B, H, W, C) -> (B,) to maximise.
      x0: (B, H, W, C) start.
      key: PRNG key of the jitter.

    Returns:
      (B, H, W, C) final images.
    """

    def step(i, carry):
        x, key = carry
        key, sub = jax.random.split(key)
        shift = jax.random.randint(sub, (2,), -jitter, jitter + 1) if jitter else jnp.zeros(2, int)
        g = jax.grad(lambda x: objective(jnp.roll(x, shift, (1, 2))).sum())(x)
        scale = jnp.abs(g).mean((1, 2, 3), keepdims=True) + 1e-12
        x = (1.0 - decay) * (x + learning_rate * g / scale)
        if blur_sigma > 0:
            blur = lambda x: gaussian_blur(x, blur_sigma)  # noqa: E731
            x = jax.lax.cond(i % blur_every == 0, blur, lambda x: x, x)
        if pixel_percentile > 0:
            pixel_norm = jnp.linalg.norm(x, axis=-1)  # (B, H, W)
            cut = jnp.percentile(pixel_norm, pixel_percentile, axis=(1, 2), keepdims=True)
            x = jnp.where((pixel_norm < cut)[..., None], 0.0, x)
        if clip is not None:
            x = jnp.clip(x, *clip)
        if norm is not None:
            length = jnp.sqrt((x**2).sum((1, 2, 3), keepdims=True))
            x = x * jnp.minimum(1.0, norm / jnp.maximum(length, 1e-12))
        return x, key

    return jax.lax.fori_loop(0, steps, step, (x0, key))[0]


def maximize(
    model, variables, target: Target, x0: jax.Array, key: jax.Array, **options
) -> jax.Array:
    """Synthesises inputs that maximise `target` (a class score or any layer unit).

    Args:
      x0: (B, H, W, C) start (zeros, the mean image or noise).
      options: `ascend`'s regularisers (steps, learning_rate, decay, jitter, blur_sigma, ...).

    Returns:
      (B, H, W, C).
    """
    target.validate(check_images(model, variables, x0))
    return ascend(lambda x: target(rewrite.forward(model, variables, x)), x0, key, **options)


def class_model(
    model, variables, class_index, x0: jax.Array, key: jax.Array, **options
) -> jax.Array:
    """Simonyan et al.'s class model: `maximize` of the class score (not the softmax)."""
    return maximize(model, variables, Target("logits", class_index), x0, key, **options)


def deep_dream(
    model,
    variables,
    images: jax.Array,
    layer: str,
    key: jax.Array,
    *,
    octaves: int = 3,
    octave_scale: float = 1.4,
    steps: int = 20,
    learning_rate: float = 0.05,
    jitter: int = 2,
    clip: tuple[float, float] | None = None,
) -> jax.Array:
    """DeepDream: amplify whatever `layer` sees, coarse octaves first.

    The model always runs at its own input size: octave o optimises a detail image
    `octave_scale ** -o` times smaller that is upsampled and added, so coarse octaves paint
    large structures and fixed-size models (with dense layers) work too.

    Args:
      images: (B, H, W, C) starting images.
      layer: a recorded activation; its mean square is maximised.
      learning_rate: step per iteration in units of the normalised gradient.

    Returns:
      (B, H, W, C) dreamed images.
    """
    check_layer(layer, check_images(model, variables, images))
    b, height, width, c = images.shape
    base = images
    for o in reversed(range(octaves)):
        size = (max(1, round(height / octave_scale**o)), max(1, round(width / octave_scale**o)))

        def up(d, size=size):
            return (
                jax.image.resize(d, (b, height, width, c), "bilinear")
                if size != (height, width)
                else d
            )

        def objective(d, base=base, up=up):
            acts = rewrite.forward(model, variables, base + up(d))
            return (acts[layer] ** 2).reshape(b, -1).mean(1)

        key, sub = jax.random.split(key)
        detail = ascend(objective, jnp.zeros((b, *size, c), images.dtype), sub, steps=steps,
                        learning_rate=learning_rate, jitter=jitter)  # fmt: skip
        base = base + up(detail)
        if clip is not None:
            base = jnp.clip(base, *clip)
    return base
