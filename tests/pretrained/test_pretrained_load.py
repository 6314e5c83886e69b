"""The ImageNet networks shipped in pip wheels, imported without torch, on real photos.

`skimage.data.chelsea()` is a tabby cat and `coffee()` a cup of espresso. A wrong layout
(transposes, padding, epsilon, normalisation) drops the right classes out of the top 5.
"""

import jax
import numpy as np
import pytest
import skimage.data

from cnnjax import models, pretrained

CATS = {"tabby, tabby cat", "tiger cat", "Persian cat", "Siamese cat, Siamese", "Egyptian cat"}


def top5(logits) -> list[str]:
    names = pretrained.imagenet_class_names()
    return [names[i] for i in np.argsort(-np.asarray(logits))[:5]]


@pytest.fixture(scope="module")
def lite0():
    return pretrained.load("efficientnet_lite0")


def test_efficientnet_lite0_classifies_photos(lite0):
    model, variables, preprocess = lite0
    assert isinstance(model, type(models.create_model("efficientnet_lite0")))
    assert set(variables) == {"params", "batch_stats"}
    prepare = jax.jit(preprocess)
    x = np.concatenate([prepare(skimage.data.chelsea()), prepare(skimage.data.coffee()[None])])
    assert x.shape == (2, 224, 224, 3) and x.dtype == np.float32
    acts = jax.jit(lambda v, x: models.intermediates(model, v, x))(variables, x)
    chelsea, coffee = top5(acts["logits"][0]), top5(acts["logits"][1])
    assert CATS & set(chelsea), chelsea
    assert {"espresso", "cup"} & set(coffee), coffee
    assert acts["pre_logits"].shape == (2, 1280)


def test_class_names():
    names = pretrained.imagenet_class_names()
    assert len(names) == 1000 and len(set(names)) == 999  # two "crane"s: bird and machine
    assert names[281] == "tabby, tabby cat" and names[967] == "espresso"
    assert pretrained.imagenet_synsets()[0] == "n01440764"  # tench


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="'resnet50'.*efficientnet_lite0"):
        pretrained.load("resnet50")
