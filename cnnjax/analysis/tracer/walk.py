"""The jaxpr interpreter: walks a traced forward pass equation by equation, moving each
input-dependent value's field (`cnnjax.analysis.tracer.fields`) through the rule of its primitive
(`cnnjax.analysis.tracer.rules`) and collecting the layers the input meets, with the module path
that ran each (from the equation's name stack).

Call-like equations (jit, custom_jvp/vjp, checkpoint) are entered: their bodies are walked in
place, with their name stacks relative to the caller's.
"""

from jax.extend import core

from cnnjax.analysis.tracer.fields import Field
from cnnjax.analysis.tracer.layers import LayerCall
from cnnjax.analysis.tracer.rules import rule_for

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


def body_of(eqn):
    """The jaxpr a call-like equation runs (jit, custom_jvp/vjp, checkpoint), else None."""
    body = eqn.params.get(CALLS.get(eqn.primitive.name, ""))
    jaxpr = body.jaxpr if isinstance(body, core.ClosedJaxpr) else body
    if isinstance(jaxpr, core.Jaxpr) and len(jaxpr.invars) == len(eqn.invars):
        return jaxpr
    return None


def scope_of(prefix: str, eqn) -> str:
    """The full name stack of an equation (a nested body's stack is relative to its caller)."""
    return "/".join(p for p in (prefix, str(eqn.source_info.name_stack)) if p)


def layer_scopes(jaxpr, prefix: str = "") -> set[str]:
    """Name stacks of every convolution and dot product in `jaxpr`, nested bodies included."""
    found = set()
    for eqn in jaxpr.eqns:
        scope = scope_of(prefix, eqn)
        if eqn.primitive.name in ("conv_general_dilated", "dot_general"):
            found.add(scope)
        body = body_of(eqn)
        if body is not None:
            found |= layer_scopes(body, scope)
    return found


class Walker:
    """Follows the input through one jaxpr; collects what it meets.

    Attributes:
      root: the traced module's name (the first entry of every name stack).
      module_scopes: module paths whose own same-shape outputs are named after them (modules
        with parameters but no layer of their own, e.g. BatchNorm).
      calls: the layers met, in execution order, `scope` set to their module path.
      first_seen: module path -> number of `calls` made before the input first reached it.
      scope_outputs: module path -> (shape, field) of the last input-dependent value computed
        in that module itself (not in its submodules).
    """

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
        """The states of `jaxpr`'s outputs, given those of its inputs (None: not the input's)."""
        env = dict(zip(jaxpr.invars, states, strict=True))
        read = lambda v: None if isinstance(v, core.Literal) else env.get(v)
        for eqn in jaxpr.eqns:
            ins = [read(v) for v in eqn.invars]
            scope = scope_of(prefix, eqn)
            body = body_of(eqn)
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
        """Applies one primitive equation's rule; records a layer call where it is one."""
        active = [i for i, s in enumerate(ins) if s is not None]
        if not eqn.outvars:
            return []
        self.first_seen.setdefault(path, len(self.calls))
        rule = rule_for(eqn.primitive.name)
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
