"""Throughput of the engine's compiled train and eval steps for registry models (benchmark mode
`models` of `experiments.benchmark`).

The step timed is the one training runs: `cnnjax.train.steps.train_step` / `eval_step` compiled
by `cnnjax.train.parallel.make_engine` (jit engine, state donated), fed one device-resident
batch of random uint8 images, fp32, SGD with momentum 0.9 at lr 0.01, as in
`../shared/bench/torch_reference.py` (same networks, batch sizes and parameter counts).
"""

import dataclasses
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax import analysis, models
from cnnjax.data import preprocess
from cnnjax.data.datasets import Dataset
from cnnjax.train import parallel, steps
from cnnjax.train.state import create_train_state

# name: (batch size, model overrides) of the PyTorch reference; other models: batch 32.
REFERENCE = {
    "lenet5": (256, {}),
    "resnet20": (128, {"shortcut": "B"}),  # projection shortcuts, as the reference: 272,474
    "vgg16_cifar": (64, {}),
}
NUM_CLASSES = 10


@dataclasses.dataclass(frozen=True)
class Result:
    """One model's figures (img/s are medians over repeats; GFLOP/s of the train step)."""

    model: str
    batch_size: int
    params: int
    train_img_per_s: float
    eval_img_per_s: float
    compile_s: float
    compile_cpu_s: float  # CPU seconds of the compile: near its wall time on an idle machine
    gflops: float
    peak_mb: float

    def line(self) -> str:
        return (
            f"cnnjax {self.model} bs={self.batch_size} train_img_per_s={self.train_img_per_s:.1f} "
            f"eval_img_per_s={self.eval_img_per_s:.1f} compile_s={self.compile_s:.2f} "
            f"gflops={self.gflops:.1f} peak_mb={self.peak_mb:.0f} "
            f"compile_cpu_s={self.compile_cpu_s:.2f}"
        )


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a jitted fp32 (size x size) @ (size x size): the machine's practical ceiling."""
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    matmul = jax.jit(lambda a, b: a @ b)
    matmul(a, a).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, a).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def _random_dataset(input_shape) -> Dataset:
    """A stand-in `Dataset` (statistics and image shape only) for `preprocess.build`."""
    channels = input_shape[-1]
    return Dataset(
        name="random", splits={}, num_classes=NUM_CLASSES, image_shape=tuple(input_shape),
        class_names=tuple(map(str, range(NUM_CLASSES))),
        mean=(0.5,) * channels, std=(0.25,) * channels,
    )  # fmt: skip


def make_engine(model, input_shape, options: steps.StepOptions, learning_rate: float = 0.01):
    """(engine, state): the steps training runs for `model`, compiled by the `jit` engine (state
    donated), SGD with momentum 0.9, and the initial state already in the engine's layout.

    Args:
      model: a linen module.
      input_shape: (H, W, C) the model sees.
      options: the steps' `StepOptions` (preprocessing, augmentation, classes).
      learning_rate: SGD's rate.
    """
    tx = optax.sgd(learning_rate, momentum=0.9)
    init_fn = functools.partial(create_train_state, model, input_shape, tx, jax.random.key(0))
    engine = parallel.make_engine(
        "jit",
        functools.partial(steps.train_step, options=options),
        functools.partial(steps.eval_step, options=options),
        jax.eval_shape(init_fn),
    )
    return engine, engine.create_state(init_fn)


def build(name: str, batch_size: int):
    """(model, engine, state, batch) of registry model `name` as the reference trains it."""
    spec = models.get_model_spec(name)
    overrides = REFERENCE.get(name, (None, {}))[1]
    model = models.create_model(name, num_classes=NUM_CLASSES, **overrides)
    input_shape = spec.input_shape
    options = steps.StepOptions(
        num_classes=NUM_CLASSES,
        preprocess=preprocess.build(_random_dataset(input_shape), input_shape),
    )
    engine, state = make_engine(model, input_shape, options)
    rng = np.random.default_rng(0)
    batch = engine.shard_batch({
        "image": rng.integers(0, 256, (batch_size, *input_shape), dtype=np.uint8),
        "label": rng.integers(0, NUM_CLASSES, batch_size).astype(np.int32),
    })  # fmt: skip
    return model, engine, state, batch


def _peak_mb(compiled) -> float:
    """Device memory of one compiled step: the allocator's peak if the device reports it, else
    what XLA planned (arguments + outputs + temporaries - donated aliases)."""
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20
    m = compiled.memory_analysis()
    total = (
        m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
        - m.alias_size_in_bytes
    )  # fmt: skip
    return total / 2**20


def _median_rate(run, batch_size: int, seconds: float, repeats: int) -> float:
    """Median img/s over `repeats` timings of back-to-back calls lasting ~`seconds` in all."""
    start = time.perf_counter()
    jax.block_until_ready(run())  # warm-up (and the time of one call)
    per_call = max(time.perf_counter() - start, 1e-6)
    calls = max(1, int(seconds / repeats / per_call))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = run()
        jax.block_until_ready(out)  # one sync per timing, none per step
        rates.append(calls * batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def measure(name: str, batch_size: int, seconds: float, repeats: int) -> Result:
    """Compiles `name`'s train step (timed, without the persistent cache), then times the train
    and eval steps: median img/s of `repeats` timings over about `seconds` each."""
    model, engine, state, batch = build(name, batch_size)
    start, cpu_start = time.perf_counter(), time.process_time()
    compiled = engine.train_step.lower(state, batch).compile()
    compile_s, compile_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mb = _peak_mb(compiled)
    holder = [state]

    def train():
        holder[0], metrics = engine.train_step(holder[0], batch)  # the state is donated
        return metrics

    train_rate = _median_rate(train, batch_size, seconds, repeats)
    eval_rate = _median_rate(
        lambda: engine.eval_step(holder[0], batch), batch_size, seconds, repeats
    )
    summary = analysis.summary(model, models.get_model_spec(name).input_shape)
    flops_per_image = 3 * summary.total_flops  # forward + gradients of inputs and weights
    params = sum(x.size for x in jax.tree.leaves(holder[0].params))
    return Result(
        name, batch_size, params, train_rate, eval_rate, compile_s, compile_cpu_s,
        flops_per_image * train_rate / 1e9, peak_mb,
    )  # fmt: skip
