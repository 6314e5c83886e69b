"""Rules for data movement: reshape, transpose, broadcast, squeeze, concat, split, gather, pad,
slice. They move a field to the axes its positions land on, shift it by padding and slicing,
or declare it global (spatial axes merged) or unknown; none of them is a layer.
See `cnnjax.analysis.tracer.layers` for the rule signature.
"""

from cnnjax.analysis.receptive_fields import ReceptiveField
from cnnjax.analysis.tracer.fields import GLOBAL, UNKNOWN, Local, merge, shape_of


def reshape(eqn, ins, act):
    """Keeps the field unless the spatial axes are merged (a flatten makes it global)."""
    field, x, y = ins[0], shape_of(eqn.invars[0]), shape_of(eqn.outvars[0])
    last = max(field.axes, default=-1) + 1 if isinstance(field, Local) else 0
    if x[:last] != y[:last]:
        return [GLOBAL], None  # spatial axes merged (flatten): each unit mixes positions
    return [field], None


def transpose(eqn, ins, act):
    """Moves the field with its axes."""
    field, perm = ins[0], list(eqn.params["permutation"])
    if isinstance(field, Local):
        field = Local(tuple(perm.index(a) for a in field.axes), field.fields)
    return [field], None


def broadcast_in_dim(eqn, ins, act):
    """Moves the field to the broadcast axes; a pooled value spread over space is global."""
    field, dims = ins[0], eqn.params["broadcast_dimensions"]
    x, y = shape_of(eqn.invars[0]), shape_of(eqn.outvars[0])
    if isinstance(field, Local):
        if any(x[a] != y[dims[a]] for a in field.axes):
            return [GLOBAL], None  # a pooled value spread back over space
        field = Local(tuple(dims[a] for a in field.axes), field.fields)
    return [field], None


def squeeze(eqn, ins, act):
    """Drops size-1 axes; dropping a spatial one makes the field global."""
    field, dropped = ins[0], set(eqn.params["dimensions"])
    if isinstance(field, Local):
        if dropped & set(field.axes):
            return [GLOBAL], None
        field = Local(tuple(a - sum(d < a for d in dropped) for a in field.axes), field.fields)
    return [field], None


def concatenate(eqn, ins, act):
    """Merges the operands' fields (a channel concat); along a spatial axis: unknown."""
    fields = [ins[i] for i in act]
    if any(isinstance(f, Local) and eqn.params["dimension"] in f.axes for f in fields):
        return [UNKNOWN], None
    return [merge(fields)], None


def split(eqn, ins, act):
    """Each part keeps the field, unless split along a spatial axis."""
    field = ins[0]
    if isinstance(field, Local) and eqn.params["axis"] in field.axes:
        field = UNKNOWN
    return [field] * len(eqn.outvars), None


def gather(eqn, ins, act):
    """Indexing with constant indices along non-spatial axes (e.g. picking channels)."""
    field, dn = ins[0], eqn.params["dimension_numbers"]
    if act != [0]:
        return [UNKNOWN], None
    if not isinstance(field, Local):
        return [field], None
    x = shape_of(eqn.invars[0])
    sizes = eqn.params["slice_sizes"]
    kept = [a for a in range(len(x)) if a not in dn.collapsed_slice_dims]
    kept = [a for a in kept if a not in dn.operand_batching_dims]
    indexed = set(dn.start_index_map) | set(dn.operand_batching_dims)
    if any(a in indexed or sizes[a] != x[a] or a not in kept for a in field.axes):
        return [UNKNOWN], None
    return [Local(tuple(dn.offset_dims[kept.index(a)] for a in field.axes), field.fields)], None


def pad(eqn, ins, act):
    """Shifts each spatial axis's start by the low padding; interior padding: unknown."""
    field = ins[0]
    if act != [0]:
        return [UNKNOWN], None
    config = eqn.params["padding_config"]
    if isinstance(field, Local):
        if any(config[a][2] for a in field.axes):
            return [UNKNOWN], None
        fields = tuple(
            ReceptiveField(rf.size, rf.jump, rf.start - int(config[a][0]) * rf.jump)
            for a, rf in zip(field.axes, field.fields, strict=True)
        )
        field = Local(field.axes, fields)
    return [field], None


def strided_slice(eqn, ins, act):
    """Shifts the start by the first index and multiplies the jump by the step."""
    field = ins[0]
    starts, strides = eqn.params["start_indices"], eqn.params["strides"]
    if isinstance(field, Local):
        fields = []
        for a, rf in zip(field.axes, field.fields, strict=True):
            step = 1 if strides is None else int(strides[a])
            start = rf.start + int(starts[a]) * rf.jump
            fields.append(ReceptiveField(rf.size, rf.jump * step, start))
        field = Local(field.axes, tuple(fields))
    return [field], None
