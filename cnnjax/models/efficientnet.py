"""EfficientNet-Lite0 (Tan & Le, 2019, "EfficientNet: Rethinking model scaling for
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

Parameters and activations are named as in mobilenet.py: `stem_conv`, `stem_bn`,
`stage{s}/block{b}/{expand,depthwise,project}_{conv,bn}`, `head_conv`, `head_bn`, `fc`;
records `stem`, `stage{s}/block{b}`, `head`, `pre_logits`. At 224x224 the stem is 112x112x32,
stages 1-7 have 112, 56, 28, 14, 14, 7, 7 pixels a side, the head is 7x7x1280.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.models import layers
from cnnjax.models.mobilenet import mobile_network
from cnnjax.models.registry import register_model

# Table 1 (B0): expansion, output maps, repeats, first stride, depthwise kernel.
EFFICIENTNET_B0 = ((1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3))
EFFICIENTNET_B0 += ((6, 112, 3, 1, 5), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3))


class EfficientNetLite(nn.Module):
    """(B, H, W, 3) → (B, num_classes), or the pooled (B, 1280) features if num_classes = 0.

    Attributes:
      num_classes: classifier outputs; 0 returns the pooled features.
      dropout_rate: dropout before the classifier, in training only.
      padding: "SAME" (TensorFlow, as trained) or "symmetric".
      bn_epsilon: BatchNorm epsilon, 1e-3 as trained in TensorFlow.
    """

    num_classes: int = 1000
    dropout_rate: float = 0.2
    padding: str = "SAME"
    bn_epsilon: float = 1e-3
    dtype: Any = jnp.float32

    @property
    def min_input_size(self) -> int:
        return layers.smallest_input([(3, 2, "SAME")] * 5)

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        return mobile_network(self, x, train, EFFICIENTNET_B0, 32, 1280)


register_model(
    "efficientnet_lite0",
    input_shape=(224, 224, 3),
    min_input_size=EfficientNetLite().min_input_size,
    test_input_shape=(32, 32, 3),
)(functools.partial(EfficientNetLite))
