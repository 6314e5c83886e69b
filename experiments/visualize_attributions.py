"""The attribution figures of `experiments.visualize`: one per method, all side by side, and
the saliency of one unit of a middle layer."""

import os

import jax
import numpy as np

from cnnjax import interpret
from cnnjax.interpret import plots
from experiments.visualize_context import ATTRIBUTIONS, caption


def attribution(method: str):
    """The figure of one attribution `method` (a function of the context)."""

    def figure(ctx):
        path = ctx.path(f"{method}.png")
        plots.attribution_grid(
            ctx.s.display,
            {method: ctx.maps(method)},
            path,
            row_titles=ctx.row_titles(),
            title=method,
        )
        return [(os.path.basename(path), caption(ctx, method))]

    return figure


def comparison(ctx):
    """All attribution methods side by side, one row per image."""
    columns = {m: ctx.maps(m) for m in ATTRIBUTIONS}
    path = ctx.path("comparison.png")
    plots.attribution_grid(
        ctx.s.display,
        columns,
        path,
        row_titles=ctx.row_titles(),
        title=f"{ctx.s.name}: every attribution method",
    )
    return [
        (
            "comparison.png",
            f"{ctx.s.name}: " + "; ".join(caption(ctx, m).split(": ", 1)[1] for m in ATTRIBUTIONS),
        )
    ]


def unit_saliency(ctx):
    """Saliency of the most active channel of the middle layer, at its strongest position."""
    acts = np.asarray(
        interpret.forward(ctx.s.model, ctx.s.variables, ctx.s.images[:1])[ctx.mid_layer]
    )
    i, j, c = np.unravel_index(acts[0].argmax(), acts[0].shape)
    target = interpret.unit(ctx.mid_layer, int(c), (int(i), int(j)))
    run = jax.jit(lambda v, x: interpret.gradient(ctx.s.model, v, x, target))
    grad = np.asarray(run(ctx.s.variables, ctx.s.images[:1]))
    plots.attribution_grid(
        ctx.s.display[:1],
        {f"{ctx.mid_layer} ch{c} @({i},{j})": grad},
        ctx.path("unit_saliency.png"),
        title="saliency of one unit",
    )
    return [
        (
            "unit_saliency.png",
            f"{ctx.s.name}: vanilla gradient of unit ({i}, {j}) of channel "
            f"{c} of {ctx.mid_layer} (its strongest response to the first image)",
        )
    ]
