"""Named intermediate activations of any zoo model.

Models `sow` their paper-named activations (`conv1`, `pool1`, `inception3a`, `stage2/block1`,
`pre_logits`) into the `intermediates` collection; `intermediates` returns them in order.
"""

import flax.linen as nn
import jax

_KEY = "activations"


def record(module: nn.Module, name: str, x: jax.Array) -> jax.Array:
    """Sows `x` as the activation called `name`; returns `x` so calls can be chained."""
    # One dict per module (not one variable per name) so that activation names may equal
    # submodule names: the `conv1` activation lives beside the `conv1` layer.
    module.sow("intermediates", _KEY, {name: x}, init_fn=dict, reduce_fn=lambda a, b: {**a, **b})
    return x


def _flatten(tree, prefix: str, out: dict) -> None:
    for key, value in tree.items():
        if key == _KEY:
            for name, activation in value.items():
                out[f"{prefix}/{name}" if prefix else name] = activation
        else:
            _flatten(value, f"{prefix}/{key}" if prefix else key, out)


def intermediates(
    model: nn.Module, variables, x: jax.Array, *, train: bool = False, rngs=None
) -> dict[str, jax.Array]:
    """Returns `{layer_name: activation}` in forward order, plus `logits` last.

    The order holds when this is called outside `jit`: a dict returned *through* `jax.jit` or
    `jax.eval_shape` comes back with sorted keys (pytree flattening sorts dict keys).

    Args:
      model: a zoo model.
      variables: its variables (`params`, and `batch_stats` where it has BatchNorm).
      x: (B, H, W, C) input.
      train: run in training mode (dropout on, BatchNorm batch statistics).
    """
    mutable = ["intermediates", "batch_stats"] if train else ["intermediates"]
    logits, state = model.apply(variables, x, train=train, mutable=mutable, rngs=rngs)
    out: dict[str, jax.Array] = {}
    _flatten(state.get("intermediates", {}), "", out)
    out["logits"] = logits
    return out
