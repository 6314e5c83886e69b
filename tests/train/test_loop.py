"""The training loop in-process: resume, faults (corrupt checkpoint, NaN, lock), bad input."""

import logging
import os
import shutil
import socket
import subprocess

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from train_helpers import make_tiny_config, override

from cnnjax.train import (
    NonFiniteLossError,
    checkpoint,
    lock,
    loop,
    losses,
    parallel,
    train_and_evaluate,
)
from cnnjax.train.writers import read_metrics

pytestmark = pytest.mark.usefixtures("cached_datasets")


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, cached_datasets):
    """8 steps of LeNet-5 with checkpoints at steps 4 and 8."""
    workdir = str(tmp_path_factory.mktemp("base") / "run")
    result = train_and_evaluate(make_tiny_config(), workdir)
    return workdir, result


def copy_run(base_run, tmp_path) -> str:
    workdir = str(tmp_path / "run")
    shutil.copytree(base_run[0], workdir)
    return workdir


def saved_steps(workdir):
    path = os.path.join(workdir, "checkpoints")
    return sorted(int(d) for d in os.listdir(path) if d.isdigit())


def saved_params(workdir, step):
    path = os.path.join(workdir, "checkpoints", str(step), "state")
    return ocp.StandardCheckpointer().restore(path)["params"]


def test_base_run_writes_checkpoints_and_metrics(base_run):
    workdir, result = base_run
    assert result["step"] == 8 and 0.0 <= result["accuracy"] <= 1.0
    assert saved_steps(workdir) == [4, 8]
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert [r["step"] for r in rows if r["split"] == "train"] == [4, 8]
    assert [r["step"] for r in rows if r["split"] == "eval"] == [8]
    assert not os.path.exists(os.path.join(workdir, lock.LOCK_NAME))  # released


def test_resume_continues_the_step_count(base_run, tmp_path, caplog):
    workdir = copy_run(base_run, tmp_path)
    with caplog.at_level(logging.INFO, logger="cnnjax.train.loop"):
        result = train_and_evaluate(make_tiny_config(num_steps=12), workdir)
    assert "resumed from step 8" in caplog.text
    assert result["step"] == 12
    assert saved_steps(workdir)[-1] == 12
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert [r["step"] for r in rows if r["split"] == "train"] == [4, 8, 12]


def test_truncated_newest_checkpoint_falls_back_with_a_warning(base_run, tmp_path, caplog):
    workdir = copy_run(base_run, tmp_path)
    data_dir = os.path.join(workdir, "checkpoints", "8", "state", "d")
    victim = max((os.path.join(data_dir, f) for f in os.listdir(data_dir)), key=os.path.getsize)
    with open(victim, "r+b") as f:
        f.truncate(os.path.getsize(victim) // 2)
    with caplog.at_level(logging.INFO):
        result = train_and_evaluate(make_tiny_config(), workdir)
    assert "checkpoint step 8" in caplog.text and "unreadable" in caplog.text
    assert "resumed from step 4" in caplog.text
    assert result["step"] == 8
    # Steps 5..8 were redone from step 4: same data, same keys, so the same parameters.
    jax.tree.map(
        np.testing.assert_array_equal, saved_params(workdir, 8), saved_params(base_run[0], 8)
    )


def nan_cross_entropy(logits, labels, *options):
    """`losses.cross_entropy`'s signature (smoothing, reject logit), but every loss is NaN."""
    return logits[:, 0] * np.nan


def test_the_final_line_names_the_split_it_evaluated(tmp_path, capsys):
    """`test_accuracy=` only when the test split was evaluated; here the training split."""
    config = make_tiny_config(
        num_steps=2, **{"data.eval_split": "train", "checkpoint.every_steps": 2}
    )
    result = train_and_evaluate(config, str(tmp_path / "run"))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"train_accuracy={result['accuracy']:.4f}"


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(base_run, tmp_path, monkeypatch):
    workdir = copy_run(base_run, tmp_path)
    good = saved_params(workdir, 8)
    monkeypatch.setattr(losses, "cross_entropy", nan_cross_entropy)
    with pytest.raises(NonFiniteLossError, match="non-finite loss or gradients at step 9"):
        train_and_evaluate(make_tiny_config(num_steps=16), workdir)
    assert saved_steps(workdir) == [4, 8]
    jax.tree.map(np.testing.assert_array_equal, saved_params(workdir, 8), good)
    assert not os.path.exists(os.path.join(workdir, lock.LOCK_NAME))


def test_nan_skip_policy_goes_on(base_run, tmp_path, monkeypatch):
    workdir = copy_run(base_run, tmp_path)
    monkeypatch.setattr(losses, "cross_entropy", nan_cross_entropy)
    result = train_and_evaluate(make_tiny_config(num_steps=12, nan_policy="skip"), workdir)
    assert result["step"] == 12 and saved_steps(workdir) == [4, 8, 12]
    assert np.isnan(result["loss"])  # evaluation uses the patched loss too
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert rows[-2]["split"] == "train" and rows[-2]["step"] == 12
    assert rows[-2]["skipped_steps"] == 4
    # no update happened: the newest parameters equal those of step 8, and so do the predictions.
    jax.tree.map(np.testing.assert_array_equal, saved_params(workdir, 12), saved_params(workdir, 8))
    assert result["accuracy"] == base_run[1]["accuracy"]


def test_live_lock_stops_a_second_writer_and_a_stale_one_is_taken_over(tmp_path, monkeypatch):
    workdir = str(tmp_path / "run")
    os.makedirs(workdir)
    path = os.path.join(workdir, lock.LOCK_NAME)
    with open(path, "w") as f:  # a live owner: our parent process
        f.write(f'{{"host": "{socket.gethostname()}", "pid": {os.getppid()}}}')
    monkeypatch.setattr(parallel, "make_engine", pytest.fail)  # nothing may be compiled
    with pytest.raises(RuntimeError, match=f"locked by another run \\(pid {os.getppid()}"):
        train_and_evaluate(make_tiny_config(), workdir)
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open(path, "w") as f:
        f.write(f'{{"host": "{socket.gethostname()}", "pid": {dead.pid}}}')
    assert lock.acquire(workdir) == path  # stale lock taken over
    lock.release(path)
    assert not os.path.exists(path)


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"optimizer": "adamm"}, "unknown optimizer 'adamm'; accepted are sgd, momentum"),
        ({"schedule.name": "cosin"}, "unknown schedule.name 'cosin'; accepted are constant"),
        ({"model": "lenet6"}, "unknown model 'lenet6'; accepted are .*lenet5"),
        ({"dataset": "no_such_data"}, "unknown dataset 'no_such_data'; accepted are .*mnist5k"),
        ({"learnin_rate": 0.1}, "unknown config key 'learnin_rate'; .*mean 'learning_rate'"),
        ({"dtype": "float8"}, "unknown dtype 'float8'; accepted are float32, bfloat16, float16"),
        ({"augment": "spin(3)"}, "spin"),
    ],
)
def test_bad_config_raises_one_clear_error_before_compile(
    overrides, message, tmp_path, monkeypatch
):
    monkeypatch.setattr(parallel, "make_engine", pytest.fail)
    config = make_tiny_config()
    with config.unlocked():
        override(config, overrides) if "learnin_rate" not in overrides else setattr(
            config, "learnin_rate", 0.1
        )
    with pytest.raises(ValueError, match=message):
        train_and_evaluate(config, str(tmp_path / "run"))


