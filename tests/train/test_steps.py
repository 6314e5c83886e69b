"""The pure train/eval steps: accumulation, non-finite guards, loss scaling, EMA, masking."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.models import layers
from cnnjax.train import optim, steps
from cnnjax.train.state import create_train_state

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(8, 6, 6, 1), dtype=np.uint8)
LABELS = RNG.integers(0, 10, size=(8,)).astype(np.int32)
PREPROCESS = lambda x: x.astype(jnp.float32) / 255.0


class Tiny(nn.Module):
    """A conv and a dense layer: every code path of the steps at a fraction of LeNet's compile."""

    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x, *, train=False):
        x = nn.relu(layers.Conv(4, 3, dtype=self.dtype, name="conv1")(x))  # (B, 6, 6, 4)
        return nn.Dense(10, dtype=self.dtype, name="logits")(x.reshape(x.shape[0], -1))


def make_state(accumulate=1, ema=False, loss_scale=None, dtype=jnp.float32, **overrides):
    schedule = optim.build_schedule(0.1, 10, 100)
    tx = optim.build_optimizer("momentum", schedule, accumulate_steps=accumulate, **overrides)
    return create_train_state(
        Tiny(dtype=dtype), (6, 6, 1), tx, jax.random.PRNGKey(0), use_ema=ema, loss_scale=loss_scale
    )


def make_step(preprocess=PREPROCESS, ema_decay=0.9):
    options = steps.StepOptions(num_classes=10, preprocess=preprocess, ema_decay=ema_decay)
    train = functools.partial(steps.train_step, options=options)
    return jax.jit(lambda state, batch: train(state, batch, state.rng))


def batch(lo, hi):
    return {"image": IMAGES[lo:hi], "label": LABELS[lo:hi]}


def test_accumulating_k_microbatches_equals_one_big_batch():
    step = make_step()
    big = make_state()
    micro = make_state(accumulate=4)
    for _ in range(2):  # two optimizer updates
        big, _ = step(big, batch(0, 8))
        for i in range(4):
            micro, _ = step(micro, batch(2 * i, 2 * i + 2))
    assert int(micro.step) == 8 and int(big.step) == 2
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6),
        big.params,
        micro.params,
    )


def test_nonfinite_loss_leaves_the_state_untouched():
    state = make_state()
    before = jax.tree.map(np.asarray, (state.params, state.opt_state))
    step = make_step(preprocess=lambda x: x.astype(jnp.float32) * jnp.nan)
    state, metrics = step(state, batch(0, 8))
    assert float(metrics["nonfinite"]) == 1.0
    assert int(state.step) == 1
    after = jax.tree.map(np.asarray, (state.params, state.opt_state))
    jax.tree.map(np.testing.assert_array_equal, before, after)
    # and a finite step does update.
    state, metrics = make_step()(state, batch(0, 8))
    assert float(metrics["nonfinite"]) == 0.0
    assert not np.array_equal(state.params["conv1"]["kernel"], before[0]["conv1"]["kernel"])


def test_float16_loss_scaling_skips_overflow_and_backs_off():
    state = make_state(loss_scale=2.0**15, dtype=jnp.float16)
    step = make_step()
    state, metrics = step(state, batch(0, 8))
    assert float(metrics["nonfinite"]) == 0.0 and np.isfinite(float(metrics["loss"]))
    params = jax.tree.map(np.asarray, state.params)
    assert state.params["conv1"]["kernel"].dtype == jnp.float32  # float32 master weights
    bad = make_step(preprocess=lambda x: x.astype(jnp.float16) * jnp.inf)
    state, metrics = bad(state, batch(0, 8))
    assert float(metrics["nonfinite"]) == 1.0
    assert float(state.dynamic_scale.scale) == 2.0**14
    jax.tree.map(np.testing.assert_array_equal, params, jax.tree.map(np.asarray, state.params))


def test_ema_follows_the_recursion():
    state = make_state(ema=True)
    step = make_step(ema_decay=0.9)
    expected = jax.tree.map(np.asarray, state.params)
    for _ in range(3):
        state, _ = step(state, batch(0, 8))
        expected = jax.tree.map(lambda e, p: 0.9 * e + 0.1 * np.asarray(p), expected, state.params)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
        expected,
        state.ema_params,
    )


