"""`python -m experiments.evaluate` against a numpy re-computation of the same checkpoint."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from cnnjax.data import load_dataset
from cnnjax.models import create_model
from cnnjax.train import train_and_evaluate
from experiments.configs import quickstart

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("evaluate") / "run")
    config = quickstart.get_config()
    config.update(num_steps=8, batch_size=32)
    config.checkpoint.every_steps = 4
    config.log.update(write_pictures=False, progress_bar=False)
    train_and_evaluate(config, workdir)
    return workdir


def numpy_metrics(workdir, step, split="test"):
    """Top-1/top-5/loss/confusion of the saved parameters, computed without the engine."""
    params = ocp.StandardCheckpointer().restore(
        os.path.join(workdir, "checkpoints", str(step), "state")
    )["params"]
    test = load_dataset("mnist5k").splits[split]
    images = np.stack([test[i]["image"] for i in range(len(test))]).astype(np.float32)
    labels = np.array([test[i]["label"] for i in range(len(test))])
    x = (images.reshape(-1, 28, 28, 1) / 255.0 - 0.1307) / 0.3081
    logits = np.asarray(
        jax.jit(create_model("lenet5", num_classes=10).apply)({"params": params}, x)
    )
    z = logits - logits.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    top5 = np.argsort(-logits, 1)[:, :5]
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (labels, logits.argmax(1)), 1)
    return {
        "loss": -log_p[np.arange(len(labels)), labels].mean(),
        "accuracy": (logits.argmax(1) == labels).mean(),
        "top5_accuracy": (top5 == labels[:, None]).any(1).mean(),
        "confusion": confusion,
    }


def test_evaluate_a_chosen_step_matches_numpy(trained):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, "-m", "experiments.evaluate", f"--workdir={trained}", "--step=4"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    with open(os.path.join(trained, "eval", "test_step4.json")) as f:
        report = json.load(f)
    expected = numpy_metrics(trained, 4)
    assert report["count"] == 1000 and report["step"] == 4
    assert report["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-9)
    assert report["top5_accuracy"] == pytest.approx(expected["top5_accuracy"], abs=1e-9)
    assert report["loss"] == pytest.approx(expected["loss"], rel=1e-4)
    np.testing.assert_array_equal(report["confusion"], expected["confusion"])
    per_class = np.diag(expected["confusion"]) / expected["confusion"].sum(1)
    np.testing.assert_allclose(list(report["per_class_accuracy"].values()), per_class)
    assert out.stdout.strip().splitlines()[-1] == f"accuracy={expected['accuracy']:.4f}"
    with open(os.path.join(trained, "eval", "test_step4_confusion.png"), "rb") as f:
        assert f.read(4) == b"\x89PNG"


def test_evaluate_the_training_split_of_the_newest_step_matches_numpy(trained):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, "-m", "experiments.evaluate", f"--workdir={trained}", "--split=train"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    with open(os.path.join(trained, "eval", "train_step8.json")) as f:
        report = json.load(f)
    expected = numpy_metrics(trained, 8, "train")
    assert report["split"] == "train" and report["step"] == 8 and report["count"] == 4000
    assert report["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-9)
    assert report["loss"] == pytest.approx(expected["loss"], rel=1e-4)
    np.testing.assert_array_equal(report["confusion"], expected["confusion"])
    assert out.stdout.strip().splitlines()[-1] == f"accuracy={expected['accuracy']:.4f}"


def test_evaluate_rejects_an_unknown_split(trained):
    from experiments import evaluate

    with pytest.raises(ValueError, match="has no split 'validation'; it has train, test"):
        evaluate.evaluate_checkpoint(quickstart.get_config(), trained, split="validation")


def test_evaluate_refuses_a_checkpoint_of_another_model(trained):
    from cnnjax.train import CheckpointMismatchError
    from experiments import evaluate

    config = quickstart.get_config()
    config.model = "lenet5_classic"
    with pytest.raises(CheckpointMismatchError, match="model is 'lenet5' in the saved step 8"):
        evaluate.evaluate_checkpoint(config, trained)


def test_evaluate_rejects_a_step_that_was_not_saved(trained):
    from experiments import evaluate

    with pytest.raises(ValueError, match=r"no checkpoint of step 5 .*saved steps: \[4, 8\]"):
        evaluate.evaluate_checkpoint(quickstart.get_config(), trained, step=5)
