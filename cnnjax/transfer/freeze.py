"""Freezing by pattern and per-group learning rates, with frozen BatchNorm run in inference mode.

Every parameter gets one label from its `/`-joined path: `head` (matches the head regex),
`frozen` (matches the freeze regex), else `backbone`. `group_optimizer` wraps the run's optimizer
in two `optax.multi_transform`s: before it, frozen gradients are set to zero (so clipping and
moments never see them); after it, frozen updates are set to zero (decoupled weight decay cannot
move them either) and the others are scaled by their group's learning-rate multiplier. Frozen
BatchNorm layers normalise with their running statistics and never update them
(`frozen_batchnorm_apply`), as Yosinski et al. (2014) and the survey's "case 2" freeze layers.
Frozen parameters are constants to autodiff (`stop_frozen_gradients`), so the backward pass runs
only through the layers that train: below the lowest trained layer nothing is differentiated.
"""

import re
from collections.abc import Callable, Iterable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

GROUPS = ("frozen", "backbone", "head")


def path_of(key_path) -> str:
    """A `jax.tree_util` key path → `conv1/kernel`."""
    return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in key_path)


def labeller(freeze: str, head: str) -> Callable[[str], str]:
    """`label(path) -> "frozen" | "backbone" | "head"`; the head is never frozen."""
    freeze_re = re.compile(freeze) if freeze else None
    head_re = re.compile(head)

    def label(path: str) -> str:
        if head_re.search(path):
            return "head"
        if freeze_re is not None and freeze_re.search(path):
            return "frozen"
        return "backbone"

    return label


def label_tree(params, label: Callable[[str], str]):
    """The tree of `params` with each leaf replaced by its group label."""
    return jax.tree_util.tree_map_with_path(lambda kp, _: label(path_of(kp)), params)


def default_freeze(paths: Iterable[str], head: str, train_last: int) -> str:
    """Regex freezing every top-level module but the last `train_last` before the head.

    Args:
      paths: parameter paths in creation order (`restore.module_order`).
      head: the head regex (the head always trains).
      train_last: backbone modules left trainable at the top (finetune_top's default).
    """
    head_re = re.compile(head)
    modules: list[str] = []
    for path in paths:
        top = path.split("/")[0]
        if not head_re.search(path) and top not in modules:
            modules.append(top)
    frozen = modules[: max(len(modules) - train_last, 0)]
    return f"^({'|'.join(re.escape(m) for m in frozen)})/" if frozen else ""


def check_freeze(freeze: str, paths: Iterable[str], head: str) -> None:
    """Raises a ValueError when `freeze` is not a regex or freezes no parameter outside the head."""
    try:
        re.compile(freeze)
    except re.error as e:
        raise ValueError(f"transfer.freeze={freeze!r} is not a regular expression: {e}") from e
    paths = list(paths)
    label = labeller(freeze, head)
    if not any(label(p) == "frozen" for p in paths):
        modules = list(dict.fromkeys(p.rsplit("/", 1)[0] for p in paths))
        raise ValueError(
            f"transfer.freeze={freeze!r} matches no parameter outside the head "
            f"(head: {head!r}); parameter paths are under: {', '.join(modules)}"
        )


def group_optimizer(
    inner: optax.GradientTransformation,
    label: Callable[[str], str],
    backbone_lr: float,
    head_lr: float,
) -> optax.GradientTransformation:
    """zero frozen gradients → `inner` → zero frozen updates, scale backbone / head updates.

    Args:
      inner: the run's optimizer (clipping, weight decay, the update rule).
      label: `labeller(freeze, head)`.
      backbone_lr, head_lr: learning-rate multipliers of the trainable groups.

    Returns:
      An optax `GradientTransformation`.
    """
    labels = lambda params: label_tree(params, label)
    before = {"frozen": optax.set_to_zero(), "backbone": optax.identity(), "head": optax.identity()}
    after = {
        "frozen": optax.set_to_zero(),
        "backbone": optax.scale(backbone_lr),
        "head": optax.scale(head_lr),
    }
    return optax.chain(
        optax.multi_transform(before, labels), inner, optax.multi_transform(after, labels)
    )


def inference_batchnorm(module: nn.BatchNorm, x: jax.Array) -> jax.Array:
    """What `module` computes with `use_running_average=True`; updates no statistics.

    y = (x - running_mean) / sqrt(running_var + eps) * scale + bias over `module.axis`.
    """
    stats, params = module.variables["batch_stats"], module.variables.get("params", {})
    axes = (module.axis,) if isinstance(module.axis, int) else tuple(module.axis)
    axes = tuple(a % x.ndim for a in axes)
    shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
    mean = jnp.reshape(stats["mean"], shape)
    var = jnp.reshape(stats["var"], shape)
    y = x - mean
    mul = jax.lax.rsqrt(var + module.epsilon)
    if module.use_scale:
        mul = mul * jnp.reshape(params["scale"], shape)
    y = y * mul
    if module.use_bias:
        y = y + jnp.reshape(params["bias"], shape)
    dtype = module.dtype or jnp.result_type(x, stats["mean"])
    return jnp.asarray(y, dtype)


def frozen_batchnorm_apply(apply_fn: Callable, label: Callable[[str], str]) -> Callable:
    """`apply_fn` in which BatchNorm layers whose `scale` is frozen run in inference mode."""

    def interceptor(next_fun, args, kwargs, context):
        module = context.module
        if (
            isinstance(module, nn.BatchNorm)
            and context.method_name == "__call__"
            and not module.is_initializing()
            and label("/".join(module.path) + "/scale") == "frozen"
        ):
            return inference_batchnorm(module, args[0])
        return next_fun(*args, **kwargs)

    def apply(*args, **kwargs):
        with nn.intercept_methods(interceptor):
            return apply_fn(*args, **kwargs)

    return apply


def stop_frozen_gradients(apply_fn: Callable, label: Callable[[str], str]) -> Callable:
    """`apply_fn` that sees every frozen parameter through `jax.lax.stop_gradient`.

    The forward values are unchanged; the gradient of a frozen parameter is a symbolic zero, so
    JAX emits no backward pass for the frozen layers that come before every trained one (in
    finetune_top the whole early network is run forward only). `group_optimizer` still zeroes
    frozen gradients and updates, so the optimizer never depends on this.

    Args:
      apply_fn: `model.apply` (or a wrapper of it) taking `variables` first.
      label: `labeller(freeze, head)`.
    """

    def stop(key_path, value):
        return jax.lax.stop_gradient(value) if label(path_of(key_path)) == "frozen" else value

    def apply(variables, *args, **kwargs):
        if "params" in variables:
            params = jax.tree_util.tree_map_with_path(stop, variables["params"])
            variables = {**variables, "params": params}
        return apply_fn(variables, *args, **kwargs)

    return apply


__all__ = [
    "GROUPS",
    "check_freeze",
    "default_freeze",
    "frozen_batchnorm_apply",
    "group_optimizer",
    "inference_batchnorm",
    "label_tree",
    "labeller",
    "path_of",
    "stop_frozen_gradients",
]
