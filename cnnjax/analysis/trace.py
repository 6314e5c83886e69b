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
from jax.extend import core

from cnnjax.analysis import layer_rules, layout_rules
from cnnjax.analysis.fields import Field, LayerCall, Local
from cnnjax.analysis.layout_rules import pointwise
from cnnjax.analysis.receptive_fields import ReceptiveField
from cnnjax.models.intermediates import intermediates
from cnnjax.ops import dispatch

RULES = {**layer_rules.RULES, **layout_rules.RULES}  # primitive name -> rule; else pointwise
# Call-like primitives whose body is walked in place, and the parameter holding the body.
CALLS = {
    "jit": "jaxpr",
    "pjit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "checkpoint": "jaxpr",
    "remat": "jaxpr",
    "remat2": "jaxpr",
}

Origin = tuple[str, int | str] | None  # ("call", index) or ("scope", module path)
State = tuple[Field, Origin] | None  # None: the value does not depend on the input


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


def _body(eqn):
    """The jaxpr a call-like equation runs (jit, custom_jvp/vjp, checkpoint), else None."""
    body = eqn.params.get(CALLS.get(eqn.primitive.name, ""))
    jaxpr = body.jaxpr if isinstance(body, core.ClosedJaxpr) else body
    if isinstance(jaxpr, core.Jaxpr) and len(jaxpr.invars) == len(eqn.invars):
        return jaxpr
    return None


def _scope(prefix: str, eqn) -> str:
    """The full name stack of an equation (a nested body's stack is relative to its caller)."""
    return "/".join(p for p in (prefix, str(eqn.source_info.name_stack)) if p)


class _Walker:
    def __init__(self, root: str, module_scopes: set[str]):
        self.root = root
        self.module_scopes = module_scopes
        self.calls: list[LayerCall] = []
        self.first_seen: dict[str, int] = {}
        self.scope_outputs: dict[str, tuple[tuple[int, ...], Field]] = {}

    def module_path(self, scope: str) -> str:
        """Name stack -> module path: drops the root and flax's `name.method` scopes."""
        path: list[str] = []
        for i, part in enumerate(scope.split("/") if scope else []):
            base = part.rsplit(".", 1)[0]  # flax names a non-__call__ method scope "name.method"
            if i == 0 and base == self.root:
                continue
            if path and path[-1] == base or (i == 1 and not path and base == self.root):
                continue  # a method of the module whose scope is already open
            path.append(base)
        return "/".join(path)

    def walk(self, jaxpr, states: list[State], prefix: str = "") -> list[State]:
        env = dict(zip(jaxpr.invars, states, strict=True))
        read = lambda v: None if isinstance(v, core.Literal) else env.get(v)
        for eqn in jaxpr.eqns:
            ins = [read(v) for v in eqn.invars]
            scope = _scope(prefix, eqn)
            body = _body(eqn)
            if all(state is None for state in ins):  # e.g. parameter casts: no input inside
                outs = [None] * len(eqn.outvars)
            elif body is not None:
                outs = self.walk(body, ins, scope)
            else:
                outs = self.step(eqn, ins, self.module_path(scope))
            for v, state in zip(eqn.outvars, outs, strict=True):
                if not isinstance(v, core.DropVar):
                    env[v] = state
        return [read(v) for v in jaxpr.outvars]

    def step(self, eqn, ins: list[State], path: str) -> list[State]:
        active = [i for i, s in enumerate(ins) if s is not None]
        if not eqn.outvars:
            return []
        self.first_seen.setdefault(path, len(self.calls))
        rule = RULES.get(eqn.primitive.name, pointwise)
        fields, call = rule(eqn, [s and s[0] for s in ins], active)
        same_shape = all(v.aval.shape == eqn.invars[active[0]].aval.shape for v in eqn.outvars)
        if call is not None:
            call.scope = path
            origin = ("call", len(self.calls))
            self.calls.append(call)
        elif len(active) == 1 and same_shape:
            origin = ("scope", path) if path in self.module_scopes else ins[active[0]][1]
        else:
            origin = None
        self.scope_outputs[path] = (tuple(eqn.outvars[0].aval.shape), fields[0])
        return [(f, origin) for f in fields]


def layer_scopes(jaxpr, prefix: str = "") -> set[str]:
    """Name stacks of every convolution and dot product in `jaxpr`, nested bodies included."""
    found = set()
    for eqn in jaxpr.eqns:
        scope = _scope(prefix, eqn)
        if eqn.primitive.name in ("conv_general_dilated", "dot_general"):
            found.add(scope)
        body = _body(eqn)
        if body is not None:
            found |= layer_scopes(body, scope)
    return found


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

    order: list[str] = []

    def forward(v, x):
        acts = intermediates(model, v, x)
        order.extend(acts)  # forward order; the returned pytree is sorted by key
        return acts

    # The native path: the walker knows XLA's convolution and pooling primitives, not the
    # CPU forms of `cnnjax.ops.dispatch` (same results, other primitives).
    with (
        dispatch.use_path("native"),
        nn.override_named_call(True),
        nn.intercept_methods(record_class),
    ):
        closed, out_shape = jax.make_jaxpr(forward, return_shape=True)(variables, x)
    root = model.name or type(model).__name__
    walker = _Walker(root, set())
    with_layers = {walker.module_path(s) for s in layer_scopes(closed.jaxpr)}
    walker.module_scopes = set(param_paths) - with_layers
    spatial = tuple(range(1, len(x.shape) - 1))
    field = Local(spatial, (ReceptiveField(),) * len(spatial))
    n_leaves = len(closed.jaxpr.invars)
    states = [None] * (n_leaves - 1) + [(field, None)]  # the input is the last argument
    outs = walker.walk(closed.jaxpr, states)
    shapes, tree = jax.tree_util.tree_flatten(out_shape)
    leaves = [(s.shape, *(state or (None, None))) for s, state in zip(shapes, outs, strict=True)]
    activations = jax.tree_util.tree_unflatten(tree, leaves)
    return Trace(
        calls=walker.calls,
        first_seen=walker.first_seen,
        scope_outputs=walker.scope_outputs,
        activations={name: activations[name] for name in order},
        classes=classes,
    )
