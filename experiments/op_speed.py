"""Per-layer timings of XLA's native ops against the CPU forms of `cnnjax.ops.dispatch`
(benchmark mode `ops` of `experiments.benchmark`): forward + backward of one layer, jitted,
median of repeats, in one process so both forms meet the same machine load.
"""

import statistics
import time

import jax
import numpy as np

from cnnjax import ops
from cnnjax.ops import dispatch

# (what, input shape, kernel (KH, KW, C_in // groups, C_out) or pooling window, groups)
CASES = [
    ("conv 3x3 VGG-16 block 5 on 2x2", (64, 2, 2, 512), (3, 3, 512, 512), 1),
    ("conv 5x5 32x16x16x64->192, 2 groups (two towers)", (32, 16, 16, 64), (5, 5, 32, 192), 2),
    ("conv 3x3 128x32x32x16 (ResNet-20 stage 1, C++)", (128, 32, 32, 16), (3, 3, 16, 16), 1),
    ("conv 3x3 64x32x32x64 (VGG-16 block 1, C++)", (64, 32, 32, 64), (3, 3, 64, 64), 1),
    ("max-pool 2x2 64x32x32x64", (64, 32, 32, 64), 2, 0),
    ("max-pool 2x2 256x28x28x6 (LeNet-5)", (256, 28, 28, 6), 2, 0),
]


def _layer(shape, kernel, groups):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    if groups == 0:  # pooling
        return (lambda x: ops.max_pool(x, kernel).sum()), (x,)
    w = rng.normal(size=kernel).astype(np.float32)
    f = lambda x, w: ops.conv_general(x, w, padding="SAME", groups=groups).sum()
    return f, (x, w)


def time_ms(fn, args, repeats: int = 7) -> float:
    """Median milliseconds of `fn(*args)` after one warm-up call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def run() -> None:
    """Prints native and CPU-form milliseconds of each case's forward + backward."""
    for what, shape, kernel, groups in CASES:
        figures = {}
        for path in dispatch.PATHS:
            # A new function per path: jit caches traces by function, and the path is chosen
            # when tracing.
            f, args = _layer(shape, kernel, groups)
            grad = jax.jit(jax.grad(f, argnums=tuple(range(len(args)))))
            with dispatch.use_path(path):
                figures[path] = time_ms(grad, args)
        print(
            f"op {what}: native_ms={figures['native']:.2f} cpu_ms={figures['cpu']:.2f} "
            f"speedup={figures['native'] / figures['cpu']:.2f}",
            flush=True,
        )
