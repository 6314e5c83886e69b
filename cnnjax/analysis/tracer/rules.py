"""Which rule follows each primitive: a layer, a data movement, or else position by position.

See `cnnjax.analysis.tracer.layers` for the rule signature.
"""

from cnnjax.analysis.tracer import layers, movement
from cnnjax.analysis.tracer.fields import UNKNOWN, merge, shape_of

# Same-shape operations that mix positions along an axis, and control flow (whose bodies are not
# walked); every other same-shape primitive is taken to act position by position (elementwise
# arithmetic, activations, casts, LRN).
_NOT_POINTWISE = {
    "cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp", "rev", "sort", "fft",
    "while", "cond", "scan",
}  # fmt: skip


def pointwise(eqn, ins, act):
    """The default rule: same-shape outputs that combine their operands position by position."""
    shapes = {shape_of(eqn.invars[i]) for i in act} | {shape_of(v) for v in eqn.outvars}
    if eqn.primitive.name in _NOT_POINTWISE or len(shapes) != 1:
        return [UNKNOWN] * len(eqn.outvars), None
    return [merge(ins[i] for i in act)] * len(eqn.outvars), None


# Primitive name -> rule; any other primitive: `pointwise`.
RULES = {
    # layers
    "conv_general_dilated": layers.convolution,
    "reduce_window_max": layers.window_reduction,
    "reduce_window_sum": layers.window_reduction,
    "reduce_window_min": layers.window_reduction,
    "reduce_window": layers.window_reduction,
    "reduce_sum": layers.axis_reduction,
    "reduce_max": layers.axis_reduction,
    "reduce_min": layers.axis_reduction,
    "reduce_prod": layers.axis_reduction,
    "argmax": layers.axis_reduction,
    "argmin": layers.axis_reduction,
    "dot_general": layers.dot_product,
    # data movement
    "reshape": movement.reshape,
    "transpose": movement.transpose,
    "broadcast_in_dim": movement.broadcast_in_dim,
    "squeeze": movement.squeeze,
    "concatenate": movement.concatenate,
    "split": movement.split,
    "gather": movement.gather,
    "pad": movement.pad,
    "slice": movement.strided_slice,
}


def rule_for(primitive: str):
    """The rule for the primitive called `primitive` ("conv_general_dilated", "add", ...)."""
    return RULES.get(primitive, pointwise)
