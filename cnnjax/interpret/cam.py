"""Grad-CAM and guided Grad-CAM (Selvaraju et al., 2017, "Grad-CAM: Visual Explanations from
Deep Networks via Gradient-based Localization").

The gradient of the target with respect to a recorded conv activation A is taken through a
zero tap on A (`cnnjax.interpret.rewrite`); each channel's weight is that gradient averaged over
positions, and the map is relu(sum_c weight_c * A_c).
"""

import jax
import jax.numpy as jnp

from cnnjax.interpret import rewrite, saliency
from cnnjax.interpret.activations import check_images, check_layer
from cnnjax.interpret.targets import Target


def grad_cam(model, variables, images: jax.Array, target: Target, layer: str) -> jax.Array:
    """Grad-CAM of `target` on the spatial activation `layer`.

    Args:
      images: (B, H, W, C).
      target: usually `class_score(c)`; any later unit works.
      layer: a recorded (H', W', C') activation, usually the last conv block.

    Returns:
      (B, H', W') non-negative class-activation map at the layer's resolution (`upsample`
      brings it to the image's).
    """
    shapes = check_images(model, variables, images)
    target.validate(shapes)
    shape = check_layer(layer, shapes, spatial=True)
    delta = jnp.zeros((images.shape[0], *shape), images.dtype)  # (B, H', W', C')

    def score(d):
        acts = rewrite.forward(model, variables, images, taps={layer: d})
        return target(acts).sum(), acts[layer]

    grads, activation = jax.grad(score, has_aux=True)(delta)  # both (B, H', W', C')
    weights = grads.mean((1, 2))  # (B, C')
    return jax.nn.relu(jnp.einsum("bhwc,bc->bhw", activation, weights))


def upsample(maps: jax.Array, size: tuple[int, int]) -> jax.Array:
    """(B, h, w) -> (B, H, W) bilinear, as Grad-CAM is shown over the image."""
    return jax.image.resize(maps, (maps.shape[0], *size), "bilinear")


def guided_grad_cam(model, variables, images: jax.Array, target: Target, layer: str) -> jax.Array:
    """Guided backprop times the upsampled Grad-CAM (Selvaraju et al., 2017, §3.1).

    Returns:
      (B, H, W, C).
    """
    cam = upsample(grad_cam(model, variables, images, target, layer), images.shape[1:3])
    return saliency.guided_backprop(model, variables, images, target) * cam[..., None]
