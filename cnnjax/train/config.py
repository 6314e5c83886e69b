"""The training config: every key with its default and accepted values, checked once at the door.

`SCHEMA` declares each key once — its default, and for names the accepted values (the owning
module's table), for numbers the accepted range (`numbers.py`). `get_base_config()` builds the
`ml_collections.ConfigDict` every experiment config starts from; `validate(config)` checks a
whole config against the schema before any dataset is loaded or anything is compiled, so the
code below trusts its arguments. Groups nest as in big_vision (`schedule.*`, `optim.*`,
`data.*`, `eval.*`, `checkpoint.*`, `multihost.*`, `log.*`, `shard.*`, `transfer.*`); the keys
typed most stay at the top. `docs/training.md` describes every key.
"""

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import ml_collections

from cnnjax import choices, models
from cnnjax.data import preprocess
from cnnjax.data.augment.registry import parse_spec  # its package registers the ops
from cnnjax.train import numbers, optim, parallel, precision, steps
from cnnjax.train.numbers import AT_LEAST_ONE, NON_NEGATIVE, OPEN_UNIT, POSITIVE, UNIT
from cnnjax.transfer import setup as transfer_setup
from cnnjax.transfer.bottleneck import POOLS

BEST_METRICS = ("accuracy", "top5_accuracy", "loss")
BEST_MODES = ("max", "min")


@dataclasses.dataclass(frozen=True)
class Key:
    """One config key: its default and what it accepts (None: any value of the default's type).

    Attributes:
      default: the value of `get_base_config()`; its type is the key's type.
      accepted: the accepted names (a tuple, or a function returning them for registries).
      range: the accepted numeric range (`numbers.POSITIVE`, ...), for numbers and the items of
        a tuple of numbers.
      blank: for names: "" is accepted too and means this (e.g. "no transfer").
    """

    default: Any
    accepted: tuple | Callable[[], Iterable] | None = None
    range: numbers.Range | None = None
    blank: str = ""


FREE = "free"  # a group whose keys are free (model_kwargs: the model's own fields)

