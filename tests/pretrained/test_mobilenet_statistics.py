"""MobileNetV2's shipped weights have no classifier, so the import is checked by its BatchNorm
statistics: over real photos, the per-channel mean of every convolution's output (the input of
its BatchNorm) correlates with the running mean stored for that BatchNorm. A wrong layout of
any layer upstream scrambles the activations and the correlation drops to ~0."""

import flax.linen as nn
import jax
import numpy as np
import skimage.data

from cnnjax import pretrained
from cnnjax.models import layers

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def conv_outputs(model, variables, x) -> tuple[jax.Array, dict[tuple[str, ...], jax.Array]]:
    """The model's output and {path of each Conv: its (B, H, W, C) output}, captured by flax
    (not by the model's own `record`s)."""

    def run(variables, x):
        return model.apply(
            variables,
            x,
            capture_intermediates=lambda module, _: isinstance(module, layers.Conv),
            mutable=["intermediates"],
        )

    output, state = jax.jit(run)(variables, x)
    flat = jax.tree_util.tree_flatten_with_path(state["intermediates"])[0]
    return output, {tuple(k.key for k in p[:-2]): v for p, v in flat if p[-2].key == "__call__"}


def test_pre_batchnorm_means_follow_the_running_means():
    model, variables, preprocess = pretrained.load("mobilenet_v2")
    assert model.num_classes == 0
    photos = np.stack([getattr(skimage.data, name)()[:300, :400] for name in PHOTOS])
    x = jax.jit(preprocess)(photos)  # (4, 224, 224, 3), one compile: equal crops
    correlations = []
    features, activations = conv_outputs(model, variables, x)
    for path, activation in activations.items():
        stats = variables["batch_stats"]
        for key in (*path[:-1], path[-1].replace("_conv", "_bn")):
            stats = stats[key]
        means = np.asarray(activation).mean(axis=(0, 1, 2))
        correlations.append(np.corrcoef(means, stats["mean"])[0, 1])
    assert len(correlations) == 52  # stem, 17 blocks (the first without expansion), head
    assert np.median(correlations) >= 0.8, np.round(correlations, 2)
    assert features.shape == (len(PHOTOS), 1280) and bool(np.all(np.asarray(features) >= 0))
    assert isinstance(model, nn.Module)
