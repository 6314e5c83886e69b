"""Named activations of a model: which exist (in forward order), their shapes, feature maps.

Every other interpret function validates its `layer` and `images` here, before anything is
compiled, so a bad name or a wrong-size image fails with one clear message.
"""

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.models.intermediates import intermediates


def layer_shapes(model, variables, input_shape) -> dict[str, tuple[int, ...]]:
    """Every recorded activation (and `logits`) in forward order: name -> shape without batch.

    Args:
      model: a linen module that records its activations (every zoo model).
      variables: its variables (arrays or `jax.ShapeDtypeStruct`s).
      input_shape: (H, W, C).

    Raises:
      ValueError: the model does not accept inputs of `input_shape`.
    """
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    try:
        out = jax.eval_shape(lambda v, x: intermediates(model, v, x), variables, x)
    except Exception as e:  # noqa: BLE001 - any trace failure means "wrong input for this model"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"images of shape (H, W, C) = {tuple(input_shape)} do not fit this model "
            f"({type(model).__name__}): {first}"
        ) from None
    return {name: tuple(a.shape[1:]) for name, a in out.items()}  # forward order


def check_images(model, variables, images, input_shape=None) -> dict[str, tuple[int, ...]]:
    """Checks that `images` is a (B, H, W, C) batch the model accepts; returns `layer_shapes`.

    Args:
      images: array-like (B, H, W, C).
      input_shape: the (H, W, C) the model was trained on, if known: a clearer message names it.

    Raises:
      ValueError: wrong rank, wrong size or wrong channel count.
    """
    shape = tuple(np.shape(images))
    if len(shape) != 4:
        raise ValueError(f"images must be a (B, H, W, C) batch, got shape {shape}")
    if input_shape is not None and tuple(shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"images of size (H, W, C) = {shape[1:]} do not match the model's input "
            f"{tuple(input_shape)}"
        )
    return layer_shapes(model, variables, shape[1:])


def check_layer(layer: str, shapes: dict, *, spatial: bool = False) -> tuple[int, ...]:
    """The shape of `layer`; a ValueError listing the accepted names if it is not recorded.

    Args:
      spatial: require an (H', W', C') activation (a feature map, not a vector).
    """
    accepted = [n for n, s in shapes.items() if len(s) == 3] if spatial else list(shapes)
    if layer not in accepted:
        kind = "spatial layers" if spatial else "layers"
        raise ValueError(f"unknown layer {layer!r}; this model's {kind} are: {', '.join(accepted)}")
    return shapes[layer]


def feature_maps(model, variables, images: jax.Array, layer: str) -> dict[str, jax.Array]:
    """The activation of `layer` per channel and averaged over channels.

    Args:
      images: (B, H, W, C).
      layer: a recorded spatial activation (`layer_shapes`).

    Returns:
      {"maps": (B, H', W', C'), "mean": (B, H', W')}.
    """
    check_layer(layer, check_images(model, variables, images), spatial=True)
    maps = intermediates(model, variables, images)[layer]
    return {"maps": maps, "mean": maps.mean(-1)}
