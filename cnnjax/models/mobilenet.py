"""MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov & Chen, 2018, "MobileNetV2: Inverted residuals
and linear bottlenecks").

Table 2: a 3x3/2 convolution with 32 maps, seven stages of inverted-residual blocks (t, c, n, s
= expansion, output maps, repeats, first stride), a 1x1 convolution to 1280 maps, global
average pooling and the classifier (dropout 0.2, as torchvision). Each block (Figure 3b, Table
1) expands with a 1x1 convolution (t x maps, ReLU6), filters with a depthwise 3x3 convolution
(one filter per map: `groups` = maps, ReLU6) and projects back with a linear 1x1 convolution;
the input is added where stride and width allow. BatchNorm follows every convolution. At
224x224 and 1000 classes: 3,504,872 parameters; `num_classes=0` drops the classifier and
returns the pooled 1280-d features (2,223,872 parameters), the layout of the ImageNet weights
that `cnnjax.pretrained.load("mobilenet_v2")` imports.

`InvertedResidual` also builds EfficientNet's MBConv blocks (efficientnet.py) with "SAME"
(TensorFlow) padding. Parameters live under `stem_conv`, `stem_bn`,
`stage{s}/block{b}/{expand,depthwise,project}_{conv,bn}`, `head_conv`, `head_bn` and `fc`.
Records `stem`, `stage{s}/block{b}` (each block's output), `head` and `pre_logits`; at 224x224
the stem is 112x112x32, stages 1-7 have 112, 56, 28, 14, 14, 7, 7 pixels a side with 16, 24,
32, 64, 96, 160, 320 maps, the head is 7x7x1280.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.models import layers
from cnnjax.models.intermediates import record
from cnnjax.models.registry import register_model
from cnnjax.models.resnet import Stage

# Table 2: expansion t, output maps c, repeats n, stride s of the first block.
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2))
MOBILENET_V2 += ((6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
PADDINGS = ("symmetric", "SAME")


def relu6(x: jax.Array) -> jax.Array:
    """min(max(x, 0), 6): ReLU6, robust in low precision (Sandler et al. 2018, §3.4)."""
    return jnp.clip(x, 0, 6)


def conv_bn(module, x, features, kernel, strides, name, train, groups=1):
    """A bias-free convolution and its BatchNorm, named `{name}_conv` and `{name}_bn`."""
    padding = kernel // 2 if module.padding == "symmetric" else "SAME"
    x = layers.Conv(
        features,
        kernel,
        strides=strides,
        padding=padding,
        groups=groups,
        use_bias=False,
        dtype=module.dtype,
        kernel_init=nn.initializers.variance_scaling(2.0, "fan_out", "normal"),
        name=f"{name}_conv",
    )(x)
    bn = layers.batch_norm(
        train,
        dtype=module.dtype,
        name=f"{name}_bn",
        epsilon=module.bn_epsilon,
        axis_name=module.bn_axis_name,
    )
    return bn(x)


class InvertedResidual(nn.Module):
    """Expand (1x1) → depthwise (k x k, strided) → linear project (1x1), plus the input where
    the shape is unchanged. (B, H, W, C) → (B, H/s, W/s, features).

    Attributes:
      features: output maps.
      strides: stride of the depthwise convolution.
      expansion: hidden maps = expansion x input maps; 1 skips the expanding convolution.
      kernel_size: window of the depthwise convolution.
      padding: "symmetric" (k // 2 each side, torch) or "SAME" (TensorFlow: the extra row and
        column at the bottom/right), as the imported weights were trained.
      bn_epsilon: BatchNorm epsilon (1e-5 torch, 1e-3 TensorFlow).
      bn_axis_name: mapped axis every BatchNorm averages its batch statistics over (the
        `pmap` engine's; `layers.with_batch_norm_axis`), or None.
    """

    features: int
    strides: int = 1
    expansion: int = 6
    kernel_size: int = 3
    padding: str = "symmetric"
    bn_epsilon: float = 1e-5
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        hidden = x.shape[-1] * self.expansion
        y = x
        if self.expansion != 1:
            y = relu6(conv_bn(self, y, hidden, 1, 1, "expand", train))
        y = relu6(
            conv_bn(self, y, hidden, self.kernel_size, self.strides, "depthwise", train, hidden)
        )
        y = conv_bn(self, y, self.features, 1, 1, "project", train)  # linear bottleneck
        if self.strides == 1 and x.shape[-1] == self.features:
            y = y + x
        return y


class MobileNetV2(nn.Module):
    """(B, H, W, 3) → (B, num_classes), or the pooled (B, 1280) features if num_classes = 0.

    Attributes:
      num_classes: classifier outputs; 0 returns the pooled features (no classifier).
      dropout_rate: dropout before the classifier, in training only.
      padding, bn_epsilon, bn_axis_name: as `InvertedResidual`, for every convolution.
    """

    num_classes: int = 1000
    dropout_rate: float = 0.2
    padding: str = "symmetric"
    bn_epsilon: float = 1e-5
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None

    @property
    def min_input_size(self) -> int:
        return layers.smallest_input([(3, 2, 1)] * 5)

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        return mobile_network(self, x, train, MOBILENET_V2, 32, 1280)


def mobile_network(module, x, train, stages, stem_width, head_width):
    """The network both families share: stem, stages of `InvertedResidual` blocks given as
    (t, c, n, s[, kernel]) rows, 1x1 head, pooling and an optional dropout + dense classifier."""
    if module.padding not in PADDINGS or module.num_classes < 0:
        raise ValueError(
            f"padding={module.padding!r}, num_classes={module.num_classes}: accepted paddings "
            f"are {PADDINGS} and num_classes >= 0 (0: no classifier)"
        )
    layers.check_input_size(x, module.min_input_size, type(module).__name__)
    x = record(module, "stem", relu6(conv_bn(module, x, stem_width, 3, 2, "stem", train)))
    for s, (expansion, width, repeats, strides, *kernel) in enumerate(stages, 1):
        kwargs = dict(
            features=width,
            strides=strides,
            expansion=expansion,
            kernel_size=kernel[0] if kernel else 3,
            padding=module.padding,
            bn_epsilon=module.bn_epsilon,
            dtype=module.dtype,
            bn_axis_name=module.bn_axis_name,
        )
        outputs = Stage(InvertedResidual, repeats, kwargs, name=f"stage{s}")(x, train)
        for b, out in enumerate(outputs):
            record(module, f"stage{s}/block{b + 1}", out)
        x = outputs[-1]
    x = record(module, "head", relu6(conv_bn(module, x, head_width, 1, 1, "head", train)))
    x = record(module, "pre_logits", layers.global_avg_pool(x))  # (B, head_width)
    if module.num_classes == 0:
        return x
    x = nn.Dropout(module.dropout_rate, deterministic=not train)(x)
    return nn.Dense(module.num_classes, dtype=module.dtype, name="fc")(x)


register_model(
    "mobilenet_v2",
    input_shape=(224, 224, 3),
    min_input_size=MobileNetV2().min_input_size,
    test_input_shape=(32, 32, 3),
)(functools.partial(MobileNetV2))
