"""The effective receptive field (Luo, Li, Urtasun & Zemel, 2016, "Understanding the Effective
Receptive Field in Deep Convolutional Neural Networks", NeurIPS).

The ERF of a unit is |d unit / d input|: how much each input pixel actually moves it. Only
pixels inside the theoretical receptive field can have a nonzero gradient, and in trained and
untrained networks alike most of the mass sits in a Gaussian-like blob at its centre.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import choices
from cnnjax.models.intermediates import intermediates


def spatial_layers(model: nn.Module, variables, input_shape: Sequence[int]) -> dict[str, tuple]:
    """Recorded activations that keep a spatial layout, in forward order: name -> (H', W', C').

    Shapes only (`jax.eval_shape`).
    """
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    out = jax.eval_shape(lambda v, x: intermediates(model, v, x), variables, x)
    return {k: tuple(a.shape[1:]) for k, a in out.items() if a.ndim == len(input_shape) + 1}


def effective_receptive_field(
    model: nn.Module,
    variables,
    input_shape: Sequence[int],
    layer: str | None = None,
    *,
    inputs: jax.Array | None = None,
    num_samples: int = 1,
    seed: int = 0,
    position: Sequence[int] | None = None,
) -> np.ndarray:
    """|d (unit of `layer` at `position`, summed over channels) / d input|, averaged over inputs.

    Args:
      model: a zoo model (any linen module that records activations with
        `cnnjax.models.intermediates.record`).
      variables: its variables.
      input_shape: (H, W, C).
      layer: a recorded activation with a spatial layout; defaults to the last one.
      inputs: (N, H, W, C) inputs to average over; by default `num_samples` standard normal
        images drawn by numpy with `seed`.
      position: (i, j) of the unit in the layer's feature map; defaults to the centre
        (H' // 2, W' // 2).

    Returns:
      (H, W) non-negative float array: the gradient magnitude summed over input channels and
      averaged over the N inputs.

    Raises:
      ValueError: an unknown or non-spatial layer, a position outside the feature map, or
        inputs of the wrong shape.
    """
    input_shape = tuple(input_shape)
    layers = spatial_layers(model, variables, input_shape)
    if not layers:
        raise ValueError("the model records no spatial activation (B, H', W', C')")
    layer = list(layers)[-1] if layer is None else layer
    choices.check("recorded spatial activation", layer, layers)
    grid = layers[layer][:-1]
    position = tuple(d // 2 for d in grid) if position is None else tuple(position)
    if len(position) != len(grid) or not all(
        0 <= p < d for p, d in zip(position, grid, strict=True)
    ):
        raise ValueError(f"position={position} is outside the {layer} feature map of size {grid}")
    if inputs is None:
        rng = np.random.default_rng(seed)
        inputs = rng.standard_normal((num_samples, *input_shape), dtype=np.float32)
    if tuple(inputs.shape[1:]) != input_shape:
        raise ValueError(f"inputs of shape {inputs.shape} do not match input_shape={input_shape}")

    def unit(variables, x, position):
        activation = intermediates(model, variables, x)[layer]  # (N, H', W', C')
        return activation[(slice(None), *position)].sum()  # each example's unit, summed

    def erf(variables, x, position):
        grad = jax.grad(unit, argnums=1)(variables, x, position)  # (N, H, W, C)
        return jnp.abs(grad).sum(-1).mean(0)  # (H, W)

    # The variables are an argument, not a closed-over constant baked into the program.
    return np.asarray(jax.jit(erf)(variables, jnp.asarray(inputs), jnp.array(position)))


def erf_support(erf: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """Bounding box of the nonzero entries of a 2-D ERF: ((top, left), (height, width))."""
    rows, cols = np.nonzero(np.asarray(erf))
    if rows.size == 0:
        raise ValueError("the effective receptive field is zero everywhere")
    top, left = int(rows.min()), int(cols.min())
    return (top, left), (int(rows.max()) - top + 1, int(cols.max()) - left + 1)
