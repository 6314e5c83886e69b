"""Speed of the interpret methods against the model's own batched evaluation and PAIR `saliency`.

    python -m experiments.benchmark_interpret                      # LeNet-5 at 28x28
    python -m experiments.benchmark_interpret --model=efficientnet_lite0

Occlusion evaluates one forward pass per window, so the model's batched eval img/s is its
ceiling (timed at batch = all windows, or --ref_batch, and at the pass size cnnjax.interpret
uses); SmoothGrad needs a forward and a backward pass per sample, so its ceiling is the batched
gradient img/s. cnnjax.interpret evaluates through its own forward pass
(`cnnjax.interpret.forward`), which on CPU computes depthwise convolutions as sums of shifted
copies (`cnnjax.ops.depthwise`); that pass is timed too ("interpret eval/gradient"), so
the gain of batching and the gain of the depthwise rewrite show separately. PAIR's `saliency`
package (Google's reference implementation; numpy callbacks) is driven with a jitted one-image
callback, as its API asks, once on the model's own apply and once on interpret's forward; it
slides occlusion windows with stride 1 and draws one SmoothGrad sample per call, so its per-
window and per-sample rates are measured on its first `--pair_calls` calls. All methods,
cnnjax's and PAIR's, are timed in turn in each of `--rounds` rounds after compiling, so that
they share the machine's load; the best round counts. The load average is printed with each
round. Defaults at 224x224 (49 windows, 8 samples, 2 rounds) take ~2-3 minutes on 2 CPU cores.
"""

import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from cnnjax import interpret, models
from cnnjax.interpret import batching

_MODEL = flags.DEFINE_string("model", "lenet5", "Registered zoo model or pretrained network.")
_PATCH = flags.DEFINE_integer("patch", 0, "Occlusion window (0: 4 at 28x28, 32 at 224).")
_STRIDE = flags.DEFINE_integer("stride", 0, "Occlusion stride (0: 1 at 28x28, 32 at 224).")
_SAMPLES = flags.DEFINE_integer("samples", 0, "SmoothGrad samples (0: 64 at 28x28, 8 at 224).")
_PASS = flags.DEFINE_integer("pass_size", 0, "Images per pass (0: cnnjax.interpret's default).")
_ROUNDS = flags.DEFINE_integer("rounds", 0, "Alternating timed rounds (0: 5 at 28x28, 2 at 224).")
_PAIR_CALLS = flags.DEFINE_integer("pair_calls", 0, "PAIR callbacks per round (0: 200, 8).")
_REF_BATCH = flags.DEFINE_integer(
    "ref_batch", 0, "Batched eval reference (0: all windows at 28x28, 8 at 224)."
)


_ON_FAST = " on interpret's forward"  # PAIR driven by cnnjax.interpret.forward, not model.apply


