"""Receptive fields: the survey's examples, published networks, and brute-force dependence."""

import numpy as np
import pytest

from cnnjax.analysis import ReceptiveField, receptive_field


@pytest.mark.parametrize(
    "layers, size, jump",
    [
        ([(3, 1)] * 3, 7, 1),  # 03-cnn-slides: three 3x3 convolutions see 7x7
        ([(5, 1), (5, 1), (3, 1)], 11, 1),  # 02-cnn-lecture-notes §60.8: 3 + (5-1) + (5-1)
        ([(3, 1), (2, 2)], 4, 2),  # 3x3 conv then 2x2/2 max-pool: 4x4
        ([(3, 1), (2, 2), (3, 1)], 8, 2),  # ... then a 3x3 conv: 8x8
    ],
)
def test_survey_examples(layers, size, jump):
    field = receptive_field(layers)
    assert (field.size, field.jump) == (size, jump)


def test_published_networks():
    # Araujo et al. (2019), Distill, Table 1: VGG-16 r = 212, AlexNet r = 195.
    block = lambda n: [(3, 1)] * n + [(2, 2)]
    vgg16 = block(2) + block(2) + block(3) + block(3) + block(3)
    assert receptive_field(vgg16) == ReceptiveField(size=212, jump=32, start=0)
    alexnet = [(11, 4), (3, 2), (5, 1), (3, 2), (3, 1), (3, 1), (3, 1), (3, 2)]
    assert (receptive_field(alexnet).size, receptive_field(alexnet).jump) == (195, 32)


def test_dilation_and_padding():
    # Dilations 1, 2, 4 (WaveNet-style): 1 + 2 + 4 + 8 = 15 pixels, no stride.
    assert receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)]).size == 15
    # ResNet stem: 7x7/2 conv with padding 3, then 3x3/2 max-pool with padding 1. Unit 0 of the
    # pool starts 3 + 1 * 2 = 5 pixels before the image.
    stem = receptive_field([(7, 2, 1, 3), (3, 2, 1, 1)])
    assert stem == ReceptiveField(size=11, jump=4, start=-5)
    assert stem.window(2) == (3, 13) and stem.center == 0.0


def test_union_of_branches():
    a, b = ReceptiveField(3, 2, 0), ReceptiveField(5, 2, -1)
    assert a.union(b) == ReceptiveField(5, 2, -1)
    assert ReceptiveField(3, 1, 4).union(ReceptiveField(3, 1, 0)) == ReceptiveField(7, 1, 0)
    with pytest.raises(ValueError, match="jumps 1 and 2"):
        ReceptiveField(3, 1, 0).union(ReceptiveField(3, 2, 0))


def _support(layers, length: int, index: int) -> tuple[int, int]:
    """First and last input pixel that output unit `index` depends on (1-D, numpy).

    Every layer is a convolution with an all-ones kernel, a linear map with non-negative
    weights: feeding the identity matrix (one impulse per input pixel) gives the unit's weight
    on each pixel, nonzero exactly on its receptive field clipped to the image.
    """
    x = np.eye(length)  # (pixels, length): row p is an impulse at pixel p
    for kernel, stride, dilation, padding in layers:
        x = np.pad(x, ((0, 0), (padding, padding)))
        out = (x.shape[1] - dilation * (kernel - 1) - 1) // stride + 1
        taps = np.arange(out)[:, None] * stride + np.arange(kernel)[None, :] * dilation
        x = x[:, taps].sum(-1)  # (pixels, out)
    nonzero = np.flatnonzero(x[:, index])
    return int(nonzero[0]), int(nonzero[-1])


def test_matches_the_dependence_of_random_stacks():
    rng = np.random.default_rng(0)
    for _ in range(200):
        layers = []
        for _ in range(rng.integers(1, 5)):
            kernel, stride, dilation = (int(v) for v in rng.integers(1, 4, size=3))
            dilation = dilation if kernel > 1 else 1
            layers.append((kernel, stride, dilation, int(rng.integers(0, kernel))))
        field = receptive_field(layers)
        length = 3 * field.size + 8
        out = length
        for kernel, stride, dilation, padding in layers:
            out = (out + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        index = out // 2
        first, last = field.window(index)
        assert _support(layers, length, index) == (max(first, 0), min(last, length - 1)), layers


@pytest.mark.parametrize(
    "layers, message",
    [
        ([(0, 1)], "kernel=0"),
        ([(3, 0)], "stride=0"),
        ([(3, 1, 0)], "dilation=0"),
        ([(3,)], "must be"),
        ([(3, 1, 1, 1, 1)], "must be"),
        ([(3.0, 1)], "must be"),
        ([(3, 1, 1, -1)], "negative"),
    ],
)
def test_bad_layers_raise_one_clear_error(layers, message):
    with pytest.raises(ValueError, match=message):
        receptive_field(layers)
