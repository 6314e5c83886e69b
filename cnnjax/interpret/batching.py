"""How many images one forward pass of an interpret method takes.

Occlusion windows and SmoothGrad samples are evaluated by `jax.lax.map` over passes of a few
images each, not as one batch of all of them: XLA:CPU runs a network faster per image when a
pass's activations stay in cache. Measured on 2 CPU cores (2026-11, jax 0.10.2): LeNet-5 on
28x28 inputs runs fastest at batches of hundreds, EfficientNet-Lite0 on 224x224 fastest at
batch 1 (5.6 img/s; 4.1 at batch 8, 1.9 at 16). A budget of input values per pass covers both.
"""

import math

# Input values (H * W * C * images) of one pass: 334 images at 28x28x1, 85 at 32x32x3, 1 at 224.
VALUES_PER_PASS = 2**18


def images_per_pass(image_shape: tuple[int, ...], budget: int = VALUES_PER_PASS) -> int:
    """Images of shape `image_shape` (H, W, C) that fit in `budget` input values, at least 1."""
    return max(1, budget // math.prod(image_shape))


def split(n: int, cap: int) -> tuple[int, int]:
    """(passes, items per pass) covering `n` items with at most `cap` per pass and the fewest
    padding items: 625 windows at cap 334 -> (2, 313), not (2, 334)."""
    if n < 1 or cap < 1:
        raise ValueError(f"split needs n >= 1 and cap >= 1, got n={n}, cap={cap}")
    passes = -(-n // cap)
    return passes, -(-n // passes)


def largest_divisor(n: int, cap: int) -> int:
    """The largest divisor of `n` that is at most `cap` (at least 1)."""
    return max(d for d in range(1, min(n, max(cap, 1)) + 1) if n % d == 0)
