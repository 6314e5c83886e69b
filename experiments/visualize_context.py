"""What every `experiments.visualize` figure shares: the options, the context (subject, layer
defaults, labels) and the attribution maps, computed once under jit (the one place this entry
point compiles) and shared by the figures that show them."""

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import interpret


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
            maps = np.asarray(ATTRIBUTIONS[method](self))
            # Occlusion is signed; a window that raises p(class) is shown as no drop.
            self._maps[method] = np.maximum(maps, 0) if method == "occlusion" else maps
        return self._maps[method]


def jit_call(fn, ctx, *args):
    """Runs `fn(model, variables, images, labels, *args)` under jit (the model is static)."""
    run = jax.jit(functools.partial(fn, ctx.s.model), static_argnums=tuple(range(3, 3 + len(args))))
    return run(ctx.s.variables, ctx.s.images, ctx.labels, *args)


def class_target(labels):
    """The class-score target of `labels`."""
    return interpret.class_score(labels)


ATTRIBUTIONS = {
    "saliency": lambda c: jit_call(
        lambda m, v, x, y: interpret.gradient(m, v, x, class_target(y)), c
    ),
    "gradient_x_input": lambda c: jit_call(
        lambda m, v, x, y: interpret.gradient_x_input(m, v, x, class_target(y)), c
    ),
    "smoothgrad": lambda c: jit_call(
        lambda m, v, x, y, n, s, seed: interpret.smoothgrad(
            m,
            v,
            x,
            class_target(y),
            jax.random.key(seed),
            num_samples=n,
            sigma=s,
        ),
        c,
        c.o.samples,
        c.o.sigma,
        c.o.seed,
    ),
    "integrated_gradients": lambda c: jit_call(
        lambda m, v, x, y, n: interpret.integrated_gradients(m, v, x, class_target(y), steps=n),
        c,
        c.o.ig_steps,
    ),
    "guided_backprop": lambda c: jit_call(
        lambda m, v, x, y: interpret.guided_backprop(m, v, x, class_target(y)), c
    ),
    "grad_cam": lambda c: jit_call(
        lambda m, v, x, y, layer: interpret.grad_cam(m, v, x, class_target(y), layer),
        c,
        c.cam_layer,
    ),
    "guided_grad_cam": lambda c: jit_call(
        lambda m, v, x, y, layer: interpret.guided_grad_cam(m, v, x, class_target(y), layer),
        c,
        c.cam_layer,
    ),
    "occlusion": lambda c: jit_call(
        lambda m, v, x, y, p, s: interpret.occlusion(m, v, x, y, patch=p, stride=s),
        c,
        *window(c),
    ),
}

CAPTIONS = {
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


def window(ctx) -> tuple[int, int]:
    """(patch, stride) of occlusion: the options' or a seventh of the image side, patch / 4."""
    side = min(ctx.s.images.shape[1:3])
    patch = ctx.o.patch or max(3, side // 7)
    return patch, ctx.o.stride or max(1, patch // 4)


def caption(ctx, method: str) -> str:
    """The caption of an attribution figure: method, reference and parameters."""
    patch, stride = window(ctx)
    values = {
        **dataclasses.asdict(ctx.o),
        "cam_layer": ctx.cam_layer,
        "patch": patch,
        "stride": stride,
    }
    return f"{ctx.s.name}: " + CAPTIONS[method].format(**values)
