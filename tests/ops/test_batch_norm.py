"""`cnnjax.ops.batch_norm_train` (hand-written backward pass) against a float64 numpy reference,
central differences, flax's `nn.BatchNorm` and the statistics of one concatenated batch."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.models import layers
from cnnjax.ops import dispatch
from cnnjax.ops.batch_norm import batch_norm_train

EPS = 1e-5
SHAPES = [(8, 6, 6, 5), (16, 7), (4, 3, 5, 2, 3)]


def _inputs(shape, seed=0, offset=1.0):
    rng = np.random.default_rng(seed)
    c = shape[-1]
    x = rng.normal(size=shape) * rng.uniform(0.5, 3, c) + offset * rng.normal(size=c)
    return x, 1 + 0.3 * rng.normal(size=c), 0.3 * rng.normal(size=c)


def _numpy_batch_norm(x, scale, bias):
    """float64: y, the batch mean and the biased batch variance."""
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axes), x.var(axes)
    return (x - mean) / np.sqrt(var + EPS) * scale + bias, mean, var


def _f32(*arrays):
    return [jnp.asarray(a, jnp.float32) for a in arrays]


@pytest.mark.parametrize("shape", SHAPES)
def test_outputs_and_statistics_equal_float64_numpy(shape):
    x, scale, bias = _inputs(shape)
    got = jax.jit(batch_norm_train, static_argnums=3)(*_f32(x, scale, bias), EPS)
    for a, b in zip(got, _numpy_batch_norm(x, scale, bias), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("with_statistics", [False, True])
def test_gradients_equal_float64_central_differences(with_statistics):
    """d/d(x, scale, bias) of Σ w·y (+ Σ u·mean + Σ v·var): the statistics' own cotangents are
    zero in training; `with_statistics` exercises them too."""
    shape = (5, 3, 2, 3)
    x, scale, bias = _inputs(shape, seed=1)
    rng = np.random.default_rng(2)
    weights = [rng.normal(size=shape), rng.normal(size=3), rng.normal(size=3)]
    if not with_statistics:
        weights[1:] = [np.zeros(3), np.zeros(3)]

    def loss64(x, scale, bias):
        outputs = _numpy_batch_norm(x, scale, bias)
        return sum(np.sum(o * w) for o, w in zip(outputs, weights, strict=True))

    def loss32(x, scale, bias):
        outputs = batch_norm_train(x, scale, bias, EPS)
        if not with_statistics:  # leaves the statistics' cotangents symbolic zeros
            return jnp.sum(outputs[0] * weights[0])
        return sum(jnp.sum(o * w) for o, w in zip(outputs, weights, strict=True))

    got = jax.grad(loss32, argnums=(0, 1, 2))(*_f32(x, scale, bias))
    h = 1e-6
    for arg, grad in enumerate(got):
        args = [x, scale, bias]
        expected = np.zeros_like(args[arg])
        for i in np.ndindex(expected.shape):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[arg][i] += h
            minus[arg][i] -= h
            expected[i] = (loss64(*plus) - loss64(*minus)) / (2 * h)
        np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def _flax_and_ours(x, offset_seed=3):
    """Loss and gradients (params, x) and the running averages of flax's nn.BatchNorm and of
    `layers.batch_norm` (which takes `batch_norm_train` on the CPU path) on the same variables."""
    flax_bn = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=EPS)
    variables = flax_bn.init(jax.random.key(0), x)
    variables = jax.tree.map(
        lambda a: a + 0.3 * jax.random.normal(jax.random.key(offset_seed), a.shape), variables
    )
    w = jax.random.normal(jax.random.key(1), x.shape)

    def loss(module, params, x):
        y, updated = module.apply({**variables, "params": params}, x, mutable=["batch_stats"])
        return jnp.sum(jnp.sin(y) * w), updated

    results = []
    for module in (flax_bn, layers.batch_norm(True)):
        with dispatch.use_path("cpu"):
            fn = jax.jit(jax.value_and_grad(functools.partial(loss, module), (0, 1), has_aux=True))
            results.append(fn(variables["params"], x))
    return results


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("offset", [0.0, 5.0])
def test_layer_equals_flax_autodiff(shape, offset):
    x, _, _ = _inputs(shape, seed=4, offset=offset)
    (flax_loss, flax_grads), (ours_loss, ours_grads) = _flax_and_ours(*_f32(x))
    np.testing.assert_allclose(ours_loss[0], flax_loss[0], rtol=1e-6)
    for a, b in zip(jax.tree.leaves(ours_loss[1]), jax.tree.leaves(flax_loss[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)  # running averages
    for a, b in zip(jax.tree.leaves(ours_grads), jax.tree.leaves(flax_grads), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(1, np.abs(b).max()))


def test_cross_replica_statistics_equal_one_concatenated_batch():
    """Four shards under a mapped axis, each differentiating its own loss inside the map (as
    the `pmap` engine does): they normalise with the statistics of their concatenation, their
    input gradients are the whole batch's, and their scale/bias gradients add up to it."""
    x, scale, bias = _f32(*_inputs((4, 6, 3, 3, 5), seed=5))
    w = jax.random.normal(jax.random.key(2), x.shape)

    def shard_loss(x, w, scale, bias):
        y, mean, var = batch_norm_train(x, scale, bias, EPS, axis_name="devices")
        return jnp.sum(jnp.sin(y) * w) + jnp.sum(mean * var) * jnp.mean(w)  # weight per shard

    def whole_loss(x, scale, bias):
        y, mean, var = batch_norm_train(x.reshape(24, 3, 3, 5), scale, bias, EPS)
        return jnp.sum(jnp.sin(y) * w.reshape(y.shape)) + jnp.sum(mean * var) * jnp.sum(
            w.mean((1, 2, 3, 4))
        )

    per_shard = jax.value_and_grad(shard_loss, (0, 2, 3))
    losses, (dx, dscale, dbias) = jax.vmap(per_shard, (0, 0, None, None), axis_name="devices")(
        x, w, scale, bias
    )
    loss, (dx_whole, dscale_whole, dbias_whole) = jax.value_and_grad(whole_loss, (0, 1, 2))(
        x, scale, bias
    )
    np.testing.assert_allclose(jnp.sum(losses), loss, rtol=1e-5)
    np.testing.assert_allclose(dx.reshape(dx_whole.shape), dx_whole, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(jnp.sum(dscale, 0), dscale_whole, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(jnp.sum(dbias, 0), dbias_whole, rtol=1e-4, atol=1e-5)


def _has_hand_written_pass(module, x, train=True):
    variables = module.init(jax.random.key(0), x)
    fn = lambda x: module.apply(variables, x, mutable=["batch_stats"])  # noqa: E731
    return "custom_vjp_call" in str(jax.make_jaxpr(fn)(x))


def test_the_layer_takes_the_hand_written_pass_in_cpu_training_only():
    x = jnp.ones((4, 3, 3, 8))
    taken = {}
    for path in dispatch.PATHS:
        with dispatch.use_path(path):
            taken[path, "train"] = _has_hand_written_pass(layers.batch_norm(True), x)
            taken[path, "eval"] = _has_hand_written_pass(layers.batch_norm(False), x)
    assert taken == {
        ("cpu", "train"): True,
        ("cpu", "eval"): False,
        ("native", "train"): False,
        ("native", "eval"): False,
    }


def test_the_input_gradient_is_stored_once_on_the_cpu_path():
    """dx is stored by a conditional (`fusion_boundary.stored_on_cpu`), not fused into its
    consumers: VGG-16's swapped kernel gradients transposed it with the whole BatchNorm
    backward recomputed inside (train 131 vs 151 img/s with it stored)."""
    x, scale, bias = _f32(*_inputs((4, 3, 3, 8)))

    def loss(x, scale, bias):
        return jnp.sum(jnp.sin(batch_norm_train(x, scale, bias, EPS)[0]))

    conds = {}
    for path in dispatch.PATHS:
        with dispatch.use_path(path):
            conds[path] = str(jax.make_jaxpr(jax.grad(loss))(x, scale, bias)).count(" cond[")
    assert conds == {"cpu": 1, "native": 0}


@pytest.mark.parametrize(
    "fields, x_dtype",
    [
        ({"axis": 1}, jnp.float32),
        ({"use_scale": False}, jnp.float32),
        ({"use_bias": False}, jnp.float32),
        ({"use_fast_variance": False}, jnp.float32),
        ({"dtype": jnp.bfloat16}, jnp.float32),
        ({}, jnp.bfloat16),
    ],
)
def test_uncovered_configurations_run_flax(fields, x_dtype):
    module = layers.BatchNorm(use_running_average=False, **fields)
    x = jnp.ones((4, 3, 3, 8), x_dtype)
    with dispatch.use_path("cpu"):
        assert not _has_hand_written_pass(module, x)
        assert _has_hand_written_pass(
            layers.BatchNorm(use_running_average=False), x.astype(jnp.float32)
        )