def rate(fn, items: int, min_seconds: float = 0.5) -> float:
    """Items per second of `fn` (already compiled), calling it until `min_seconds` have passed."""
    calls, start = 0, time.perf_counter()
    while True:
        jax.block_until_ready(fn())
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return calls * items / elapsed


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
    small = x.shape[1] < 64
    patch = _PATCH.value or (4 if small else 32)
    stride = _STRIDE.value or (1 if small else 32)
    samples = _SAMPLES.value or (64 if small else 8)
    rounds = _ROUNDS.value or (5 if small else 2)
    calls = _PAIR_CALLS.value or (200 if small else 8)
    label = int(model.apply(variables, x).argmax())
    windows = ((x.shape[1] - patch) // stride + 1) * ((x.shape[2] - patch) // stride + 1)
    ref_batch = _REF_BATCH.value or (windows if small else 8)
    per_pass = _PASS.value or batching.images_per_pass(x.shape[1:])
    occlusion_pass = batching.split(windows, per_pass)[1]
    chunk = batching.largest_divisor(samples, per_pass)

    def logits(v, b, fast):  # the model's own apply, or cnnjax.interpret's forward pass
        if fast:
            return interpret.forward(model, v, b)["logits"]
        return model.apply(v, b)

    def grad(v, b, fast):
        return jax.grad(lambda b: logits(v, b, fast)[:, label].sum())(b)

    def occlude(v, x):
        labels = jnp.array([label])
        return interpret.occlusion(
            model, v, x, labels, patch=patch, stride=stride, batch_size=per_pass
        )

    def smooth(v, x):
        target, key = interpret.class_score(label), jax.random.key(0)
        return interpret.smoothgrad(model, v, x, target, key, num_samples=samples, chunk=chunk)

    def compiled(fn, n=None, fast=False):  # AOT-compiled call of fn on n copies (or the image)
        fn = functools.partial(fn, fast=fast) if n else fn
        args = (variables, jnp.broadcast_to(x, (n, *x.shape[1:])) if n else x)
        call = jax.jit(fn).lower(*args).compile()
        return lambda: call(*args)

    print(
        f"model={_MODEL.value} input={tuple(x.shape[1:])} backend={jax.default_backend()} "
        f"devices={jax.device_count()} occlusion {patch}x{patch}/{stride} ({windows} windows, "
        f"{occlusion_pass} per pass) smoothgrad {samples} samples ({chunk} per pass) "
        f"load={_load()}",
        flush=True,
    )
    start = time.perf_counter()
    ours = {}  # name: (call, items per call)
    for n in sorted({occlusion_pass, ref_batch}):
        ours[f"model eval, batch {n}"] = (compiled(logits, n), n)
    ours[f"interpret eval, batch {occlusion_pass}"] = (
        compiled(logits, occlusion_pass, True),
        occlusion_pass,
    )
    for n in sorted({chunk, samples} if small else {chunk}):
        ours[f"model gradient, batch {n}"] = (compiled(grad, n), n)
    ours[f"interpret gradient, batch {chunk}"] = (compiled(grad, chunk, True), chunk)
    ours["occlusion"] = (compiled(occlude), windows)
    ours["smoothgrad"] = (compiled(smooth), samples)

    def callback(fast):  # PAIR's model callback on the model's apply or interpret's forward
        one_logit = jax.jit(lambda v, b: logits(v, b, fast)[:, label])
        one_grad = jax.jit(functools.partial(grad, fast=fast))

        def call(b, args, keys):
            b = jnp.asarray(b, jnp.float32)
            if pair.INPUT_OUTPUT_GRADIENTS in keys:
                return {pair.INPUT_OUTPUT_GRADIENTS: np.asarray(one_grad(variables, b))}
            return {pair.OUTPUT_LAYER_VALUES: np.asarray(one_logit(variables, b))}

        return call

    image = np.asarray(x[0])
    theirs = {}
    for fast, on in ((False, ""), (True, _ON_FAST)):
        theirs[f"PAIR occlusion{on}"] = functools.partial(
            pair_rate, pair.Occlusion().GetMask, image, callback(fast), calls, size=patch
        )
        theirs[f"PAIR smoothgrad{on}"] = functools.partial(
            pair_rate, pair.GradientSaliency().GetSmoothedMask, image, callback(fast), calls,
            nsamples=calls + 2,
        )  # fmt: skip
    print(f"compiled in {time.perf_counter() - start:.0f} s, load={_load()}", flush=True)
    rates = {name: [] for name in [*ours, *theirs]}
    for r in range(rounds):  # alternating, so that every method sees the same load
        for name, (fn, items) in ours.items():
            rates[name].append(rate(fn, items))
        for name, fn in theirs.items():
            rates[name].append(fn())
        print(f"round {r + 1}/{rounds} done, load={_load()}", flush=True)
    best = {name: max(values) for name, values in rates.items()}
    for name, value in best.items():
        print(f"{name:42s} {value:10.1f} /s")

    def ratios(method, kind, pair_name):
        model_best = max(v for k, v in best.items() if k.startswith(f"model {kind}"))
        ours_best = max(v for k, v in best.items() if k.startswith(f"interpret {kind}"))
        return (
            f"{method:10s} = {best[method] / model_best:.2f} x the model's best {kind}"
            f"  = {best[method] / ours_best:.2f} x interpret's {kind}"
            f"  = {best[method] / best[pair_name]:.1f} x PAIR"
            f"  = {best[method] / best[pair_name + _ON_FAST]:.1f} x PAIR{_ON_FAST}"
        )

    print(ratios("occlusion", "eval", "PAIR occlusion"))
    print(ratios("smoothgrad", "gradient", "PAIR smoothgrad"))
    eval_best = max(v for k, v in best.items() if k.startswith("model eval"))
    print(f"smoothgrad = {best['smoothgrad'] / eval_best:.2f} x the model's best eval")
    print(f"total {time.perf_counter() - start:.0f} s, load={_load()}")


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


if __name__ == "__main__":
    app.run(main)
