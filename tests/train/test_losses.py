"""Losses and metrics against numpy computations."""

import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.train import losses

RNG = np.random.default_rng(0)


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_cross_entropy_soft_labels_and_smoothing():
    logits = RNG.normal(size=(4, 5)).astype(np.float32)
    labels = RNG.dirichlet(np.ones(5), size=4).astype(np.float32)  # mixup-like soft labels
    expected = -(labels * log_softmax(logits)).sum(-1)
    np.testing.assert_allclose(losses.cross_entropy(logits, labels), expected, rtol=1e-5)
    smoothed = labels * 0.9 + 0.1 / 5
    expected = -(smoothed * log_softmax(logits)).sum(-1)
    np.testing.assert_allclose(losses.cross_entropy(logits, labels, 0.1), expected, rtol=1e-5)


def test_cross_entropy_is_float32_for_bf16_logits():
    logits = jnp.asarray(RNG.normal(size=(2, 3)), jnp.bfloat16)
    assert losses.cross_entropy(logits, jnp.eye(3)[:2]).dtype == jnp.float32


def test_aux_loss_weights_every_head():
    labels = np.eye(3, dtype=np.float32)[[0, 2]]
    heads = {"aux1": (RNG.normal(size=(2, 3)),), "aux2": (RNG.normal(size=(2, 3)),)}
    expected = sum(0.3 * np.mean(-(labels * log_softmax(z[0])).sum(-1)) for z in heads.values())
    assert float(losses.aux_loss(heads, labels, 0.3)) == pytest.approx(expected, rel=1e-5)
    assert float(losses.aux_loss({}, labels, 0.3)) == 0.0


def test_topk_correct_by_hand():
    logits = np.array([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5]])
    labels = np.array([2, 0, 0])
    np.testing.assert_array_equal(losses.topk_correct(logits, labels, 1), [0, 1, 0])
    np.testing.assert_array_equal(losses.topk_correct(logits, labels, 2), [1, 1, 0])
    np.testing.assert_array_equal(losses.topk_correct(logits, labels, 5), [1, 1, 1])  # k > K


def test_classification_sums_respect_mask():
    logits = RNG.normal(size=(6, 4)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 0, 1])
    mask = np.array([1, 1, 1, 1, 0, 0], bool)
    sums = losses.classification_sums(logits, labels, mask)
    keep = mask.nonzero()[0]
    ce = -log_softmax(logits)[np.arange(6), labels]
    assert float(sums["loss_sum"]) == pytest.approx(ce[keep].sum(), rel=1e-5)
    assert float(sums["count"]) == 4
    predicted = logits.argmax(-1)
    assert float(sums["top1_sum"]) == (predicted[keep] == labels[keep]).sum()
    confusion = np.zeros((4, 4))
    for i in keep:
        confusion[labels[i], predicted[i]] += 1
    np.testing.assert_array_equal(sums["confusion"], confusion)
    summary = losses.summarize({k: np.asarray(v) for k, v in sums.items()})
    assert summary["accuracy"] == pytest.approx((predicted[keep] == labels[keep]).mean())
    np.testing.assert_allclose(
        summary["per_class_accuracy"], np.diag(confusion) / confusion.sum(1), equal_nan=True
    )
