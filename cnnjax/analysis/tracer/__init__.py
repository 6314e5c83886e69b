"""Follows a model's input through its traced forward pass (a jaxpr): layers, shapes, fields.

    trace = trace_model(model, variables, x, param_paths)   # trace.calls: every layer met

The parts, in the order a trace uses them:
  trace     `trace_model`: traces `intermediates(model, ...)` to a jaxpr (nothing compiled),
            seeds the input's field and runs the walk; returns a `Trace`.
  walk      the interpreter: equation by equation, entering jit/custom_vjp/checkpoint bodies,
            naming each layer by the module path in its name stack.
  rules     which rule follows each primitive (a layer, a data movement, else position-wise).
  layers    rules for convolutions, pooling windows, reductions and dense products, each
            producing a `LayerCall`.
  movement  rules for reshape, transpose, broadcast, concat, pad, slice, gather.
  fields    what a value carries: `Local` receptive fields per spatial axis, `GLOBAL`, `UNKNOWN`.
"""

from cnnjax.analysis.tracer.fields import GLOBAL, UNKNOWN, Field, Local
from cnnjax.analysis.tracer.layers import LayerCall
from cnnjax.analysis.tracer.trace import Trace, trace_model

__all__ = ["GLOBAL", "UNKNOWN", "Field", "LayerCall", "Local", "Trace", "trace_model"]
