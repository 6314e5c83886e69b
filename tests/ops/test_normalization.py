"""Local response normalisation against a numpy loop of the AlexNet formula (§3.3)."""

import functools

import jax
import numpy as np
import pytest
from jax.test_util import check_grads

from cnnjax import ops


def np_lrn(a, k, n, alpha, beta):
    """b^i = a^i / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} (a^j)^2)^beta, odd n."""
    channels = a.shape[-1]
    b = np.empty_like(a, dtype=np.float64)
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        total = np.sum(a[..., lo : hi + 1] ** 2, axis=-1)
        b[..., i] = a[..., i] / (k + alpha * total) ** beta
    return b


@pytest.mark.parametrize(
    "k,n,alpha,beta",
    [(2.0, 5, 1e-4, 0.75), (1.0, 5, 0.5, 0.75), (0.5, 3, 1.0, 1.0), (1.0, 1, 0.3, 0.5)],
)
def test_matches_alexnet_formula(k, n, alpha, beta):
    # Large activations for the paper's tiny alpha, so the window sum visibly matters.
    scale = 30.0 if alpha < 1e-3 else 1.0
    a = scale * np.random.default_rng(0).normal(size=(2, 3, 3, 7))
    with jax.enable_x64(True):
        got = ops.local_response_norm(a, k=k, n=n, alpha=alpha, beta=beta)
    expected = np_lrn(a, k, n, alpha, beta)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # A wrong window (n + 2) would give a different answer: the test can fail.
    assert not np.allclose(np_lrn(a, k, n + 2, alpha, beta), expected, rtol=1e-6)


def test_defaults_are_alexnets():
    a = 20.0 * np.random.default_rng(1).normal(size=(4, 9))
    with jax.enable_x64(True):
        np.testing.assert_allclose(ops.local_response_norm(a), np_lrn(a, 2.0, 5, 1e-4, 0.75))


def test_even_n_takes_n_channels_starting_n_over_2_below():
    a = np.random.default_rng(2).normal(size=(3, 6))
    with jax.enable_x64(True):
        got = ops.local_response_norm(a, k=1.0, n=4, alpha=1.0, beta=1.0)
    for i in range(6):
        total = np.sum(a[:, max(0, i - 2) : i + 2] ** 2, axis=-1)  # channels i-2 .. i+1
        np.testing.assert_allclose(got[:, i], a[:, i] / (1.0 + total), rtol=1e-12)


def test_gradients_jit_and_vmap():
    a = np.random.default_rng(3).normal(size=(2, 2, 6))
    lrn = functools.partial(ops.local_response_norm, k=1.0, n=3, alpha=0.5, beta=0.75)
    with jax.enable_x64(True):
        check_grads(lrn, (a,), order=1)
        np.testing.assert_allclose(jax.jit(lrn)(a), lrn(a), rtol=1e-12)
        np.testing.assert_allclose(jax.vmap(lrn)(a), lrn(a), rtol=1e-12)


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_bad_n_raises(n):
    with pytest.raises(ValueError, match=f"n={n}"):
        ops.local_response_norm(np.ones((2, 4)), n=n)
