"""Every enumerated config key: each rejected value raises one clear error before any compile,
naming the value and every accepted one; every accepted value passes validation."""

import pytest
from train_helpers import make_tiny_config

from cnnjax.data import preprocess
from cnnjax.train import config as config_lib
from cnnjax.train import optim, parallel, precision, steps, train_and_evaluate

pytestmark = pytest.mark.usefixtures("cached_datasets")

ENUMERATED = {
    "optimizer": optim.OPTIMIZERS,
    "schedule.name": optim.SCHEDULES,
    "schedule.boundaries_unit": optim.BOUNDARY_UNITS,
    "dtype": tuple(precision.DTYPES),
    "loss_scale": precision.LOSS_SCALES,
    "nan_policy": steps.NAN_POLICIES,
    "parallel": parallel.PARALLEL_MODES,
    "checkpoint.best_metric": config_lib.BEST_METRICS,
    "checkpoint.best_mode": ("max", "min"),
    "data.resize": preprocess.RESIZE_MODES,
}
# Per key: a misspelling and a wrong case of an accepted value (what users actually type).
REJECTED = {
    "optimizer": ["adamm", "Adam"],
    "schedule.name": ["cosin", "Cosine"],
    "schedule.boundaries_unit": ["epoch", "Steps"],
    "dtype": ["float8", "fp16"],
    "loss_scale": ["dynamik", "None"],
    "nan_policy": ["ignore", "Skip"],
    "parallel": ["pjit", "JIT"],
    "checkpoint.best_metric": ["acc", "top1_accuracy"],
    "checkpoint.best_mode": ["maximum", "MIN"],
    "data.resize": ["stretch", "Pad"],
}
CASES = [(key, value) for key, values in REJECTED.items() for value in values]


@pytest.mark.parametrize("key, value", CASES, ids=[f"{k}={v}" for k, v in CASES])
def test_rejected_value_raises_one_clear_error_before_compile(key, value, tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "make_engine", pytest.fail)  # nothing may be compiled
    with pytest.raises(ValueError) as caught:
        train_and_evaluate(make_tiny_config(**{key: value}), str(tmp_path / "run"))
    message = str(caught.value)
    assert repr(value) in message and "accepted are" in message
    accepted = message.split("accepted are", 1)[1]
    assert all(name in accepted for name in ENUMERATED[key]), message


@pytest.mark.parametrize("key", sorted(set(ENUMERATED) - {"data.resize"}))
def test_every_accepted_value_passes_validation(key):
    for value in ENUMERATED[key]:
        config = make_tiny_config(**{key: value})
        if key == "parallel" and value == "pmap":
            config.shard.params = False
        config_lib.validate(config)
