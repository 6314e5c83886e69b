"""ResNet (He, Zhang, Ren & Sun, 2016, "Deep residual learning for image recognition").

ImageNet networks (§3.4, Table 1), laid out as torchvision's: a 7x7/2 convolution and a 3x3/2
max-pool, four stages of basic (two 3x3) or bottleneck (1x1, 3x3, 1x1 with 4x expansion) blocks
with 64-128-256-512 base widths, BatchNorm after every convolution, the stride of a bottleneck
in its 3x3 convolution (the "v1.5" layout), projection shortcuts (option B) where the shape
changes, global average pooling and one dense layer. At 1000 classes: resnet18 11,689,512,
resnet34 21,797,672, resnet50 25,557,032, resnet101 44,549,160, resnet152 60,192,808 parameters.

CIFAR networks (§4.2): a 3x3 convolution with 16 maps, three stages of n basic blocks with
16-32-64 maps on 32x32, 16x16 and 8x8 maps, global average pooling, dense; depth 6n + 2 gives
resnet20/32/44/56/110. Their shortcuts are option A by default, as in the paper (identity,
with the stride-2 shortcuts subsampling and zero-padding the new channels: resnet20 has 269,722
parameters at 10 classes); `shortcut="B"` projects instead (1x1 convolution + BatchNorm:
272,474 parameters, the benchmark network of ../shared/bench/).

Convolutions are initialised as in He et al. (2015), N(0, 2 / fan-in) (§3.4); the dense layer
with flax's default. Stages are numbered as the paper's conv2_x ... conv5_x (conv1 being the
stem), also for CIFAR (stage2-stage4). Parameters live under `conv1`, `bn1`,
`stage{s}/block{b}/{conv,bn}{i}`, `.../proj_conv`, `.../proj_bn` and `fc`. Records `conv1`
(after BN and ReLU), `pool1` (ImageNet), `stage{s}/block{b}` (each block's output) and
`pre_logits` (the pooled features). At 224x224: conv1 112x112x64, pool1 56x56x64, stage2-5 56,
28, 14, 7 pixels a side with 64-128-256-512 maps (x4 for bottlenecks); at 32x32 the CIFAR
stages are 32, 16, 8 with 16-32-64 maps.
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
from cnnjax.ops import fusion_boundary

SHORTCUTS = ("A", "B")
# "We initialize the weights as in [13]" (§3.4): He et al. (2015), N(0, 2 / fan-in).
he_normal = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


class _Block(nn.Module):
    """Shared fields of the residual blocks; `__call__(x, train)` → relu(F(x) + shortcut(x))."""

    features: int
    strides: int = 1
    shortcut: str = "B"
    zero_init_residual: bool = False
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None

    def conv_bn(self, x, features, kernel, strides, index, train, last=False):
        x = layers.Conv(
            features,
            kernel,
            strides=strides,
            padding=kernel // 2,
            use_bias=False,
            dtype=self.dtype,
            kernel_init=he_normal,
            name=f"conv{index}",
        )(x)
        zero_init = last and self.zero_init_residual
        bn = layers.batch_norm(
            train,
            dtype=self.dtype,
            name=f"bn{index}",
            zero_init=zero_init,
            axis_name=self.bn_axis_name,
        )
        return bn(x)

    def add_shortcut(self, x, y, train):
        """relu(y + shortcut(x)); the shortcut changes only where the shape does."""
        if x.shape == y.shape:
            return block_output(y + x, train)
        if self.shortcut == "A":  # subsample, then zero-pad the new channels on both sides
            x = x[:, :: self.strides, :: self.strides, :]
            extra = y.shape[-1] - x.shape[-1]
            x = jnp.pad(x, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))
        else:
            x = layers.Conv(
                y.shape[-1],
                1,
                self.strides,
                0,
                use_bias=False,
                dtype=self.dtype,
                kernel_init=he_normal,
                name="proj_conv",
            )(x)
            bn = layers.batch_norm(
                train, dtype=self.dtype, name="proj_bn", axis_name=self.bn_axis_name
            )
            x = bn(x)
        return block_output(y + x.astype(y.dtype), train)


def block_output(z: jax.Array, train: bool) -> jax.Array:
    """relu(z), z the sum of a block's residual branch and shortcut.

    In inference it is stored once on the CPU path (`fusion_boundary.stored_on_cpu`): otherwise
    XLA:CPU computes each block's output by recomputing every earlier block of its stage from
    their convolution outputs (the third block's fusion read 17 arrays), and ResNet-20
    evaluates at 1,757 instead of 1,972 img/s (6 alternating rounds in one process, two cores).
    Training keeps XLA's fusion: storing there cost 6 % (384 → 362 img/s).
    """
    if train:
        return nn.relu(z)
    return fusion_boundary.stored_on_cpu(nn.relu, z)


class BasicBlock(_Block):
    """Two 3x3 convolutions (Figure 5, left). (B, H, W, C) → (B, H/s, W/s, features)."""

    expansion = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = nn.relu(self.conv_bn(x, self.features, 3, self.strides, 1, train))
        y = self.conv_bn(y, self.features, 3, 1, 2, train, last=True)
        return self.add_shortcut(x, y, train)


class Bottleneck(_Block):
    """1x1 reduce, 3x3 (strided), 1x1 expand to 4 x features (Figure 5, right)."""

    expansion = 4

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = nn.relu(self.conv_bn(x, self.features, 1, 1, 1, train))
        y = nn.relu(self.conv_bn(y, self.features, 3, self.strides, 2, train))
        y = self.conv_bn(y, self.features * 4, 1, 1, 3, train, last=True)
        return self.add_shortcut(x, y, train)


class Stage(nn.Module):
    """`num_blocks` blocks named block1...; returns every block's output (the last is the
    stage's)."""

    block_cls: type
    num_blocks: int
    block_kwargs: dict

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> list[jax.Array]:
        outputs = []
        for b in range(self.num_blocks):
            kwargs = dict(self.block_kwargs)
            if b:
                kwargs["strides"] = 1
            x = self.block_cls(**kwargs, name=f"block{b + 1}")(x, train)
            outputs.append(x)
        return outputs


class ResNet(nn.Module):
    """(B, H, W, C) → (B, num_classes).

    Attributes:
      stage_sizes: blocks per stage.
      block_cls: `BasicBlock` or `Bottleneck`.
      widths: base maps of each stage (a bottleneck outputs 4x).
      stem: "imagenet" (7x7/2 conv + 3x3/2 max-pool) or "cifar" (3x3 conv).
      shortcut: "A" (zero-padding identity) or "B" (projection) where the shape changes.
      zero_init_residual: start the last BN scale of each block at 0 (Goyal et al., 2017).
      bn_axis_name: mapped axis every BatchNorm averages its batch statistics over (the
        `pmap` engine's; `layers.with_batch_norm_axis`), or None.
    """

    num_classes: int = 1000
    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    block_cls: type = BasicBlock
    widths: Sequence[int] = (64, 128, 256, 512)
    stem: str = "imagenet"
    shortcut: str = "B"
    zero_init_residual: bool = False
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None

    @property
    def min_input_size(self) -> int:
        stem = [(7, 2, 3), (3, 2, 1)] if self.stem == "imagenet" else [(3, 1, 1)]
        return layers.smallest_input(stem + [(3, 2, 1)] * (len(self.stage_sizes) - 1))

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        if self.stem not in ("imagenet", "cifar") or self.shortcut not in SHORTCUTS:
            raise ValueError(
                f"stem={self.stem!r}, shortcut={self.shortcut!r}: accepted stems are "
                f"'imagenet', 'cifar' and shortcuts {SHORTCUTS}"
            )
        layers.check_input_size(x, self.min_input_size, "ResNet")
        imagenet = self.stem == "imagenet"
        x = layers.Conv(
            self.widths[0],
            7 if imagenet else 3,
            strides=2 if imagenet else 1,
            padding=3 if imagenet else 1,
            use_bias=False,
            dtype=self.dtype,
            kernel_init=he_normal,
            name="conv1",
        )(x)
        x = layers.batch_norm(train, dtype=self.dtype, name="bn1", axis_name=self.bn_axis_name)(x)
        x = record(self, "conv1", nn.relu(x))
        if imagenet:
            x = record(self, "pool1", layers.max_pool(x, 3, 2, padding=1))
        for i, (blocks, width) in enumerate(zip(self.stage_sizes, self.widths, strict=True)):
            kwargs = dict(
                features=width,
                strides=1 if i == 0 else 2,
                shortcut=self.shortcut,
                zero_init_residual=self.zero_init_residual,
                dtype=self.dtype,
                bn_axis_name=self.bn_axis_name,
            )
            outputs = Stage(self.block_cls, blocks, kwargs, name=f"stage{i + 2}")(x, train)
            for b, out in enumerate(outputs):
                record(self, f"stage{i + 2}/block{b + 1}", out)
            x = outputs[-1]
        x = record(self, "pre_logits", layers.global_avg_pool(x))  # (B, C)
        return nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(x)


def _register(name: str, input_shape, **fields):
    factory = functools.partial(ResNet, **fields)
    register_model(
        name,
        input_shape=input_shape,
        min_input_size=factory().min_input_size,
        test_input_shape=(32, 32, 3),
    )(factory)


IMAGENET = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
for _depth, (_block, _sizes) in IMAGENET.items():
    _register(f"resnet{_depth}", (224, 224, 3), stage_sizes=_sizes, block_cls=_block)

for _depth in (20, 32, 44, 56, 110):
    _register(
        f"resnet{_depth}",
        (32, 32, 3),
        stage_sizes=((_depth - 2) // 6,) * 3,
        widths=(16, 32, 64),
        stem="cifar",
        shortcut="A",
    )
