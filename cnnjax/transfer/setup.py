"""The `transfer` options → what the engine swaps in: weights, frozen groups, rates, features.

The survey's three cases (docs/training.md, "Transfer learning"):
  - `bottleneck` (case 1): a layer's activations of the frozen source network are extracted
    once (cached on disk) and a linear / MLP classifier is trained on them;
  - `finetune_top` (case 2): start from the source, freeze the early layers (`freeze`, default
    all but the last `train_last` modules), train the rest;
  - `finetune_all` (case 3): start from the source, train everything, the backbone at
    `backbone_lr` times the rate.
`check` validates what involves several values at the door (no data, no model; names and
numbers are checked with the whole config); `build` checks the source
against the model (traced with `jax.eval_shape`, nothing compiled) and returns a `Setup`.
"""

import dataclasses
import os
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from cnnjax import data, models
from cnnjax.data.subset import without_per_class
from cnnjax.models import layers
from cnnjax.pretrained import PRETRAINED, make_preprocess
from cnnjax.transfer import bottleneck, freeze, restore
from cnnjax.transfer.source import Source, load_source, pretrained_names

MODES = ("", "bottleneck", "finetune_top", "finetune_all")


@dataclasses.dataclass(frozen=True)
class Options:
    """The `transfer.*` config group as plain values (defaults: `cnnjax.train.config.SCHEMA`,
    which this module does not repeat).

    Attributes:
      mode: "" (no transfer), `bottleneck`, `finetune_top` or `finetune_all`.
      init_from: a cnnjax workdir, a checkpoint step directory or a pretrained name.
      freeze: regex of parameter paths kept fixed ("": `finetune_top`'s default).
      train_last: `finetune_top` without `freeze`: modules trained before the head.
      head: regex of the re-initialised head ("": the model's last module).
      layer, pool, hidden: bottleneck: the feature layer, `flatten` / `avg`, MLP width (0: linear).
      backbone_lr, head_lr: learning-rate multipliers of the backbone and the head.
      feature_cache: bottleneck cache directory ("": `<data dir>/bottleneck`).
      feature_batch_size: images per feature-extraction batch.
    """

    mode: str
    init_from: str
    freeze: str
    train_last: int
    head: str
    layer: str
    pool: str
    hidden: int
    backbone_lr: float
    head_lr: float
    feature_cache: str
    feature_batch_size: int


KEYS = tuple(f.name for f in dataclasses.fields(Options))


def check(t: Options, augment: str = "") -> None:
    """The checks of the transfer group that involve more than one value or the file system.

    Names and numbers are checked with the rest of the config (`cnnjax.train.config.validate`,
    which calls this); nothing is read but whether `init_from` exists.

    Raises:
      ValueError: a bad regex, or options that do not go together.
      FileNotFoundError: `init_from` is neither a pretrained name nor an existing path.
    """
    if not t.mode:
        if t.init_from:
            raise ValueError(
                f"transfer.init_from={t.init_from!r} is set but transfer.mode is empty; set "
                f"transfer.mode to bottleneck, finetune_top or finetune_all"
            )
        return
    if not t.init_from:
        raise ValueError(
            f"transfer.mode={t.mode!r} needs transfer.init_from: a cnnjax workdir, a checkpoint "
            f"step directory or a pretrained name ({', '.join(pretrained_names()) or 'none'})"
        )
    if t.init_from not in pretrained_names() and not os.path.exists(
        os.path.expanduser(t.init_from)
    ):
        names = ", ".join(pretrained_names()) or "none installed"
        raise FileNotFoundError(
            f"transfer.init_from={t.init_from!r} does not exist; give a cnnjax workdir, a "
            f"checkpoint step directory (<workdir>/checkpoints/<step>) or a pretrained name "
            f"({names})"
        )
    for key in ("freeze", "head"):
        try:
            re.compile(getattr(t, key))
        except re.error as e:
            raise ValueError(
                f"transfer.{key}={getattr(t, key)!r} is not a regular expression: {e}"
            ) from e
    if t.mode == "bottleneck" and (t.freeze or augment):
        bad = "transfer.freeze" if t.freeze else f"augment={augment!r}"
        raise ValueError(
            f"{bad} does not apply to transfer.mode='bottleneck' (the features are computed "
            f"once by the frozen network); clear it or use finetune_top"
        )


