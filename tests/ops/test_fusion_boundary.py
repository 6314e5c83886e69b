"""`cnnjax.ops.fusion_boundary.computed_once` on the CPU path: a value XLA would recompute
inside each fusion that reads it is computed once. Checked on the compiled HLO: the function's
input is read by one array-producing instruction, not by every consumer."""

import re

import jax
import jax.numpy as jnp
import pytest

from cnnjax import ops
from cnnjax.ops import dispatch
from cnnjax.ops.fusion_boundary import computed_once


def array_readers(fn, *args, argnum):
    """The instructions of fn's compiled entry computation that read argument `argnum` and
    produce an array (scalars and tuples left out: the predicate and conditional operands)."""
    with dispatch.use_path("cpu"):
        hlo = jax.jit(fn).lower(*args).compile().as_text()
    entry = hlo[hlo.index("ENTRY") :].split("\n}")[0].splitlines()
    found = (re.search(rf"(%[\w.-]+) = \S+ parameter\({argnum}\)", line) for line in entry)
    name = next(m.group(1) for m in found if m)
    reads = re.compile(rf"[(, ]{re.escape(name)}[,)]")
    scalar_or_tuple = re.compile(r" = (\(|\w+\[\]\{?)")
    return [
        line.strip()[:120] for line in entry
        if reads.search(line) and not scalar_or_tuple.search(line.strip())
    ]  # fmt: skip


def test_single_channel_products_are_computed_once():
    """conv -> ReLU -> max-pool, differentiated: the one-channel products are stored by the
    conditional; no fusion recomputes them from the kernel (XLA would, for the ReLU output,
    inside the pool forward and inside the pool/ReLU backward)."""

    def grad(kernel, x):
        pooled = lambda k: ops.max_pool(jax.nn.relu(ops.conv_general(x, k, padding="SAME")), 2)
        return jax.grad(lambda k: pooled(k).sum())(kernel)

    kernel, x = jnp.ones((5, 5, 1, 6)), jnp.ones((4, 12, 12, 1))
    assert array_readers(grad, kernel, x, argnum=0) == []


@pytest.mark.parametrize("strides", [1, 2])
def test_the_chain_before_a_convolution_is_computed_once(strides):
    """x = relu(2a + 1) feeds a convolution; its kernel gradient needs x laid out for the
    swapped form (stride 1) or cut into patches (stride 2). `a` is read once, by the fusion
    that computes x: XLA would recompute x inside the transpose, or inside each of 9 slices."""

    def grad(kernel, a):
        x = jax.nn.relu(2.0 * a + 1.0)
        conv = lambda k: ops.conv_general(x, k, strides=strides, padding=1)
        return jax.grad(lambda k: jnp.square(conv(k)).sum())(kernel)

    kernel, a = jnp.ones((3, 3, 16, 16)), jnp.ones((4, 8, 8, 16))
    readers = array_readers(grad, kernel, a, argnum=1)
    assert len(readers) == 1, readers


def test_computed_once_is_the_function_for_every_input():
    """Both branches are fn: the value is fn's also when the predicate is false (a NaN)."""
    fn = lambda x, y: jnp.where(jnp.isnan(x), 7.0, jnp.sin(x)) * y + 1.0  # finite for a NaN
    for first in (1.0, jnp.nan):
        x = jnp.array([first, 2.0, 3.0])
        want = fn(x, 2.0)
        got = jax.jit(lambda x, y: computed_once(fn, x, y))(x, 2.0)
        assert jnp.isfinite(want).all() and jnp.array_equal(got, want)


def test_per_example_gradients_keep_the_products_stored():
    """vmap over images of the kernel gradient: the predicate reads the (unbatched) kernel, so
    the conditional stays one conditional instead of a select that evaluates both branches."""

    def loss(kernel, image):
        y = ops.conv_general(image[None], kernel, padding="SAME")
        return ops.max_pool(jax.nn.relu(y), 2).sum()

    per_example = jax.vmap(jax.grad(loss), in_axes=(None, 0))
    with dispatch.use_path("cpu"):
        lowered = jax.jit(per_example).lower(jnp.ones((5, 5, 1, 6)), jnp.ones((3, 12, 12, 1)))
    assert lowered.compile().as_text().count(" conditional(") == 1


@pytest.mark.parametrize("strides", [1, 2])
def test_per_example_gradients_keep_the_laid_out_activation_stored(strides):
    """The same for the kernel-gradient forms of 16-channel layers: the activation laid out
    (H, W, B, C) for the swapped form (stride 1) and the patches (stride 2) are stored by one
    conditional whose predicate reads the kernel, not the batched activation. (16-channel
    stride-1 layers run on the C++ kernels where they are built; the swapped form is what runs
    without them and for other channel counts.)"""

    def loss(kernel, image):
        x = jax.nn.relu(2.0 * image[None] + 1.0)
        return jnp.square(ops.conv_general(x, kernel, strides=strides, padding=1)).sum()

    per_example = jax.vmap(jax.grad(loss), in_axes=(None, 0))
    with dispatch.use_path("cpu"), dispatch.without_kernels():
        lowered = jax.jit(per_example).lower(jnp.ones((3, 3, 16, 16)), jnp.ones((3, 8, 8, 16)))
    assert lowered.compile().as_text().count(" conditional(") == 1
