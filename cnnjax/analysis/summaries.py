"""Layer-by-layer summary of any model: output shapes, parameters, FLOPs, receptive fields.

    s = summary("vgg16")               # registered name, at its ModelSpec.input_shape
    print(format_summary(s))

The model is traced with `jax.eval_shape` (its variables) and `jax.make_jaxpr` (the inference
forward pass, `cnnjax.analysis.tracer`): nothing is compiled or run, so VGG-16 summarises in a
fraction of a second and ResNet-152 in about three. Every convolution and pooling row is
checked against `conv_output_size`, and every convolution's parameters against `conv_params`.
"""

import dataclasses
import functools
import inspect
import types
from collections.abc import Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.analysis.receptive_fields import ReceptiveField
from cnnjax.analysis.shapes import conv_output_size, conv_params
from cnnjax.analysis.tracer import Field, Local, trace_model
from cnnjax.models import create_model, get_model_spec, registry
from cnnjax.ops.padding import is_int

RF = tuple[ReceptiveField, ...] | str  # per spatial axis, or "global" / "unknown"


@dataclasses.dataclass(frozen=True)
class Row:
    """One layer of a summary.

    Attributes:
      name: the module path ("stage2/block1/conv1"); a pooling layer takes the name its output
        is recorded under (`cnnjax.models.intermediates`), else "<scope>/max_pool<k>".
      kind: "conv", "dense", "max_pool", "avg_pool" (window sums, so also Lp pooling),
        "global_avg_pool", "global_max_pool", the class of a module whose parameters are
        used outside any layer (e.g. "BatchNorm"), or "unused" for a module whose parameters
        inference never reads (GoogLeNet's auxiliary classifiers), listed last.
      config: kernel/stride (and dilation, groups) of a conv or pooling layer, e.g. "3x3/2".
      output_shape: output shape without the batch axis.
      params: parameters the layer's module owns (counted once, on its first layer).
      flops: 2 x multiply-accumulates of convolutions and dense layers per example; bias adds,
        activations, normalisation and pooling count 0 (papers quoting "FLOPs" for VGG/ResNet
        count multiply-adds, i.e. flops / 2).
      receptive_field: one `ReceptiveField` per spatial axis of the output, "global" when each
        unit depends on every position of some feature map, or "unknown".
      module: path of the module that ran the layer.
      recorded_as: names of the recorded activations that are this layer's output passed
        through same-shape position-wise operations only (bias, BatchNorm, ReLU, LRN).
    """

    name: str
    kind: str
    config: str
    output_shape: tuple[int, ...]
    params: int
    flops: int
    receptive_field: RF
    module: str
    recorded_as: tuple[str, ...] = ()

    @property
    def rf_size(self) -> tuple[int, ...] | None:
        rf = self.receptive_field
        return None if isinstance(rf, str) else tuple(r.size for r in rf)

    @property
    def jump(self) -> tuple[int, ...] | None:
        rf = self.receptive_field
        return None if isinstance(rf, str) else tuple(r.jump for r in rf)


@dataclasses.dataclass(frozen=True)
class Summary:
    """A model's rows, totals, and the shape and field of every recorded activation.

    Attributes:
      model: registered name or class name.
      input_shape: (H, W, C) without the batch axis.
      rows: the layers in execution order.
      activations: recorded activation name (and "logits") -> (shape, receptive field).
      state: non-trainable variables (e.g. BatchNorm statistics), not in `total_params`.
    """

    model: str
    input_shape: tuple[int, ...]
    rows: tuple[Row, ...]
    activations: Mapping[str, tuple[tuple[int, ...], RF]]
    state: int

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_flops(self) -> int:
        return sum(r.flops for r in self.rows)


def _rf(field: Field) -> RF:
    return field.fields if isinstance(field, Local) else field


def axes_text(values) -> str:
    """(3, 3) -> "3"; (1, 7) -> "1x7"."""
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def _config(call) -> str:
    """ "kernel/stride", then " d<dilation>" and " g<groups>" where they are not 1."""
    if not call.kernel:
        return ""
    text = f"{'x'.join(map(str, call.kernel))}/{axes_text(call.strides)}"  # "3x3/2", "1x7/1"
    if any(d != 1 for d in call.dilation):
        text += f" d{axes_text(call.dilation)}"
    if call.channels and call.channels[2] != 1:
        text += f" g{call.channels[2]}"
    return text


def _check(call, row_params: int, owned: dict[str, int]) -> None:
    """Cross-checks a conv / pool call against `conv_output_size` and `conv_params`."""
    if not call.kernel:  # dense and global pooling: nothing to check
        return
    for w, k, pad, s, d, out in zip(
        call.in_spatial,
        call.kernel,
        call.padding,
        call.strides,
        call.dilation,
        call.out_spatial,
        strict=True,
    ):
        expected = conv_output_size(w, k, pad, s, d)
        if expected != out:
            raise RuntimeError(f"{call.scope}: traced size {out} != conv_output_size {expected}")
    if call.kind == "conv" and row_params and set(owned) <= {"kernel", "bias"}:
        c_in, c_out, groups = call.channels
        expected = conv_params(call.kernel, c_in, c_out, "bias" in owned, groups)
        if expected != row_params:
            raise RuntimeError(f"{call.scope}: {row_params} params != conv_params {expected}")


def _owned_params(params) -> dict[str, dict[str, int]]:
    """Module path -> {parameter name: size} for the parameters each module owns directly."""
    owned: dict[str, dict[str, int]] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        keys = [str(getattr(k, "key", k)) for k in path]
        owned.setdefault("/".join(keys[:-1]), {})[keys[-1]] = int(np.prod(leaf.shape))
    return owned


