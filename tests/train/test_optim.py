"""Optimizers and schedules against hand-computed values."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax.train import config as config_lib
from cnnjax.train import optim


def schedule(updates_per_epoch=10, total=100, learning_rate=1e-3, **options):
    return optim.build_schedule(learning_rate, updates_per_epoch, total, **options)


def test_constant_and_warmup():
    lr = schedule(name="constant", learning_rate=0.5, warmup_epochs=1.0)
    # linear warmup over 10 updates from 0, then constant.
    np.testing.assert_allclose([lr(0), lr(5), lr(10), lr(99)], [0.0, 0.25, 0.5, 0.5], rtol=1e-6)


def test_piecewise_in_epochs_and_steps():
    lr = schedule(name="piecewise", learning_rate=1.0, boundaries=(3, 6), scales=(0.1, 0.1))
    # boundaries at epochs 3 and 6 = updates 30 and 60: the scale applies from that update on.
    np.testing.assert_allclose([lr(0), lr(29), lr(30), lr(60)], [1.0, 1.0, 0.1, 0.01], rtol=1e-6)
    lr = schedule(
        name="piecewise",
        learning_rate=1.0,
        boundaries=(7,),
        scales=(0.5,),
        boundaries_unit="steps",
    )
    np.testing.assert_allclose([lr(6), lr(7)], [1.0, 0.5], rtol=1e-6)


def test_cosine_matches_formula():
    lr = schedule(name="cosine", learning_rate=0.2, end_factor=0.1)
    for t in (0, 13, 50, 100):
        expected = 0.2 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t / 100)))
        assert float(lr(t)) == pytest.approx(expected, rel=1e-5)


def test_warmup_cosine():
    lr = schedule(name="warmup_cosine", learning_rate=1.0, warmup_epochs=2.0)
    assert float(lr(0)) == 0.0
    assert float(lr(10)) == pytest.approx(0.5)
    assert float(lr(20)) == pytest.approx(1.0)
    # cosine over the remaining 80 updates: halfway (update 60) is 0.5.
    assert float(lr(60)) == pytest.approx(0.5, rel=1e-5)
    assert float(lr(100)) == pytest.approx(0.0, abs=1e-7)


def test_onecycle():
    lr = schedule(name="onecycle", learning_rate=1.0, pct_start=0.3)
    assert float(lr(0)) == pytest.approx(1.0 / 25)
    assert float(lr(30)) == pytest.approx(1.0)
    assert float(lr(100)) == pytest.approx(1.0 / 25 / 1e4, rel=1e-4)


def test_exponential():
    lr = schedule(name="exponential", learning_rate=1.0, decay_rate=0.5, decay_epochs=2.0)
    # halves every 2 epochs = 20 updates, smoothly.
    for t in (0, 10, 20, 45):
        assert float(lr(t)) == pytest.approx(0.5 ** (t / 20), rel=1e-5)


@pytest.mark.parametrize(
    "key,value,accepted",
    [("optimizer", "adamm", "sgd"), ("schedule.name", "cosin", "warmup_cosine")],
)
def test_unknown_names_raise_listing_accepted(key, value, accepted):
    config = config_lib.get_base_config()
    *group, name = key.split(".")
    (config[group[0]] if group else config)[name] = value
    with pytest.raises(ValueError, match=rf"unknown {key} '{value}'.*{accepted}"):
        config_lib.validate(config)


def params():
    return {"dense": {"kernel": jnp.array([[1.0, -2.0]]), "bias": jnp.array([0.5, 0.5])}}


def grads():
    return {"dense": {"kernel": jnp.array([[0.1, 0.3]]), "bias": jnp.array([-0.2, 0.4])}}


def one_step(tx, steps=1):
    p, g = params(), grads()
    state = tx.init(p)
    for _ in range(steps):
        updates, state = tx.update(g, state, p)
        p = optax.apply_updates(p, updates)
    return jax.tree.map(np.asarray, p)


def hand(fn):
    return jax.tree.map(lambda p, g: fn(np.asarray(p), np.asarray(g)), params(), grads())


def assert_tree_close(a, b):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7), a, b)


def test_sgd_momentum_nesterov_by_hand():
    lr, mu = 0.1, 0.9
    tx = lambda name: optim.build_optimizer(name, lambda s: lr, momentum=mu)
    assert_tree_close(one_step(tx("sgd")), hand(lambda p, g: p - lr * g))
    # two momentum steps with a constant gradient: v1 = g, v2 = mu g + g.
    assert_tree_close(
        one_step(tx("momentum"), 2), hand(lambda p, g: p - lr * g - lr * (1 + mu) * g)
    )
    # nesterov: update = g + mu * v_t.
    nesterov_two = lambda p, g: p - lr * (g + mu * g) - lr * (g + mu * (1 + mu) * g)
    assert_tree_close(one_step(tx("nesterov"), 2), hand(nesterov_two))


def test_adam_first_step_is_sign_times_lr():
    tx = optim.build_optimizer("adam", lambda s: 0.01, eps=1e-8)
    assert_tree_close(one_step(tx), hand(lambda p, g: p - 0.01 * g / (np.abs(g) + 1e-8)))


def test_weight_decay_is_masked_off_biases():
    lr, wd = 0.1, 0.5
    tx = optim.build_optimizer("sgd", lambda s: lr, weight_decay=wd)
    out = one_step(tx)
    p, g = params(), grads()
    np.testing.assert_allclose(
        out["dense"]["kernel"],
        p["dense"]["kernel"] - lr * (g["dense"]["kernel"] + wd * p["dense"]["kernel"]),
        rtol=1e-6,
    )  # noqa: E501
    np.testing.assert_allclose(
        out["dense"]["bias"], p["dense"]["bias"] - lr * g["dense"]["bias"], rtol=1e-6
    )  # noqa: E501
    # adamw: decoupled decay lr * wd * w on the kernel only.
    tx = optim.build_optimizer("adamw", lambda s: lr, weight_decay=wd)
    out = one_step(tx)
    adam = lambda p, g: p - lr * g / (np.abs(g) + 1e-8)
    expected = hand(adam)
    expected["dense"]["kernel"] = expected["dense"]["kernel"] - lr * wd * p["dense"]["kernel"]
    assert_tree_close(out, expected)


def test_global_norm_clipping():
    tx = optim.build_optimizer("sgd", lambda s: 1.0, grad_clip_norm=0.1)
    norm = math.sqrt(0.1**2 + 0.3**2 + 0.2**2 + 0.4**2)
    assert_tree_close(one_step(tx), hand(lambda p, g: p - g * 0.1 / norm))


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_every_optimizer_reduces_a_quadratic(name):
    tx = optim.build_optimizer(name, lambda s: 0.05)
    x = jnp.array([1.0, -2.0])
    state = tx.init(x)
    loss = lambda x: jnp.sum(x**2)
    step = jax.jit(lambda x, state: tx.update(jax.grad(loss)(x), state, x))
    for _ in range(5):
        updates, state = step(x, state)
        x = optax.apply_updates(x, updates)
    assert float(loss(x)) < 5.0


def test_accumulation_wraps_in_multisteps():
    tx = optim.build_optimizer("sgd", lambda s: 1.0, accumulate_steps=3)
    p, g = params(), grads()
    state = tx.init(p)
    for i in range(3):
        updates, state = tx.update(g, state, p)
        p = optax.apply_updates(p, updates)
        if i < 2:  # nothing applied until the third micro-step
            assert_tree_close(jax.tree.map(np.asarray, p), jax.tree.map(np.asarray, params()))
    assert_tree_close(jax.tree.map(np.asarray, p), hand(lambda p, g: p - g))
