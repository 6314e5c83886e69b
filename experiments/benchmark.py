"""Speed measurements; one line per measurement. Benchmarks are not tests: nothing is asserted.

    python -m experiments.benchmark --models=lenet5,resnet20,vgg16_cifar [--json=out.json]
    python -m experiments.benchmark --models=alexnet_small --batch_size=32

`--mode=ops` times single layers (forward + backward) in XLA's native form and in the CPU form
`cnnjax.ops.dispatch` picks (`experiments/op_speed.py`).

`--mode=models` (the default) times the engine's compiled train and eval steps of registry
models (`experiments/model_speed.py`): median img/s after warm-up, compile time of the train
step, GFLOP/s of training against a matmul peak measured first, peak memory, one line per model
in the format of `../shared/bench/torch_reference.py`'s, so the two compare line by line:
    cnnjax <model> bs=<B> train_img_per_s=<N> eval_img_per_s=<N> compile_s=<N> gflops=<N>
        peak_mb=<N>   (one line)
The reference networks run at the reference batch sizes (lenet5 256, resnet20 128 with projection
shortcuts, vgg16_cifar 64); other models at `--batch_size` (default 32 in this mode).

    python -m experiments.benchmark --mode=data                 # input pipeline vs train step
    python -m experiments.benchmark --mode=data --batches=50 --worker_count=4
    python -m experiments.benchmark --mode=pretrained           # EfficientNet-Lite0, MobileNetV2

`--mode=data` compares what the input pipeline delivers (grain `train_iterator`, in the main
process and with worker processes) with what the training step consumes: the engine's compiled
train step (`cnnjax.train.steps.train_step` through `cnnjax.train.parallel`, state donated,
preprocessing and augmentation included, SGD with momentum) of `lenet5` at batch 256 on
MNIST-5k, and of a CIFAR-size model (`resnet20`) on synthetic 32x32x3 uint8 data.
The pipeline keeps up when its img/s exceeds the step's. Modes are a registry, so other modes
(model speed, ...) can be added beside `data`.
"""

import dataclasses
import json
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

import cnnjax
from cnnjax import models
from cnnjax.data import augment as augment_lib
from cnnjax.data import load_dataset, preprocess, train_iterator
from cnnjax.data.datasets import Dataset
from cnnjax.data.sources import ArraySource
from cnnjax.ops import dispatch, native
from cnnjax.train import steps as train_steps
from experiments import allocator, huge_pages, model_speed, op_speed

MODES: dict[str, Callable[[], None]] = {}


def mode(name: str):
    """Registers a benchmark mode under `name`."""

    def decorator(fn):
        MODES[name] = fn
        return fn

    return decorator


def report(what: str, images: int, seconds: float) -> float:
    """Prints `what: N img/s (images in seconds)` and returns the rate."""
    rate = images / seconds
    print(f"{what}: {rate:,.0f} img/s ({images} images in {seconds:.2f} s)", flush=True)
    return rate


def pipeline_rate(source, batch_size: int, batches: int, worker_count: int) -> tuple[int, float]:
    """Images and seconds for `batches` batches of `train_iterator` after one warm-up batch."""
    iterator = train_iterator(source, batch_size=batch_size, seed=0, worker_count=worker_count)
    next(iterator)  # starts workers / threads
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    seconds = time.perf_counter() - start
    if hasattr(iterator, "close"):
        iterator.close()
    return batches * batch_size, seconds


def step_rate(model_name, dataset, batch, augment: str, steps: int) -> tuple[int, float]:
    """Images and seconds for `steps` of the engine's compiled train step (the one training runs,
    state donated; `model_speed.make_engine`) on one device-resident batch, after compiling."""
    spec = models.get_model_spec(model_name)
    model = models.create_model(model_name, num_classes=dataset.num_classes)
    options = train_steps.StepOptions(
        num_classes=dataset.num_classes,
        preprocess=preprocess.build(dataset, spec.input_shape),
        augment=augment_lib.build(augment, dataset.num_classes) if augment else None,
    )
    engine, state = model_speed.make_engine(model, spec.input_shape, options)
    batch = engine.shard_batch(batch)
    state, metrics = engine.train_step(state, batch)  # compile
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = engine.train_step(state, batch)
    jax.block_until_ready(metrics)
    return steps * len(batch["label"]), time.perf_counter() - start