def test_eval_step_uses_ema_and_mask():
    state = make_state(ema=True)
    state = state.replace(ema_params=jax.tree.map(lambda p: p * 0.5, state.params))
    options = steps.StepOptions(num_classes=10, preprocess=PREPROCESS)
    mask = np.array([1, 1, 1, 0, 0, 1, 1, 1], bool)
    sums = steps.eval_step(state, {**batch(0, 8), "mask": mask}, options=options)
    logits = state.apply_fn({"params": state.ema_params}, PREPROCESS(IMAGES))
    correct = np.asarray(logits).argmax(-1) == LABELS
    assert float(sums["count"]) == 6
    assert float(sums["top1_sum"]) == correct[mask].sum()


def test_train_step_rng_depends_on_step_only():
    """Same state and batch → same result (no hidden randomness); a resumed run is exact."""
    state = make_state()
    step = make_step()
    a, ma = step(state, batch(0, 8))
    b, mb = step(make_state(), batch(0, 8))
    assert float(ma["loss"]) == float(mb["loss"])
    jax.tree.map(np.testing.assert_array_equal, a.params, b.params)


def test_train_loss_is_plain_cross_entropy_like_eval_and_the_objective_is_smoothed():
    """The logged `loss` is comparable with evaluation's (no smoothing); `objective` is smoothed."""
    state = make_state()
    options = steps.StepOptions(num_classes=10, preprocess=PREPROCESS, label_smoothing=0.2)
    train = jax.jit(lambda s, b: steps.train_step(s, b, s.rng, options=options))
    evaluate = jax.jit(lambda s, b: steps.eval_step(s, b, options=options))
    _, metrics = train(state, batch(0, 8))
    logits = np.asarray(state.apply_fn({"params": state.params}, PREPROCESS(IMAGES)), np.float64)
    z = logits - logits.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))  # (8, 10)
    smoothed = np.full((8, 10), 0.2 / 10) + 0.8 * np.eye(10)[LABELS]
    np.testing.assert_allclose(metrics["loss"], -log_p[np.arange(8), LABELS].mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["objective"], -(smoothed * log_p).sum(1).mean(), rtol=1e-5)
    sums = evaluate(state, batch(0, 8))  # evaluation of the same parameters: the same number
    np.testing.assert_allclose(metrics["loss"], sums["loss_sum"] / sums["count"], rtol=1e-5)


def test_the_objective_has_the_models_constant_rejection_logit():
    """`reject_logit` r adds a constant logit to the softmax of the objective (LeNet-5's eq. 9,
    r = −j) and leaves the logged plain loss alone."""
    state = make_state()
    options = steps.StepOptions(num_classes=10, preprocess=PREPROCESS, reject_logit=-1.5)
    train = jax.jit(lambda s, b: steps.train_step(s, b, s.rng, options=options))
    _, metrics = train(state, batch(0, 8))
    logits = np.asarray(state.apply_fn({"params": state.params}, PREPROCESS(IMAGES)), np.float64)
    with_reject = np.log(np.exp(logits).sum(1) + np.exp(-1.5)) - logits[np.arange(8), LABELS]
    plain = np.log(np.exp(logits).sum(1)) - logits[np.arange(8), LABELS]
    np.testing.assert_allclose(metrics["objective"], with_reject.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["loss"], plain.mean(), rtol=1e-5)


def test_finiteness_is_checked_once_not_per_selected_leaf():
    """Keep-or-skip is one conditional: with a `where` per leaf XLA fused the combined
    finiteness reductions into every selected leaf (~170 copies in ResNet-20, which doubled its
    compile time); here each gradient leaf's check appears a bounded number of times."""
    state = make_state()
    compiled = make_step().lower(state, batch(0, 8)).compile().as_text()
    leaves = len(jax.tree.leaves(state.params))
    assert compiled.count(" is-finite(") <= 2 * (leaves + 1)
