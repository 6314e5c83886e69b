"""End to end: `python -m experiments.classify --model=efficientnet_lite0 --image=...`."""

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import pytest
from absl import app, flags
from PIL import Image

from experiments import classify


def test_flags_parse_as_documented():
    flag_values = flags.FlagValues()
    classify.define_flags(flag_values)
    flag_values(["classify", "--model=efficientnet_lite0", "--image=chelsea", "--top=3"])
    assert (flag_values.model, flag_values.image, flag_values.top) == (
        "efficientnet_lite0",
        "chelsea",
        3,
    )


class MeanColour(nn.Module):
    """A stand-in 1000-class "network" (the real one: test_pretrained_load.py): logits
    10 * (mean red, green, blue) on classes 967, 968, 969 (espresso, cup, eggnog)."""

    num_classes: int = 1000

    @nn.compact
    def __call__(self, x, *, train=False):
        means = x.mean(axis=(1, 2))  # (B, 3)
        return jnp.zeros((x.shape[0], 1000)).at[:, 967:970].set(10 * means)


def test_prints_the_top_classes_of_an_image_file(tmp_path, monkeypatch):
    image = np.zeros((20, 30, 3), np.uint8) + np.array([200, 100, 50], np.uint8)  # red > green
    path = tmp_path / "reddish.png"
    Image.fromarray(image).save(path)
    loaded = (MeanColour(), {}, lambda x: x.astype(jnp.float32) / 255)
    monkeypatch.setattr(classify.pretrained, "load", lambda name: loaded)
    lines = classify.classify("efficientnet_lite0", str(path), 3)
    assert lines[0] == f"efficientnet_lite0 on {path} (20x30):"
    assert [line.split(maxsplit=2)[2] for line in lines[1:]] == ["espresso", "cup", "eggnog"]
    probabilities = np.array([float(line.split()[1].rstrip("%")) for line in lines[1:]]) / 100
    logits = np.concatenate([10 * np.array([200, 100, 50]) / 255, np.zeros(997)])
    expected = np.exp(logits[:3]) / np.exp(logits).sum()
    np.testing.assert_allclose(probabilities, expected, atol=1e-3)  # printed to 0.1 %
    assert lines[1].startswith("1. ") and lines[3].startswith("3. ")


@pytest.mark.parametrize(
    "args, message",
    [
        (("efficientnet_lite0", "no_such_file.jpg", 5), "neither a file nor a skimage photo"),
        (("mobilenet_v2", "chelsea", 5), "pretrained classifiers"),
        (("efficientnet_lite0", None, 5), "--image is required"),
    ],
)
def test_bad_flags_are_named(args, message):
    with pytest.raises(app.UsageError, match=message):
        classify.classify(*args)
