"""End to end: `python -m experiments.classify --model=efficientnet_lite0 --image=...`."""

import numpy as np
import pytest
import skimage.data
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


def test_prints_the_top_classes_of_an_image_file(tmp_path):
    path = tmp_path / "cup.png"
    Image.fromarray(skimage.data.coffee()[::2, ::2]).save(path)
    lines = classify.classify("efficientnet_lite0", str(path), 3)
    assert lines[0] == f"efficientnet_lite0 on {path} (200x300):"
    assert len(lines) == 4 and lines[1].startswith("1.")
    assert "espresso" in lines[1] + lines[2]
    probabilities = [float(line.split()[1].rstrip("%")) for line in lines[1:]]
    assert probabilities == sorted(probabilities, reverse=True) and np.sum(probabilities) <= 100


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
