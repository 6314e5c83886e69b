"""The figures `experiments.visualize` can draw, by name, and the index.html that shows them.

Each method is `method(ctx) -> [(file name, caption), ...]`; it computes with `cnnjax.interpret`
(jitted here, the one place this entry point compiles) and draws with `cnnjax.interpret.plots`.
Attribution maps are computed once per run and shared by the figures that show them.
"""

import dataclasses
import functools
import html
import os

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import interpret
from cnnjax.interpret import plots


@dataclasses.dataclass
class Options:
    """Knobs of the figures (defaults suit LeNet-5; the CLI scales some for 224x224 inputs)."""

    layer: str = ""
    class_index: int = -1
    samples: int = 25
    sigma: float = 0.15
    ig_steps: int = 32
    patch: int = 0  # occlusion window; 0: about a seventh of the image side
    stride: int = 0  # 0: patch // 4 (at least 1)
    steps: int = 200
    top_k: int = 8
    seed: int = 0


class Context:
    """A subject, options, the output folder, layer defaults and a cache of attribution maps."""

    def __init__(self, subject, options: Options, out: str):
        self.s, self.o, self.out = subject, options, out
        self.shapes = interpret.check_images(subject.model, subject.variables, subject.images)
        spatial = [n for n, shape in self.shapes.items() if len(shape) == 3]
        if options.layer:
            interpret.check_layer(options.layer, self.shapes, spatial=True)
        largest = max(min(self.shapes[n][:2]) for n in spatial)
        wide = [n for n in spatial if min(self.shapes[n][:2]) >= min(7, largest)]
        self.spatial = spatial
        self.cam_layer = options.layer or wide[-1]
        self.mid_layer = options.layer or spatial[len(spatial) // 2]
        num_classes = self.shapes["logits"][0]
        if options.class_index >= num_classes:
            raise ValueError(
                f"--class_index={options.class_index}; accepted -1 (the image's "
                f"label) or 0..{num_classes - 1}"
            )
        labels = (
            subject.labels
            if options.class_index < 0
            else [options.class_index] * len(subject.labels)
        )
        self.labels = jnp.asarray(np.asarray(labels))
        self._maps: dict[str, jax.Array] = {}

    def path(self, name: str) -> str:
        return os.path.join(self.out, name)

    def row_titles(self) -> list[str]:
        return [f"class {self.s.class_names[int(c)][:18]}" for c in self.labels]

    def maps(self, method: str) -> jax.Array:
        """The attribution map of `method` for every image (computed once)."""
        if method not in self._maps:
            maps = np.asarray(_ATTRIBUTIONS[method](self))
            # Occlusion is signed; a window that raises p(class) is shown as no drop.
            self._maps[method] = np.maximum(maps, 0) if method == "occlusion" else maps
        return self._maps[method]


def _jit(fn, ctx, *args):
    """Runs `fn(model, variables, images, labels, *args)` under jit (the model is static)."""
    run = jax.jit(functools.partial(fn, ctx.s.model), static_argnums=tuple(range(3, 3 + len(args))))
    return run(ctx.s.variables, ctx.s.images, ctx.labels, *args)


def _target(labels):
    return interpret.class_score(labels)


_ATTRIBUTIONS = {
    "saliency": lambda c: _jit(lambda m, v, x, y: interpret.gradient(m, v, x, _target(y)), c),
    "gradient_x_input": lambda c: _jit(
        lambda m, v, x, y: interpret.gradient_x_input(m, v, x, _target(y)), c
    ),
    "smoothgrad": lambda c: _jit(
        lambda m, v, x, y, n, s, seed: interpret.smoothgrad(
            m,
            v,
            x,
            _target(y),
            jax.random.key(seed),
            num_samples=n,
            sigma=s,
            chunk=max(d for d in range(1, min(n, 8) + 1) if n % d == 0),
        ),
        c,
        c.o.samples,
        c.o.sigma,
        c.o.seed,
    ),
    "integrated_gradients": lambda c: _jit(
        lambda m, v, x, y, n: interpret.integrated_gradients(m, v, x, _target(y), steps=n),
        c,
        c.o.ig_steps,
    ),
    "guided_backprop": lambda c: _jit(
        lambda m, v, x, y: interpret.guided_backprop(m, v, x, _target(y)), c
    ),
    "grad_cam": lambda c: _jit(
        lambda m, v, x, y, layer: interpret.grad_cam(m, v, x, _target(y), layer), c, c.cam_layer
    ),
    "guided_grad_cam": lambda c: _jit(
        lambda m, v, x, y, layer: interpret.guided_grad_cam(m, v, x, _target(y), layer),
        c,
        c.cam_layer,
    ),
    "occlusion": lambda c: _jit(
        lambda m, v, x, y, p, s: interpret.occlusion(m, v, x, y, patch=p, stride=s),
        c,
        *_window(c),
    ),
}

_CAPTIONS = {
    "saliency": "vanilla gradient |d score / d pixel| (Simonyan et al. 2013)",
    "gradient_x_input": "gradient x input",
    "smoothgrad": "SmoothGrad (Smilkov et al. 2017): {samples} samples, sigma {sigma} of the range",
    "integrated_gradients": "integrated gradients (Sundararajan et al. 2017): black baseline, "
    "{ig_steps} steps",
    "guided_backprop": "guided backprop (Springenberg et al. 2015)",
    "grad_cam": "Grad-CAM (Selvaraju et al. 2017) on {cam_layer}",
    "guided_grad_cam": "guided Grad-CAM on {cam_layer}",
    "occlusion": "occlusion (Zeiler & Fergus 2014): drop in p(class), {patch}x{patch} window, "
    "stride {stride}, fill 0 (the mean)",
}


def _window(ctx) -> tuple[int, int]:
    side = min(ctx.s.images.shape[1:3])
    patch = ctx.o.patch or max(3, side // 7)
    return patch, ctx.o.stride or max(1, patch // 4)


def _caption(ctx, method: str) -> str:
    patch, stride = _window(ctx)
    values = {
        **dataclasses.asdict(ctx.o),
        "cam_layer": ctx.cam_layer,
        "patch": patch,
        "stride": stride,
    }
    return f"{ctx.s.name}: " + _CAPTIONS[method].format(**values)


def _attribution(method: str):
    def figure(ctx):
        path = ctx.path(f"{method}.png")
        plots.attribution_grid(
            ctx.s.display,
            {method: ctx.maps(method)},
            path,
            row_titles=ctx.row_titles(),
            title=method,
        )
        return [(os.path.basename(path), _caption(ctx, method))]

    return figure


def comparison(ctx):
    """All attribution methods side by side, one row per image."""
    columns = {m: ctx.maps(m) for m in _ATTRIBUTIONS}
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
            f"{ctx.s.name}: "
            + "; ".join(_caption(ctx, m).split(": ", 1)[1] for m in _ATTRIBUTIONS),
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


METHODS = {
    "feature_maps": feature_maps,
    "filters": filters,
    "patches": patches,
    **{m: _attribution(m) for m in _ATTRIBUTIONS},
    "unit_saliency": unit_saliency,
    "comparison": comparison,
    "class_model": class_model,
    "deepdream": deepdream,
}


def write_index(out: str, title: str, figures: list[tuple[str, str]]) -> str:
    """An index.html showing every figure with its caption."""
    items = "\n".join(
        f'<figure><img src="{html.escape(f)}" alt="{html.escape(f)}"><figcaption><b>'
        f"{html.escape(f.rsplit('.', 1)[0])}</b> — {html.escape(c)}</figcaption></figure>"
        for f, c in figures
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "figure{margin:0 0 2em 0;border-bottom:1px solid #ddd;padding-bottom:1em}"
        "img{max-width:100%}figcaption{color:#333;font-size:0.95em}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>\n{items}\n</body></html>\n"
    )
    path = os.path.join(out, "index.html")
    with open(path, "w") as f:
        f.write(page)
    return path
