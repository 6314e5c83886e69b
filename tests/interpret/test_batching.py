"""Pass sizes of occlusion and SmoothGrad: a budget of input values, the fewest padded items."""

import pytest

from cnnjax.interpret import batching


def test_passes_cover_every_item_with_the_least_padding():
    assert batching.split(625, 334) == (2, 313)
    for n in range(1, 60):
        for cap in range(1, 20):
            passes, per_pass = batching.split(n, cap)
            assert per_pass <= cap and passes == -(-n // cap)  # as few passes as the cap allows
            assert 0 <= passes * per_pass - n < passes  # less than one padded item per pass
    with pytest.raises(ValueError, match="cap >= 1"):
        batching.split(5, 0)


def test_images_per_pass_and_divisors():
    assert batching.images_per_pass((28, 28, 1)) == 334
    assert batching.images_per_pass((224, 224, 3)) == 1  # at least one, even over the budget
    assert batching.largest_divisor(64, 334) == 64
    assert batching.largest_divisor(25, 8) == 5
    assert batching.largest_divisor(7, 0) == 1
