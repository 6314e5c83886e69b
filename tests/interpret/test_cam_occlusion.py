"""Grad-CAM against CAM, and occlusion against a slow per-window loop."""

import interpret_tiny as tiny
import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import interpret
from cnnjax.models import create_model


def test_grad_cam_of_a_gap_network_is_its_class_activation_map():
    """Before global average pooling and one dense layer, Grad-CAM's weights are W[:, c] / (h w),
    so the map is relu(sum_k W[k, c] A_k) / (h w) (Selvaraju et al., 2017, §3.1)."""
    model = tiny.ConvGap(num_classes=4)
    variables, x = tiny.init(model, (2, 8, 8, 3))
    activation = model.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
    conv2 = np.asarray(jax.nn.relu(activation[1]["intermediates"]["conv2"]["__call__"][0]))
    w = np.asarray(variables["params"]["logits"]["kernel"])  # (6, 4)
    labels = jnp.array([3, 1])
    cam = interpret.grad_cam(model, variables, x, interpret.class_score(labels), "conv2")
    expected = np.maximum(np.einsum("bhwk,bk->bhw", conv2, w[:, [3, 1]].T), 0) / 64
    np.testing.assert_allclose(cam, expected, rtol=1e-5, atol=1e-7)
    guided = interpret.guided_grad_cam(model, variables, x, interpret.class_score(labels), "conv2")
    assert guided.shape == x.shape


def test_occlusion_equals_a_slow_loop_over_windows():
    model = create_model("lenet5", num_classes=10)
    x = jax.random.normal(jax.random.key(1), (2, 16, 16, 1))
    variables = model.init(jax.random.key(0), x)
    labels = np.array([2, 7])
    patch, stride, fill = 5, 3, -0.5
    drop = interpret.occlusion(
        model, variables, x, labels, patch=patch, stride=stride, fill=fill, batch_size=6
    )  # 16 windows, 3 per pass: the last pass is padded

    probs = jax.jit(lambda z: jax.nn.softmax(model.apply(variables, z), -1))
    clean = np.asarray(probs(x))[np.arange(2), labels]
    starts = range(0, 16 - patch + 1, stride)
    expected = np.zeros((2, len(starts), len(starts)))
    for i, top in enumerate(starts):
        for j, left in enumerate(starts):
            occluded = np.array(x)
            occluded[:, top : top + patch, left : left + patch, :] = fill
            expected[:, i, j] = clean - np.asarray(probs(occluded))[np.arange(2), labels]
    np.testing.assert_allclose(drop, expected, rtol=1e-4, atol=1e-6)
    assert np.abs(expected).max() > 1e-4  # the windows matter
