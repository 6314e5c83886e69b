"""What the tracer attaches to every value that depends on the input: its receptive field.

A value carries a *field*: `Local` (spatial axes and one `ReceptiveField` per axis), `GLOBAL`
(each unit depends on every position of some feature map, e.g. after flattening) or `UNKNOWN`
(an operation the tracer cannot follow, e.g. a transposed convolution). Values that do not
depend on the input (parameters, constants) carry none.
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


def input_field(ndim: int) -> Local:
    """The field of a (B, *spatial, C) input of rank `ndim`: each pixel sees itself."""
    spatial = tuple(range(1, ndim - 1))
    return Local(spatial, (ReceptiveField(),) * len(spatial))


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
    """The static shape of a jaxpr variable."""
    return tuple(int(d) for d in v.aval.shape)