def check_workdir(t: Options, workdir: str) -> None:
    """Raises a ValueError when the run would write into its own source (`init_from`)."""
    if not t.mode or t.init_from in pretrained_names():
        return
    source = os.path.realpath(os.path.expanduser(t.init_from))
    run = os.path.realpath(workdir)
    if source == run or source.startswith(run + os.sep) or run.startswith(source + os.sep):
        raise ValueError(
            f"transfer.init_from={t.init_from!r} is inside the run's workdir "
            f"{workdir!r} (or contains it): the source must stay untouched; use another --workdir"
        )


@dataclasses.dataclass(frozen=True)
class Setup:
    """What `cnnjax.train.experiment.build` uses instead of its own pieces.

    Attributes:
      dataset, model, input_shape, preprocess: replacements (features and a `FeatureHead` in
        bottleneck mode; unchanged otherwise).
      wrap_optimizer: `fn(tx) -> tx` (frozen groups and per-group rates), or None.
      wrap_init: `fn(init_fn) -> init_fn` restoring the source into the fresh state.
      report: the partial-restore `Report`.
    """

    dataset: Any
    model: Any
    input_shape: tuple
    preprocess: Callable
    wrap_optimizer: Callable | None
    wrap_init: Callable
    report: restore.Report


def _init(model, input_shape: tuple, seed: int) -> Callable[[], dict]:
    return lambda: model.init(
        {"params": jax.random.PRNGKey(seed), "dropout": jax.random.PRNGKey(seed + 1)},
        jnp.zeros((1, *input_shape), jnp.float32),
        train=False,
    )


def _variables(variables) -> dict:
    """Only `params` and `batch_stats` (init also returns what models sow)."""
    return {c: variables.get(c, {}) for c in ("params", "batch_stats")}


def _restored_init(model, source: Source, report, apply_fn) -> Callable:
    def wrap(init_fn):
        def init():
            state = init_fn()
            fresh = {"params": state.params, "batch_stats": state.batch_stats}
            merged = restore.apply_restore(fresh, source.variables, report)
            params = merged["params"]
            ema = None if state.ema_params is None else jax.tree.map(jnp.copy, params)
            return state.replace(
                params=params,
                batch_stats=merged["batch_stats"],
                opt_state=state.tx.init(params),
                ema_params=ema,
                apply_fn=apply_fn,
            )

        return init

    return wrap


def _features(t: Options, data_dir, dataset, model, variables, input_shape, prep, source, log):
    """The `Dataset` of bottleneck features of every split used, cached on disk."""
    extractor = bottleneck.make_extractor(model, prep, t.layer, t.pool)
    root = t.feature_cache or os.path.join(data.resolve_data_dir(data_dir), "bottleneck")
    splits = {}
    for split in dict.fromkeys((dataset.train_split, dataset.eval_split)):
        key = bottleneck.cache_key(
            model=type(model).__name__,
            model_config=repr(model),
            source=source.fingerprint,
            layer=t.layer,
            pool=t.pool,
            input_shape=input_shape,
            # per_class= thins only the training split: held-out features are shared.
            dataset=dataset.name
            if split == dataset.train_split
            else without_per_class(dataset.name),
            split=split,
            count=len(dataset.splits[split]),
            format=1,  # bump when the stored layout changes
        )
        name = dataset.name if split == dataset.train_split else without_per_class(dataset.name)
        path = bottleneck.cache_path(root, name, split, t.layer, key)
        compute = lambda s=split: bottleneck.extract(
            extractor,
            variables,
            dataset.splits[s],
            t.feature_batch_size,
            f"{t.layer} features of {s}",
        )
        features, labels = bottleneck.cached(path, compute, log)
        splits[split] = bottleneck.FeatureSource(features, labels)
    shape = tuple(splits[dataset.train_split].features.shape[1:])
    return dataclasses.replace(
        dataset, name=f"{dataset.name}#{t.layer}", splits=splits, image_shape=shape
    )


