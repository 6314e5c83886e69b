"""Pure train and eval steps: no `jit`, no devices; `cnnjax.train.parallel` compiles them.

A batch is `{"image": (B, h, w, c) uint8, "label": (B,) int32[, "mask": (B,) bool]}` as the data
loaders produce it; preprocessing and augmentation run here, on the accelerator. Under `pmap`
the engine passes `axis_name` and the steps average gradients and statistics across it; under
`jit` the batch is one global array and the means are global already.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from cnnjax.train import losses
from cnnjax.train.state import TrainState

NAN_POLICIES = ("stop", "skip")


@dataclasses.dataclass(frozen=True)
class StepOptions:
    """What the steps need besides the state and the batch.

    Attributes:
      num_classes: K.
      preprocess: `fn((B, h, w, c) uint8) -> (B, H, W, C)` model input in the compute dtype.
      augment: `fn(key, images, labels (B, K)) -> (images, labels)` or None.
      label_smoothing: α of label smoothing.
      aux_loss_weight: weight of each auxiliary classifier loss (GoogLeNet: 0.3).
      ema_decay: decay of the parameter EMA (used only when the state keeps one).
      reject_logit: the training loss's constant extra logit (`losses.cross_entropy`), from
        the model's `reject_logit` (LeNet-5's RBF output: −j of eq. 9); None: plain softmax.
    """

    num_classes: int
    preprocess: Callable[[jax.Array], jax.Array]
    augment: Callable | None = None
    label_smoothing: float = 0.0
    aux_loss_weight: float = 0.0
    ema_decay: float = 0.999
    reject_logit: float | None = None


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _select(pred: jax.Array, on_true, on_false):
    """`on_true` if `pred` else `on_false` (same tree structure), as one `lax.cond`.

    One conditional rather than a `jnp.where` per leaf: XLA fused the predicate (the combined
    per-leaf finiteness reductions) into each of the per-leaf selects, about 170 copies for
    ResNet-20, which doubled its train step's compile time (8.1 -> 4.0 s of CPU, same values and
    step time; docs/speed.md). The reductions stay per leaf, so sharded gradients are not gathered.
    """
    return jax.lax.cond(pred, lambda t, f: t, lambda t, f: f, on_true, on_false)


def train_step(
    state: TrainState,
    batch: dict[str, jax.Array],
    rng: jax.Array,
    *,
    options: StepOptions,
    axis_name: str | None = None,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One optimizer step (one micro-step when the optimizer accumulates gradients).

    A step whose loss or gradients are not finite leaves params, batch statistics, optimizer
    state and EMA untouched (only `step` advances, and the loss scale backs off under float16);
    its `nonfinite` metric is 1 so the loop can stop or go on (`config.nan_policy`).

    Args:
      state: the `TrainState`.
      batch: `image` (B, h, w, c) uint8, `label` (B,) int32.
      rng: the run's base key; this step uses `fold_in(rng, state.step)` (and the device index
        under `pmap`), so a resumed run draws exactly the same randomness.
      options: `StepOptions`.
      axis_name: the mapped axis under `pmap`, else None.

    Returns:
      (new state, metrics): `loss` (plain cross-entropy of the main head against the batch's
      labels, after mixing but without label smoothing: the quantity evaluation reports),
      `objective` (what the gradient minimises: smoothed loss plus auxiliary heads), `accuracy`,
      `grad_norm`, `nonfinite`, all () float32 and global over the batch.
    """
    rng = jax.random.fold_in(rng, state.step)
    if axis_name is not None:
        rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))
    augment_rng, dropout_rng = jax.random.split(rng)
    images = options.preprocess(batch["image"])
    labels = jax.nn.one_hot(batch["label"], options.num_classes, dtype=jnp.float32)
    if options.augment is not None:
        images, labels = options.augment(augment_rng, images, labels)

    def loss_fn(params):
        logits, updates = state.apply_fn(
            state.variables(params),
            images,
            train=True,
            mutable=["batch_stats", "aux_logits"],
            rngs={"dropout": dropout_rng},
        )
        data_loss = jnp.mean(
            losses.cross_entropy(logits, labels, options.label_smoothing, options.reject_logit)
        )
        aux = losses.aux_loss(
            updates.get("aux_logits"), labels, options.aux_loss_weight, options.label_smoothing
        )
        objective = data_loss + aux
        return objective, (objective, data_loss, logits, updates.get("batch_stats", {}))

    if state.dynamic_scale is not None:
        grad_fn = state.dynamic_scale.value_and_grad(loss_fn, has_aux=True, axis_name=axis_name)
        dynamic_scale, finite, (_, aux_out), grads = grad_fn(state.params)
    else:
        (_, aux_out), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        if axis_name is not None:
            grads = jax.lax.pmean(grads, axis_name)
        dynamic_scale, finite = None, _all_finite(grads)
    objective, data_loss, logits, batch_stats = aux_out
    finite = jnp.logical_and(finite, jnp.isfinite(data_loss))
    # The curve a user compares with evaluation: plain cross-entropy of the main head (no label
    # smoothing, no auxiliary heads), as `eval_step` reports it.
    plain_loss = jnp.mean(losses.cross_entropy(logits, labels))
    if axis_name is not None:
        batch_stats = jax.lax.pmean(batch_stats, axis_name)
        objective, plain_loss = jax.lax.pmean((objective, plain_loss), axis_name)
        finite = jax.lax.pmin(finite.astype(jnp.int32), axis_name).astype(bool)

    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema_params = state.ema_params
    if ema_params is not None:
        updated = opt_state.mini_step == 0 if isinstance(opt_state, optax.MultiStepsState) else True
        decay = jnp.where(updated, options.ema_decay, 1.0)
        ema_params = optax.incremental_update(params, ema_params, 1.0 - decay)
    new = (params, batch_stats, opt_state, ema_params)
    old = (state.params, state.batch_stats, state.opt_state, state.ema_params)
    params, batch_stats, opt_state, ema_params = _select(finite, new, old)
    state = state.replace(
        step=state.step + 1,
        params=params,
        batch_stats=batch_stats,
        opt_state=opt_state,
        ema_params=ema_params,
        dynamic_scale=dynamic_scale,
    )
    accuracy = jnp.mean(losses.topk_correct(logits, batch["label"], 1))
    if axis_name is not None:
        accuracy = jax.lax.pmean(accuracy, axis_name)
    metrics = {
        "loss": plain_loss,
        "objective": objective,
        "accuracy": accuracy,
        "grad_norm": optax.global_norm(grads),
        "nonfinite": 1.0 - finite.astype(jnp.float32),
    }
    return state, metrics


def eval_step(
    state: TrainState,
    batch: dict[str, jax.Array],
    *,
    options: StepOptions,
    axis_name: str | None = None,
) -> dict[str, jax.Array]:
    """Summable statistics of one evaluation batch (EMA parameters when kept).

    Args:
      state: the `TrainState`.
      batch: `image` (B, h, w, c) uint8, `label` (B,) int32, optional `mask` (B,) bool.
      options: `StepOptions` (only `preprocess` is used).
      axis_name: the mapped axis under `pmap` (sums are `psum`-ed over it), else None.

    Returns:
      `losses.classification_sums`: loss/top-1/top-5 sums, count and the (K, K) confusion counts.
    """
    images = options.preprocess(batch["image"])
    logits = state.apply_fn(state.variables(state.eval_params), images, train=False)
    sums = losses.classification_sums(logits, batch["label"], batch.get("mask"))
    if axis_name is not None:
        sums = jax.lax.psum(sums, axis_name)
    return sums
