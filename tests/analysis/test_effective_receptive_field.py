"""The effective receptive field (Luo et al., 2016) of a stack of three 3x3 convolutions."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from cnnjax.analysis import summary
from cnnjax.analysis.erf import effective_receptive_field, erf_support
from cnnjax.interpret.plots import effective_receptive_field as plot_effective_receptive_field
from cnnjax.models import layers
from cnnjax.models.intermediates import record

SHAPE = (15, 15, 2)


class ThreeConvs(nn.Module):
    """Three 3x3 SAME convolutions, no nonlinearity (a linear map of the input), then a head."""

    @nn.compact
    def __call__(self, x, *, train=False):
        for i in range(1, 4):
            x = record(self, f"conv{i}", layers.Conv(3, 3, name=f"conv{i}")(x))
        return nn.Dense(2)(x.reshape(x.shape[0], -1))


@pytest.fixture(scope="module")
def three_convs():
    """The model and random variables (numpy draws: no initialiser to compile)."""
    model = ThreeConvs()
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, *SHAPE)))
    rng = np.random.default_rng(1)
    draw = lambda s: jnp.asarray(rng.normal(size=s.shape) if s.ndim > 1 else np.zeros(s.shape))
    return model, jax.tree_util.tree_map(draw, shapes)


@pytest.fixture(scope="module")
def erfs(three_convs):
    """name -> ERF of the centre unit of conv1..conv3, and of conv3's corner unit (0, 0)."""
    model, variables = three_convs
    out = {
        f"conv{i}": effective_receptive_field(model, variables, SHAPE, f"conv{i}") for i in (1, 2)
    }
    out["conv3"] = effective_receptive_field(model, variables, SHAPE, num_samples=2)  # the last
    out["corner"] = effective_receptive_field(model, variables, SHAPE, "conv3", position=(0, 0))
    return out


def _window(rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(SHAPE[:2], bool)
    mask[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1] = True
    return mask


def test_three_3x3_convs_see_exactly_a_7x7_window(three_convs, erfs):
    erf = erfs["conv3"]
    assert erf.shape == SHAPE[:2]
    assert np.array_equal(erf > 0, _window((4, 10), (4, 10)))  # centre unit (7, 7) +- 3
    assert erf_support(erf) == ((4, 4), (7, 7))
    rf = summary(three_convs[0], SHAPE).activations["conv3"][1]  # the theoretical field agrees
    assert (rf[0].size, rf[0].window(7)) == (7, (4, 10))


def test_each_layer_adds_two_pixels_and_corners_clip(erfs):
    assert erf_support(erfs["conv1"]) == ((6, 6), (3, 3))
    assert erf_support(erfs["conv2"]) == ((5, 5), (5, 5))
    assert np.array_equal(erfs["corner"] > 0, _window((0, 3), (0, 3)))  # [-3, 3] in the image


def test_values_are_the_gradient_of_the_linear_map(three_convs, erfs):
    # The network is linear with zero biases, so d unit / d x[p] = unit(e_p), whatever the
    # input: an impulse response from plain forward passes, independent of autodiff.
    model, variables = three_convs
    impulses = jnp.eye(15 * 15 * 2).reshape(-1, *SHAPE)  # one per input pixel and channel
    forward = jax.jit(lambda v, x: model.apply(v, x, mutable=True)[1])
    unit = forward(variables, impulses)["intermediates"]["activations"]["conv3"][:, 7, 7].sum(-1)
    impulse = np.abs(np.asarray(unit).reshape(SHAPE)).sum(-1)
    np.testing.assert_allclose(erfs["conv3"], impulse, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layer": "conv9"}, "conv9.*accepted are.*conv1"),
        ({"layer": "logits"}, "unknown recorded spatial activation 'logits'"),
        ({"layer": "conv3", "position": (15, 0)}, "outside"),
        ({"layer": "conv3", "inputs": jnp.zeros((1, 8, 8, 2))}, "do not match"),
    ],
)
def test_bad_arguments_raise_one_clear_error(three_convs, kwargs, message):
    model, variables = three_convs
    with pytest.raises(ValueError, match=message):
        effective_receptive_field(model, variables, SHAPE, **kwargs)


def test_plot_writes_a_png(tmp_path, erfs):
    path = plot_effective_receptive_field(
        erfs["conv2"], str(tmp_path / "erf.png"), title="conv2", window=((5, 5), (5, 5))
    )
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (500, 500)
        assert np.asarray(image.convert("L")).std() > 10
    with pytest.raises(ValueError, match="zero everywhere"):
        erf_support(np.zeros((3, 3)))
