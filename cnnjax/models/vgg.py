"""VGG (Simonyan & Zisserman, 2015, "Very deep convolutional networks for large-scale image
recognition").

Configurations A, B, D and E of Table 1 are `vgg11`, `vgg13`, `vgg16` and `vgg19`: stacks of 3x3
convolutions (stride 1, padding 1, ReLU) in five stages of 64-128-256-512-512 maps, each stage
closed by a 2x2/2 max-pool, then 4096-4096-num_classes dense layers with dropout 0.5 after the
first two (§3.1). At 224x224x3 and 1000 classes VGG-16 has 138,357,544 parameters and VGG-19
143,667,240. The `_bn` variants put BatchNorm between each convolution (which keeps its bias) and
its ReLU, as torchvision does (vgg16_bn: 138,365,992).

Weights are initialised as Glorot & Bengio (2010), which §3.1 found trains the deep
configurations from scratch (the paper itself initialised D and E from a trained A).

`vgg16_cifar` is VGG-16-BN for 32x32 images with a single 512 → num_classes classifier
(14,728,266 parameters at 10 classes), the benchmark network of ../shared/bench/.

Records `conv{s}_{i}` (stage s, layer i, after the ReLU), `pool{s}`, then `fc6` and
`pre_logits` (fc7); the CIFAR variant records the flattened pool5 as `pre_logits`. At 224x224,
stage s has 224 / 2^(s-1) pixels a side and pool5 is 7x7x512.
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

# Table 1: number of 3x3 convolutions in each of the five stages.
CONFIGS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)
# §3.1: training from scratch works with the initialisation of Glorot & Bengio (2010).
glorot = nn.initializers.glorot_uniform()


class VGG(nn.Module):
    """(B, H, W, C) → (B, num_classes).

    Attributes:
      convs_per_stage: 3x3 convolutions in each stage (Table 1).
      widths: maps of each stage.
      batch_norm: BatchNorm after every convolution.
      dense: widths of the hidden dense layers (fc6, fc7); empty: classify pool5 directly.
      dropout_rate: dropout after each hidden dense layer, in training only.
      bn_axis_name: mapped axis every BatchNorm averages its batch statistics over (the
        `pmap` engine's; `layers.with_batch_norm_axis`), or None.
    """

    num_classes: int = 1000
    convs_per_stage: Sequence[int] = CONFIGS[16]
    widths: Sequence[int] = WIDTHS
    batch_norm: bool = False
    dense: Sequence[int] = (4096, 4096)
    dropout_rate: float = 0.5
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None

    @property
    def min_input_size(self) -> int:
        return layers.smallest_input([(3, 1, 1), (2, 2, "VALID")] * len(self.widths))

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        layers.check_input_size(x, self.min_input_size, "VGG")
        for s, (convs, width) in enumerate(zip(self.convs_per_stage, self.widths, strict=True)):
            for i in range(convs):
                name = f"{s + 1}_{i + 1}"
                conv = layers.Conv(
                    width, 3, padding=1, dtype=self.dtype, kernel_init=glorot, name=f"conv{name}"
                )
                x = conv(x)
                if self.batch_norm:
                    bn = layers.batch_norm(
                        train, dtype=self.dtype, name=f"bn{name}", axis_name=self.bn_axis_name
                    )
                    x = bn(x)
                x = record(self, f"conv{name}", nn.relu(x))
            x = record(self, f"pool{s + 1}", layers.max_pool(x, 2))
        x = x.reshape(x.shape[0], -1)  # (B, 7 * 7 * 512) at 224x224
        if not self.dense:
            x = record(self, "pre_logits", x)
        for i, width in enumerate(self.dense):
            name = f"fc{i + 6}"
            x = nn.relu(nn.Dense(width, dtype=self.dtype, kernel_init=glorot, name=name)(x))
            x = record(self, "pre_logits" if i == len(self.dense) - 1 else name, x)
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        name = f"fc{len(self.dense) + 6}"
        return nn.Dense(self.num_classes, dtype=self.dtype, kernel_init=glorot, name=name)(x)


def _register(name: str, input_shape, test_input_shape, **fields):
    factory = functools.partial(VGG, **fields)
    register_model(
        name,
        input_shape=input_shape,
        min_input_size=factory().min_input_size,
        test_input_shape=test_input_shape,
    )(factory)


for _depth, _convs in CONFIGS.items():
    for _bn in (False, True):
        _register(
            f"vgg{_depth}{'_bn' if _bn else ''}",
            (224, 224, 3),
            (32, 32, 3),
            convs_per_stage=_convs,
            batch_norm=_bn,
        )
_register("vgg16_cifar", (32, 32, 3), (32, 32, 3), batch_norm=True, dense=())
