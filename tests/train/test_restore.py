"""Restoring never deletes: another run's checkpoints are refused untouched, an unreadable step is
moved aside, an error of the environment is raised with nothing moved."""

import errno
import hashlib
import json
import logging
import os
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from train_helpers import make_tiny_config

from cnnjax.train import CheckpointMismatchError, run_identity, train_and_evaluate
from cnnjax.train.writers import read_metrics

pytestmark = pytest.mark.usefixtures("cached_datasets")

COMPILES: list[str] = []  # every XLA compilation of this process (appended by JAX)
jax.monitoring.register_event_duration_secs_listener(
    lambda event, _secs, **kw: COMPILES.append(event) if "backend_compile" in event else None
)


@pytest.fixture(scope="module")
def three_steps(tmp_path_factory, cached_datasets):
    """12 steps of LeNet-5 with checkpoints at steps 4, 8 and 12."""
    workdir = str(tmp_path_factory.mktemp("three") / "run")
    train_and_evaluate(make_tiny_config(num_steps=12), workdir)
    assert saved_steps(workdir) == [4, 8, 12]
    return workdir


def copy_run(source, tmp_path) -> str:
    workdir = str(tmp_path / "run")
    shutil.copytree(source, workdir)
    return workdir


def saved_steps(workdir):
    return sorted(int(d) for d in os.listdir(os.path.join(workdir, "checkpoints")) if d.isdigit())


def tree_digest(path) -> dict[str, str]:
    """{relative path: sha256} of every file under `path`, plus every directory (as 'dir')."""
    digest = {}
    for root, dirs, files in os.walk(path):
        for name in dirs:
            digest[os.path.relpath(os.path.join(root, name), path)] = "dir"
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                digest[os.path.relpath(os.path.join(root, name), path)] = hashlib.sha256(
                    f.read()
                ).hexdigest()
    return digest


def saved_params(workdir, step, where=""):
    path = os.path.join(workdir, "checkpoints", where, str(step), "state")
    return ocp.StandardCheckpointer().restore(path)["params"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"model": "lenet5_classic"},
            "model is 'lenet5' in the saved step 12 but 'lenet5_classic'",
        ),
        (
            {"data.input_shape": (32, 32, 1)},
            r"input_shape is \[28, 28, 1\] in the saved step 12 but ",
        ),
        ({"dtype": "bfloat16"}, "dtype is 'float32' in the saved step 12 but 'bfloat16'"),
        ({"optimizer": "sgd"}, "optimizer is 'adam' in the saved step 12 but 'sgd'"),
        (
            {"optim.ema_decay": 0.99},
            "state entry 'ema_params/conv1/bias' is absent in the saved step",
        ),
        (
            {"optim.accumulate_steps": 2},
            "state entry 'opt_state/0/count' is \\[\\] in the saved step 12 but absent in this "
            "run \\(the saved state's layout follows",
        ),
    ],
    ids=["model", "input_shape", "dtype", "optimizer", "ema", "accumulate"],
)
def test_another_run_on_the_workdir_raises_and_changes_nothing(
    three_steps, tmp_path, overrides, message
):
    workdir = copy_run(three_steps, tmp_path)
    before = tree_digest(workdir)
    compiled = len(COMPILES)
    with pytest.raises(CheckpointMismatchError, match=message) as caught:
        train_and_evaluate(make_tiny_config(num_steps=16, **overrides), workdir)
    text = str(caught.value)
    assert "fresh --workdir" in text and "--config.transfer.init_from=" in text
    assert "Nothing was restored, changed or deleted" in text
    assert isinstance(caught.value, ValueError)
    assert tree_digest(workdir) == before  # every checkpoint byte, metrics.jsonl, no new files
    assert len(COMPILES) == compiled, "the refusal must come before anything is compiled"


def test_checkpoints_without_identity_are_checked_by_parameter_shapes(three_steps, tmp_path):
    """Checkpoints saved before `meta` had an identity: their parameter shapes are compared."""
    workdir = copy_run(three_steps, tmp_path)
    for step in saved_steps(workdir):
        path = os.path.join(workdir, "checkpoints", str(step), "meta", "metadata")
        with open(path) as f:
            meta = json.load(f)
        del meta[run_identity.IDENTITY_KEY]
        with open(path, "w") as f:
            json.dump(meta, f)
    before = tree_digest(workdir)
    with pytest.raises(
        CheckpointMismatchError,
        match="parameter 'C1/bias' is absent in the saved step 12 but \\[6\\]",
    ):
        train_and_evaluate(make_tiny_config(num_steps=16, model="lenet5_classic"), workdir)
    assert tree_digest(workdir) == before