SCHEMA: dict[str, Any] = {
    "seed": Key(0),
    "model": Key("lenet5", models.list_models),  # + model_kwargs: its field overrides
    "model_kwargs": FREE,
    "dtype": Key("float32", tuple(precision.DTYPES)),  # compute dtype; params stay float32
    "loss_scale": Key("auto", precision.LOSS_SCALES),  # auto: dynamic for float16 only
    "dataset": Key("mnist5k"),  # a spec, see cnnjax.data.list_datasets()
    "augment": Key(""),  # e.g. "pad_crop(4)|flip_lr|rotate(10)"
    "batch_size": Key(128, range=AT_LEAST_ONE),  # global, over all devices and processes
    "num_epochs": Key(10),
    "num_steps": Key(-1),  # > 0 overrides num_epochs
    "optimizer": Key("adam", optim.OPTIMIZERS),
    "learning_rate": Key(1e-3, range=POSITIVE),
    "label_smoothing": Key(0.0, range=UNIT),
    "nan_policy": Key("stop", steps.NAN_POLICIES),  # what a non-finite loss or gradient does
    "parallel": Key("jit", parallel.PARALLEL_MODES),
    "schedule": {
        "name": Key("cosine", optim.SCHEDULES),
        "warmup_epochs": Key(0.0, range=NON_NEGATIVE),
        "boundaries": Key((), range=NON_NEGATIVE),  # piecewise, in boundaries_unit
        "scales": Key((), range=NON_NEGATIVE),  # piecewise: lr multiplier at each boundary
        "boundaries_unit": Key("epochs", optim.BOUNDARY_UNITS),
        "end_factor": Key(0.0, range=NON_NEGATIVE),  # (warmup_)cosine: final lr = factor * lr
        "decay_rate": Key(0.1, range=POSITIVE),  # exponential: lr * rate ** (epoch / epochs)
        "decay_epochs": Key(30.0, range=POSITIVE),
        "pct_start": Key(0.3, range=OPEN_UNIT),  # onecycle (Smith & Topin 2017)
        "div_factor": Key(25.0, range=POSITIVE),
        "final_div_factor": Key(1e4, range=POSITIVE),
    },
    "optim": {
        "momentum": Key(0.9, range=UNIT),  # momentum / nesterov / rmsprop (0: none)
        "beta1": Key(0.9, range=UNIT),
        "beta2": Key(0.999, range=UNIT),
        "eps": Key(1e-8, range=POSITIVE),
        "rmsprop_decay": Key(0.9, range=UNIT),
        "weight_decay": Key(0.0, range=NON_NEGATIVE),  # masked off biases and norm scales
        "grad_clip_norm": Key(0.0, range=NON_NEGATIVE),  # > 0: clip to this global norm
        "accumulate_steps": Key(1, range=AT_LEAST_ONE),  # one update every k train steps
        "ema_decay": Key(0.0, range=UNIT),  # > 0: evaluate an EMA of the parameters
    },
    "data": {
        "dir": Key(""),  # empty: $CNNJAX_DATA_DIR or ~/.cache/cnnjax/datasets
        "train_split": Key(""),  # empty: the dataset's training split
        "eval_split": Key(""),  # empty: the dataset's held-out split
        "input_shape": Key((), range=AT_LEAST_ONE),  # (H, W, C); empty: the model's shape
        "resize": Key("auto", preprocess.RESIZE_MODES),  # how images fit input_shape
        "input_range": Key(()),  # (low, high): pixel 0 → low, 255 → high instead of mean/std
        "worker_count": Key(0, range=NON_NEGATIVE),
        "prefetch_batches": Key(2, range=NON_NEGATIVE),  # batches placed ahead (0 or 1: none)
    },
    "eval": {
        "batch_size": Key(500, range=AT_LEAST_ONE),  # rounded up to a multiple of the devices
        "every_epochs": Key(1, range=AT_LEAST_ONE),
    },
    "checkpoint": {
        "every_steps": Key(0, range=NON_NEGATIVE),  # 0: only at the end of each epoch
        "every_minutes": Key(0.0, range=NON_NEGATIVE),  # > 0: also after this much time
        "keep": Key(3, range=AT_LEAST_ONE),  # the newest ones
        "keep_best": Key(1, range=NON_NEGATIVE),  # plus the best ones by best_metric
        "best_metric": Key("accuracy", BEST_METRICS),
        "best_mode": Key("max", BEST_MODES),
        "async_save": Key(True),
    },
    "multihost": {  # docs/multi_host.md; unset: from $JAX_* or SLURM / Open MPI / Kubernetes
        "coordinator_address": Key(""),  # host:port of process 0
        "num_processes": Key(0, range=NON_NEGATIVE),  # 0: unset
        "process_id": Key(-1),  # -1: unset
        "initialization_timeout": Key(300, range=POSITIVE),  # seconds
        "peer_timeout": Key(60.0, range=POSITIVE),  # seconds without a sign of life: lost
    },
    "log": {
        "every_steps": Key(50, range=AT_LEAST_ONE),
        "progress_bar": Key(True),  # a tqdm bar on a terminal; periodic lines otherwise
        "write_pictures": Key(True),
    },
    "shard": {  # parallel="jit": split large params / optimizer state over devices (FSDP)
        "params": Key(False),
        "min_size": Key(2**18, range=NON_NEGATIVE),  # arrays with fewer elements: replicated
    },
    "transfer": {  # docs/training.md, "Transfer learning": the survey's three cases
        "mode": Key("", transfer_setup.MODES[1:], blank="no transfer"),
        "init_from": Key(""),  # a cnnjax workdir, a checkpoint step dir, or a pretrained name
        "freeze": Key(""),  # regex on parameter paths to keep fixed
        "train_last": Key(2, range=NON_NEGATIVE),  # finetune_top: modules trained before head
        "head": Key(""),  # regex of the re-initialised head; empty: the model's last module
        "layer": Key("pre_logits"),  # bottleneck: a name from cnnjax.models.intermediates
        "pool": Key("flatten", POOLS),  # bottleneck: flatten | avg
        "hidden": Key(0, range=NON_NEGATIVE),  # bottleneck: 0 linear, > 0 MLP hidden units
        "backbone_lr": Key(0.1, range=NON_NEGATIVE),  # lr multiplier of the backbone
        "head_lr": Key(1.0, range=POSITIVE),  # lr multiplier of the head
        "feature_cache": Key(""),  # bottleneck cache dir; empty: <data dir>/bottleneck
        "feature_batch_size": Key(256, range=AT_LEAST_ONE),
    },
}

