"""GoogLeNet / Inception v1 (Szegedy et al., 2015, "Going deeper with convolutions").

The network of Table 1 and Figure 3: 7x7/2 convolution, 3x3/2 max-pool, LRN, 1x1 (64) and 3x3
(192) convolutions, LRN, 3x3/2 max-pool, inception 3a-3b, max-pool, 4a-4e, max-pool, 5a-5b,
global average pooling (the paper's 7x7 average pool at 224x224), dropout 0.4 and a dense layer.
Every convolution, the 1x1 reductions included, is followed by a ReLU. The max-pools use
'SAME' padding, which at 224x224 gives Table 1's sizes (Caffe's ceil mode).

Two auxiliary classifiers (§5) sit on 4a and 4d: 5x5/3 average pool, 1x1 convolution with 128
maps, dense 1024, dropout 0.7, dense num_classes. They run only with `train=True` (and at
init, so their parameters exist; they live under `aux_classifier1` and `aux_classifier2`) and
report their logits with `sow("aux_logits", "aux1" / "aux2", logits)`; the training loss adds
`aux_loss_weight` (0.3) times their cross-entropy.

LRN: Caffe's bvlc_googlenet settings (5 maps, alpha 1e-4 averaged over the 5, beta 0.75, k 1),
written in `local_response_norm`'s summed convention as alpha = 2e-5.

Records `conv1`, `pool1`, `norm1`, `conv2_reduce`, `conv2`, `norm2`, `pool2`, `inception3a`,
`inception3b`, `pool3`, `inception4a`-`inception4e`, `pool4`, `inception5a`, `inception5b` and
`pre_logits`, shaped as Table 1's "output size" column at 224x224.
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

# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj of each inception module.
TABLE1 = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
AUX_AFTER = ("4a", "4d")


def _lrn(x: jax.Array) -> jax.Array:
    return layers.local_response_norm(x, k=1.0, n=5, alpha=1e-4 / 5, beta=0.75)


def conv_relu(x: jax.Array, features: int, kernel: int, name: str, dtype, strides: int = 1):
    """Convolution `name` (with bias, padded to keep the size at stride 1), then a ReLU."""
    conv = layers.Conv(features, kernel, strides, padding=kernel // 2, dtype=dtype, name=name)
    return nn.relu(conv(x))


class Inception(nn.Module):
    """The inception module with dimension reductions (Figure 2b).

    (B, H, W, C) → (B, H, W, n1x1 + n3x3 + n5x5 + pool_proj): four branches concatenated along
    the channels: 1x1; 1x1 reduce then 3x3; 1x1 reduce then 5x5; 3x3/1 max-pool then 1x1.
    """

    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool_proj: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(conv_relu, dtype=self.dtype)
        branch1 = conv(x, self.n1x1, 1, "branch1x1")
        branch3 = conv(x, self.n3x3_reduce, 1, "branch3x3_reduce")
        branch3 = conv(branch3, self.n3x3, 3, "branch3x3")
        branch5 = conv(x, self.n5x5_reduce, 1, "branch5x5_reduce")
        branch5 = conv(branch5, self.n5x5, 5, "branch5x5")
        pool = layers.max_pool(x, 3, 1, padding="SAME")
        pool = conv(pool, self.pool_proj, 1, "pool_proj")
        return jnp.concatenate([branch1, branch3, branch5, pool], axis=-1)


class AuxClassifier(nn.Module):
    """§5: 5x5/3 average pool, 1x1 conv (128) + ReLU, dense 1024 + ReLU, dropout 0.7, dense."""

    num_classes: int
    dropout_rate: float = 0.7
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = layers.avg_pool(x, 5, 3)  # (B, 4, 4, C) at 14x14
        x = conv_relu(x, 128, 1, "conv", self.dtype)
        x = x.reshape(x.shape[0], -1)  # (B, 2048)
        x = nn.relu(nn.Dense(1024, dtype=self.dtype, name="fc1")(x))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, dtype=self.dtype, name="fc2")(x)


class GoogLeNet(nn.Module):
    """(B, H, W, C) → (B, num_classes); auxiliary logits sown into `aux_logits` in training.

    Attributes:
      table: ("3a", widths) ... ("5b", widths) of the inception modules (Table 1); the
        modules "4a" and "5a" are preceded by a 3x3/2 max-pool.
      aux_classifiers: build the two auxiliary classifiers.
      aux_loss_weight: the weight of each auxiliary loss in training (§5: 0.3).
      dropout_rate: before the final dense layer (§5: 40%).
    """

    num_classes: int = 1000
    table: Sequence[tuple[str, Sequence[int]]] = tuple(TABLE1.items())
    aux_classifiers: bool = True
    aux_loss_weight: float = 0.3
    dropout_rate: float = 0.4
    dtype: Any = jnp.float32

    @property
    def min_input_size(self) -> int:
        to_4a = [(7, 2, 3), (3, 2, "SAME"), (3, 1, 1), (3, 2, "SAME"), (3, 2, "SAME")]
        main = layers.smallest_input(to_4a + [(3, 2, "SAME")])
        aux = layers.smallest_input(to_4a + [(5, 3, "VALID")])  # 5x5 pool on 4a: 65
        return max(main, aux) if self.aux_classifiers else main

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        layers.check_input_size(x, self.min_input_size, "GoogLeNet")
        conv = functools.partial(conv_relu, dtype=self.dtype)
        x = record(self, "conv1", conv(x, 64, 7, "conv1", strides=2))  # (B, 112, 112, 64)
        x = record(self, "pool1", layers.max_pool(x, 3, 2, padding="SAME"))  # (B, 56, 56, 64)
        x = record(self, "norm1", _lrn(x))
        x = record(self, "conv2_reduce", conv(x, 64, 1, "conv2_reduce"))
        x = record(self, "conv2", conv(x, 192, 3, "conv2"))  # (B, 56, 56, 192)
        x = record(self, "norm2", _lrn(x))
        x = record(self, "pool2", layers.max_pool(x, 3, 2, padding="SAME"))  # (B, 28, 28, 192)
        for key, widths in self.table:
            if key in ("4a", "5a"):
                name = f"pool{int(key[0]) - 1}"
                x = record(self, name, layers.max_pool(x, 3, 2, padding="SAME"))
            name = f"inception{key}"
            x = record(self, name, Inception(*widths, dtype=self.dtype, name=name)(x))
            if key in AUX_AFTER and self.aux_classifiers and (train or self.is_initializing()):
                n = AUX_AFTER.index(key) + 1
                head = AuxClassifier(self.num_classes, dtype=self.dtype, name=f"aux_classifier{n}")
                logits = head(x, train)
                if train and not self.is_initializing():
                    self.sow("aux_logits", f"aux{n}", logits)
        x = record(self, "pre_logits", layers.global_avg_pool(x))  # (B, 1024)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(x)


@register_model(
    "googlenet", input_shape=(224, 224, 3), min_input_size=65, test_input_shape=(65, 65, 3)
)
def googlenet(num_classes: int = 1000, **kwargs) -> nn.Module:
    return GoogLeNet(num_classes=num_classes, **kwargs)
