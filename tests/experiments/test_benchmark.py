"""`python -m experiments.benchmark --models=...`: the line format, the JSON, the reference nets."""

import dataclasses
import json
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from cnnjax import models
from cnnjax.data import train_iterator
from cnnjax.train import parallel
from experiments import benchmark, model_speed

LINE = re.compile(
    r"cnnjax lenet5 bs=256 train_img_per_s=[\d.]+ eval_img_per_s=[\d.]+ compile_s=[\d.]+ "
    r"gflops=[\d.]+ peak_mb=\d+"
)


def test_models_mode_prints_the_reference_format_and_writes_json(tmp_path):
    """... and compiles cold: a persistent cache named in the environment is neither read nor
    written (compile_s is a cold figure)."""
    out_json = tmp_path / "out.json"
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "cache"))
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    run = subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", "--models=lenet5", "--seconds=0.05",
         "--repeats=1", "--peak_size=256", f"--json={out_json}"],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert LINE.search(run.stdout), run.stdout
    assert not (tmp_path / "cache").exists() or not os.listdir(tmp_path / "cache")
    figures = json.loads(out_json.read_text())
    assert figures["matmul_peak_gflops"] > 0
    (result,) = figures["results"]
    assert result["model"] == "lenet5" and result["params"] == 61_706
    assert result["train_img_per_s"] > 0 and result["eval_img_per_s"] > 0


def test_unknown_model_fails_before_compiling():
    run = subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", "--models=lenet5,nosuchnet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode != 0
    assert "unknown model 'nosuchnet'" in run.stderr
    assert "cnnjax lenet5" not in run.stdout  # nothing ran


@pytest.mark.parametrize(
    "name, params", [("lenet5", 61_706), ("resnet20", 272_474), ("vgg16_cifar", 14_728_266)]
)
def test_reference_networks_have_the_torch_reference_parameter_counts(name, params):
    overrides = model_speed.REFERENCE[name][1]
    model = models.create_model(name, num_classes=10, **overrides)
    shape = (1, *models.get_model_spec(name).input_shape)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(shape))
    assert sum(x.size for x in jax.tree.leaves(variables["params"])) == params


def test_data_mode_times_the_engines_train_step(monkeypatch):
    """`--mode=data` times the step training runs: built by the engine table, state donated,
    called once to compile and then once per timed step, each continuing the last's state."""
    seen = []
    row = parallel.ENGINES["jit"]

    def recording(*args, **kwargs):
        engine = row.make(*args, **kwargs)

        def train_step(state, batch):
            seen.append(int(state.step))
            return engine.train_step(state, batch)

        return dataclasses.replace(engine, train_step=train_step)

    monkeypatch.setitem(parallel.ENGINES, "jit", dataclasses.replace(row, make=recording))
    dataset = benchmark.synthetic_cifar(8)
    batch = next(train_iterator(dataset.splits["train"], batch_size=8, seed=0))
    images, seconds = benchmark.step_rate("lenet5", dataset, batch, "flip_lr", steps=3)
    assert (images, seen) == (24, [0, 1, 2, 3]) and seconds > 0