# Flat names of earlier versions → their nested names (a config using one is refused, naming it).
RENAMED = {
    "schedule": "schedule.name",
    "warmup_epochs": "schedule.warmup_epochs",
    **{f"lr_{k}": f"schedule.{k}" for k in ("boundaries", "scales", "boundaries_unit")},
    **{f"lr_{k}": f"schedule.{k}" for k in ("end_factor", "decay_rate", "decay_epochs")},
    **{f"onecycle_{k}": f"schedule.{k}" for k in ("pct_start", "div_factor", "final_div_factor")},
    **{k: f"optim.{k}" for k in SCHEMA["optim"]},
    "data_dir": "data.dir",
    **{k: f"data.{k}" for k in SCHEMA["data"] if k != "dir"},
    "eval_batch_size": "eval.batch_size",
    "eval_every_epochs": "eval.every_epochs",
    "checkpoint_every_steps": "checkpoint.every_steps",
    "checkpoint_every_minutes": "checkpoint.every_minutes",
    "keep_checkpoints": "checkpoint.keep",
    "keep_best_checkpoints": "checkpoint.keep_best",
    "best_metric": "checkpoint.best_metric",
    "best_mode": "checkpoint.best_mode",
    "async_checkpoints": "checkpoint.async_save",
    **{k: f"multihost.{k}" for k in SCHEMA["multihost"]},
    **{f"log_{k}": f"log.{k}" for k in ("every_steps",)},
    "progress_bar": "log.progress_bar",
    "write_pictures": "log.write_pictures",
    "shard_params": "shard.params",
    "shard_min_size": "shard.min_size",
}


def _build(schema: dict) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    for name, key in schema.items():
        if key == FREE:
            config[name] = ml_collections.ConfigDict()
        else:
            config[name] = _build(key) if isinstance(key, dict) else key.default
    return config


def get_base_config() -> ml_collections.ConfigDict:
    """Every key at its default: what each config file in `experiments/configs/` starts from."""
    return _build(SCHEMA)


def lookup(path: str) -> Key | dict | str:
    """The schema entry of a dotted key (`"schedule.boundaries"`), a group, or `FREE`.

    Raises:
      ValueError: the key does not exist ("renamed to ..." for an old flat name, else the
        accepted keys of its group and a suggestion).
    """
    entry: Any = SCHEMA
    parts = path.split(".")
    for depth, part in enumerate(parts):
        if entry == FREE:
            return FREE
        parent = ".".join(parts[:depth])
        if not isinstance(entry, dict):
            raise ValueError(f"config key {parent!r} is not a group (it has no {part!r})")
        if part not in entry:
            _refuse_key(f"{parent}.{part}" if parent else part, entry, parent)
        entry = entry[part]
    if not isinstance(entry, Key) and path in RENAMED:
        raise ValueError(f"config key {path!r} was renamed to {RENAMED[path]}")
    return entry


def _refuse_key(path: str, group: dict, parent: str):
    if path in RENAMED:
        raise ValueError(f"config key {path!r} was renamed to {RENAMED[path]}")
    names = [f"{parent}.{k}" if parent else k for k in group]
    raise choices.unknown("config key", path, names)


