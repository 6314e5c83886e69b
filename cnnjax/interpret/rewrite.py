"""One forward pass of any zoo model with changes a plain `apply` cannot make.

1. *Taps*: an additive perturbation on any recorded activation (`record`, see
   `cnnjax.models.intermediates`). Its gradient is the gradient with respect to that activation,
   which Grad-CAM and layer-unit saliency need; it is zero, so the forward values do not change.
2. *Guided backprop* (Springenberg et al., 2015, "Striving for Simplicity: The All Convolutional
   Net"): every ReLU, ReLU6, tanh and sigmoid passes back only positive gradients, and only where
   its own derivative is nonzero.

A third change is only for speed: depthwise convolutions become sums of shifted copies
(`cnnjax.ops.depthwise`, the form the CPU path of `cnnjax.ops` runs for every depthwise
convolution), which XLA:CPU runs an order of magnitude faster; it matters where the traced
program still holds XLA's grouped convolution (the native path, a plain `flax.linen.Conv`).

All three work on the traced program (a jaxpr) of `intermediates(model, variables, x)`, so no
model has to be written for them: an activation is found as `jax.nn.relu`/`relu6` (custom-JVP
calls wrapping a jit of that name), as `jnp.clip(x, 0, 6)` (a jit named `clip` with literal
bounds) or as the `tanh`/`logistic` primitive, and a tap is placed on the jaxpr variable that the
model records — the same value the next layer consumes.
"""

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from jax.extend import core as jex_core

from cnnjax.interpret.depthwise import is_depthwise
from cnnjax.models.intermediates import intermediates
from cnnjax.ops.depthwise import depthwise


def _guided(forward, derivative):
    """A custom-VJP activation whose backward pass is `derivative(x) * relu(g)`."""

    @jax.custom_vjp
    def act(x):
        return forward(x)

    def fwd(x):
        return forward(x), x

    def bwd(x, g):
        return (derivative(x) * jnp.maximum(g, 0),)

    act.defvjp(fwd, bwd)
    return act


guided_relu = _guided(jax.nn.relu, lambda x: (x > 0).astype(x.dtype))
guided_relu6 = _guided(jax.nn.relu6, lambda x: ((x > 0) & (x < 6)).astype(x.dtype))
guided_tanh = _guided(jnp.tanh, lambda x: 1 - jnp.tanh(x) ** 2)
guided_sigmoid = _guided(jax.nn.sigmoid, lambda x: jax.nn.sigmoid(x) * (1 - jax.nn.sigmoid(x)))

# jax.nn.relu / relu6 are custom-JVP functions around a jit carrying the function's name.
_NAMED = {"relu": guided_relu, "relu6": guided_relu6}
_PRIMITIVES = {"tanh": guided_tanh, "logistic": guided_sigmoid}


def _guided_rule(eqn):
    """The guided replacement of this equation's activation, or None if it is not one."""
    name = eqn.primitive.name
    if name in _PRIMITIVES:
        return _PRIMITIVES[name]
    if name in ("jit", "pjit") and eqn.params.get("name") == "clip":  # jnp.clip(x, 0, 6)
        bounds = [v.val if isinstance(v, jex_core.Literal) else None for v in eqn.invars[1:]]
        if bounds == [0, 6]:
            return guided_relu6
        if bounds in ([0], [0, None]) and isinstance(eqn.invars[-1], jex_core.Literal):
            return guided_relu
        return None
    if name == "custom_jvp_call":
        inner = eqn.params["call_jaxpr"].jaxpr.eqns
        if len(inner) == 1 and inner[0].primitive.name in ("jit", "pjit"):
            return _NAMED.get(str(inner[0].params.get("name")))
    return None


def _eval(jaxpr, consts, args, taps: Mapping, guided: bool, fast: bool):
    """Evaluates `jaxpr` like `jax.core.eval_jaxpr`, adding `taps[var]` to the listed variables
    swapping activations for their guided versions when `guided` and depthwise convolutions for
    sums of shifted copies (`cnnjax.ops.depthwise`) when `fast`."""
    env = {}

    def read(v):
        return v.val if isinstance(v, jex_core.Literal) else env[v]

    for v, value in zip(jaxpr.constvars, consts, strict=True):
        env[v] = value
    for v, value in zip(jaxpr.invars, args, strict=True):
        env[v] = value
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        rule = _guided_rule(eqn) if guided else None
        if rule is not None:
            outvals = [rule(invals[0])]
        elif eqn.primitive.name in ("jit", "pjit"):  # inline, so inner activations are seen
            closed = eqn.params["jaxpr"]
            outvals = _eval(closed.jaxpr, closed.consts, invals, taps, guided, fast)
        elif fast and is_depthwise(eqn):
            p = eqn.params
            outvals = [depthwise(*invals, p["window_strides"], p["padding"], p["rhs_dilation"])]
        else:
            outvals = eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(eqn.params))
            outvals = outvals if eqn.primitive.multiple_results else [outvals]
        for v, value in zip(eqn.outvars, outvals, strict=True):
            env[v] = value + taps[v] if v in taps else value
    return [read(v) for v in jaxpr.outvars]


def forward(
    model,
    variables,
    x: jax.Array,
    *,
    taps: Mapping[str, jax.Array] | None = None,
    guided: bool = False,
    fast: bool | None = None,
) -> dict[str, jax.Array]:
    """`intermediates(model, variables, x)` with taps and/or guided activations.

    Args:
      model: a linen module whose activations are recorded (every zoo model).
      variables: its variables.
      x: (B, H, W, C) input.
      taps: recorded activation name -> a perturbation of that activation's shape (usually
        zeros), added where the model produces it, before any later layer reads it.
      guided: swap ReLU, ReLU6, tanh and sigmoid for their guided-backprop versions.
      fast: compute depthwise convolutions as sums of shifted copies, which XLA:CPU runs an
        order of magnitude faster than its grouped convolution (same values up to rounding);
        default: on the CPU backend only.

    Returns:
      `{name: activation}` of every recorded activation plus `logits`, in forward order.
    """
    taps = dict(taps or {})
    if fast is None:
        fast = jax.default_backend() == "cpu"
    if not taps and not guided and not fast:
        return intermediates(model, variables, x)
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)),
                            (variables, x))  # fmt: skip
    closed, shapes = jax.make_jaxpr(lambda v, x: intermediates(model, v, x), return_shape=True)(
        *abstract
    )
    names, tree = jax.tree_util.tree_flatten_with_path(shapes)
    index = {path[0].key: i for i, (path, _) in enumerate(names)}
    unknown = sorted(set(taps) - set(index))
    if unknown:
        raise ValueError(f"cannot tap {unknown}: recorded activations are {sorted(index)}")
    by_var = {}
    for name, delta in taps.items():
        var = closed.jaxpr.outvars[index[name]]
        if not isinstance(var, jex_core.Var) or var in closed.jaxpr.invars:
            raise ValueError(f"activation {name!r} is not computed by the model; cannot tap it")
        by_var[var] = delta
    leaves = _eval(
        closed.jaxpr, closed.consts, jax.tree.leaves((variables, x)), by_var, guided, fast
    )
    return jax.tree_util.tree_unflatten(tree, leaves)
