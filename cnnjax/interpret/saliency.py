"""Gradient attributions: vanilla saliency, gradient x input, SmoothGrad, integrated gradients,
guided backprop. Each is one batched gradient computation (jit/vmap-able); samples and
interpolation steps are folded into the batch, not looped over.

Every function takes `(model, variables, images, target)`; `target` is a
`cnnjax.interpret.targets.Target` (a class score or a unit of any named layer). Images are
(B, H, W, C) floats as the model sees them; attributions have the same shape.
"""

import dataclasses

import jax
import jax.numpy as jnp

from cnnjax.interpret import rewrite
from cnnjax.interpret.activations import check_images
from cnnjax.interpret.batching import images_per_pass, largest_divisor
from cnnjax.interpret.targets import Target


def _check(model, variables, images, target: Target) -> None:
    target.validate(check_images(model, variables, images))


def _tile(target: Target, n: int) -> Target:
    """The target of n stacked copies of the batch (per-example channels repeated n times)."""
    if jnp.ndim(target.channel) == 0:
        return target
    return dataclasses.replace(target, channel=jnp.tile(jnp.asarray(target.channel), n))


def _grad(model, variables, images, target: Target, guided: bool = False) -> jax.Array:
    # Examples do not interact at inference (BatchNorm uses running statistics), so the
    # gradient of the summed scores is every example's own gradient.
    def total(x):
        return target(rewrite.forward(model, variables, x, guided=guided)).sum()

    return jax.grad(total)(images)


def gradient(model, variables, images: jax.Array, target: Target) -> jax.Array:
    """Vanilla saliency d target / d image (Simonyan, Vedaldi & Zisserman, 2013, "Deep Inside
    Convolutional Networks").

    Args:
      images: (B, H, W, C).
      target: class score or layer unit; its channel may be one per example, (B,).

    Returns:
      (B, H, W, C) gradient (plots take |.| and the max over channels).
    """
    _check(model, variables, images, target)
    return _grad(model, variables, images, target)


def gradient_x_input(model, variables, images: jax.Array, target: Target) -> jax.Array:
    """Gradient times input (Shrikumar et al., 2016). Returns (B, H, W, C)."""
    return gradient(model, variables, images, target) * images


def guided_backprop(model, variables, images: jax.Array, target: Target) -> jax.Array:
    """Guided backpropagation (Springenberg et al., 2015): the gradient with every ReLU, ReLU6,
    tanh and sigmoid passing back only positive gradients (`cnnjax.interpret.rewrite`).

    Returns:
      (B, H, W, C).
    """
    _check(model, variables, images, target)
    return _grad(model, variables, images, target, guided=True)


def smoothgrad(
    model,
    variables,
    images: jax.Array,
    target: Target,
    key: jax.Array,
    *,
    num_samples: int = 25,
    sigma: float = 0.15,
    chunk: int | None = None,
) -> jax.Array:
    """SmoothGrad (Smilkov et al., 2017): vanilla gradients averaged over noisy copies.

    Args:
      images: (B, H, W, C).
      key: PRNG key of the noise.
      num_samples: noisy copies per image.
      sigma: noise standard deviation as a fraction of each image's value range (max - min);
        0 gives exactly the vanilla gradient.
      chunk: noisy copies of each image per pass, a divisor of `num_samples` (default: the
        largest divisor whose B * chunk images fit in `batching.VALUES_PER_PASS` input values;
        all at once for small images, one at a time at 224x224, which XLA:CPU runs fastest).

    Returns:
      (B, H, W, C) mean gradient.
    """
    _check(model, variables, images, target)
    if num_samples < 1:
        raise ValueError(f"num_samples={num_samples} must be >= 1")
    if sigma < 0:
        raise ValueError(f"sigma={sigma} must be >= 0 (a fraction of the input range)")
    spread = sigma * (images.max((1, 2, 3)) - images.min((1, 2, 3)))  # (B,)
    noise = jax.random.normal(key, (num_samples, *images.shape), images.dtype)  # (N, B, H, W, C)
    noisy = images[None] + spread[None, :, None, None, None] * noise

    def grads(x):  # (n, B, H, W, C) -> (n, B, H, W, C), one batch of n * B images
        n = x.shape[0]
        flat = x.reshape(n * x.shape[1], *x.shape[2:])  # (n * B, H, W, C)
        return _grad(model, variables, flat, _tile(target, n)).reshape(x.shape)

    if chunk is None:
        chunk = largest_divisor(num_samples, images_per_pass(images.shape[1:]) // images.shape[0])
    if chunk < 1 or num_samples % chunk:
        raise ValueError(f"chunk={chunk} must divide num_samples={num_samples}")
    if chunk == num_samples:  # one pass: no loop around it, so XLA fuses noise and gradient
        return grads(noisy).mean(0)
    parts = jax.lax.map(grads, noisy.reshape(num_samples // chunk, chunk, *images.shape))
    return parts.reshape(num_samples, *images.shape).mean(0)


def integrated_gradients(
    model,
    variables,
    images: jax.Array,
    target: Target,
    *,
    baseline: jax.Array | float = 0.0,
    steps: int = 32,
) -> jax.Array:
    """Integrated gradients (Sundararajan, Taly & Yan, 2017, "Axiomatic Attribution for Deep
    Networks"): (x - x') times the mean gradient on the straight path from baseline x' to x.

    The path integral uses the trapezoid rule on `steps` + 1 points, all in one batch, so the
    attributions sum to f(x) - f(x') up to the rule's error (completeness).

    Args:
      images: (B, H, W, C).
      baseline: an array broadcastable to `images` or a constant (default black, 0).
      steps: intervals of the path.

    Returns:
      (B, H, W, C) attributions.
    """
    _check(model, variables, images, target)
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    baseline = jnp.broadcast_to(jnp.asarray(baseline, images.dtype), images.shape)
    alphas = jnp.linspace(0.0, 1.0, steps + 1, dtype=images.dtype)  # (S + 1,)
    path = baseline[None] + alphas[:, None, None, None, None] * (images - baseline)[None]
    flat = path.reshape(-1, *images.shape[1:])  # ((S + 1) * B, H, W, C)
    grads = _grad(model, variables, flat, _tile(target, steps + 1)).reshape(path.shape)
    weights = jnp.full((steps + 1,), 1.0 / steps).at[0].mul(0.5).at[-1].mul(0.5)  # trapezoid
    mean_grad = jnp.tensordot(weights.astype(images.dtype), grads, axes=1)  # (B, H, W, C)
    return (images - baseline) * mean_grad
