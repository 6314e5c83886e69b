"""`python -m experiments.visualize --model=<pretrained>` from flag to figure, cheaply: the
subprocess runs the real entry point with `cnnjax.pretrained.load` replaced by a small stand-in
of the same API (LeNet-5 on 32x32 RGB with 1000 ImageNet classes), so no 224x224 network is
compiled. A spy on `visualize_subject.from_pretrained` reports what the figures were drawn of."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import skimage.data
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Run in the subprocess: the stand-in loader, the spy, then the entry point as `__main__`.
WRAPPER = """
import json, runpy, sys
import jax
from cnnjax import models, pretrained
from cnnjax.pretrained.preprocess import TF_MEAN, TF_STD, make_preprocess
from experiments import visualize_subject

def tiny_load(name):
    if name != "tiny_imagenet":
        raise ValueError(f"no pretrained weights for {name!r}; available: ['tiny_imagenet']")
    model = models.create_model("lenet5", num_classes=1000)
    variables = model.init(jax.random.key(0), jax.numpy.zeros((1, 32, 32, 3)))
    return model, variables, make_preprocess(32, TF_MEAN, TF_STD)

real, report = visualize_subject.from_pretrained, sys.argv[1]

def spy(name, image=""):
    s = real(name, image)
    with open(report, "w") as f:
        json.dump({"name": s.name, "images": list(s.images.shape), "labels": s.labels.tolist(),
                   "display": list(s.display.shape), "classes": list(s.class_names[:2]),
                   "num_classes": len(s.class_names), "pool": list(s.pool.shape)}, f)
    return s

pretrained.load = tiny_load
visualize_subject.from_pretrained = spy
sys.argv = ["visualize", *sys.argv[2:]]
runpy.run_module("experiments.visualize", run_name="__main__")
"""


def tiny_predictions(photos: list[np.ndarray]) -> list[int]:
    """The stand-in network's top-1 classes, computed here independently of the entry point."""
    from cnnjax import models
    from cnnjax.pretrained.preprocess import TF_MEAN, TF_STD, make_preprocess

    model = models.create_model("lenet5", num_classes=1000)
    variables = model.init(jax.random.key(0), jax.numpy.zeros((1, 32, 32, 3)))
    preprocess = make_preprocess(32, TF_MEAN, TF_STD)
    x = np.concatenate([np.asarray(preprocess(p)) for p in photos])
    return np.asarray(model.apply(variables, x)).argmax(-1).tolist()


def test_pretrained_model_flag_draws_figures_of_the_photos(tmp_path):
    photo = skimage.data.astronaut()[::2, ::2]  # a photo given as a file
    Image.fromarray(photo).save(tmp_path / "astronaut.png")
    out, report = tmp_path / "figures", tmp_path / "subject.json"
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    methods = "saliency,occlusion,patches,class_model"
    run = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(report), "--model=tiny_imagenet",
         f"--image=skimage:chelsea,{tmp_path / 'astronaut.png'}", f"--method={methods}",
         "--steps=2", f"--out={out}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == str(out / "index.html")

    subject = json.loads(report.read_text())
    assert subject["name"] == "tiny_imagenet"
    assert subject["images"] == [2, 32, 32, 3] and subject["display"] == [2, 32, 32, 3]
    assert subject["pool"] == [4, 32, 32, 3]  # the four skimage photos
    assert subject["num_classes"] == 1000 and subject["classes"][0].startswith("tench")
    assert subject["labels"] == tiny_predictions([skimage.data.chelsea(), photo])

    page = (out / "index.html").read_text()
    for method in methods.split(","):
        assert f'<img src="{method}.png"' in page
        assert f"<b>{method}</b> — tiny_imagenet: " in page
        with Image.open(out / f"{method}.png") as image:
            assert np.asarray(image.convert("L"), np.float32).std() > 1.0
    assert sorted(os.listdir(out)) == sorted(
        ["index.html", *(f"{m}.png" for m in methods.split(","))]
    )
