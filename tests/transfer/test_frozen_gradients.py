"""Frozen parameters are not differentiated (`freeze.stop_frozen_gradients`), with the same results.

A small conv net (conv1 → bn1 → conv2 → conv3 → fc) with conv1, bn1 and conv2 frozen: training
through `stop_frozen_gradients` must give the trained parameters of training without it (frozen
parameters bit-identical either way), and its gradient program must hold no backward pass for
the frozen convolutions.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.extend import core as jex_core

from cnnjax.transfer import freeze

FREEZE, HEAD = "^(conv1|bn1|conv2)/", "^fc/"


class _ConvNet(nn.Module):
    @nn.compact
    def __call__(self, x, *, train=False):
        x = nn.relu(nn.Conv(4, (3, 3), name="conv1")(x))
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name="bn1")(x)
        x = nn.relu(nn.Conv(4, (3, 3), name="conv2")(x))
        x = nn.relu(nn.Conv(4, (3, 3), name="conv3")(x))
        return nn.Dense(3, name="fc")(x.mean(axis=(1, 2)))


def _setup():
    x = jax.random.normal(jax.random.PRNGKey(0), (6, 8, 8, 2))
    y = jax.nn.one_hot(jnp.arange(6) % 3, 3)
    variables = _ConvNet().init(jax.random.PRNGKey(1), x)
    label = freeze.labeller(FREEZE, HEAD)
    bn_apply = freeze.frozen_batchnorm_apply(_ConvNet().apply, label)
    return x, y, variables, label, bn_apply


def _grad_fn(apply, x, y, batch_stats):
    def loss(params):
        logits, _ = apply(
            {"params": params, "batch_stats": batch_stats}, x, train=True, mutable=["batch_stats"]
        )
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(logits) * y, axis=-1))

    return jax.value_and_grad(loss)


def _train(apply, label, variables, x, y, steps=3):
    tx = freeze.group_optimizer(optax.adam(1e-2), label, 0.5, 1.0)
    params, opt_state = variables["params"], None
    opt_state = tx.init(params)
    grad_fn = jax.jit(_grad_fn(apply, x, y, variables["batch_stats"]))
    for _ in range(steps):
        _, grads = grad_fn(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


def test_stopped_gradients_train_the_same_parameters():
    x, y, variables, label, bn_apply = _setup()
    stopped = freeze.stop_frozen_gradients(bn_apply, label)
    loss_a, grads_a = _grad_fn(bn_apply, x, y, variables["batch_stats"])(variables["params"])
    loss_b, grads_b = _grad_fn(stopped, x, y, variables["batch_stats"])(variables["params"])
    np.testing.assert_array_equal(loss_a, loss_b)  # the forward pass is unchanged
    for name in ("conv1", "conv2"):  # frozen: no gradient at all now (non-zero before)
        assert np.any(np.asarray(grads_a[name]["kernel"]))
        assert not np.any(np.asarray(grads_b[name]["kernel"]))
    for name in ("conv3", "fc"):
        np.testing.assert_allclose(grads_b[name]["kernel"], grads_a[name]["kernel"], rtol=1e-6)

    before = _train(bn_apply, label, variables, x, y)
    after = _train(stopped, label, variables, x, y)
    for name in ("conv1", "bn1", "conv2"):  # frozen: bit-identical to the source
        for key, value in variables["params"][name].items():
            np.testing.assert_array_equal(after[name][key], value)
            np.testing.assert_array_equal(before[name][key], value)
    for name in ("conv3", "fc"):  # trained: moved, and to the same place either way
        assert not np.allclose(after[name]["kernel"], variables["params"][name]["kernel"])
        np.testing.assert_allclose(after[name]["kernel"], before[name]["kernel"], rtol=1e-5)


def _count(jaxpr, primitive: str) -> int:
    """Equations of `primitive` in `jaxpr`, including nested jaxprs (pjit, custom_jvp, ...)."""
    here = sum(eqn.primitive.name == primitive for eqn in jaxpr.eqns)
    return here + sum(_count(sub, primitive) for sub in jex_core.subjaxprs(jaxpr))


def test_frozen_convolutions_have_no_backward_pass():
    x, y, variables, label, bn_apply = _setup()
    stopped = freeze.stop_frozen_gradients(bn_apply, label)
    params = variables["params"]
    convs = lambda apply: _count(
        jax.make_jaxpr(_grad_fn(apply, x, y, variables["batch_stats"]))(params).jaxpr,
        "conv_general_dilated",
    )
    # Without: 3 forward + conv3 (kernel, input) + conv2 (kernel, input) + conv1 (kernel) = 8.
    assert convs(bn_apply) == 8
    # With: 3 forward + conv3's kernel gradient only (nothing below conv3 is differentiated).
    assert convs(stopped) == 4
