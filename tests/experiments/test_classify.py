"""End to end: `python -m experiments.classify --model=efficientnet_lite0 --image=...`."""

import numpy as np
import pytest
import skimage.data
from absl import app, flags
from PIL import Image

from experiments import classify


def _run(capsys, *args: str) -> str:
    flags.FLAGS(["classify", *args])
    try:
        classify.main(["classify"])
    finally:
        flags.FLAGS.unparse_flags()
    return capsys.readouterr().out


def test_prints_the_top_classes_of_an_image_file(capsys, tmp_path):
    path = tmp_path / "cup.png"
    Image.fromarray(skimage.data.coffee()[::2, ::2]).save(path)
    lines = _run(capsys, f"--image={path}", "--top=3").splitlines()
    assert lines[0] == f"efficientnet_lite0 on {path} (200x300):"
    assert len(lines) == 4 and lines[1].startswith("1.")
    assert "espresso" in lines[1] + lines[2]
    probabilities = [float(line.split()[1].rstrip("%")) for line in lines[1:]]
    assert probabilities == sorted(probabilities, reverse=True) and np.sum(probabilities) <= 100


@pytest.mark.parametrize(
    "args, message",
    [
        (["--image=no_such_file.jpg"], "neither a file nor a skimage photo"),
        (["--image=chelsea", "--model=mobilenet_v2"], "pretrained classifiers"),
        (["--model=efficientnet_lite0"], "--image is required"),
    ],
)
def test_bad_flags_are_named(capsys, args, message):
    with pytest.raises(app.UsageError, match=message):
        _run(capsys, *args)
