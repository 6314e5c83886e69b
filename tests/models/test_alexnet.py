"""AlexNet against Krizhevsky et al. (2012): the layer sizes of §3.5 (the two GPU towers as
feature groups) and response normalisation (§3.3) followed by overlapping pooling (§3.4)."""

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import models

# Unrolled threefry makes `jit(init)` slow to compile on CPU (12 s for ResNet-20); rbg is fast.
KEY = jax.random.key(0, impl="unsafe_rbg")


def test_kernels_are_those_of_section_3_5():
    """ "The second convolutional layer ... 256 kernels of size 5x5x48. The third ... 384 kernels
    of size 3x3x256 ... the fourth 384 kernels of size 3x3x192, and the fifth 256 kernels of
    size 3x3x192. The fully-connected layers have 4096 neurons each." Conv1: 96 of 11x11x3."""
    model = models.create_model("alexnet")
    params = jax.eval_shape(model.init, KEY, jnp.zeros((1, 227, 227, 3)))["params"]
    kernels = {name: p["kernel"].shape for name, p in params.items()}
    assert kernels == {
        "conv1": (11, 11, 3, 96),
        "conv2": (5, 5, 48, 256),
        "conv3": (3, 3, 256, 384),
        "conv4": (3, 3, 192, 384),
        "conv5": (3, 3, 192, 256),
        "fc6": (6 * 6 * 256, 4096),
        "fc7": (4096, 4096),
        "fc8": (4096, 1000),
    }


def lrn_reference(a: np.ndarray, k=2.0, n=5, alpha=1e-4, beta=0.75) -> np.ndarray:
    """§3.3: b_i = a_i / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} a_j^2)^beta."""
    out, maps = np.empty_like(a), a.shape[-1]
    for i in range(maps):
        lo, hi = max(0, i - n // 2), min(maps - 1, i + n // 2)
        out[..., i] = a[..., i] / (k + alpha * np.sum(a[..., lo : hi + 1] ** 2, axis=-1)) ** beta
    return out


def max_pool_reference(a: np.ndarray, window=3, stride=2) -> np.ndarray:
    rows = (a.shape[1] - window) // stride + 1
    cols = (a.shape[2] - window) // stride + 1
    out = np.empty((a.shape[0], rows, cols, a.shape[3]), a.dtype)
    for r in range(rows):
        for c in range(cols):
            patch = a[:, r * stride : r * stride + window, c * stride : c * stride + window]
            out[:, r, c] = patch.max(axis=(1, 2))
    return out


def test_response_normalisation_then_overlapping_pooling():
    """norm1 = LRN(relu(conv1)) with k=2, n=5, alpha=1e-4, beta=0.75; pool1 = 3x3/2 max of it.
    A narrowed AlexNet (8 maps per layer) on large inputs, so that the alpha term matters."""
    model = models.create_model("alexnet", filters=(8,) * 5, dense=(16, 16))
    x = 100.0 * jnp.asarray(np.random.default_rng(0).normal(size=(2, 67, 67, 3)), jnp.float32)
    run = jax.jit(lambda x: models.intermediates(model, model.init(KEY, x), x))
    acts = {k: np.asarray(v, np.float64) for k, v in run(x).items()}
    norm1 = lrn_reference(acts["conv1"])
    assert np.abs(norm1 / acts["conv1"].clip(1e-9) - 2**-0.75).max() > 0.05  # alpha matters
    np.testing.assert_allclose(acts["norm1"], norm1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts["pool1"], max_pool_reference(acts["norm1"]), rtol=1e-6)
    assert acts["conv1"].shape == (2, 15, 15, 8) and acts["pool1"].shape == (2, 7, 7, 8)
