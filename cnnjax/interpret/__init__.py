"""Looking inside a CNN, in pure JAX: pure, batched, jit-able functions of
`(model, variables, images, ...)` for every zoo model.

    from cnnjax import interpret
    t = interpret.class_score(labels)                       # or interpret.unit("conv2", 3)
    sal = interpret.gradient(model, variables, x, t)        # (B, H, W, C)
    cam = interpret.grad_cam(model, variables, x, t, "conv2")
    drop = interpret.occlusion(model, variables, x, labels, patch=4)

Pictures are drawn by `cnnjax.interpret.plots` (the only module here importing matplotlib).
"""

from cnnjax.interpret.activations import check_images, check_layer, feature_maps, layer_shapes
from cnnjax.interpret.cam import grad_cam, guided_grad_cam, upsample
from cnnjax.interpret.filters import conv_kernels, filter_tiles
from cnnjax.interpret.occlusion import occlusion, window_masks
from cnnjax.interpret.patches import Patch, max_activating_patches, receptive_box, top_activations
from cnnjax.interpret.rewrite import forward
from cnnjax.interpret.saliency import (
    gradient,
    gradient_x_input,
    guided_backprop,
    integrated_gradients,
    smoothgrad,
)
from cnnjax.interpret.synthesis import ascend, class_model, deep_dream, gaussian_blur, maximize
from cnnjax.interpret.targets import Target, class_score, unit

__all__ = [
    "Patch",
    "Target",
    "ascend",
    "check_images",
    "check_layer",
    "class_model",
    "class_score",
    "conv_kernels",
    "deep_dream",
    "feature_maps",
    "filter_tiles",
    "forward",
    "gaussian_blur",
    "grad_cam",
    "gradient",
    "gradient_x_input",
    "guided_backprop",
    "guided_grad_cam",
    "integrated_gradients",
    "layer_shapes",
    "max_activating_patches",
    "maximize",
    "occlusion",
    "receptive_box",
    "smoothgrad",
    "top_activations",
    "unit",
    "upsample",
    "window_masks",
]
