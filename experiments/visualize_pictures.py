"""The figures of `experiments.visualize` that show the network itself: feature maps,
filters, maximally-activating patches, class models and DeepDream."""

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import interpret
from cnnjax.interpret import plots


def feature_maps(ctx):
    layers = (
        [ctx.o.layer]
        if ctx.o.layer
        else (
            ctx.spatial if len(ctx.spatial) <= 4 else [ctx.spatial[0], ctx.mid_layer, ctx.cam_layer]
        )
    )
    out = []
    for layer in layers:
        maps = interpret.feature_maps(ctx.s.model, ctx.s.variables, ctx.s.images[:1], layer)
        name = f"feature_maps_{layer.replace('/', '_')}.png"
        plots.channel_maps(
            ctx.s.display[0], np.asarray(maps["maps"][0]), ctx.path(name), layer=layer
        )
        out.append(
            (
                name,
                f"{ctx.s.name}: feature maps of {layer} for the first image "
                "(channel mean, then channels)",
            )
        )
    return out


def filters(ctx):
    kernels = interpret.conv_kernels(ctx.s.model, ctx.s.variables, ctx.s.images.shape[1:])
    out = []
    for n, (module, kernel) in enumerate(list(kernels.items())[:2]):
        tiles = interpret.filter_tiles(kernel, in_channel=None if n == 0 else 0)[:64]
        name = f"filters_{module.replace('/', '_')}.png"
        what = "as images" if n == 0 else "input channel 0 of each"
        plots.tiles(
            tiles,
            ctx.path(name),
            titles=[str(i) for i in range(len(tiles))],
            title=f"{module} filters {kernel.shape[0]}x{kernel.shape[1]}, {what}",
        )
        out.append(
            (name, f"{ctx.s.name}: {module} filters ({'first layer, ' if n == 0 else ''}{what})")
        )
    return out


def patches(ctx):
    layer = ctx.mid_layer
    channels = range(min(8, ctx.shapes[layer][-1]))
    rows = {}
    for c in channels:
        found = interpret.max_activating_patches(
            ctx.s.model,
            ctx.s.variables,
            ctx.s.pool,
            layer,
            c,
            display=ctx.s.pool_display,
            k=ctx.o.top_k,
        )
        rows[f"{layer}\nch {c}"] = found
    size = next(iter(rows.values()))[0].pixels.shape
    plots.patch_mosaic(rows, ctx.path("patches.png"), title=f"top-{ctx.o.top_k} patches of {layer}")
    return [
        (
            "patches.png",
            f"{ctx.s.name}: the {ctx.o.top_k} most activating patches of channels "
            f"0-{len(channels) - 1} of {layer} over {len(ctx.s.pool)} images, cropped through "
            f"each unit's receptive field (interior {size[0]}x{size[1]}, clipped at borders)",
        )
    ]


def class_model(ctx):
    k = ctx.shapes["logits"][0]
    classes = list(range(k)) if k <= 10 else sorted({*map(int, ctx.labels), 1, 130, 309, 947})
    low, high = (np.asarray(a, np.float32) for a in ctx.s.value_range)
    span = float(high.max() - low.min())
    x0 = jnp.zeros((len(classes), *ctx.s.images.shape[1:]))  # normalised inputs: 0 is the mean
    blur = 0.7 if ctx.s.images.shape[1] < 64 else 1.0
    run = jax.jit(
        lambda v, x0, y: interpret.class_model(
            ctx.s.model,
            v,
            y,
            x0,
            jax.random.key(ctx.o.seed),
            steps=ctx.o.steps,
            learning_rate=0.02 * span,
            decay=0.01,
            jitter=max(1, ctx.s.images.shape[1] // 28),
            blur_sigma=blur,
            blur_every=4,
            pixel_percentile=0.0,
            clip=(low, high),
        )
    )
    images = np.asarray(run(ctx.s.variables, x0, jnp.asarray(classes)))
    scores = np.asarray(jax.jit(ctx.s.model.apply)(ctx.s.variables, images))[
        np.arange(len(classes)), classes
    ]
    titles = [
        f"{ctx.s.class_names[c][:16]} ({s:.1f})" for c, s in zip(classes, scores, strict=True)
    ]
    plots.tiles(images, ctx.path("class_model.png"), titles=titles, title="class models")
    return [
        (
            "class_model.png",
            f"{ctx.s.name}: class models (Simonyan et al. 2013) — gradient ascent "
            f"on the class score from the mean image, {ctx.o.steps} steps, L2 decay 0.01, "
            "jitter, "
            f"blur sigma {blur} every 4 steps, clipped to the pixel range (Yosinski et al. "
            "2015); score in brackets",
        )
    ]


def deepdream(ctx):
    layer = ctx.mid_layer
    low, high = (np.asarray(a, np.float32) for a in ctx.s.value_range)
    span = float(high.max() - low.min())
    steps = max(5, ctx.o.steps // 10)
    run = jax.jit(
        lambda v, x: interpret.deep_dream(
            ctx.s.model,
            v,
            x,
            layer,
            jax.random.key(ctx.o.seed),
            octaves=3,
            steps=steps,
            learning_rate=0.02 * span,
            jitter=2,
            clip=(low, high),
        )
    )
    dream = np.asarray(run(ctx.s.variables, ctx.s.images[:1]))
    plots.tiles(
        np.concatenate([ctx.s.images[:1], dream]),
        ctx.path("deepdream.png"),
        titles=["input", f"dream on {layer}"],
        title="DeepDream",
    )
    return [
        (
            "deepdream.png",
            f"{ctx.s.name}: DeepDream (Mordvintsev et al. 2015) on {layer}: "
            f"3 octaves (scale 1.4), {steps} steps each, jitter 2",
        )
    ]
