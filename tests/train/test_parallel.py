"""1 device vs 8 devices with `jit` vs 8 devices with `pmap`: the same training, step by step.

For the same global batch and seed, the three engines must give the same per-step losses and
the same parameters and optimizer state after several steps, up to float32 rounding (they
differ only in the order of the reductions). The BatchNorm network checks that `pmap` averages
the batch statistics over all devices, as the `jit` engine's global batch does. The runs are
real `train_and_evaluate` calls in subprocesses (see `parallel_runs.py`).
"""

import functools

import jax
import numpy as np
import parallel_runs as pr
import pytest

from cnnjax import models
from cnnjax.models import layers
from cnnjax.train import parallel

# atol 1e-5: float32 summation order moves BatchNorm-net gradients near zero by ~1e-6; the steps
# compared move parameters by ~1e-3 and a real fault (per-device BatchNorm statistics) by ~4e-3.
RTOL, ATOL = 1e-5, 1e-5


@pytest.mark.parametrize(
    "names, steps",
    [(("jit1", "jit8", "pmap8"), pr.STEPS), (("bn_jit1", "bn_jit8", "bn_pmap8"), pr.BN_STEPS)],
    ids=["lenet5", "batchnorm-resnet"],
)
def test_one_device_jit8_pmap8_agree(runs, names, steps):
    one, *others = [runs.dir(n) for n in names]
    assert [pr.result(w)["devices"] for w in (one, *others)] == [1, 8, 8]
    reference_losses = pr.train_losses(one)
    reference = pr.load_state(one, steps)
    assert sorted(reference_losses) == list(range(1, steps + 1))
    has_batch_norm = names[0].startswith("bn")
    assert bool(jax.tree.leaves(reference["batch_stats"])) == has_batch_norm
    for workdir in others:
        losses = pr.train_losses(workdir)
        assert sorted(losses) == sorted(reference_losses)
        np.testing.assert_allclose(
            [losses[s] for s in sorted(losses)],
            [reference_losses[s] for s in sorted(losses)],
            rtol=RTOL,
        )
        state = pr.load_state(workdir, steps)
        assert int(state["step"]) == steps
        for part in ("params", "batch_stats", "opt_state"):
            pr.assert_trees_close(state[part], reference[part], RTOL, ATOL)


def test_shard_params_trains_the_same_and_really_shards(runs):
    """`shard_params=True` on 8 devices: the same losses and state as the replicated jit run, with
    every large array (and its Adam moments) split over the devices along one dimension."""
    fsdp, replicated = runs.dir("fsdp8"), runs.dir("jit8")
    assert pr.result(fsdp)["devices"] == 8
    losses, reference_losses = pr.train_losses(fsdp), pr.train_losses(replicated)
    assert sorted(losses) == list(range(1, pr.STEPS + 1))
    np.testing.assert_allclose(
        [losses[s] for s in sorted(losses)], [reference_losses[s] for s in sorted(losses)], RTOL
    )
    state, reference = pr.load_state(fsdp, pr.STEPS), pr.load_state(replicated, pr.STEPS)
    for part in ("params", "opt_state"):
        pr.assert_trees_close(state[part], reference[part], RTOL, ATOL)
    shardings = pr.read_json(fsdp, "shardings.json")
    large = {k for k, v in shardings.items() if np.prod(v["shape"]) >= pr.FSDP["shard"]["min_size"]}
    fc1 = ".params['fc1']['kernel']"
    assert shardings[fc1] == {
        "shape": [400, 120],
        "spec": "('data', None)",
        "shard_shape": [50, 120],
        "devices": 8,
    }
    assert any(k.startswith(".opt_state") and "fc1" in k for k in large)
    for key, sharding in shardings.items():
        split = "'data'" in sharding["spec"]
        assert split == (key in large and key.startswith((".params", ".opt_state"))), key
        assert sharding["devices"] == 8


