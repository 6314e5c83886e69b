"""End-to-end transfer runs from short pre-trainings on digits 0-4 to digits 5-9 (or 5-7)."""

import os
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
from transfer_helpers import TINY_RESNET, tiny_config, tree_hash

from cnnjax.train import train_and_evaluate
from cnnjax.transfer import restore, source

TARGET = "mnist5k?classes=5-7&per_class=10"  # three new classes: the head gets a new shape


def _params(workdir):
    step_dir = source.find_step_dir(workdir)
    return source.read_checkpoint(step_dir)


def _flat(variables):
    return restore.flatten_collections(variables)


def test_finetune_top_freezes_params_and_batchnorm_bit_for_bit(resnet_source, tmp_path):
    before_hash = tree_hash(resnet_source)
    config = tiny_config(
        model="resnet20",
        model_kwargs=dict(TINY_RESNET),
        dataset=TARGET,
        batch_size=10,
        transfer=dict(mode="finetune_top", init_from=resnet_source, freeze="^(conv1|bn1|stage2)/"),
    )
    train_and_evaluate(config, str(tmp_path))
    src, new = _flat(_params(resnet_source)), _flat(_params(str(tmp_path)))
    frozen = [p for p in src if p.split("/")[1] in ("conv1", "bn1", "stage2")]
    trained = [p for p in src if p.split("/")[1] == "stage3"]
    assert any(p.startswith("batch_stats/stage2") for p in frozen)
    for path in frozen:  # parameters and running statistics: bit-identical
        np.testing.assert_array_equal(new[path], src[path], err_msg=path)
    for path in trained:
        assert not np.array_equal(new[path], src[path]), path
    assert new["params/fc/kernel"].shape == (8, 3)  # the new head: 3 classes
    assert src["params/fc/kernel"].shape == (8, 5)
    assert tree_hash(resnet_source) == before_hash  # the source is never modified


def test_finetune_all_moves_the_backbone_less_than_the_head(lenet_source, tmp_path):
    config = tiny_config(
        dataset=TARGET,
        batch_size=10,
        optimizer="sgd",
        schedule={"name": "constant"},
        learning_rate=0.05,
        transfer=dict(mode="finetune_all", init_from=lenet_source, backbone_lr=0.0),
    )
    train_and_evaluate(config, str(tmp_path))
    src, new = _flat(_params(lenet_source)), _flat(_params(str(tmp_path)))
    # backbone_lr=0: every backbone array stays exactly the source's; the head trains.
    for path in ("params/conv1/kernel", "params/fc2/kernel"):
        np.testing.assert_array_equal(new[path], src[path])
    assert new["params/logits/kernel"].shape == (84, 3)


def test_finetune_resumes_after_a_stop_exactly(lenet_source, tmp_path):
    def config(steps, init_from):
        return tiny_config(
            dataset=TARGET,
            batch_size=10,
            num_steps=steps,
            schedule={"name": "constant"},
            checkpoint={"every_steps": 2},
            transfer=dict(mode="finetune_top", init_from=init_from),
        )

    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    train_and_evaluate(config(4, lenet_source), straight)
    train_and_evaluate(config(2, lenet_source), resumed)  # "killed" at step 2
    # The restart names another source: a resumed run continues from its own checkpoint, so
    # the source no longer matters; a run that re-initialised would start from `straight`.
    before = tree_hash(straight)
    train_and_evaluate(config(4, straight), resumed)
    jax.tree.map(np.testing.assert_array_equal, _params(straight), _params(resumed))
    assert tree_hash(straight) == before


def test_bottleneck_cache_is_reused_on_the_second_run(lenet_source, tmp_path, capsys):
    config = tiny_config(
        dataset=TARGET,
        batch_size=10,
        transfer=dict(
            mode="bottleneck", init_from=lenet_source, feature_cache=str(tmp_path / "cache")
        ),
    )
    first = train_and_evaluate(config, str(tmp_path / "a"))
    out = capsys.readouterr().out
    assert "extracted (30, 84)" in out and "reusing" not in out
    second = train_and_evaluate(config, str(tmp_path / "b"))
    out = capsys.readouterr().out
    assert out.count("reusing the cache") == 2 and "extracted" not in out
    assert first["accuracy"] == second["accuracy"]
    assert len(os.listdir(tmp_path / "cache")) == 2  # train and test


def test_the_command_line_transfers_from_a_quickstart_workdir(lenet_source, tmp_path):
    # One subprocess (the slow part); the tests above run finetune_all, finetune_top and
    # bottleneck in-process from the same quick-start-style workdir.
    mode = "finetune_top"
    before = tree_hash(lenet_source)
    env = {**os.environ, "CNNJAX_DATA_DIR": os.environ["CNNJAX_DATA_DIR"]}
    run = subprocess.run(
        [
            sys.executable, "-m", "experiments.train",
            f"--config.transfer.mode={mode}",
            f"--config.transfer.init_from={lenet_source}",
            "--config.dataset=mnist5k?classes=5-9&per_class=10",
            "--config.num_steps=4", "--config.batch_size=10", "--config.log.progress_bar=False",
            f"--workdir={tmp_path}",
        ],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "test_accuracy=" in run.stdout and "8 arrays matched" in run.stdout
    assert os.path.isdir(tmp_path / "checkpoints" / "4")
    assert os.path.exists(tmp_path / "pictures" / "confusion_matrix.png")
    assert tree_hash(lenet_source) == before


def test_the_source_checkpoint_reads_back_as_saved(lenet_source):
    step_dir = source.find_step_dir(lenet_source)
    state = ocp.PyTreeCheckpointer().restore(os.path.join(step_dir, "state"))
    jax.tree.map(np.testing.assert_array_equal, source.read_checkpoint(step_dir)["params"],
                 jax.tree.map(np.asarray, state["params"]))  # fmt: skip
