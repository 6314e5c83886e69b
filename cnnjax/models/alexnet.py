"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012, "ImageNet classification with deep
convolutional neural networks") and its single-tower and small-image variants.

- `alexnet`: the paper's network (§3.5, Figure 2): 96-11x11/4, LRN, 3x3/2 overlapping max-pool,
  256-5x5, LRN, pool, 384-3x3, 384-3x3, 256-3x3, pool, 4096-4096-1000 with dropout 0.5. Conv2, 4
  and 5 only see the maps on their own GPU: the two towers are two feature groups. Input
  227x227x3 (the paper's "224" does not give its 55x55 maps). 60,965,224 parameters.
- `alexnet_v2`: the single-tower 64-192-384-256-256 network of Krizhevsky (2014), "One weird
  trick for parallelizing convolutional neural networks", as in torchvision: no LRN, conv1
  padded by 2, 224x224x3 input. 61,100,840 parameters.
- `alexnet_small`: the AlexNet-style network for 28-32 px images of the survey notes
  (../shared/survey/02-cnn-lecture-notes.txt, §60.13): 96-11x11, 256-5x5, 512, 1024, 1024-3x3,
  all 'same', 2x2 max-pools after conv1, conv2 and conv5, dense 3072-4096. The notes' Keras code
  also zero-pads by one before each 'same' 3x3 convolution, which grows the maps 7 → 13 and the
  first dense layer fourfold; we leave that padding out.

Dropout follows fc6 and fc7 (the Caffe reference model); weights use the layers' default
initialisation, not the paper's N(0, 0.01) with unit biases.

Records `conv1`, `norm1` (with LRN), `pool1`, `conv2`, `norm2`, `pool2`, `conv3`, `conv4`,
`conv5`, `pool5`, `fc6` and `pre_logits` (fc7): at 227x227, 55x55x96, 27x27x96, 27x27x256,
13x13x256, 13x13x384, 13x13x384, 13x13x256, 6x6x256, 4096 and 4096.
"""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.models import layers
from cnnjax.models.intermediates import record
from cnnjax.models.registry import register_model

_KERNELS = (11, 5, 3, 3, 3)


class AlexNet(nn.Module):
    """Five convolutions, three max-pools and three dense layers. (B, H, W, C) → (B, num_classes).

    Attributes:
      filters: output maps of conv1-conv5.
      groups: feature groups of conv1-conv5 (2 for the paper's cross-GPU-free layers).
      conv1_stride, conv1_padding: conv1's stride and padding (per side); later convolutions
        are padded to keep their size.
      pool_window, pool_stride: the three max-pools (3/2: overlapping pooling, §3.4).
      lrn: local response normalisation after the ReLUs of conv1 and conv2 (§3.3).
      dense: widths of fc6 and fc7.
      dropout_rate: dropout after fc6 and fc7, in training only.
    """

    num_classes: int = 1000
    filters: Sequence[int] = (96, 256, 384, 384, 256)
    groups: Sequence[int] = (1, 2, 1, 2, 2)
    conv1_stride: int = 4
    conv1_padding: int = 0
    pool_window: int = 3
    pool_stride: int = 2
    lrn: bool = True
    dense: Sequence[int] = (4096, 4096)
    dropout_rate: float = 0.5
    dtype: Any = jnp.float32

    @property
    def min_input_size(self) -> int:
        pool = (self.pool_window, self.pool_stride, "VALID")
        conv = [(k, 1, k // 2) for k in _KERNELS[1:]]
        conv1 = (_KERNELS[0], self.conv1_stride, self.conv1_padding)
        return layers.smallest_input([conv1, pool, conv[0], pool, *conv[1:], pool])

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        layers.check_input_size(x, self.min_input_size, "AlexNet")
        pool = functools.partial(layers.max_pool, window=self.pool_window, strides=self.pool_stride)
        for i, (features, kernel, groups) in enumerate(
            zip(self.filters, _KERNELS, self.groups, strict=True)
        ):
            n = i + 1
            conv = layers.Conv(
                features,
                kernel,
                strides=self.conv1_stride if n == 1 else 1,
                padding=self.conv1_padding if n == 1 else kernel // 2,
                groups=groups,
                dtype=self.dtype,
                name=f"conv{n}",
            )
            x = record(self, f"conv{n}", nn.relu(conv(x)))
            if n <= 2 and self.lrn:
                x = record(self, f"norm{n}", layers.local_response_norm(x))
            if n in (1, 2, 5):
                x = record(self, f"pool{n}", pool(x))
        x = x.reshape(x.shape[0], -1)  # (B, 6 * 6 * 256) at 227x227
        for i, width in enumerate(self.dense):
            name = f"fc{i + 6}"
            x = nn.relu(nn.Dense(width, dtype=self.dtype, name=name)(x))
            x = record(self, "pre_logits" if i == len(self.dense) - 1 else name, x)
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, dtype=self.dtype, name=f"fc{len(self.dense) + 6}")(x)


def _register(name: str, input_shape, test_input_shape, **fields):
    factory = functools.partial(AlexNet, **fields)
    min_size = factory().min_input_size
    register_model(
        name,
        input_shape=input_shape,
        min_input_size=min_size,
        test_input_shape=test_input_shape or (min_size, min_size, input_shape[2]),
    )(factory)


_register("alexnet", (227, 227, 3), None)
_register(
    "alexnet_v2",
    (224, 224, 3),
    None,
    filters=(64, 192, 384, 256, 256),
    groups=(1, 1, 1, 1, 1),
    conv1_padding=2,
    lrn=False,
)
_register(
    "alexnet_small",
    (28, 28, 1),
    (8, 8, 1),
    filters=(96, 256, 512, 1024, 1024),
    groups=(1, 1, 1, 1, 1),
    conv1_stride=1,
    conv1_padding=5,
    pool_window=2,
    pool_stride=2,
    lrn=False,
    dense=(3072, 4096),
)
