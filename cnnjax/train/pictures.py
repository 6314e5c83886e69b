"""The pictures written at the end of a run (process 0): curves, confusion, filters, features."""

import logging
import os
from collections.abc import Mapping, Sequence

import jax
import numpy as np

from cnnjax import models

log = logging.getLogger(__name__)


def first_conv_kernel(params: Mapping) -> np.ndarray | None:
    """The first 4-D (KH, KW, C_in, C_out) kernel in the model's parameter order, or None."""
    for leaf in jax.tree.leaves(params):
        if np.ndim(leaf) == 4:
            return np.asarray(leaf)
    return None


def write_pictures(
    directory: str,
    *,
    history: Sequence[Mapping],
    confusion: np.ndarray,
    class_names: Sequence[str],
    model,
    variables: Mapping,
    image: np.ndarray,
    model_input: np.ndarray,
) -> list[str]:
    """Writes training_curves.png, confusion_matrix.png, first_layer_filters.png, feature_maps.png.

    Args:
      directory: where the PNGs go.
      history: rows of `metrics.jsonl`.
      confusion: (K, K) counts of the final evaluation.
      class_names: K names.
      model, variables: the trained model and its (host) variables.
      image: (H, W, C) one held-out image as stored (shown as the input).
      model_input: (H', W', C') the same image preprocessed for the model.

    Returns:
      The paths written.
    """
    from cnnjax.interpret import plots

    os.makedirs(directory, exist_ok=True)
    path = lambda name: os.path.join(directory, name)
    written = [
        plots.training_curves(list(history), path("training_curves.png")),
        plots.confusion_matrix(confusion, list(class_names), path("confusion_matrix.png")),
    ]
    kernel = first_conv_kernel(variables["params"])
    if kernel is not None:
        written.append(plots.first_layer_filters(kernel, path("first_layer_filters.png")))
    if np.ndim(image) != 3:  # not an image (e.g. transfer learning's bottleneck features)
        return written
    acts = models.intermediates(model, variables, np.asarray(model_input)[None], train=False)
    spatial = {name: np.asarray(a[0], np.float32) for name, a in acts.items() if np.ndim(a) == 4}
    written.append(plots.feature_maps(image, spatial, path("feature_maps.png")))
    return written
