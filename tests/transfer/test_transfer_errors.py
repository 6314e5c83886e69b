"""Bad transfer settings: one clear error each, before anything is compiled or written."""

import os
import subprocess
import sys

import pytest
from transfer_helpers import tiny_config, tree_hash

from cnnjax.train import train_and_evaluate
from cnnjax.transfer import KEYS


def _refused(config, workdir, error, match):
    with pytest.raises(error, match=match):
        train_and_evaluate(config, str(workdir))
    assert not os.path.exists(os.path.join(workdir, "checkpoints"))  # refused before the engine


def test_config_keys_match_the_base_config():
    from cnnjax.train.config import get_base_config

    assert set(get_base_config().transfer.keys()) == set(KEYS)


@pytest.mark.parametrize(
    "transfer, error, match",
    [
        (dict(mode="finetune"), ValueError, "unknown transfer.mode 'finetune'; accepted are bott"),
        (dict(mode="bottleneck"), ValueError, "needs transfer.init_from"),
        (dict(init_from="/x"), ValueError, "transfer.mode is empty"),
        (dict(mode="bottleneck", init_from="/no/such/run"), FileNotFoundError, "/no/such/run"),
        (dict(mode="finetune_all", init_from="/", pool="max"), ValueError, "unknown transfer.pool"),
        (dict(mode="finetune_all", init_from="/", head_lr=0.0), ValueError, "head_lr must be > 0"),
        (dict(mode="bottleneck", init_from="/", freeze="conv1"), ValueError, "does not apply"),
        (dict(mode="finetune_top", init_from="/", freeze="(conv"), ValueError, "regular expr"),
    ],
)
def test_bad_settings_are_refused_at_the_door(tmp_path, transfer, error, match):
    _refused(tiny_config(transfer=transfer), tmp_path, error, match)


def test_unknown_nested_key_in_a_config_file_is_refused(tmp_path):
    config = tiny_config()
    config.transfer.unlock()
    config.transfer.freez = "conv1"
    _refused(config, tmp_path, ValueError, "unknown config key 'transfer.freez'.*'transfer.freeze'")


def test_unknown_nested_flag_is_refused_by_the_flag_parser(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "experiments.train", "--config.transfer.mdoe=bottleneck",
         f"--workdir={tmp_path}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode != 0
    # One line from the schema, before ml_collections applies anything (experiments/cli.py).
    assert "unknown config key 'transfer.mdoe'" in run.stderr
    assert "did you mean 'transfer.mode'?" in run.stderr and "Traceback" not in run.stderr
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize(
    "transfer, overrides, error, match",
    [
        (dict(mode="finetune_top", freeze="conv9"), {}, ValueError, "matches no parameter.*fc1"),
        (dict(mode="bottleneck", layer="conv7"), {}, ValueError,
         r"unknown transfer.layer 'conv7'.*pool2 \(5, 5, 16\)"),
        (dict(mode="bottleneck", layer="logits"), {}, ValueError,
         "unknown transfer.layer 'logits'"),
        # 32x32 inputs make fc1 576 wide: the 28x28 source holds another architecture.
        (dict(mode="finetune_all"), {"data": {"input_shape": (32, 32, 1)}}, ValueError,
         r"another architecture.*fc1/kernel"),
        (dict(mode="finetune_all"), {"model": "lenet5_classic"}, ValueError, "shares no parameter"),
    ],
)  # fmt: skip
def test_a_source_that_does_not_fit_is_refused_before_compiling(
    lenet_source, tmp_path, transfer, overrides, error, match
):
    before = tree_hash(lenet_source)
    config = tiny_config(transfer={**transfer, "init_from": lenet_source}, **overrides)
    _refused(config, tmp_path, error, match)
    assert tree_hash(lenet_source) == before


def test_the_run_may_not_write_into_its_source(lenet_source):
    before = tree_hash(lenet_source)
    config = tiny_config(transfer=dict(mode="finetune_all", init_from=lenet_source))
    with pytest.raises(ValueError, match="inside the run's workdir"):
        train_and_evaluate(config, lenet_source)
    assert tree_hash(lenet_source) == before


def test_an_empty_directory_holds_no_checkpoint(tmp_path):
    (tmp_path / "src").mkdir()
    config = tiny_config(transfer=dict(mode="finetune_all", init_from=str(tmp_path / "src")))
    _refused(config, tmp_path / "run", FileNotFoundError, "holds no finished cnnjax checkpoint")
