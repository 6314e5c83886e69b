"""Output-size and parameter-count formulas: survey examples, hand-worked layers, XLA itself."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax.analysis import conv_output_size, conv_params, pool_output_size
from cnnjax.models import layers
from cnnjax.ops import conv1d


@pytest.mark.parametrize(
    "w, f, p, s, expected",
    [
        (9, 3, 0, 1, 7),  # survey (03-cnn-slides): the 9x9 "X" image and a 3x3 filter -> 7x7
        (28, 5, 2, 1, 28),  # LeNet-5 C1 with 2 pixels of padding keeps 28x28
        (227, 11, 0, 4, 55),  # AlexNet conv1: (227 - 11) / 4 + 1
        (224, 7, 3, 2, 112),  # ResNet stem conv: floor(229 / 2) + 1
        (112, 3, 1, 2, 56),  # ResNet stem max-pool 3x3/2, padding 1
        (224, 11, 2, 4, 55),  # torchvision AlexNet: floor(217 / 4) + 1, the floor drops a row
        (7, 3, "VALID", 2, 3),
        (7, 3, "SAME", 2, 4),  # ceil(7 / 2)
        (5, 3, (1, 2), 1, 6),  # asymmetric padding: 2P -> 1 + 2
    ],
)
def test_hand_worked_output_sizes(w, f, p, s, expected):
    assert conv_output_size(w, f, p, s) == expected


def test_dilation_widens_the_kernel():
    # A 3-tap kernel with dilation 2 spans 5 pixels: (10 - 5) / 1 + 1 = 6.
    assert conv_output_size(10, 3, 0, 1, dilation=2) == 6
    assert conv_output_size(10, 5, 0, 1) == 6


def test_pooling_defaults_to_non_overlapping_windows():
    assert pool_output_size(28, 2) == 14  # LeNet's 2x2/2 max-pool
    assert pool_output_size(55, 3, 2) == 27  # AlexNet's overlapping 3x3/2 pool
    assert pool_output_size(7, 2) == 3  # the floor drops the last row


def _xla_size(w, f, p, s, d) -> int:
    """Output length of XLA's own 1-D convolution (shapes only)."""
    padding = p if isinstance(p, str) else [p if isinstance(p, tuple) else (p, p)]
    x = jax.ShapeDtypeStruct((1, 1, w), jnp.float32)
    k = jax.ShapeDtypeStruct((1, 1, f), jnp.float32)
    conv = lambda x, k: lax.conv_general_dilated(x, k, (s,), padding, rhs_dilation=(d,))
    return jax.eval_shape(conv, x, k).shape[-1]


def test_agrees_with_xla_on_every_padding_stride_and_dilation():
    rng = np.random.default_rng(0)
    paddings = [0, 1, 2, (0, 1), (2, 0), "SAME", "VALID"]
    cases = list(itertools.product(range(4, 12), range(1, 5), paddings, (1, 2, 3), (1, 2)))
    checked = 0
    for i in rng.choice(len(cases), size=120, replace=False):
        w, f, p, s, d = cases[i]
        f_eff = d * (f - 1) + 1
        low_high = 0 if isinstance(p, str) else sum(p) if isinstance(p, tuple) else 2 * p
        if p != "SAME" and w + low_high < f_eff:
            with pytest.raises(ValueError, match="not positive"):
                conv_output_size(w, f, p, s, d)
            continue
        assert conv_output_size(w, f, p, s, d) == _xla_size(w, f, p, s, d), (w, f, p, s, d)
        checked += 1
    assert checked > 60


@pytest.mark.parametrize(
    "f, c_in, c_out, bias, groups, expected",
    [
        (5, 1, 6, True, 1, 156),  # LeNet-5 C1: 6 * (5*5*1 + 1)
        (3, 64, 128, True, 1, 73_856),  # VGG conv2_1: 128 * (3*3*64 + 1)
        (5, 96, 256, True, 2, 307_456),  # AlexNet conv2 on two GPUs: 256 * (5*5*48 + 1)
        (7, 3, 64, False, 1, 9_408),  # ResNet stem, no bias (BatchNorm follows)
        ((1, 7), 128, 192, True, 1, 172_224),  # Inception-v3's factorised 1x7
    ],
)
def test_hand_worked_parameter_counts(f, c_in, c_out, bias, groups, expected):
    assert conv_params(f, c_in, c_out, bias, groups) == expected


@pytest.mark.parametrize(
    "kernel, c_in, c_out, bias, groups",
    [(3, 4, 6, True, 1), ((1, 5), 6, 4, False, 2), (2, 8, 8, True, 8)],
)
def test_parameter_count_matches_a_real_conv_layer(kernel, c_in, c_out, bias, groups):
    layer = layers.Conv(c_out, kernel, use_bias=bias, groups=groups)
    x = jax.ShapeDtypeStruct((1, 8, 8, c_in), jnp.float32)
    params = jax.eval_shape(layer.init, jax.random.key(0), x)["params"]
    real = sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(params))
    assert conv_params(kernel, c_in, c_out, bias, groups) == real


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((4, 5, 0, 1), {}, "not positive"),  # kernel larger than a VALID input
        ((4, 3, 0, 1), {"dilation": 2}, "not positive"),  # dilated kernel spans 5 > 4
        ((224, 11, 2, 4), {"strict": True}, "not an integer"),  # 217 / 4
        ((7, 2, 0, 2), {"strict": True}, "not an integer"),
        ((28, 5, -1, 1), {}, "negative"),
        ((28, 5, (2, -1), 1), {}, "negative"),
        ((28, 5, "FULL", 1), {}, "accepted are"),
        ((28, 5, 1.5, 1), {}, "accepted are"),
        ((28, 5, 0, 0), {}, "s=0"),
        ((0, 5, 0, 1), {}, "w=0"),
        ((28, 0, 0, 1), {}, "f=0"),
    ],
)
def test_bad_sizes_raise_one_clear_error(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(*args, **kwargs)


def test_strict_accepts_exact_tilings():
    assert conv_output_size(227, 11, 0, 4, strict=True) == 55
    assert conv_output_size(32, 3, 1, 1, strict=True) == 32


@pytest.mark.parametrize(
    "args, message",
    [
        ((3, 6, 4, True, 4), "divisible by groups"),
        ((0, 3, 4), "f=0"),
        (((3, 0), 3, 4), "positive"),
        ((3, 0, 4), "c_in=0"),
    ],
)
def test_bad_parameter_count_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        conv_params(*args)


@pytest.mark.parametrize("bad", ["FULL", "sane", 1.5, (1, -1), (1, 2, 3), -2])
def test_padding_is_refused_as_the_ops_refuse_it(bad):
    """The formula reads padding with the ops' parser: the same value, the same message."""
    x, kernel = jnp.zeros((1, 28, 1)), jnp.zeros((5, 1, 1))
    with pytest.raises(ValueError) as by_ops:
        conv1d(x, kernel, padding=bad if isinstance(bad, str) else [bad])
    with pytest.raises(ValueError) as by_formula:
        conv_output_size(28, 5, bad, 1)
    assert str(by_formula.value) == str(by_ops.value)
    assert repr(bad) in str(by_formula.value)
