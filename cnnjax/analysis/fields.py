"""The receptive-field state the tracer attaches to every value that depends on the input.

A value carries a *field*: `Local` (spatial axes and one `ReceptiveField` per axis), `GLOBAL`
(each unit depends on every position of some feature map, e.g. after flattening) or `UNKNOWN`
(an operation the tracer cannot follow, e.g. a transposed convolution). Values that do not
depend on the input (parameters, constants) carry none.

A rule `rule(eqn, fields, active) -> (out_fields, LayerCall | None)` gets the fields of a jaxpr
equation's operands (None where an operand does not depend on the input) and the indices of
those that do; it returns the outputs' fields and, for a layer (convolution, spatial pooling,
global pooling, dense product), a `LayerCall` describing it.
"""

import dataclasses

from cnnjax.analysis.receptive_fields import ReceptiveField


@dataclasses.dataclass(frozen=True)
class Local:
    """Field of a value with spatial structure: `axes[i]` has receptive field `fields[i]`."""

    axes: tuple[int, ...]
    fields: tuple[ReceptiveField, ...]


GLOBAL = "global"
UNKNOWN = "unknown"
Field = Local | str


@dataclasses.dataclass
class LayerCall:
    """One convolution, pooling window, global pooling or dense product met by the input.

    Spatial attributes (`kernel`, `strides`, `padding`, `dilation`, `in_spatial`, `out_spatial`)
    list the dimensions the input's field runs along; `channels` is (c_in, c_out, groups).
    """

    kind: str
    scope: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    field: Field
    flops: int = 0
    kernel: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    padding: tuple[tuple[int, int], ...] = ()
    dilation: tuple[int, ...] = ()
    in_spatial: tuple[int, ...] = ()
    out_spatial: tuple[int, ...] = ()
    channels: tuple[int, int, int] | None = None


def merge(fields) -> Field:
    """The field of a unit combining several input-dependent values position by position."""
    fields = list(fields)
    if UNKNOWN in fields:
        return UNKNOWN
    if GLOBAL in fields:
        return GLOBAL
    first = fields[0]
    if any(f.axes != first.axes for f in fields):
        return UNKNOWN
    merged = list(first.fields)
    for f in fields[1:]:
        for i, rf in enumerate(f.fields):
            if rf.jump != merged[i].jump:
                return UNKNOWN
            merged[i] = merged[i].union(rf)
    return Local(first.axes, tuple(merged))


def shape_of(v) -> tuple[int, ...]:
    return tuple(int(d) for d in v.aval.shape)
