"""Speed of the interpret methods against the model's own batched evaluation and PAIR `saliency`.

    python -m experiments.benchmark_interpret                      # LeNet-5 at 28x28
    python -m experiments.benchmark_interpret --model=efficientnet_lite0

Occlusion evaluates one forward pass per window, so the model's batched eval img/s is its
ceiling; SmoothGrad needs a forward and a backward pass per sample, so its ceiling is the
batched gradient img/s (also printed, with both ratios). PAIR's `saliency` package (Google's
reference implementation; numpy callbacks) is driven with a jitted one-image callback, as its
API asks; it slides occlusion windows with stride 1 and draws one SmoothGrad sample per call,
so its per-window and per-sample rates are measured on the first `--pair_calls` calls. Timings
are the best of `--repeats` runs after a warm-up (compile) run.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from cnnjax import interpret, models

_MODEL = flags.DEFINE_string("model", "lenet5", "Registered zoo model or pretrained network.")
_PATCH = flags.DEFINE_integer("patch", 0, "Occlusion window (0: 4 at 28x28, 32 at 224).")
_STRIDE = flags.DEFINE_integer("stride", 0, "Occlusion stride (0: 1 at 28x28, 8 at 224).")
_SAMPLES = flags.DEFINE_integer("samples", 0, "SmoothGrad samples (0: 64 at 28x28, 16 at 224).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed runs (the best counts).")
_PAIR_CALLS = flags.DEFINE_integer("pair_calls", 200, "PAIR callbacks timed per method.")


def best_time(fn, repeats: int) -> float:
    """Seconds of the fastest of `repeats` calls of `fn` after one warm-up call."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


class _Enough(Exception):
    pass


def pair_rate(method, x: np.ndarray, callback, calls: int, **kwargs) -> float:
    """Calls per second of PAIR `method.GetMask`-style loops over the first `calls` callbacks."""
    count = [0]

    def counted(batch, call_model_args=None, expected_keys=None):
        count[0] += 1
        if count[0] > calls + 1:  # +1: the first call warms up
            raise _Enough
        if count[0] == 2:
            count.append(time.perf_counter())
        return callback(batch, call_model_args, expected_keys)

    try:
        method(x, counted, **kwargs)
    except _Enough:
        pass
    return (count[0] - 2) / (time.perf_counter() - count[1])


def load(name: str):
    """(model, variables, one image (1, H, W, C)) — random weights for a zoo model (speed does
    not depend on them), the real ones and skimage's cat for a pretrained network."""
    if name in models.list_models() and not name.startswith("efficientnet"):
        spec = models.get_model_spec(name)
        model = models.create_model(name, num_classes=10 if spec.input_shape[0] < 64 else 1000)
        x = jax.random.normal(jax.random.key(1), (1, *spec.input_shape))
        return model, model.init(jax.random.key(0), x), x
    import skimage.data

    from cnnjax import pretrained

    model, variables, preprocess = pretrained.load(name)
    return model, variables, preprocess(skimage.data.chelsea())


def main(argv):
    del argv
    import saliency.core as pair

    model, variables, x = load(_MODEL.value)
    side = x.shape[1]
    small = side < 64
    patch = _PATCH.value or (4 if small else 32)
    stride = _STRIDE.value or (1 if small else 8)
    samples = _SAMPLES.value or (64 if small else 16)
    label = int(model.apply(variables, x).argmax())
    windows = ((side - patch) // stride + 1) ** 2
    batch = jnp.broadcast_to(x, (windows, *x.shape[1:]))
    reps = _REPEATS.value

    apply = jax.jit(lambda v, b: model.apply(v, b))
    grad = jax.jit(lambda v, b: jax.grad(lambda b: model.apply(v, b)[:, label].sum())(b))
    occlude = jax.jit(
        lambda v, x: interpret.occlusion(
            model, v, x, jnp.array([label]), patch=patch, stride=stride, batch_size=windows
        )
    )
    smooth = jax.jit(
        lambda v, x: interpret.smoothgrad(
            model, v, x, interpret.class_score(label), jax.random.key(0), num_samples=samples
        )
    )
    grad_batch = jnp.broadcast_to(x, (samples, *x.shape[1:]))
    eval_rate = windows / best_time(lambda: apply(variables, batch), reps)
    grad_rate = samples / best_time(lambda: grad(variables, grad_batch), reps)
    occlusion_rate = windows / best_time(lambda: occlude(variables, x), reps)
    smooth_rate = samples / best_time(lambda: smooth(variables, x), reps)

    one_logit = jax.jit(lambda v, b: model.apply(v, b)[:, label])
    one_grad = jax.jit(lambda v, b: jax.grad(lambda b: model.apply(v, b)[:, label].sum())(b))

    def callback(b, args, keys):
        b = jnp.asarray(b, jnp.float32)
        if pair.INPUT_OUTPUT_GRADIENTS in keys:
            return {pair.INPUT_OUTPUT_GRADIENTS: np.asarray(one_grad(variables, b))}
        return {pair.OUTPUT_LAYER_VALUES: np.asarray(one_logit(variables, b))}

    image = np.asarray(x[0])
    calls = _PAIR_CALLS.value
    pair_occlusion = pair_rate(pair.Occlusion().GetMask, image, callback, calls, size=patch)
    pair_smooth = pair_rate(
        pair.GradientSaliency().GetSmoothedMask, image, callback, calls, nsamples=calls + 2
    )
    print(
        f"model={_MODEL.value} input={tuple(x.shape[1:])} backend={jax.default_backend()} "
        f"devices={jax.device_count()}"
    )
    print(f"eval (batch {windows})            {eval_rate:10.0f} img/s")
    print(f"gradient (batch {samples})          {grad_rate:10.0f} img/s")
    print(
        f"occlusion {patch}x{patch}/{stride} ({windows} windows) "
        f"{occlusion_rate:10.0f} windows/s"
        f"  = {occlusion_rate / eval_rate:.2f} x eval"
        f"  = {occlusion_rate / pair_occlusion:.1f} x PAIR "
        f"({pair_occlusion:.0f} windows/s)"
    )
    print(
        f"smoothgrad ({samples} samples)       {smooth_rate:10.0f} samples/s"
        f"  = {smooth_rate / eval_rate:.2f} x eval  = {smooth_rate / grad_rate:.2f} x gradient"
        f"  = {smooth_rate / pair_smooth:.1f} x PAIR ({pair_smooth:.0f} samples/s)"
    )


if __name__ == "__main__":
    app.run(main)