def _check_keys(config, schema: dict, parent: str = "") -> None:
    """Unknown keys (typos, old names) and missing ones, at every depth."""
    for name in config.keys():
        path = f"{parent}.{name}" if parent else name
        if name not in schema:
            _refuse_key(path, schema, parent)
        entry = schema[name]
        if isinstance(entry, dict):
            if not isinstance(config[name], dict | ml_collections.ConfigDict):
                hint = f" (set {RENAMED[path]})" if path in RENAMED else ""
                raise ValueError(f"config key {path!r} is a group, got {config[name]!r}{hint}")
            _check_keys(config[name], entry, path)
    for name in schema:
        if name not in config:
            path = f"{parent}.{name}" if parent else name
            raise ValueError(
                f"config key {path!r} is missing: build the config on "
                f"cnnjax.train.config.get_base_config()"
            )


def _check_value(path: str, key: Key, value) -> None:
    """The type of `value` is the default's; names among the accepted; numbers in range."""
    kind = type(key.default)
    if kind in (int, float):
        numbers.check_number(path, value, kind, key.range)
    elif kind is tuple:
        if not isinstance(value, tuple | list):
            raise ValueError(f"{path} must be a tuple, got {value!r}")
        numbers.check_sequence(path, value, key.range)
    elif not isinstance(value, kind):
        raise ValueError(f"{path} must be a {kind.__name__}, got {value!r}")
    if key.accepted is not None and not (key.blank and value == ""):
        accepted = key.accepted() if callable(key.accepted) else key.accepted
        extra = f"or '' ({key.blank})" if key.blank else ""
        choices.check(path, value, accepted, extra=extra)


def _check_values(config, schema: dict, parent: str = "") -> None:
    for name, entry in schema.items():
        path = f"{parent}.{name}" if parent else name
        if isinstance(entry, dict):
            _check_values(config[name], entry, path)
        elif isinstance(entry, Key):
            _check_value(path, entry, config[name])


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks every key, name and number of `config`; nothing is loaded, JAX is not started.

    Args:
      config: a config built on `get_base_config()`.

    Raises:
      ValueError: the first bad key or value, naming it and what is accepted (a misspelled key
        with a suggestion, an old flat name with its new name).
      FileNotFoundError: `transfer.init_from` names nothing that exists.
    """
    _check_keys(config, SCHEMA)
    _check_values(config, SCHEMA)
    if config.num_steps <= 0 and config.num_epochs <= 0:
        raise ValueError("set num_epochs > 0 or num_steps > 0")
    warmup = config.schedule.warmup_epochs
    if config.num_steps <= 0 and 0 < config.num_epochs <= warmup:
        raise ValueError(
            f"schedule.warmup_epochs={warmup} must be shorter than training "
            f"(num_epochs={config.num_epochs})"
        )
    boundaries, scales = tuple(config.schedule.boundaries), tuple(config.schedule.scales)
    if len(boundaries) != len(scales):
        raise ValueError(
            f"schedule.boundaries {boundaries} and schedule.scales {scales} must have the "
            f"same length"
        )
    shape, value_range = tuple(config.data.input_shape), tuple(config.data.input_range)
    if shape and (len(shape) != 3 or not all(float(d).is_integer() for d in shape)):
        raise ValueError(f"data.input_shape must be empty or (H, W, C) whole numbers, got {shape}")
    if value_range and len(value_range) != 2:
        raise ValueError(f"data.input_range must be empty or (low, high), got {value_range}")
    if config.parallel == "pmap" and config.shard.params:
        raise ValueError(
            "shard.params=True needs parallel='jit' (the pmap engine replicates the whole "
            "state on every device); set parallel='jit' or shard.params=False"
        )
    parse_spec(config.augment)  # unknown ops and bad arguments raise here
    transfer_setup.check(transfer_setup.Options(**config.transfer), config.augment)


__all__ = [
    "BEST_METRICS",
    "BEST_MODES",
    "FREE",
    "RENAMED",
    "SCHEMA",
    "Key",
    "get_base_config",
    "lookup",
    "validate",
]
