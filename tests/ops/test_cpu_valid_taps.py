"""`cnnjax.ops.cpu_valid_taps.valid_taps_conv` gives XLA's convolution and gradients, and
multiplies only where a kernel tap meets the input."""

import jax
import numpy as np
import pytest
from conv_helpers import (
    assert_all_close,
    assert_cpu_path_equals_xla,
    outputs_and_grads,
    random_case,
    xla_conv,
)

from cnnjax.ops import cpu_valid_taps


def _groups_one_case(seed):
    rng = np.random.default_rng(700 + seed)
    x, kernel, strides, padding, dilation, _ = random_case(rng)
    kernel = rng.normal(size=(*kernel.shape[:2], x.shape[-1], kernel.shape[-1]))
    return x, kernel.astype(np.float32), strides, padding, dilation


@pytest.mark.parametrize("seed", range(8))
def test_valid_taps_conv_equals_xla(seed):
    """Random shapes, strides, paddings and dilations (maps smaller and larger than the
    kernel): outputs and both gradients."""
    x, kernel, *geometry = _groups_one_case(seed)
    assert_all_close(
        outputs_and_grads(
            lambda x, k: cpu_valid_taps.valid_taps_conv(x, k, *geometry), (x, kernel)
        ),
        outputs_and_grads(lambda x, k: xla_conv(x, k, *geometry, 1), (x, kernel)),
    )


@pytest.mark.parametrize(
    "spatial, padding",
    [((2, 2), "SAME"), ((1, 1), "SAME"), ((1, 3), "SAME"), ((2, 2), ((2, 0), (1, 2)))],
)
def test_maps_smaller_than_the_kernel_take_valid_taps_on_the_cpu_path(spatial, padding):
    """VGG-16's block 5 (2x2 maps under a 3x3 kernel) and smaller: `conv_general` on the CPU
    path gives XLA's outputs and gradients."""
    rng = np.random.default_rng(sum(spatial))
    x = rng.normal(size=(3, *spatial, 5)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 5, 4)).astype(np.float32)
    assert_cpu_path_equals_xla(x, kernel, (1, 1), padding, (1, 1), 1)


def test_only_the_taps_that_meet_the_input_are_multiplied():
    """A 3x3 SAME kernel on a 2x2 map: 16 (tap, output) pairs meet the input, not 36 — the
    GEMM rows sum to 16 per image; on a 1x1 map only the centre tap is used."""
    for spatial, pairs, dots in (((2, 2), 16, 9), ((1, 1), 1, 1)):
        x, kernel = np.ones((2, *spatial, 3), np.float32), np.ones((3, 3, 3, 4), np.float32)
        conv = lambda x, k: cpu_valid_taps.valid_taps_conv(x, k, (1, 1), "SAME", (1, 1))
        jaxpr = jax.make_jaxpr(conv)(x, kernel).jaxpr
        rows = [e.invars[0].aval.shape[0] for e in jaxpr.eqns if e.primitive.name == "dot_general"]
        assert (len(rows), sum(rows)) == (dots, pairs * 2)


@pytest.mark.parametrize(
    "size, out_size, offset, stride, pad_low, want",
    [
        (2, 2, 0, 1, 1, (1, 1)),  # 3x3 SAME on 2: the first tap meets input 0 at output 1
        (2, 2, 1, 1, 1, (0, 2)),  # the centre tap meets both
        (2, 2, 2, 1, 1, (0, 1)),
        (1, 1, 0, 1, 1, (1, 0)),  # 1x1 map: a corner tap meets nothing
        (5, 3, 2, 2, 1, (0, 2)),  # stride 2: outputs 0, 1, 2 read inputs 1, 3, 5 (out)
    ],
)
def test_tap_outputs(size, out_size, offset, stride, pad_low, want):
    first, count = cpu_valid_taps.tap_outputs(size, out_size, offset, stride, pad_low)
    assert (first, max(count, 0)) == want
