"""Named intermediate activations of any zoo model, in forward order.

Models `record` their paper-named activations (`conv1`, `pool1`, `inception3a`, `stage2/block1`,
`pre_logits`): each call sows the activation into the `intermediates` collection and, while
`intermediates` runs the model, notes its name, so the order of the calls is kept beside the
values. `intermediates` returns them as a `collections.OrderedDict`, a pytree whose structure
holds its keys in order (a plain dict is flattened with sorted keys), so the forward order
survives `jax.jit`, `jax.eval_shape` and `jax.make_jaxpr` as well.
"""

import collections
import contextlib
import contextvars

import flax.linen as nn
import jax

_KEY = "activations"
# The names `record` is called with, in call order, while `intermediates` applies a model.
_ORDER: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "cnnjax_intermediates_order", default=None
)


def record(module: nn.Module, name: str, x: jax.Array) -> jax.Array:
    """Sows `x` as the activation called `name`; returns `x` so calls can be chained."""
    # One dict per module (not one variable per name) so that activation names may equal
    # submodule names: the `conv1` activation lives beside the `conv1` layer.
    sown = module.sow(
        "intermediates", _KEY, {name: x}, init_fn=dict, reduce_fn=lambda a, b: {**a, **b}
    )
    order = _ORDER.get()
    if sown and order is not None:
        order.append("/".join((*module.path, name)))
    return x


@contextlib.contextmanager
def _noting_order():
    order: list[str] = []
    token = _ORDER.set(order)
    try:
        yield order
    finally:
        _ORDER.reset(token)


def _flatten(tree, prefix: str, out: dict) -> None:
    for key, value in tree.items():
        if key == _KEY:
            for name, activation in value.items():
                out[f"{prefix}/{name}" if prefix else name] = activation
        else:
            _flatten(value, f"{prefix}/{key}" if prefix else key, out)


def intermediates(
    model: nn.Module, variables, x: jax.Array, *, train: bool = False, rngs=None
) -> collections.OrderedDict[str, jax.Array]:
    """Returns `{layer_name: activation}` in forward order, plus `logits` last.

    The order is that of the `record` calls (a submodule's activations fall between its
    parent's where it ran), and holds under `jax.jit` and `jax.eval_shape` too: the result is
    an `OrderedDict`, which JAX flattens and rebuilds in its own key order.

    Args:
      model: a zoo model.
      variables: its variables (`params`, and `batch_stats` where it has BatchNorm).
      x: (B, H, W, C) input.
      train: run in training mode (dropout on, BatchNorm batch statistics).
      rngs: e.g. `{"dropout": key}` in training mode.

    Returns:
      `OrderedDict` of name ("conv1", "stage2/block1", "pre_logits", ..., "logits") ->
      activation with the batch axis first.
    """
    mutable = ["intermediates", "batch_stats"] if train else ["intermediates"]
    with _noting_order() as order:
        logits, state = model.apply(variables, x, train=train, mutable=mutable, rngs=rngs)
    sown: dict[str, jax.Array] = {}
    _flatten(state.get("intermediates", {}), "", sown)
    # Names sown but not noted (a lifted transform that replays a cached trace) go last.
    names = dict.fromkeys([*(n for n in order if n in sown), *sown])
    out = collections.OrderedDict((name, sown[name]) for name in names)
    out["logits"] = logits
    return out