def test_agreement_is_far_tighter_than_training_moves(runs):
    """The engines' disagreement is tiny next to what three steps change (the test can fail)."""
    three, six = (pr.load_state(runs.dir("jit1"), s)["params"] for s in (3, pr.STEPS))
    moved = pr.max_abs_diff(three, six)
    disagreement = max(
        pr.max_abs_diff(pr.load_state(runs.dir(n), pr.STEPS)["params"], six)
        for n in ("jit8", "pmap8")
    )
    assert moved > 1e-4
    assert disagreement < 1e-2 * moved


def test_pmap_batch_norm_normalises_with_the_global_batch():
    """With the `pmap` engine's axis each group's BatchNorm uses the statistics of all groups.

    Four groups of two examples (`vmap` with the engine's axis name stands in for four devices)
    must be normalised, and the running statistics updated, as one batch of eight (numpy).
    """
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(4, 2, 5)).astype(np.float32)

    def batch_norm(axis_name):
        return layers.batch_norm(True, axis_name=axis_name)

    variables = batch_norm(None).init(jax.random.PRNGKey(0), x[0])
    engine_axis = parallel.batch_norm_axis("pmap")

    def apply(group, axis_name=engine_axis):
        return batch_norm(axis_name).apply(variables, group, mutable=["batch_stats"])

    y, updates = jax.jit(jax.vmap(apply, axis_name=parallel.AXIS))(x)
    flat = x.reshape(8, 5).astype(np.float64)
    mean, var = flat.mean(0), flat.var(0)
    np.testing.assert_allclose(y.reshape(8, 5), (flat - mean) / np.sqrt(var + 1e-5), atol=1e-5)
    for group in range(4):
        np.testing.assert_allclose(updates["batch_stats"]["mean"][group], 0.1 * mean, atol=1e-6)
        np.testing.assert_allclose(updates["batch_stats"]["var"][group], 0.9 + 0.1 * var, rtol=1e-5)
    local, _ = jax.jit(jax.vmap(lambda g: apply(g, axis_name=None)))(x)  # per-group statistics
    assert np.max(np.abs(np.asarray(local) - np.asarray(y))) > 0.1


def test_model_built_for_pmap_normalises_with_the_global_batch():
    """A BatchNorm ResNet built for `pmap` (`with_batch_norm_axis`): four groups of two under
    the engine's axis give the logits and running statistics of one batch of eight."""
    model = models.create_model("resnet20", num_classes=3, stage_sizes=(1,), widths=(4,))
    x = np.random.default_rng(1).normal(size=(8, 8, 8, 3)).astype(np.float32)
    variables = model.init(jax.random.PRNGKey(0), x[:1])
    apply = lambda m, xs: m.apply(variables, xs, train=True, mutable=["batch_stats"])
    whole, whole_stats = jax.jit(functools.partial(apply, model))(x)
    mapped = layers.with_batch_norm_axis(model, parallel.batch_norm_axis("pmap"))
    in_groups = jax.vmap(functools.partial(apply, mapped), axis_name=parallel.AXIS)
    groups, group_stats = jax.jit(in_groups)(x.reshape(4, 2, 8, 8, 3))  # (groups, B/4, H, W, C)
    np.testing.assert_allclose(groups.reshape(whole.shape), whole, rtol=1e-4, atol=1e-5)
    for group in range(4):
        pr.assert_trees_close(jax.tree.map(lambda s, g=group: s[g], group_stats), whole_stats)
    assert parallel.batch_norm_axis("jit") is None


def test_batch_not_divisible_by_devices_fails_before_compiling(runs):
    error = pr.read_json(runs.dir("batch36"), "error.json")
    assert error["type"] == "ValueError"
    assert "batch_size=36" in error["message"] and "device count 8" in error["message"]
    assert error["compiles"] == 0, "the error must come before anything is traced or compiled"


def test_pmap_refuses_sharded_parameters():
    with pytest.raises(ValueError, match="shard.params=True needs parallel='jit'"):
        parallel.make_pmap_engine(None, None, None, shard_params=True)


def test_make_engine_dispatches_to_pmap():
    with pytest.raises(ValueError, match="needs parallel='jit'"):
        parallel.make_engine("pmap", None, None, None, shard_params=True)


def test_make_engine_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="unknown parallel mode 'pjit'; accepted are jit, pmap"):
        parallel.make_engine("pjit", None, None, None)