def _input_shape(input_shape) -> tuple[int, ...]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) < 2 or not all(is_int(d) and d >= 1 for d in shape):
        raise ValueError(f"input_shape={input_shape!r} must be (*spatial, channels) positive ints")
    return tuple(int(d) for d in shape)


def default_num_classes(name: str) -> int:
    """The `num_classes` default of registered model `name`'s factory (1000 if it has none)."""
    parameter = inspect.signature(get_model_spec(name).factory).parameters.get("num_classes")
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return 1000
    return int(parameter.default)


def summary(
    model: str | nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    num_classes: int | None = None,
) -> Summary:
    """Summarises a model layer by layer by tracing it on one (1, *input_shape) example.

    Args:
      model: a registered name (`cnnjax.models.list_models()`) or a linen module with the
        zoo's `__call__(x, *, train=False)`.
      input_shape: (H, W, C) without the batch axis; defaults to the registry's
        `ModelSpec.input_shape` for a name.
      num_classes: for a registered name; defaults to the factory's own default (10 for
        LeNet-5), else 1000.

    Returns:
      A `Summary` (read-only; those of registered names are memoised); `format_summary`
      prints it.

    Raises:
      ValueError: unknown name, or an input shape that is not positive ints or that the
        registered model does not accept.
    """
    if isinstance(model, str):
        spec = get_model_spec(model)
        input_shape = _input_shape(spec.input_shape if input_shape is None else input_shape)
        registry.check_input_shape(model, input_shape)
        num_classes = default_num_classes(model) if num_classes is None else num_classes
        return _registered(model, input_shape, num_classes)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model={model!r} must be a registered name or a flax.linen.Module")
    if input_shape is None:
        raise ValueError("input_shape=(H, W, C) is required when model is a Module instance")
    return _summarize(model, type(model).__name__, _input_shape(input_shape))


@functools.lru_cache(maxsize=64)
def _registered(name: str, input_shape: tuple[int, ...], num_classes: int) -> Summary:
    # A registered model's summary depends on these arguments alone; deep ResNets take seconds
    # to trace, and the CLI, the ERF picture and notebooks ask for the same one repeatedly.
    return _summarize(create_model(name, num_classes=num_classes), name, input_shape)


def _summarize(model: nn.Module, name: str, input_shape: tuple[int, ...]) -> Summary:
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)  # key traced too
    owned = _owned_params(variables.get("params", {}))
    trace = trace_model(model, variables, x, owned)
    rows, row_of = _rows(trace, owned)

    activations = {}
    for act, (shape, field, origin) in trace.activations.items():
        activations[act] = (tuple(shape[1:]), _rf(field) if field is not None else "constant")
        if origin in row_of:
            row = rows[row_of[origin]]
            renamed = not row.recorded_as and row.kind.endswith("pool") and not row.params
            rows[row_of[origin]] = dataclasses.replace(
                row, name=act if renamed else row.name, recorded_as=(*row.recorded_as, act)
            )
    state_size = sum(
        int(np.prod(v.shape))
        for collection, tree in variables.items()
        if collection != "params"
        for v in jax.tree_util.tree_leaves(tree)
    )
    activations = types.MappingProxyType(activations)  # read-only: summaries are shared
    return Summary(name, input_shape, tuple(rows), activations, state_size)


def _rows(trace, owned) -> tuple[list[Row], dict[tuple, int]]:
    """Orders the layer calls and parameter-only modules into rows; maps origins to rows."""
    call_scopes = {c.scope for c in trace.calls}
    events = [  # (position, tie-break, origin): a module row goes before the call it preceded
        (first, 0, ("scope", path))
        for path, first in trace.first_seen.items()
        if path in owned and path not in call_scopes and path in trace.scope_outputs
    ]
    events += [(i, 1, ("call", i)) for i in range(len(trace.calls))]
    rows: list[Row] = []
    row_of: dict[tuple, int] = {}
    placed: set[str] = set()
    counts: dict[str, int] = {}
    for _, _, origin in sorted(events):
        row_of[origin] = len(rows)
        if origin[0] == "scope":
            path = origin[1]
            shape, field = trace.scope_outputs[path]
            kind = trace.classes.get(path, "module")
            placed.add(path)
            params = sum(owned[path].values())
            rows.append(Row(path or "(model)", kind, "", shape[1:], params, 0, _rf(field), path))
            continue
        call = trace.calls[origin[1]]
        params = 0
        if call.scope in owned and call.scope not in placed:
            placed.add(call.scope)
            params = sum(owned[call.scope].values())
        _check(call, params, owned.get(call.scope, {}))
        module_layer = call.kind in ("conv", "dense") or params
        base = call.scope if module_layer else "/".join(p for p in (call.scope, call.kind) if p)
        counts[base] = counts.get(base, 0) + 1
        if module_layer:
            name = base if counts[base] == 1 else f"{base}#{counts[base]}"
        else:
            name = f"{base}{counts[base]}"
        rows.append(
            Row(name, call.kind, _config(call), call.output_shape[1:], params, call.flops,
                _rf(call.field), call.scope)
        )  # fmt: skip
    for path, sizes in owned.items():
        if path not in placed:  # parameters the forward pass never touched
            rows.append(Row(path, "unused", "", (), sum(sizes.values()), 0, "unknown", path))
    return rows, row_of
