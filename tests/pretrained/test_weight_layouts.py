"""Layout conversion without downloads: a conv-BN-ReLU-pool-dense stack written by the test as
torchvision-named torch files (zip and legacy), a timm-named safetensors file and Keras 2 / 3
HDF5 files; the converted cnnjax forward pass must equal a numpy forward pass of the same stack
in NCHW (torch's layout, its C-major flatten), computed with loops here."""

import flax.linen as nn
import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import save_file
from torchfiles import write_legacy, write_zip

from cnnjax.models import layers
from cnnjax.pretrained import WeightMismatchError, convert, read_weights

C, H, OUT = 4, 6, 5  # conv maps, input side, classes; pool5 analogue is 3x3x4


class Stack(nn.Module):
    bn_epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x, *, train=False):
        x = layers.Conv(C, 3, padding=1, name="conv")(x)
        x = layers.batch_norm(train, name="bn", epsilon=self.bn_epsilon)(x)
        x = layers.max_pool(nn.relu(x), 2, 2)
        x = x.reshape(x.shape[0], -1)  # (B, 3 * 3 * C), flattened (H, W, C)
        return nn.Dense(OUT, name="fc")(x)


def torch_weights(seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    normal = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    return {
        "conv.weight": normal(C, 3, 3, 3),
        "conv.bias": normal(C),
        "bn.weight": normal(C),
        "bn.bias": normal(C),
        "bn.running_mean": normal(C),
        "bn.running_var": rng.uniform(0.5, 2, C).astype(np.float32),
        "fc.weight": normal(OUT, C * 3 * 3),
        "fc.bias": normal(OUT),
    }


def numpy_forward(x_nchw: np.ndarray, w: dict, eps: float) -> np.ndarray:
    """The stack in NCHW with torch-layout weights, one output pixel at a time."""
    batch = x_nchw.shape[0]
    padded = np.pad(x_nchw, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((batch, C, H, H))
    for i in range(H):
        for j in range(H):
            window = padded[:, :, i : i + 3, j : j + 3]
            y[:, :, i, j] = np.einsum("bchw,ochw->bo", window, w["conv.weight"]) + w["conv.bias"]
    mean, var = w["bn.running_mean"][:, None, None], w["bn.running_var"][:, None, None]
    y = (y - mean) / np.sqrt(var + eps) * w["bn.weight"][:, None, None] + w["bn.bias"][
        :, None, None
    ]
    y = np.maximum(y, 0).reshape(batch, C, 3, 2, 3, 2).max(axis=(3, 5))
    return y.reshape(batch, -1) @ w["fc.weight"].T + w["fc.bias"]  # C-major flatten


def rename(weights: dict, names: dict) -> dict:
    return {f"{names[k.split('.')[0]]}.{k.split('.')[1]}": v for k, v in weights.items()}


TORCHVISION = {"conv": "features.0", "bn": "features.1", "fc": "classifier.0"}
TIMM = {"conv": "conv1", "bn": "bn1", "fc": "head.fc"}
KERAS = {"conv": "conv2d", "bn": "batch_normalization", "fc": "dense"}


def keras_weights(w: dict) -> dict[str, dict[str, np.ndarray]]:
    """The same stack as a channels-last Keras model: HWIO kernels, (in, out) dense rows in
    (H, W, C) flatten order."""
    dense = np.zeros((C * 9, OUT), np.float32)
    for c in range(C):
        for i in range(3):
            for j in range(3):
                dense[(i * 3 + j) * C + c] = w["fc.weight"][:, c * 9 + i * 3 + j]
    return {
        "conv2d": {"kernel": w["conv.weight"].transpose(2, 3, 1, 0), "bias": w["conv.bias"]},
        "batch_normalization": {
            "gamma": w["bn.weight"],
            "beta": w["bn.bias"],
            "moving_mean": w["bn.running_mean"],
            "moving_variance": w["bn.running_var"],
        },
        "dense": {"kernel": dense, "bias": w["fc.bias"]},
    }


def write_keras2(path, layers_: dict) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"conv2d", b"batch_normalization", b"max_pooling2d", b"dense"]
        f.create_group("max_pooling2d").attrs["weight_names"] = []
        for layer, tensors in layers_.items():
            group = f.create_group(layer)
            group.attrs["weight_names"] = [f"{layer}/{n}:0".encode() for n in tensors]
            for name, array in tensors.items():
                group.create_dataset(f"{layer}/{name}:0", data=array)


def write_keras3(path, layers_: dict) -> None:
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        for layer, tensors in layers_.items():
            for i, array in enumerate(tensors.values()):
                f.create_dataset(f"layers/{layer}/vars/{i}", data=array)


def layout(names: dict) -> list:
    return [
        ("conv", "conv", names["conv"]),
        ("bn", "bn", names["bn"]),
        ("fc", "dense_chw", names["fc"]),
    ]


def check(path, names, convention, eps):
    model = Stack(bn_epsilon=eps)
    x = np.random.default_rng(1).normal(size=(2, H, H, 3)).astype(np.float32)
    template = model.init(jax.random.key(0), jnp.asarray(x))
    variables = convert(
        read_weights(str(path)),
        template,
        layout(names),
        convention=convention,
        chw_channels={"fc": C},
    )
    expected = numpy_forward(x.transpose(0, 3, 1, 2), torch_weights(), eps)
    np.testing.assert_allclose(model.apply(variables, x), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_torchvision_names_in_torch_files(tmp_path, fmt):
    path = tmp_path / "stack.pth"
    (write_zip if fmt == "zip" else write_legacy)(path, rename(torch_weights(), TORCHVISION))
    check(path, TORCHVISION, "torch", 1e-5)


def test_timm_names_in_safetensors(tmp_path):
    path = tmp_path / "stack.safetensors"
    save_file(rename(torch_weights(), TIMM), str(path))
    check(path, TIMM, "torch", 1e-5)


@pytest.mark.parametrize("writer", [write_keras2, write_keras3])
def test_keras_names_in_h5(tmp_path, writer):
    path = tmp_path / "stack.weights.h5"
    writer(path, keras_weights(torch_weights()))
    check(path, KERAS, "keras", 1e-3)  # Keras' BatchNormalization epsilon


def test_mismatches_are_listed_in_one_error():
    weights = rename(torch_weights(), TORCHVISION)
    del weights["features.1.running_var"]
    weights["features.9.weight"] = np.zeros(3, np.float32)
    weights["classifier.0.weight"] = np.zeros((OUT, 35), np.float32)
    template = Stack().init(jax.random.key(0), jnp.zeros((1, H, H, 3)))
    with pytest.raises(WeightMismatchError) as error:
        convert(weights, template, layout(TORCHVISION), chw_channels={"fc": C})
    message = str(error.value)
    assert "missing (1): features.1.running_var (for batch_stats/bn/var, shape (4,))" in message
    assert "unexpected (1): features.9.weight" in message
    assert "wrong shape (1): classifier.0.weight" in message
    # A layer the layout forgets is missing too, and a bad convention is named.
    with pytest.raises(WeightMismatchError, match=r"params/fc/kernel \(no entry in the layout\)"):
        convert(rename(torch_weights(), TORCHVISION), template, layout(TORCHVISION)[:2])
    with pytest.raises(ValueError, match="convention='caffe'"):
        convert(weights, template, layout(TORCHVISION), convention="caffe")
