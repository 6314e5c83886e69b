"""Numeric config keys are range-checked at the door: one ValueError naming key, value, range."""

import pytest
from train_helpers import make_tiny_config

from cnnjax.train import config as config_lib
from cnnjax.train import parallel, train_and_evaluate


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("learning_rate", -1.0, "learning_rate must be > 0, got -1.0"),
        ("learning_rate", 0.0, "learning_rate must be > 0, got 0.0"),
        ("learning_rate", float("nan"), "learning_rate must be a finite number, got nan"),
        ("learning_rate", float("inf"), "learning_rate must be a finite number, got inf"),
        ("optim.momentum", 1.0, r"optim.momentum must be in \[0, 1\), got 1.0"),
        ("optim.beta1", -0.1, r"optim.beta1 must be in \[0, 1\)"),
        ("optim.beta2", 1.5, r"optim.beta2 must be in \[0, 1\)"),
        ("optim.eps", 0.0, "optim.eps must be > 0"),
        ("optim.weight_decay", -1e-4, "optim.weight_decay must be >= 0, got -0.0001"),
        ("label_smoothing", 1.0, r"label_smoothing must be in \[0, 1\), got 1.0"),
        ("optim.grad_clip_norm", -1.0, "optim.grad_clip_norm must be >= 0"),
        ("schedule.pct_start", 0.0, r"schedule.pct_start must be in \(0, 1\)"),
        ("optim.accumulate_steps", 0, "optim.accumulate_steps must be >= 1, got 0"),
        ("eval.batch_size", 0, "eval.batch_size must be >= 1"),
        ("checkpoint.every_minutes", -5.0, "checkpoint.every_minutes must be >= 0"),
        ("multihost.peer_timeout", 0.0, "multihost.peer_timeout must be > 0"),
        ("multihost.initialization_timeout", 0, "multihost.initialization_timeout must be > 0"),
        ("schedule.scales", (0.1, -1.0), r"schedule.scales must hold numbers >= 0"),
        (
            "schedule.warmup_epochs",
            10.0,
            r"warmup_epochs=10.0 must be shorter than training \(num_epochs",
        ),
    ],
)
def test_out_of_range_numbers_raise_one_clear_error(key, value, message):
    config = make_tiny_config(num_steps=-1, num_epochs=10, **{key: value})
    with pytest.raises(ValueError, match=message):
        config_lib.validate(config)


def test_defaults_and_edges_pass():
    config = make_tiny_config(
        label_smoothing=0.0, **{"optim.momentum": 0.0, "optim.weight_decay": 0.0}
    )
    config_lib.validate(config)


def test_warmup_longer_than_a_step_count_fails_before_compile(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "make_engine", pytest.fail)  # nothing may be compiled
    config = make_tiny_config(num_steps=8, **{"schedule.warmup_epochs": 1.0})  # 125 steps > 8
    with pytest.raises(ValueError, match=r"warmup_epochs=1.0 \(125 steps\) must be shorter"):
        train_and_evaluate(config, str(tmp_path / "run"))
