"""Traces a model's forward pass to a jaxpr and follows the input through it.

`jax.make_jaxpr` traces without compiling or running anything; its equations are the true
data-flow graph, so receptive fields come out exact for branching networks too (a residual sum or
an Inception concat is the union of its branches) and every convolution, pooling window and dense
product is seen, whichever module or plain function (`cnnjax.models.layers.max_pool`) called it.
Flax runs each module method under `jax.named_scope(module.name)` (forced on here), so the name
stack of an equation is the path of the module that ran it.
"""

import dataclasses

import flax.linen as nn
import jax

from cnnjax.analysis.tracer.fields import Field, input_field
from cnnjax.analysis.tracer.layers import LayerCall
from cnnjax.analysis.tracer.walk import Walker, layer_scopes
from cnnjax.models.intermediates import intermediates
from cnnjax.ops import dispatch


@dataclasses.dataclass
class Trace:
    """What the input met on its way through the model.

    Attributes:
      calls: the layers, in execution order, with `scope` set to their module path.
      first_seen: module path -> number of `calls` made before the input first reached it.
      scope_outputs: module path -> (shape, field) of the last input-dependent value computed
        in that module itself (not in its submodules).
      activations: recorded activation name (`cnnjax.models.intermediates`, "logits" last)
        -> (shape, field, origin), in forward order; the origin names the layer call or module
        the value comes from through same-shape position-wise operations only (else None).
      classes: module path -> class name of every module called.
    """

    calls: list[LayerCall]
    first_seen: dict[str, int]
    scope_outputs: dict[str, tuple[tuple[int, ...], Field]]
    activations: dict[str, tuple]
    classes: dict[str, str]


def trace_model(model: nn.Module, variables, x: jax.ShapeDtypeStruct, param_paths) -> Trace:
    """Traces `intermediates(model, variables, x)` (shapes only) and follows `x` through it.

    Args:
      model: a linen module with the zoo's `__call__(x, *, train=False)`.
      variables: its variables as arrays or `jax.ShapeDtypeStruct`s.
      x: (B, *spatial, C) input.
      param_paths: paths of the modules that own parameters directly ("stage1/block1/bn1").

    Returns:
      A `Trace`.
    """
    classes: dict[str, str] = {}

    def record_class(next_fun, args, kwargs, context):
        classes.setdefault("/".join(context.module.path), type(context.module).__name__)
        return next_fun(*args, **kwargs)

    # The native path: the walker knows XLA's convolution and pooling primitives, not the
    # CPU forms of `cnnjax.ops.dispatch` (same results, other primitives).
    with (
        dispatch.use_path("native"),
        nn.override_named_call(True),
        nn.intercept_methods(record_class),
    ):
        forward = lambda v, x: intermediates(model, v, x)
        closed, out_shape = jax.make_jaxpr(forward, return_shape=True)(variables, x)
    root = model.name or type(model).__name__
    walker = Walker(root, set())
    with_layers = {walker.module_path(s) for s in layer_scopes(closed.jaxpr)}
    walker.module_scopes = set(param_paths) - with_layers
    n_leaves = len(closed.jaxpr.invars)
    states = [None] * (n_leaves - 1) + [(input_field(len(x.shape)), None)]  # x is the last
    outs = walker.walk(closed.jaxpr, states)
    shapes, tree = jax.tree_util.tree_flatten(out_shape)  # the activations, in forward order
    leaves = [(s.shape, *(state or (None, None))) for s, state in zip(shapes, outs, strict=True)]
    return Trace(
        calls=walker.calls,
        first_seen=walker.first_seen,
        scope_outputs=walker.scope_outputs,
        activations=dict(jax.tree_util.tree_unflatten(tree, leaves)),
        classes=classes,
    )
