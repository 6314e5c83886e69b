"""Bad inputs fail with one clear ValueError naming the bad value and what is accepted."""

import jax
import jax.numpy as jnp
import pytest

from cnnjax import interpret
from cnnjax.models import create_model


@pytest.fixture(scope="module")
def lenet():
    model = create_model("lenet5", num_classes=10)
    x = jnp.zeros((2, 28, 28, 1))
    return model, model.init(jax.random.key(0), x), x


def test_unknown_layer_lists_the_layers(lenet):
    model, variables, x = lenet
    with pytest.raises(ValueError, match=r"unknown layer 'conv9'.*conv1, pool1, conv2, pool2$"):
        interpret.feature_maps(model, variables, x, "conv9")
    with pytest.raises(ValueError, match=r"unknown layer 'fc1'; .*spatial layers are: conv1"):
        interpret.grad_cam(model, variables, x, interpret.class_score(0), "fc1")  # not spatial
    with pytest.raises(ValueError, match=r"unknown layer 'conv3'.*conv1, pool1, conv2, pool2, fc1"):
        interpret.gradient(model, variables, x, interpret.unit("conv3", 0))


@pytest.mark.parametrize(
    "shape, match",
    [
        ((2, 32, 32, 1), r"\(32, 32, 1\) do not fit this model"),
        ((2, 28, 28, 3), r"\(28, 28, 3\) do not fit this model .*\(5, 5, 1, 6\)"),
        ((28, 28, 1), r"must be a \(B, H, W, C\) batch, got shape \(28, 28, 1\)"),
    ],
    ids=["size", "channels", "rank"],
)
def test_wrong_images_are_refused(lenet, shape, match):
    model, variables, _ = lenet
    with pytest.raises(ValueError, match=match):
        interpret.gradient(model, variables, jnp.zeros(shape), interpret.class_score(0))


def test_the_size_the_model_was_trained_on_is_named(lenet):
    model, variables, _ = lenet
    with pytest.raises(
        ValueError, match=r"\(20, 20, 1\) do not match the model's input \(28, 28, 1\)"
    ):
        interpret.check_images(model, variables, jnp.zeros((1, 20, 20, 1)), (28, 28, 1))


def test_patch_larger_than_the_image(lenet):
    model, variables, x = lenet
    with pytest.raises(ValueError, match=r"patch=29 must be between 1 and the image side 28"):
        interpret.occlusion(model, variables, x, [0, 1], patch=29)


def test_class_index_out_of_range(lenet):
    model, variables, x = lenet
    with pytest.raises(ValueError, match=r"class index 10 is out of range; accepted 0..9"):
        interpret.gradient(model, variables, x, interpret.class_score(10))
    with pytest.raises(ValueError, match=r"class index -1 is out of range"):
        interpret.occlusion(model, variables, x, [3, -1])
    with pytest.raises(ValueError, match=r"conv2 channel 16 is out of range; accepted 0..15"):
        interpret.max_activating_patches(model, variables, x, "conv2", 16)
    with pytest.raises(ValueError, match=r"position=\(10, 0\) is outside the conv2 map \(10, 10\)"):
        interpret.gradient(model, variables, x, interpret.unit("conv2", 0, (10, 0)))