def build(
    t: Options,
    dataset,
    model,
    input_shape: tuple,
    prep: Callable,
    *,
    seed: int = 0,
    data_dir: str = "",
    input_size: int | None = None,
    log: Callable[[str], None] = print,
) -> Setup:
    """Loads the source, checks it against `model`, and assembles the transfer pieces.

    Args:
      t: the transfer options (checked by `check`).
      dataset: the target `cnnjax.data.Dataset`.
      model: the target model (its head sized for `dataset`).
      input_shape: (H, W, C) the model sees.
      prep: the run's on-device preprocessing.
      seed: seed of the fresh head (bottleneck).
      data_dir: the run's data directory (the default feature cache lies under it).
      input_size: the input side asked for (config `data.input_shape[0]`); None: the pretrained
        network's own.
      log: where the report and cache messages go.

    Returns:
      A `Setup`.

    Raises:
      FileNotFoundError / ValueError: see `check`, `restore.plan_restore`,
        `freeze.check_freeze` and `bottleneck.check_layer`; all before anything compiles.
    """
    source = load_source(t.init_from)
    if source.model is not None:
        model, prep, input_shape = _pretrained_target(input_size, source, dataset, model)
    order = restore.module_order(model, input_shape)
    head = t.head or restore.default_head(order)
    abstract = _variables(jax.eval_shape(_init(model, input_shape, 0)))
    report = restore.plan_restore(abstract, source.variables, head, t.init_from)
    if t.mode == "bottleneck":
        bottleneck.check_layer(t.layer, bottleneck.layer_shapes(model, abstract, input_shape))
    pattern = t.freeze
    if t.mode == "finetune_top" and not pattern:
        pattern = freeze.default_freeze(order, head, t.train_last)
    if pattern:
        freeze.check_freeze(pattern, order, head)
    log(report.summary(source.path or source.name))
    if t.mode == "bottleneck":
        fresh = _variables(jax.jit(_init(model, input_shape, seed))())
        variables = restore.apply_restore(fresh, source.variables, report)
        features = _features(t, data_dir, dataset, model, variables, input_shape, prep, source, log)
        head_model = bottleneck.FeatureHead(num_classes=dataset.num_classes, hidden=t.hidden)
        return Setup(
            dataset=features,
            model=head_model,
            input_shape=features.image_shape,
            preprocess=lambda x: x.astype(jnp.float32),
            wrap_optimizer=None,
            wrap_init=lambda init_fn: init_fn,
            report=report,
        )
    label = freeze.labeller(pattern, head)
    if pattern:
        log(f"transfer: freezing {pattern!r} (BatchNorm there runs in inference mode)")
    apply_fn = freeze.stop_frozen_gradients(
        freeze.frozen_batchnorm_apply(model.apply, label), label
    )
    return Setup(
        dataset=dataset,
        model=model,
        input_shape=input_shape,
        preprocess=prep,
        wrap_optimizer=lambda tx: freeze.group_optimizer(tx, label, t.backbone_lr, t.head_lr),
        wrap_init=_restored_init(model, source, report, apply_fn),
        report=report,
    )


def _pretrained_target(input_size: int | None, source: Source, dataset, target):
    """The pretrained network with a `dataset`-sized head, its preprocessing and input shape.

    The input side is `input_size` if given, else the network's (224); grey images
    are repeated to RGB and resized whole (no centre crop), then normalised as in training.
    """
    mean, std = PRETRAINED[source.name][5:7]
    size = input_size or models.get_model_spec(source.name).input_shape[0]
    rgb = make_preprocess(size, mean, std, crop_fraction=1.0)

    def preprocess(images: jax.Array) -> jax.Array:
        images = jnp.asarray(images)
        if images.shape[-1] == 1:
            images = jnp.repeat(images, 3, axis=-1)  # (B, H, W, 1) → (B, H, W, 3)
        return rgb(images)

    model = source.model.clone(num_classes=dataset.num_classes)
    # BatchNorm reduces over the engine's axis as the run's own model would (cross-replica).
    model = layers.with_batch_norm_axis(model, getattr(target, "bn_axis_name", None))
    return model, preprocess, (size, size, 3)


__all__ = ["KEYS", "MODES", "Options", "Setup", "build", "check", "check_workdir"]
