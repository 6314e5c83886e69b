"""The config schema (`cnnjax.train.config`): every config file validates; a bad key at any
depth, or an old flat name, is refused at the door with a suggestion or its new name; the library
never imports `experiments`; docs/training.md describes every key."""

import ast
import importlib
import os
import pathlib
import subprocess
import sys

import ml_collections
import pytest
from absl import flags
from train_helpers import make_tiny_config

from cnnjax.train import config as config_lib
from cnnjax.train import parallel, train_and_evaluate
from experiments import cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG_FILES = sorted(
    p.stem for p in (ROOT / "experiments" / "configs").glob("*.py") if p.stem != "__init__"
)


def leaves(schema, parent=""):
    for name, entry in schema.items():
        path = f"{parent}.{name}" if parent else name
        if isinstance(entry, dict):
            yield from leaves(entry, path)
        else:
            yield path


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_every_config_file_builds_and_validates(name):
    config = importlib.import_module(f"experiments.configs.{name}").get_config()
    config_lib.validate(config)


@pytest.mark.parametrize(
    "path, message",
    [
        ("learnin_rate", r"unknown config key 'learnin_rate'; .*did you mean 'learning_rate'\?"),
        ("schedule.boundarys", r"'schedule.boundarys'; .*did you mean 'schedule.boundaries'\?"),
        ("checkpoint.kep", r"'checkpoint.kep'; accepted are checkpoint.every_steps, .*'checkpoint"),
        ("transfer.freez", r"'transfer.freez'; .*did you mean 'transfer.freeze'\?"),
        ("lr_boundaries", r"config key 'lr_boundaries' was renamed to schedule.boundaries"),
        ("keep_checkpoints", r"config key 'keep_checkpoints' was renamed to checkpoint.keep"),
        ("shard_params", r"config key 'shard_params' was renamed to shard.params"),
    ],
)
def test_a_bad_key_at_any_depth_is_refused_before_anything_runs(
    path, message, tmp_path, monkeypatch
):
    monkeypatch.setattr(parallel, "make_engine", pytest.fail)  # nothing may be compiled
    config = make_tiny_config()
    *groups, key = path.split(".")
    group = config[groups[0]] if groups else config
    group[key] = 1.0  # what a config file written for another version does
    with pytest.raises(ValueError, match=message):
        train_and_evaluate(config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()  # refused before the workdir was made


def test_model_kwargs_is_free_and_a_missing_or_flattened_group_is_named():
    config = make_tiny_config(model_kwargs={"width": 2})  # the model's own fields
    config_lib.validate(config)
    del config.checkpoint["keep"]
    with pytest.raises(ValueError, match=r"config key 'checkpoint.keep' is missing"):
        config_lib.validate(config)
    # A config not built on the schema may hold a value where a group belongs.
    flat = config_lib.get_base_config().to_dict()
    flat = ml_collections.ConfigDict({**flat, "schedule": "cosine"})
    with pytest.raises(ValueError, match=r"'schedule' is a group, got 'cosine' \(set schedule.na"):
        config_lib.validate(flat)


def test_pmap_with_sharded_parameters_is_refused_at_the_door(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "make_engine", pytest.fail)  # nothing may be compiled
    config = make_tiny_config(parallel="pmap")
    config.shard.params = True
    with pytest.raises(ValueError, match=r"shard.params=True needs parallel='jit'"):
        train_and_evaluate(config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_every_old_name_points_at_an_existing_key():
    known = set(leaves(config_lib.SCHEMA))
    assert set(config_lib.RENAMED.values()) <= known
    assert not set(config_lib.RENAMED) & known  # no old name is still a key


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--config.transfer.mdoe=bottleneck", "did you mean 'transfer.mode'?"),
        ("--config.schedule.nme=constant", "did you mean 'schedule.name'?"),
        ("--config.lr_boundaries=1,2", "'lr_boundaries' was renamed to schedule.boundaries"),
        ("--config.schedule=piecewise", "'schedule' was renamed to schedule.name"),
        ("--config.optim=1", "'optim' is a group"),
    ],
)
def test_bad_config_flags_are_one_line_naming_the_key(flag, message, monkeypatch, capsys):
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    default = str(ROOT / "experiments" / "configs" / "quickstart.py")
    with pytest.raises(SystemExit) as caught:
        cli.define_config("config", default, "", flag_values=flags.FlagValues(),
                          sys_argv=["train", flag])  # fmt: skip
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"ValueError: bad --config flag {flag}: ")
    assert message in err, err


def test_nested_flags_set_nested_keys():
    values = flags.FlagValues()
    default = str(ROOT / "experiments" / "configs" / "quickstart.py")
    argv = ["train", "--config.schedule.name=constant", "--config.optim.momentum=0.5"]
    flag = cli.define_config("config", default, "", flag_values=values, sys_argv=argv)
    values(argv)
    assert flag.value.schedule.name == "constant" and flag.value.optim.momentum == 0.5
    config_lib.validate(flag.value)


def test_the_library_never_imports_experiments():
    importers = []
    for path in (ROOT / "cnnjax").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "experiments" or n.startswith("experiments.") for n in names):
                importers.append(os.path.relpath(path, ROOT))
    assert importers == []


def test_docs_describe_every_key():
    text = (ROOT / "docs" / "training.md").read_text()
    missing = [path for path in leaves(config_lib.SCHEMA) if f"`{path}`" not in text]
    assert missing == []


def test_validation_starts_no_jax_backend():
    """`train_and_evaluate` validates before `jax.distributed.initialize`, which must come before
    any backend exists: the whole door (names, numbers, augmentation ops) stays off JAX."""
    code = (
        "from jax._src import xla_bridge\n"
        "from cnnjax.train import config\n"
        "c = config.get_base_config()\n"
        "c.augment = 'pad_crop(4)|flip_lr|rotate(10)|inception_crop|mixup(0.2)|pca_lighting'\n"
        "config.validate(c)\n"
        "assert not xla_bridge.backends_are_initialized()\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