def test_truncated_newest_step_is_moved_aside_and_the_run_resumes(three_steps, tmp_path, caplog):
    workdir = copy_run(three_steps, tmp_path)
    checkpoints = os.path.join(workdir, "checkpoints")
    data_dir = os.path.join(checkpoints, "12", "state", "d")
    victim = max((os.path.join(data_dir, f) for f in os.listdir(data_dir)), key=os.path.getsize)
    with open(victim, "r+b") as f:
        f.truncate(os.path.getsize(victim) // 2)
    truncated = tree_digest(os.path.join(checkpoints, "12"))
    with caplog.at_level(logging.INFO):
        result = train_and_evaluate(make_tiny_config(num_steps=12), workdir)
    aside = os.path.join(checkpoints, "unreadable", "12")
    assert tree_digest(aside) == truncated  # moved as it was, not deleted, not changed
    with open(aside + ".reason.txt") as f:
        assert f.read().startswith("checkpoint step 12 could not be restored: ")
    assert f"moved it to {aside}" in caplog.text and "resumed from step 8" in caplog.text
    assert result["step"] == 12 and saved_steps(workdir) == [4, 8, 12]
    # Steps 9..12 were redone from step 8: the same parameters as the original step 12.
    jax.tree.map(
        np.testing.assert_array_equal,
        saved_params(workdir, 12),
        saved_params(three_steps, 12),
    )


def test_missing_item_is_moved_aside_before_an_older_one_is_used(three_steps, tmp_path):
    """A step whose `meta` item is gone: moved aside (`12`, then `12.1` the second time)."""
    workdir = copy_run(three_steps, tmp_path)
    checkpoints = os.path.join(workdir, "checkpoints")
    shutil.rmtree(os.path.join(checkpoints, "12", "meta"))
    os.makedirs(os.path.join(checkpoints, "unreadable", "12"))  # taken by an earlier failure
    result = train_and_evaluate(make_tiny_config(num_steps=12), workdir)
    assert result["step"] == 12 and saved_steps(workdir) == [4, 8, 12]
    moved = os.path.join(checkpoints, "unreadable", "12.1")
    assert os.path.isdir(os.path.join(moved, "state")) and not os.path.exists(
        os.path.join(moved, "meta")
    )
    assert os.path.exists(moved + ".reason.txt")


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(errno.EACCES, "Permission denied", "checkpoints/12/state/d/x"),
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EIO, "Input/output error"),
        ValueError('PERMISSION_DENIED: Error opening file "d/x" [OS error: Permission denied]'),
    ],
    ids=["EACCES", "ENOSPC", "EIO", "tensorstore-permission"],
)
@pytest.mark.parametrize("item", ["state", "meta"])
def test_environment_errors_are_raised_with_nothing_moved(
    three_steps, tmp_path, monkeypatch, error, item
):
    """The reader fails as the machine would make it fail (as root, chmod cannot deny a read)."""
    workdir = copy_run(three_steps, tmp_path)
    before = tree_digest(workdir)
    restore = ocp.CheckpointManager.restore

    def failing_restore(self, step, *args, **kwargs):
        items = kwargs.get("args", args[0] if args else None)
        if step == 12 and item in items.keys():
            raise error
        return restore(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "restore", failing_restore)
    with pytest.raises(type(error)) as caught:
        train_and_evaluate(make_tiny_config(num_steps=16), workdir)
    assert caught.value is error
    assert tree_digest(workdir) == before
    assert not os.path.exists(os.path.join(workdir, "checkpoints", "unreadable"))
    assert len(read_metrics(os.path.join(workdir, "metrics.jsonl"))) > 0


@pytest.mark.parametrize(
    "item, value, expected",
    [
        ("model", "vgg11", ("model", "lenet5", "vgg11")),
        ("model_kwargs", {"width": 2}, ("model_kwargs", {}, {"width": 2})),
        ("num_classes", 100, ("num_classes", 10, 100)),
        ("input_shape", (32, 32, 3), ("input_shape", [28, 28, 1], [32, 32, 3])),
        ("dtype", "float16", ("dtype", "float32", "float16")),
        ("optimizer", "lamb", ("optimizer", "adam", "lamb")),
        ("params", {"a": (3, 2)}, ("shape of parameter 'a'", [3, 3], [3, 2])),
        ("params", {"a": (3, 3), "b": (1,)}, ("parameter 'b'", "absent", [1])),
    ],
)
def test_first_difference_names_the_item_and_both_values(item, value, expected):
    fields = dict(
        model="lenet5",
        model_kwargs={},
        num_classes=10,
        input_shape=(28, 28, 1),
        dtype="float32",
        optimizer="adam",
        params={"a": np.zeros((3, 3))},
    )
    saved = run_identity.describe(**fields)
    assert run_identity.first_difference(saved, json.loads(json.dumps(saved))) is None
    if item == "params":
        value = {k: jax.ShapeDtypeStruct(v, np.float32) for k, v in value.items()}
    changed = run_identity.describe(**{**fields, item: value})
    assert run_identity.first_difference(saved, changed) == expected
