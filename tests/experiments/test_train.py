"""`python -m experiments.train` end to end: outputs, kill -9 + re-run, flag errors."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest
from absl import flags
from ml_collections import config_flags

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICKSTART = os.path.join(ROOT, "experiments", "configs", "quickstart.py")
STEPS = 40
FLAGS = [
    f"--config.num_steps={STEPS}",
    "--config.batch_size=32",
    "--config.checkpoint.every_steps=5",
    "--config.log.every_steps=5",
    "--config.log.progress_bar=False",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("jax-cache"))
    return {
        **os.environ,
        "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "JAX_COMPILATION_CACHE_DIR": cache,
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def command(workdir, *extra):
    return [sys.executable, "-m", "experiments.train", f"--workdir={workdir}", *FLAGS, *extra]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, env):
    """An uninterrupted run, started from a directory other than the repository root."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    workdir = str(cwd / "run")
    out = subprocess.run(
        command(workdir), cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return workdir, out.stdout


def final_params(workdir, step=STEPS):
    path = os.path.join(workdir, "checkpoints", str(step), "state")
    return ocp.StandardCheckpointer().restore(path)["params"]


def test_outputs_of_a_run(finished_run):
    workdir, stdout = finished_run
    lines = stdout.strip().splitlines()
    assert lines[-1].startswith("test_accuracy=")
    accuracy = float(lines[-1].split("=")[1])
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    evals = [r for r in rows if r["split"] == "eval"]
    assert evals[-1]["step"] == STEPS and evals[-1]["accuracy"] == pytest.approx(accuracy, abs=1e-4)
    assert [r["step"] for r in rows if r["split"] == "train"] == list(range(5, STEPS + 1, 5))
    steps = sorted(int(d) for d in os.listdir(os.path.join(workdir, "checkpoints")))
    assert steps[-1] == STEPS and len(steps) >= 3  # the newest 3 (+ the best)
    for name in ("training_curves", "confusion_matrix", "first_layer_filters", "feature_maps"):
        with open(os.path.join(workdir, "pictures", f"{name}.png"), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_tensorboard_events_are_readable_by_tensorboard(finished_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    workdir, _ = finished_run
    events = EventAccumulator(os.path.join(workdir, "tensorboard"))
    events.Reload()
    assert {"train/loss", "train/accuracy", "eval/accuracy", "eval/loss"} <= set(
        events.Tags()["scalars"]
    )
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    train_loss = [r["loss"] for r in rows if r["split"] == "train"]
    scalars = events.Scalars("train/loss")
    assert [s.step for s in scalars] == list(range(5, STEPS + 1, 5))
    np.testing.assert_allclose([s.value for s in scalars], train_loss, rtol=1e-6)


def test_kill_9_then_the_same_command_resumes_and_gives_bit_identical_parameters(
    finished_run, env, tmp_path
):
    workdir = str(tmp_path / "run")
    cmd = command(workdir, "--config.log.write_pictures=False")
    victim = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    for line in victim.stdout:  # kill it at the first log line after a finished checkpoint
        if line.startswith("step ") and _saved_steps(workdir):
            victim.send_signal(signal.SIGKILL)
            break
    victim.wait(timeout=600)
    killed_at = time.time()
    assert victim.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    saved = _saved_steps(workdir)[-1]
    assert 0 < saved < STEPS
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    # It resumed from the saved step: its first progress line is the next log step after it,
    # and the metrics the killed run logged up to that step were kept, not rewritten.
    logged = [int(line.split()[1].split("/")[0]) for line in out.stdout.splitlines()
              if line.startswith("step ")]  # fmt: skip
    assert logged[0] == saved + 5, (saved, logged)
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    train = [r for r in rows if r["split"] == "train"]
    assert [r["step"] for r in train] == list(range(5, STEPS + 1, 5))
    assert all((r["time"] < killed_at) == (r["step"] <= saved) for r in train)
    resumed, uninterrupted = final_params(workdir), final_params(finished_run[0])
    for a, b in zip(_leaves(resumed), _leaves(uninterrupted), strict=True):
        np.testing.assert_array_equal(a, b)


def _interrupt(cmd, env, sig):
    """Runs `cmd` and sends `sig` once it logs a training step; (process, stdout, stderr)."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("step "):
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=600)
    return proc, "".join(seen) + out, err


def test_sigterm_then_sigint_save_where_they_stop_and_the_rerun_is_bit_identical(
    finished_run, env, tmp_path
):
    """SIGTERM mid-epoch, re-run, SIGINT, re-run: the same parameters as one uninterrupted run.

    Only preemption saves here (`checkpoint_every_steps=0`, 40 steps < one epoch), so every
    checkpoint is at the step a signal stopped the run.
    """
    workdir = str(tmp_path / "run")
    cmd = command(workdir, "--config.log.write_pictures=False", "--config.checkpoint.every_steps=0")
    stopped = []
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        proc, _, err = _interrupt(cmd, env, sig)
        assert proc.returncode == code, err[-3000:]
        assert "Traceback" not in err
        (line,) = [x for x in err.splitlines() if "stopped at step" in x]
        assert line.startswith(f"{sig.name}: stopped at step ") and "run the same command" in line
        step = int(line.split("stopped at step ")[1].split()[0])
        assert _saved_steps(workdir)[-1] == step < STEPS
        assert not os.path.exists(os.path.join(workdir, "train.lock"))
        stopped.append(step)
    assert stopped[0] < stopped[1]  # the second run resumed from the first one's checkpoint
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    resumed, uninterrupted = final_params(workdir), final_params(finished_run[0])
    for a, b in zip(_leaves(resumed), _leaves(uninterrupted), strict=True):
        np.testing.assert_array_equal(a, b)


def _saved_steps(workdir):
    path = os.path.join(workdir, "checkpoints")
    return sorted(int(d) for d in os.listdir(path) if d.isdigit()) if os.path.isdir(path) else []


def _leaves(tree):
    import jax

    return jax.tree.leaves(tree)


def test_misspelled_config_key_is_rejected_by_the_flag_parser():
    def parse(argv):
        values = flags.FlagValues()
        argv = ["train", *argv]
        config_flags.DEFINE_config_file("config", QUICKSTART, flag_values=values, sys_argv=argv)
        values(argv)
        return values.config

    with pytest.raises((flags.Error, AttributeError), match='Did you mean "learning_rate"'):
        parse(["--config.learning_rat=0.1"])
    assert parse(["--config.learning_rate=0.1"]).learning_rate == 0.1
