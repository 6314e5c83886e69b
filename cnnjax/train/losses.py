"""Classification losses and metrics on (possibly soft) labels.

Labels are distributions (B, K): one-hot for plain batches, mixed for mixup/cutmix, smoothed
with label smoothing (Szegedy et al. 2016, "Rethinking the Inception architecture", §7).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax


def cross_entropy(
    logits: jax.Array,
    labels: jax.Array,
    label_smoothing: float = 0.0,
    reject_logit: float | None = None,
) -> jax.Array:
    """Per-example softmax cross-entropy −Σ_k y_k log softmax(z)_k.

    With `reject_logit` = r, the softmax has one more, constant logit r that no label names:
    log(e^r + Σ_i e^{z_i}) − Σ_k y_k z_k. With z = −y (RBF penalties) and r = −j this is the
    MAP criterion of LeCun et al. (1998), eq. 9, whose "rubbish class" e^{−j} stops penalties
    that are already large from being pushed further up.

    Args:
      logits: (B, K) any float dtype; computed in float32.
      labels: (B, K) label distributions (rows sum to 1).
      label_smoothing: α: y ← (1 − α) y + α / K.
      reject_logit: None (plain softmax) or the constant extra logit r.

    Returns:
      (B,) float32 losses.
    """
    labels = labels.astype(jnp.float32)
    if label_smoothing > 0:
        labels = optax.smooth_labels(labels, label_smoothing)
    logits = logits.astype(jnp.float32)
    if reject_logit is None:
        return optax.softmax_cross_entropy(logits, labels)
    normaliser = jnp.logaddexp(reject_logit, jax.nn.logsumexp(logits, axis=-1))  # (B,)
    return normaliser - jnp.sum(labels * logits, axis=-1)


def aux_loss(aux_logits, labels: jax.Array, weight: float, label_smoothing: float = 0.0):
    """`weight` × mean cross-entropy summed over every auxiliary classifier's logits.

    GoogLeNet (Szegedy et al. 2015, §5) adds its two auxiliary classifiers' losses with weight 0.3.

    Args:
      aux_logits: the `aux_logits` collection sown by the model (any pytree of (B, K) arrays),
        or None / {} when the model has none.
      labels: (B, K) label distributions.
      weight: the loss weight of each auxiliary head.

    Returns:
      () float32.
    """
    leaves = jax.tree.leaves(aux_logits) if aux_logits else []
    if not leaves or weight == 0:
        return jnp.zeros((), jnp.float32)
    return weight * sum(jnp.mean(cross_entropy(z, labels, label_smoothing)) for z in leaves)


def topk_correct(logits: jax.Array, labels: jax.Array, k: int) -> jax.Array:
    """(B,) 1.0 where the integer label is among the k largest logits (k capped at K).

    Ties are broken towards the lower class index (as `jax.lax.top_k` does).
    """
    k = min(k, logits.shape[-1])
    _, top = jax.lax.top_k(logits, k)  # (B, k)
    return jnp.any(top == labels[:, None], axis=-1).astype(jnp.float32)


def classification_sums(
    logits: jax.Array, labels: jax.Array, mask: jax.Array | None = None
) -> dict[str, jax.Array]:
    """Summable evaluation statistics of one batch (sum them over batches, then divide).

    Args:
      logits: (B, K).
      labels: (B,) int class indices.
      mask: (B,) bool, False on padding examples; None counts all.

    Returns:
      `loss_sum`, `top1_sum`, `top5_sum`, `count` (all () float32) and `confusion` (K, K)
      float32 with `confusion[true, predicted]` counts.
    """
    num_classes = logits.shape[-1]
    weight = jnp.ones(labels.shape, jnp.float32) if mask is None else mask.astype(jnp.float32)
    onehot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    predicted = jax.nn.one_hot(jnp.argmax(logits, -1), num_classes, dtype=jnp.float32)
    return {
        "loss_sum": jnp.sum(cross_entropy(logits, onehot) * weight),
        "top1_sum": jnp.sum(topk_correct(logits, labels, 1) * weight),
        "top5_sum": jnp.sum(topk_correct(logits, labels, 5) * weight),
        "count": jnp.sum(weight),
        "confusion": (onehot * weight[:, None]).T @ predicted,  # (K, K)
    }


def summarize(sums: dict) -> dict:
    """Turns accumulated `classification_sums` (numpy) into loss, accuracy, top-5, per-class.

    Returns:
      `loss`, `accuracy` (top-1), `top5_accuracy`, `count`, `per_class_accuracy` (K,) (NaN for
      classes absent from the split) and `confusion` (K, K) int64.
    """

    count = float(sums["count"])
    confusion = np.rint(np.asarray(sums["confusion"])).astype(np.int64)
    support = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(confusion) / support, np.nan)
    return {
        "loss": float(sums["loss_sum"]) / count,
        "accuracy": float(sums["top1_sum"]) / count,
        "top5_accuracy": float(sums["top5_sum"]) / count,
        "count": int(round(count)),
        "per_class_accuracy": per_class,
        "confusion": confusion,
    }
