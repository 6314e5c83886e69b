"""Unit tests of the transfer pieces: labels, group rates, inference BatchNorm, restore plans."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax.transfer import freeze, restore

PARAMS = {
    "conv1": {"kernel": jnp.ones((3, 3, 1, 2)), "bias": jnp.ones((2,))},
    "fc1": {"kernel": jnp.ones((4, 3)), "bias": jnp.ones((3,))},
    "logits": {"kernel": jnp.ones((3, 5)), "bias": jnp.ones((5,))},
}
ORDER = list(restore.flatten(PARAMS))


def test_labels_put_head_first_then_frozen_then_backbone():
    label = freeze.labeller("conv1|logits", "^logits/")
    labels = restore.flatten(freeze.label_tree(PARAMS, label))
    assert labels == {
        "conv1/kernel": "frozen",
        "conv1/bias": "frozen",
        "fc1/kernel": "backbone",
        "fc1/bias": "backbone",
        "logits/kernel": "head",  # the head always trains, even when the pattern matches it
        "logits/bias": "head",
    }


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_group_rates_are_the_sizes_of_the_updates(name):
    # With SGD at rate 1 the update is -multiplier * gradient; with AdamW (|update| = 1 on the
    # first step for a constant gradient, plus decoupled weight decay) the same ratios hold.
    inner = optax.sgd(1.0) if name == "sgd" else optax.adamw(1.0, weight_decay=0.0)
    tx = freeze.group_optimizer(inner, freeze.labeller("conv1", "^logits/"), 0.1, 1.0)
    grads = jax.tree.map(jnp.ones_like, PARAMS)
    updates, _ = tx.update(grads, tx.init(PARAMS), PARAMS)
    sizes = {p: np.abs(np.asarray(u)) for p, u in restore.flatten(updates).items()}
    np.testing.assert_array_equal(sizes["conv1/kernel"], 0.0)
    np.testing.assert_allclose(sizes["fc1/kernel"], 0.1, rtol=1e-5)
    np.testing.assert_allclose(sizes["logits/kernel"], 1.0, rtol=1e-5)


def test_frozen_updates_stay_zero_under_decoupled_weight_decay():
    tx = freeze.group_optimizer(
        optax.adamw(1e-2, weight_decay=0.5), freeze.labeller("conv1", "^logits/"), 1.0, 1.0
    )
    grads = jax.tree.map(jnp.ones_like, PARAMS)
    updates, _ = tx.update(grads, tx.init(PARAMS), PARAMS)
    assert not np.any(np.asarray(updates["conv1"]["kernel"]))
    assert np.all(np.asarray(updates["fc1"]["kernel"]) != 0)


def test_default_freeze_keeps_the_last_modules_and_the_head_trainable():
    pattern = freeze.default_freeze(ORDER, "^logits/", train_last=1)
    assert pattern == "^(conv1)/"
    assert freeze.default_freeze(ORDER, "^logits/", train_last=5) == ""


def test_freeze_pattern_that_matches_nothing_lists_the_modules():
    with pytest.raises(ValueError, match=r"transfer.freeze='conv9' matches no parameter.*fc1"):
        freeze.check_freeze("conv9", ORDER, "^logits/")
    with pytest.raises(ValueError, match="not a regular expression"):
        freeze.check_freeze("conv(", ORDER, "^logits/")


class _Net(nn.Module):
    @nn.compact
    def __call__(self, x, *, train=False):
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name="bn1")(x)
        x = nn.Dense(3, name="fc")(x)
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, name="bn2")(x)


def _net_variables():
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 4))
    variables = _Net().init(jax.random.PRNGKey(1), x)
    # Non-trivial running statistics and affine parameters, so inference differs from training.
    _, updates = _Net().apply(variables, x * 3 + 1, train=True, mutable=["batch_stats"])
    params = jax.tree.map(lambda p: p + 0.3, variables["params"])
    return x, {"params": params, "batch_stats": updates["batch_stats"]}


def test_frozen_batchnorm_runs_in_inference_mode_and_keeps_its_statistics():
    x, variables = _net_variables()
    apply = freeze.frozen_batchnorm_apply(_Net().apply, freeze.labeller("^bn1/", "^fc/"))
    out, updates = apply(variables, x, train=True, mutable=["batch_stats"])
    # bn1 frozen: its statistics come back bit-identical; bn2 trains: its statistics move.
    for name in ("mean", "var"):
        np.testing.assert_array_equal(
            updates["batch_stats"]["bn1"][name], variables["batch_stats"]["bn1"][name]
        )
        assert not np.array_equal(
            updates["batch_stats"]["bn2"][name], variables["batch_stats"]["bn2"][name]
        )
    # The output equals a hand-written forward: bn1 from running statistics, bn2 from the batch.
    p, s = variables["params"], variables["batch_stats"]
    h = (x - s["bn1"]["mean"]) / np.sqrt(s["bn1"]["var"] + 1e-5) * p["bn1"]["scale"]
    h = h + p["bn1"]["bias"]
    h = h @ p["fc"]["kernel"] + p["fc"]["bias"]
    h = (h - h.mean(0)) / np.sqrt(h.var(0) + 1e-5) * p["bn2"]["scale"] + p["bn2"]["bias"]
    np.testing.assert_allclose(out, h, rtol=1e-5, atol=1e-5)


def test_restore_plan_reports_matched_new_and_unused():
    target = {"params": {**PARAMS, "logits": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}}}
    source = {"params": {**PARAMS, "extra": {"kernel": np.ones((2, 2))}}}
    report = restore.plan_restore(target, source, "^logits/", "src")
    assert set(report.matched) == {f"params/{p}" for p in ORDER[:4]}
    assert report.new == ("params/logits/kernel", "params/logits/bias")
    assert set(report.unused) == {
        "params/logits/kernel",
        "params/logits/bias",
        "params/extra/kernel",
    }
    fresh = jax.tree.map(jnp.zeros_like, target)
    merged = restore.apply_restore(fresh, source, report)
    np.testing.assert_array_equal(merged["params"]["fc1"]["kernel"], 1.0)
    np.testing.assert_array_equal(merged["params"]["logits"]["kernel"], 0.0)  # the new head


def test_restore_plan_refuses_other_shapes_outside_the_head():
    source = {"params": {**PARAMS, "fc1": {"kernel": np.ones((9, 3)), "bias": np.ones(3)}}}
    with pytest.raises(ValueError, match=r"another architecture.*fc1/kernel: source \(9, 3\)"):
        restore.plan_restore({"params": PARAMS}, source, "^logits/", "src")
    with pytest.raises(ValueError, match="shares no parameter path"):
        restore.plan_restore({"params": PARAMS}, {"params": {"x": np.ones(1)}}, "^logits/", "s")
