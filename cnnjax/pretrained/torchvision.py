"""Layouts (convert.py) from torchvision's `state_dict` names to the classic zoo models.

- `alexnet_v2` ← torchvision `alexnet` (the single-tower "one weird trick" widths 64-192-384-
  256-256; the zoo's two-tower `alexnet` has no torchvision counterpart).
- `vgg11`…`vgg19`, `_bn` variants ← torchvision's `features.{i}` / `classifier.{0,3,6}`; fc6
  follows pool5, so its rows are permuted from torch's (C, H, W) flatten to (H, W, C).
- `resnet18`…`resnet152` ← `conv1`, `bn1`, `layer{1-4}.{j}.conv{i}` / `bn{i}` / `downsample`, `fc`.
- `googlenet` ← `conv1.conv`, `inception3a.branch{1-4}`, `aux{1,2}`, `fc`. The zoo's GoogLeNet is
  the paper's (biased convolutions, LRN, 5x5 branches); torchvision's is a BatchNorm variant
  whose "5x5" branch is 3x3, so its weights are refused with the list of differences (conv
  biases missing, BatchNorm tensors unexpected, branch3 kernels of the wrong shape).

`load_torchvision(name, path)` reads a file (torch, or safetensors with the same names) and
returns `(model, variables)`.
"""

import jax
import jax.numpy as jnp

from cnnjax import models
from cnnjax.models.inception import AUX_AFTER, TABLE1
from cnnjax.models.resnet import IMAGENET, Bottleneck
from cnnjax.models.vgg import CONFIGS
from cnnjax.pretrained.convert import convert
from cnnjax.pretrained.files import read_weights


def alexnet_layout() -> tuple[list, dict]:
    layout = [
        (f"conv{n}", "conv", f"features.{i}")
        for n, i in zip(range(1, 6), (0, 3, 6, 8, 10), strict=True)
    ]
    layout += [("fc6", "dense_chw", "classifier.1"), ("fc7", "dense", "classifier.4")]
    return layout + [("fc8", "dense", "classifier.6")], {"fc6": 256}


def vgg_layout(depth: int, batch_norm: bool) -> tuple[list, dict]:
    """torchvision numbers every module of `features`: conv, [bn,] relu ... maxpool."""
    layout, index = [], 0
    for s, convs in enumerate(CONFIGS[depth], 1):
        for i in range(1, convs + 1):
            layout.append((f"conv{s}_{i}", "conv", f"features.{index}"))
            if batch_norm:
                layout.append((f"bn{s}_{i}", "bn", f"features.{index + 1}"))
            index += 3 if batch_norm else 2
        index += 1  # the max-pool
    layout += [("fc6", "dense_chw", "classifier.0"), ("fc7", "dense", "classifier.3")]
    return layout + [("fc8", "dense", "classifier.6")], {"fc6": 512}


def resnet_layout(depth: int) -> tuple[list, dict]:
    block, sizes = IMAGENET[depth]
    convs = 3 if block is Bottleneck else 2
    layout = [("conv1", "conv", "conv1"), ("bn1", "bn", "bn1")]
    for s, blocks in enumerate(sizes, 2):
        for b in range(1, blocks + 1):
            path, src = f"stage{s}/block{b}", f"layer{s - 1}.{b - 1}"
            for i in range(1, convs + 1):
                layout += [(f"{path}/conv{i}", "conv", f"{src}.conv{i}")]
                layout += [(f"{path}/bn{i}", "bn", f"{src}.bn{i}")]
            if b == 1 and (s > 2 or block is Bottleneck):  # where the shape changes
                layout += [(f"{path}/proj_conv", "conv", f"{src}.downsample.0")]
                layout += [(f"{path}/proj_bn", "bn", f"{src}.downsample.1")]
    return layout + [("fc", "dense", "fc")], {}


def googlenet_layout() -> tuple[list, dict]:
    layout = [("conv1", "conv", "conv1.conv"), ("conv2_reduce", "conv", "conv2.conv")]
    layout += [("conv2", "conv", "conv3.conv")]
    branches = ("branch1x1", "branch3x3_reduce", "branch3x3", "branch5x5_reduce", "branch5x5")
    sources = ("branch1", "branch2.0", "branch2.1", "branch3.0", "branch3.1")
    for key in TABLE1:
        for ours, theirs in zip((*branches, "pool_proj"), (*sources, "branch4.1"), strict=True):
            layout.append((f"inception{key}/{ours}", "conv", f"inception{key}.{theirs}.conv"))
    chw = {}
    for n, _ in enumerate(AUX_AFTER, 1):
        aux = f"aux_classifier{n}"
        layout += [
            (f"{aux}/conv", "conv", f"aux{n}.conv.conv"),
            (f"{aux}/fc2", "dense", f"aux{n}.fc2"),
        ]
        layout += [(f"{aux}/fc1", "dense_chw", f"aux{n}.fc1")]
        chw[f"{aux}/fc1"] = 128  # after a 1x1 convolution to 128 maps on 4x4
    return layout + [("fc", "dense", "fc")], chw


def torchvision_layout(name: str) -> tuple[list, dict]:
    """`(layout, chw_channels)` for zoo model `name` from torchvision names.

    Raises:
      ValueError: `name` has no torchvision counterpart (lists those that do).
    """
    if name == "alexnet_v2":
        return alexnet_layout()
    if name.startswith("vgg") and name.removesuffix("_bn")[3:].isdigit():
        depth = int(name.removesuffix("_bn")[3:])
        if depth in CONFIGS:
            return vgg_layout(depth, name.endswith("_bn"))
    if name.startswith("resnet") and name[6:].isdigit() and int(name[6:]) in IMAGENET:
        return resnet_layout(int(name[6:]))
    if name == "googlenet":
        return googlenet_layout()
    raise ValueError(f"no torchvision layout for {name!r}; available: {TORCHVISION_MODELS}")


TORCHVISION_MODELS = ["alexnet_v2", *(f"vgg{d}{bn}" for d in CONFIGS for bn in ("", "_bn"))]
TORCHVISION_MODELS += [f"resnet{d}" for d in IMAGENET] + ["googlenet"]


def load_torchvision(name: str, path: str, num_classes: int = 1000):
    """Zoo model `name` and its variables from a torchvision `state_dict` file.

    Args:
      name: one of `TORCHVISION_MODELS`.
      path: a torch (`.pth`) or safetensors file with torchvision's names.
      num_classes: outputs of the file's classifier.

    Returns:
      `(model, variables)`; raises `WeightMismatchError` listing every difference otherwise.
    """
    layout, chw = torchvision_layout(name)
    model = models.create_model(name, num_classes=num_classes)
    size = models.get_model_spec(name).input_shape
    template = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, *size)))
    variables = convert(read_weights(path), template, layout, chw_channels=chw)
    return model, jax.tree.map(jnp.asarray, variables)