def synthetic_cifar(count: int) -> Dataset:
    """`count` random 32x32x3 uint8 images with 10 labels, as a `Dataset` held in memory."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    source = ArraySource(images, rng.integers(0, 10, count))
    return Dataset(
        name="synthetic-cifar", splits={"train": source}, num_classes=10,
        image_shape=(32, 32, 3), class_names=tuple(map(str, range(10))),
        mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26),
    )  # fmt: skip


@mode("data")
def data_mode() -> None:
    f = flags.FLAGS
    print(f"devices: {jax.devices()}", flush=True)
    mnist = load_dataset("mnist5k", f.data_dir or None)
    streamed = load_dataset("mnist5k", f.data_dir or None, cache=False)
    cifar = synthetic_cifar(f.batch_size * 8)
    cases = [
        ("mnist5k (in memory)", mnist.splits["train"]),
        ("mnist5k (streamed ArrayRecord, PNG decode)", streamed.splits["train"]),
        ("synthetic 32x32x3 (in memory)", cifar.splits["train"]),
    ]
    for name, source in cases:
        for workers in sorted({0, f.worker_count}):
            images, seconds = pipeline_rate(source, f.batch_size, f.batches, workers)
            report(f"pipeline {name}, batch {f.batch_size}, {workers} workers", images, seconds)
    batch = next(train_iterator(mnist.splits["train"], batch_size=f.batch_size, seed=0))
    for augment in ("", f.augment):
        images, seconds = step_rate("lenet5", mnist, batch, augment, f.steps)
        report(
            f"train step lenet5 mnist5k, batch {f.batch_size}, augment={augment!r}", images, seconds
        )
    batch = next(train_iterator(cifar.splits["train"], batch_size=f.batch_size, seed=0))
    cifar_model = f.cifar_model if f.cifar_model in models.list_models() else "alexnet_small"
    images, seconds = step_rate(cifar_model, cifar, batch, f.cifar_augment, f.steps)
    report(
        f"train step {cifar_model} synthetic 32x32x3, batch {f.batch_size}, "
        f"augment={f.cifar_augment!r}", images, seconds,
    )  # fmt: skip


@mode("pretrained")
def pretrained_mode() -> None:
    """Inference speed of the pretrained networks (cnnjax.pretrained) at batch 1 and 64."""
    from cnnjax import pretrained

    print(f"devices: {jax.devices()}", flush=True)
    for name in pretrained.PRETRAINED:
        model, variables, _ = pretrained.load(name)
        forward = jax.jit(lambda v, x, model=model: model.apply(v, x))
        for batch_size, repeats in ((1, 4 * flags.FLAGS.steps), (64, flags.FLAGS.steps // 2 or 1)):
            x = jnp.asarray(
                np.random.default_rng(0).normal(size=(batch_size, 224, 224, 3)), jnp.float32
            )
            forward(variables, x).block_until_ready()  # compile
            start = time.perf_counter()
            for _ in range(repeats):
                forward(variables, x).block_until_ready()
            seconds = time.perf_counter() - start
            rate = report(f"inference {name}, batch {batch_size}", batch_size * repeats, seconds)
            print(f"  {1000 / rate:.2f} ms per image", flush=True)


def native_kernels_status() -> str:
    """`on` where cnnjax's C++ convolution kernels are built and loaded, else `off`."""
    return "on" if dispatch.current_path() == "cpu" and native.available() else "off"


@mode("models")
def models_mode() -> None:
    # compile_s is a cold compile: never read (or fill) a persistent cache, not even one set by
    # $JAX_COMPILATION_CACHE_DIR. Done before anything compiles (JAX decides once per process).
    jax.config.update("jax_enable_compilation_cache", False)
    f = flags.FLAGS
    names = [n.strip() for n in f.models.split(",") if n.strip()]
    for name in names:
        models.get_model_spec(name)  # unknown names fail here, before any compile
    print(
        f"jax {jax.__version__} devices={jax.devices()} ops_path={dispatch.current_path()} "
        f"xla_cpu_flag={cnnjax.cpu_flags.STATUS} compilation_cache=off "
        f"huge_pages={huge_pages.status()} allocator={allocator.status()} "
        f"cpp_kernels={native_kernels_status()}",
        flush=True,
    )
    peak = model_speed.matmul_peak_gflops(f.peak_size)
    print(f"matmul_peak_gflops={peak:.1f}", flush=True)
    results = []
    for name in names:
        default = f.batch_size if f["batch_size"].present else 32
        batch_size = model_speed.REFERENCE.get(name, (default,))[0]
        result = model_speed.measure(name, batch_size, f.seconds, f.repeats)
        print(f"{result.line()} peak_fraction={result.gflops / peak:.2f}", flush=True)
        results.append(dataclasses.asdict(result))
    if f.json:
        with open(f.json, "w") as out:
            json.dump({"matmul_peak_gflops": peak, "ops_path": dispatch.current_path(),
                       "results": results}, out, indent=1)  # fmt: skip


@mode("ops")
def ops_mode() -> None:
    print(f"ops: XLA native vs CPU forms, xla_cpu_flag={cnnjax.cpu_flags.STATUS}", flush=True)
    op_speed.run()


def define_flags() -> None:
    flags.DEFINE_enum("mode", "models", sorted(MODES), "What to measure.")
    flags.DEFINE_string("models", "lenet5,resnet20,vgg16_cifar", "models mode: registry names.")
    flags.DEFINE_float("seconds", 10.0, "models mode: seconds of timed steps per model and step.")
    flags.DEFINE_integer("repeats", 5, "models mode: timings per step (the median is printed).")
    flags.DEFINE_integer("peak_size", 2048, "models mode: n of the n x n matmul timed as peak.")
    flags.DEFINE_string("json", "", "models mode: also write the figures to this JSON file.")
    flags.DEFINE_string("data_dir", "", "Prepared data dir (empty: $CNNJAX_DATA_DIR or default).")
    flags.DEFINE_integer("batch_size", 256, "Examples per batch (models mode: non-reference).")
    flags.DEFINE_integer("batches", 40, "Pipeline batches timed per measurement.")
    flags.DEFINE_integer("steps", 10, "Train steps timed per measurement.")
    flags.DEFINE_integer("worker_count", 2, "grain worker processes for the second measurement.")
    flags.DEFINE_string("augment", "pad_crop(2)|rotate(10)", "Augmentation of the LeNet step.")
    flags.DEFINE_string("cifar_model", "resnet20", "CIFAR-size registry model.")
    flags.DEFINE_string("cifar_augment", "pad_crop(4)|flip_lr", "Augmentation of its step.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    MODES[flags.FLAGS.mode]()


if __name__ == "__main__":
    define_flags()
    app.run(main)
