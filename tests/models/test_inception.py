"""GoogLeNet's building blocks against Szegedy et al. (2015): the inception module of Figure 2b
and the auxiliary classifiers of §5 (the whole network's count is in test_zoo.py)."""

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import models
from cnnjax.models import inception

# Unrolled threefry makes `jit(init)` slow to compile on CPU (12 s for ResNet-20); rbg is fast.
KEY = jax.random.key(0, impl="unsafe_rbg")


def conv_same_reference(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Stride-1 convolution padded by k // 2, as numpy loops: (B, H, W, C) → (B, H, W, O)."""
    k = kernel.shape[0]
    padded = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    out = np.zeros((*x.shape[:3], kernel.shape[-1]))
    for r in range(x.shape[1]):
        for c in range(x.shape[2]):
            out[:, r, c] = np.einsum("bijc,ijco->bo", padded[:, r : r + k, c : c + k], kernel)
    return out + bias


def max_pool_same_reference(x: np.ndarray) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    windows = [
        padded[:, i : i + x.shape[1], j : j + x.shape[2]] for i in range(3) for j in range(3)
    ]
    return np.max(windows, axis=0)


def test_inception_module_concatenates_its_four_branches():
    """Figure 2b: [1x1, 1x1 → 3x3, 1x1 → 5x5, 3x3 max-pool → 1x1], each conv with a ReLU."""
    module = inception.Inception(2, 3, 4, 2, 3, 2)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 6, 5)), jnp.float32)
    params = jax.jit(module.init)(KEY, x)["params"]
    y = np.asarray(module.apply({"params": params}, x))
    assert y.shape == (2, 6, 6, 2 + 4 + 3 + 2)

    def branch(name, inputs):
        p = params[name]
        return np.maximum(conv_same_reference(inputs, np.asarray(p["kernel"]), p["bias"]), 0)

    xn = np.asarray(x, np.float64)
    expected = np.concatenate(
        [
            branch("branch1x1", xn),
            branch("branch3x3", branch("branch3x3_reduce", xn)),
            branch("branch5x5", branch("branch5x5_reduce", xn)),
            branch("pool_proj", max_pool_same_reference(xn)),
        ],
        axis=-1,
    )
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_auxiliary_classifiers_follow_section_5():
    """5x5/3 average pool → 4x4x512 (4a) and 4x4x528 (4d); 1x1 conv with 128 filters; dense
    1024; dense 1000."""
    model = models.create_model("googlenet")
    params = jax.eval_shape(model.init, KEY, jnp.zeros((1, 224, 224, 3)))["params"]
    for name, maps in (("aux_classifier1", 512), ("aux_classifier2", 528)):
        head = params[name]
        assert head["conv"]["kernel"].shape == (1, 1, maps, 128)
        assert head["fc1"]["kernel"].shape == (4 * 4 * 128, 1024)
        assert head["fc2"]["kernel"].shape == (1024, 1000)
    assert model.aux_loss_weight == 0.3 and model.dropout_rate == 0.4


def test_without_auxiliary_classifiers_smaller_inputs_are_accepted():
    """The aux pool needs 5x5 maps at 4a (input 65); the main path alone only the stride, 32."""
    model = models.create_model("googlenet", aux_classifiers=False)
    assert models.create_model("googlenet").min_input_size == 65
    assert model.min_input_size == 32
    variables = jax.eval_shape(model.init, KEY, jnp.zeros((1, 32, 32, 3)))
    assert not any(name.startswith("aux") for name in variables["params"])
