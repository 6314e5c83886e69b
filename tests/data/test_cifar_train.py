"""`python -m experiments.train --config.dataset=cifar:<dir>` on the official Python 2 files."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("cifar_dir", ["py2"], indirect=True)
def test_training_on_official_format_cifar_batches(cifar_dir, tmp_path):
    root = cifar_dir[0]
    workdir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env["CNNJAX_DATA_DIR"] = str(tmp_path / "data")
    command = [
        sys.executable, "-m", "experiments.train", f"--workdir={workdir}",
        f"--config.dataset=cifar:{root}", "--config.num_steps=2", "--config.batch_size=5",
        "--config.eval.batch_size=3", "--config.log.write_pictures=False",
        "--config.log.progress_bar=False", "--config.log.every_steps=1",
    ]  # fmt: skip
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "trained to step 2" in out.stdout
    assert out.stdout.strip().splitlines()[-1].startswith("test_accuracy=")
    assert os.listdir(tmp_path / "data")  # prepared into the data dir
    assert sorted(os.listdir(workdir / "checkpoints")) == ["2"]
