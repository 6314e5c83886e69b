"""Rules for the equations that are layers: convolution, pooling windows, reductions, dots.

A rule `rule(eqn, fields, active) -> (out_fields, LayerCall | None)` gets the fields
(`cnnjax.analysis.tracer.fields`) of a jaxpr equation's operands (None where an operand does not
depend on the input) and the indices of those that do; it returns the outputs' fields and, for
a layer (convolution, spatial pooling, global pooling, dense product), the `LayerCall` that
describes it. A convolution or pooling window moves a field by the receptive-field recurrence
of `ReceptiveField.then` (Araujo, Norris & Sim, 2019, Distill).
"""

import dataclasses

import numpy as np

from cnnjax.analysis.tracer.fields import GLOBAL, UNKNOWN, Field, Local, merge, shape_of


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


def _windowed(field: Field, axes_in, axes_out, windows):
    """Applies one (kernel, stride, dilation, low padding) per listed axis to a Local field."""
    if not isinstance(field, Local):
        return field
    if any(a not in axes_in for a in field.axes):
        return UNKNOWN
    fields = []
    for a, rf in zip(field.axes, field.fields, strict=True):
        kernel, stride, dilation, low = windows[axes_in.index(a)]
        fields.append(rf.then(kernel, stride, dilation, low))
    return Local(tuple(axes_out[axes_in.index(a)] for a in field.axes), tuple(fields))


def convolution(eqn, ins, act):
    """A convolution (`conv_general_dilated`): windows the field, counts 2 x MACs as FLOPs."""
    lhs, rhs = eqn.invars
    p = eqn.params
    dn = p["dimension_numbers"]
    nsp = len(dn.lhs_spec) - 2
    if act != [0] or any(d != 1 for d in p["lhs_dilation"]) or p["batch_group_count"] != 1:
        return [UNKNOWN], None
    x, k, y = shape_of(lhs), shape_of(rhs), shape_of(eqn.outvars[0])
    axes_in = tuple(dn.lhs_spec[2:])
    kernel = tuple(k[dn.rhs_spec[2 + i]] for i in range(nsp))
    pads = tuple((int(lo), int(hi)) for lo, hi in p["padding"])
    windows = [
        (kernel[i], p["window_strides"][i], p["rhs_dilation"][i], pads[i][0]) for i in range(nsp)
    ]
    field = _windowed(ins[0], axes_in, tuple(dn.out_spec[2:]), windows)
    groups = p["feature_group_count"]
    macs = int(np.prod(y)) * int(np.prod(kernel)) * k[dn.rhs_spec[1]]
    call = LayerCall(
        kind="conv",
        scope="",
        input_shape=x,
        output_shape=y,
        field=field,
        flops=2 * macs,
        kernel=kernel,
        strides=tuple(p["window_strides"]),
        padding=pads,
        dilation=tuple(p["rhs_dilation"]),
        in_spatial=tuple(x[a] for a in axes_in),
        out_spatial=tuple(y[a] for a in dn.out_spec[2:]),
        channels=(x[dn.lhs_spec[1]], k[dn.rhs_spec[0]], groups),
    )
    return [field], call


_POOL_KINDS = {"reduce_window_max": "max_pool", "reduce_window_sum": "avg_pool"}


def window_reduction(eqn, ins, act):
    """A pooling window (`reduce_window_*`); a window over non-spatial axes (LRN) is no layer."""
    p = eqn.params
    field = ins[0]
    if act != [0] or any(d != 1 for d in p["base_dilation"]):
        return [UNKNOWN] * len(eqn.outvars), None
    x, y = shape_of(eqn.invars[0]), shape_of(eqn.outvars[0])
    pads = tuple((int(lo), int(hi)) for lo, hi in p["padding"])
    windows = [
        (p["window_dimensions"][a], p["window_strides"][a], p["window_dilation"][a], pads[a][0])
        for a in range(len(x))
    ]
    axes = tuple(range(len(x)))
    out = _windowed(field, axes, axes, windows)
    if isinstance(field, Local):
        sp = field.axes
    else:  # the spatial axes are lost: take the windowed ones
        sp = tuple(a for a in axes if windows[a][:2] != (1, 1))
    if all(windows[a][:2] == (1, 1) for a in sp):
        return [out] * len(eqn.outvars), None  # not spatial: e.g. LRN's window over channels
    call = LayerCall(
        kind=_POOL_KINDS.get(eqn.primitive.name, "pool"),
        scope="",
        input_shape=x,
        output_shape=y,
        field=out,
        kernel=tuple(windows[a][0] for a in sp),
        strides=tuple(windows[a][1] for a in sp),
        padding=tuple(pads[a] for a in sp),
        dilation=tuple(windows[a][2] for a in sp),
        in_spatial=tuple(x[a] for a in sp),
        out_spatial=tuple(y[a] for a in sp),
    )
    return [out] * len(eqn.outvars), call


_GLOBAL_POOLS = {"reduce_sum": "global_avg_pool", "reduce_max": "global_max_pool"}


def axis_reduction(eqn, ins, act):
    """A reduction over axes: global pooling when it covers every spatial axis."""
    field = ins[0]
    reduced = set(eqn.params["axes"])
    if not isinstance(field, Local):
        return [field], None
    if not reduced & set(field.axes):
        axes = tuple(a - sum(r < a for r in reduced) for a in field.axes)
        return [Local(axes, field.fields)], None
    call = None
    kind = _GLOBAL_POOLS.get(eqn.primitive.name)
    if kind and set(field.axes) <= reduced:
        x, y = shape_of(eqn.invars[0]), shape_of(eqn.outvars[0])
        call = LayerCall(kind, "", x, y, GLOBAL, in_spatial=tuple(x[a] for a in field.axes))
    return [GLOBAL], call


def dot_product(eqn, ins, act):
    """A `dot_general`: a dense layer when one operand is the input's, a global field when it
    contracts a spatial axis."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    shapes = [shape_of(v) for v in eqn.invars]
    y = shape_of(eqn.outvars[0])
    contracted = int(np.prod([shapes[0][a] for a in lc]))
    outs = []
    for i in act:
        field = ins[i]
        contract, batch = (lc, lb) if i == 0 else (rc, rb)
        if not isinstance(field, Local):
            outs.append(field)
            continue
        if set(field.axes) & set(contract):
            outs.append(GLOBAL)
            continue
        n_lhs_free = len(shapes[0]) - len(lc) - len(lb)
        free = [a for a in range(len(shapes[i])) if a not in contract and a not in batch]
        offset = len(lb) + (0 if i == 0 else n_lhs_free)
        pos = [batch.index(a) if a in batch else offset + free.index(a) for a in field.axes]
        outs.append(Local(tuple(pos), field.fields))
    field = merge(outs)
    call = None
    if len(act) == 1:  # a learned (or fixed) matrix applied to activations: a dense layer
        x = shapes[act[0]]
        call = LayerCall("dense", "", x, y, field, 2 * int(np.prod(y)) * contracted)
    return [field], call