def test_unwritable_workdir_raises_before_compile(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "make_engine", pytest.fail)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="workdir .*a_file/run' is not writable"):
        train_and_evaluate(make_tiny_config(), str(blocker / "run"))


def test_batch_not_divisible_by_device_count_raises_before_compile(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "make_engine", pytest.fail)
    three = [jax.devices()[0]] * 3
    monkeypatch.setattr(loop.jax, "devices", lambda *a: three)
    with pytest.raises(ValueError, match="batch_size=32 must be a positive multiple of the device"):
        train_and_evaluate(make_tiny_config(), str(tmp_path / "run"))


def _tree_bytes(path):
    """{relative path: bytes} of every file below `path`."""
    found = {}
    for parent, _, names in os.walk(path):
        for name in names:
            with open(os.path.join(parent, name), "rb") as f:
                found[os.path.relpath(os.path.join(parent, name), path)] = f.read()
    return found


def test_failed_async_save_stops_at_the_next_step_and_the_rerun_resumes(base_run, tmp_path):
    """The save of step 12 fails in Orbax's background thread (as on a full disk)."""
    import errno

    from orbax.checkpoint._src.checkpointers import async_checkpointer

    from cnnjax.train.checkpoint import CheckpointSaveError

    workdir = copy_run(base_run, tmp_path)
    checkpoints = os.path.join(workdir, "checkpoints")
    before = {step: _tree_bytes(os.path.join(checkpoints, str(step))) for step in (4, 8)}

    real_wait = async_checkpointer._background_wait_for_commit_futures
    real_check = checkpoint.Checkpointer.raise_if_failed
    boundary, failed_after = [0], []

    def disk_full(directory, commit_futures, on_commit_callback, **kwargs):
        def fail():  # the arrays were written; finishing the checkpoint fails
            failed_after.append(boundary[0])
            raise OSError(errno.ENOSPC, "No space left on device")

        real_wait(directory, commit_futures, fail, **kwargs)

    def check(self, wait=False, step=None):
        boundary[0] = step or boundary[0]
        return real_check(self, wait, step)

    config = make_tiny_config(num_steps=40, **{"log.every_steps": 1, "checkpoint.every_steps": 12})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(async_checkpointer, "_background_wait_for_commit_futures", disk_full)
        mp.setattr(checkpoint.Checkpointer, "raise_if_failed", check)
        with pytest.raises(CheckpointSaveError) as caught:
            train_and_evaluate(config, workdir)
    message = str(caught.value)
    assert "checkpoint of step 12" in message and "No space left on device (ENOSPC)" in message
    assert "newest good checkpoint is step 8" in message
    noticed = int(message.split("noticed after step ")[1].split(")")[0])
    # At the step boundary after the failure (one more if the background thread is still
    # reporting it), not at the next save.
    assert noticed - failed_after[0] <= 2, (noticed, failed_after)
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert max(r["step"] for r in rows) <= noticed  # training stopped there
    assert saved_steps(workdir) == [4, 8]
    assert any(".orbax-checkpoint-tmp" in d for d in os.listdir(checkpoints))  # the partial save
    for step in (4, 8):
        assert _tree_bytes(os.path.join(checkpoints, str(step))) == before[step]
    assert not os.path.exists(os.path.join(workdir, lock.LOCK_NAME))

    result = train_and_evaluate(config, workdir)  # space again: resumes from step 8
    assert result["step"] == 40 and saved_steps(workdir)[-1] == 40
    assert not any(".orbax-checkpoint-tmp" in d for d in os.listdir(checkpoints))


def test_time_based_checkpoints(tmp_path):
    """`checkpoint.every_minutes` so small that every step is due: each step is saved."""
    config = make_tiny_config(
        num_steps=6, checkpoint={"every_steps": 0, "every_minutes": 1e-9, "keep": 10}
    )
    train_and_evaluate(config, str(tmp_path / "run"))
    assert saved_steps(str(tmp_path / "run")) == [1, 2, 3, 4, 5, 6]
