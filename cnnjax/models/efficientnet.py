"""EfficientNet-Lite0…4 (Tan & Le, 2019, "EfficientNet: Rethinking model scaling for
convolutional neural networks"; the "Lite" variants of the TensorFlow TPU repository, 2020).

EfficientNet-B0 (Table 1): a 3x3/2 convolution with 32 maps, seven stages of MBConv blocks
(MobileNetV2's inverted residuals, `InvertedResidual` in mobilenet.py) with expansion 1 then 6,
3x3 or 5x5 depthwise kernels and 16-24-40-80-112-192-320 maps, a 1x1 convolution to 1280 maps,
global average pooling, dropout 0.2 and the classifier. The Lite variant, made for mobile
accelerators, drops squeeze-and-excitation, replaces swish with ReLU6 and keeps stem and head
at 32 and 1280 maps. The weights were trained in TensorFlow: "SAME" padding (the extra row and
column at the bottom/right of a strided window) and BatchNorm epsilon 1e-3 — imported weights
only classify right with both. Stochastic depth (drop-connect) of the original training is not
implemented. At 224x224 and 1000 classes: 4,652,008 parameters.

Lite1-4 scale B0 by compound scaling (§3.3) with the Lite rules: widths x 1.0, 1.0, 1.1, 1.2,
1.4 (rounded to multiples of 8, never down by more than 10%), repeats x 1.0, 1.1, 1.2, 1.4,
1.8 (rounded up) except in the first and last stage, inputs 224, 240, 260, 280, 300, dropout
0.2, 0.2, 0.3, 0.3, 0.3 (about 4.65, 5.42, 6.09, 8.20 and 13.01 M parameters): built by
`efficientnet_lite(name)`; only Lite0, which has ImageNet weights, is in the registry.

Parameters and activations are named as in mobilenet.py: `stem_conv`, `stem_bn`,
`stage{s}/block{b}/{expand,depthwise,project}_{conv,bn}`, `head_conv`, `head_bn`, `fc`;
records `stem`, `stage{s}/block{b}`, `head`, `pre_logits`. At 224x224 the stem is 112x112x32,
stages 1-7 have 112, 56, 28, 14, 14, 7, 7 pixels a side, the head is 7x7x1280.
"""

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax import choices
from cnnjax.models import layers
from cnnjax.models.mobilenet import mobile_network
from cnnjax.models.registry import register_model

# Table 1 (B0): expansion, output maps, repeats, first stride, depthwise kernel.
EFFICIENTNET_B0 = ((1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3))
EFFICIENTNET_B0 += ((6, 112, 3, 1, 5), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3))
# name: width multiplier, depth multiplier, input side, dropout (efficientnet_lite_builder.py)
LITE = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3),
    "efficientnet_lite3": (1.2, 1.4, 280, 0.3),
    "efficientnet_lite4": (1.4, 1.8, 300, 0.3),
}


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Maps x width, to a multiple of `divisor`, never more than 10% below (TF's rule)."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def scale_stages(width: float, depth: float) -> tuple[tuple[int, ...], ...]:
    """B0's rows with widths and (but for the first and last stage) repeats scaled."""
    last = len(EFFICIENTNET_B0) - 1
    return tuple(
        (t, round_filters(c, width), n if s in (0, last) else math.ceil(n * depth), stride, k)
        for s, (t, c, n, stride, k) in enumerate(EFFICIENTNET_B0)
    )


class EfficientNetLite(nn.Module):
    """(B, H, W, 3) → (B, num_classes), or the pooled (B, 1280) features if num_classes = 0.

    Attributes:
      num_classes: classifier outputs; 0 returns the pooled features.
      width, depth: compound-scaling multipliers of B0's maps and repeats (stem and head
        stay 32 and 1280 maps).
      dropout_rate: dropout before the classifier, in training only.
      padding: "SAME" (TensorFlow, as trained) or "symmetric".
      bn_epsilon: BatchNorm epsilon, 1e-3 as trained in TensorFlow.
      bn_axis_name: mapped axis every BatchNorm averages its batch statistics over (the
        `pmap` engine's; `layers.with_batch_norm_axis`), or None.
    """

    num_classes: int = 1000
    width: float = 1.0
    depth: float = 1.0
    dropout_rate: float = 0.2
    padding: str = "SAME"
    bn_epsilon: float = 1e-3
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None

    @property
    def min_input_size(self) -> int:
        return layers.smallest_input([(3, 2, "SAME")] * 5)

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        stages = scale_stages(self.width, self.depth)
        return mobile_network(self, x, train, stages, 32, 1280)


def efficientnet_lite(name: str, num_classes: int = 1000, **overrides) -> EfficientNetLite:
    """EfficientNet-Lite0…4 by name (`LITE`); inputs of `LITE[name][2]` pixels a side.

    Only Lite0 is registered in the zoo (it has weights, `cnnjax.pretrained`); Lite1-4 are
    built here, which keeps the per-model zoo tests to one of the five.
    """
    choices.check("EfficientNet-Lite", name, sorted(LITE))
    width, depth, _, dropout = LITE[name]
    fields = dict(width=width, depth=depth, dropout_rate=dropout) | overrides
    return EfficientNetLite(num_classes=num_classes, **fields)


register_model(
    "efficientnet_lite0",
    input_shape=(224, 224, 3),
    min_input_size=EfficientNetLite().min_input_size,
    test_input_shape=(32, 32, 3),
)(functools.partial(efficientnet_lite, "efficientnet_lite0"))
