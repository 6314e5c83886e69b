"""`python -m experiments.visualize --method=all` on a tiny trained run writes every figure and an
index.html that shows each with its caption; bad flags fail before anything is written."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnnjax.train import train_and_evaluate
from experiments import visualize, visualize_methods, visualize_subject
from experiments.configs import quickstart

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("visualize") / "run")
    config = quickstart.get_config()
    config.update(num_steps=2, batch_size=32)
    config.checkpoint.every_steps = 2
    config.log.update(write_pictures=False, progress_bar=False)
    train_and_evaluate(config, workdir)
    return workdir


def test_visualize_all_writes_every_figure_and_the_index(run):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, "-m", "experiments.visualize", f"--workdir={run}", "--method=all",
         "--image=0,5", "--steps=3", "--samples=2", "--ig_steps=2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    index = out.stdout.strip().splitlines()[-1]
    assert index == os.path.join(run, "visualize", "index.html")
    with open(index) as f:
        page = f.read()
    shown = re.findall(r'<img src="([^"]+)"', page)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert len(captions) == len(shown) and all(len(c) > 30 for c in captions)
    stems = {s.rsplit(".", 1)[0] for s in shown}
    for method in visualize_methods.METHODS:  # every method drew at least one figure
        assert any(s == method or s.startswith(method + "_") for s in stems), method
    assert sorted(shown) == sorted(
        f for f in os.listdir(os.path.dirname(index)) if f.endswith(".png")
    )
    for name in shown:
        with Image.open(os.path.join(os.path.dirname(index), name)) as image:
            assert image.format == "PNG" and min(image.size) >= 100
            assert np.asarray(image.convert("L"), np.float32).std() > 1.0


def test_bad_flags_fail_before_writing(run, tmp_path):
    with pytest.raises(ValueError, match=r"--method='salency': accepted are all or feature_maps"):
        visualize.parse_methods("salency")
    subject = visualize_subject.from_run(quickstart.get_config(), run, image="1")
    out = str(tmp_path / "figures")
    with pytest.raises(ValueError, match=r"unknown layer 'conv7'.*conv1, pool1, conv2, pool2"):
        visualize.visualize(subject, ["grad_cam"], visualize_methods.Options(layer="conv7"), out)
    with pytest.raises(ValueError, match=r"--class_index=10; accepted -1 .* or 0..9"):
        visualize.visualize(subject, ["saliency"], visualize_methods.Options(class_index=10), out)
    assert not os.path.exists(out)
    with pytest.raises(ValueError, match=r"--image index 5000 is outside the 'test' split"):
        visualize_subject.from_run(quickstart.get_config(), run, image="5000")


def test_a_run_of_another_model_is_refused_like_evaluate_does(run):
    from cnnjax.train.run_identity import CheckpointMismatchError

    config = quickstart.get_config()
    config.model = "lenet5_classic"
    before = sorted(os.listdir(os.path.join(run, "checkpoints")))
    with pytest.raises(CheckpointMismatchError, match="lenet5_classic"):
        visualize_subject.from_run(config, run, -1, "0")
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == before
