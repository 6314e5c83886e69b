"""Checkpoints move between device counts and engines, and training goes on as if never stopped.

A checkpoint of step 3 saved by the 8-device `pmap` run is resumed on 1 device with `jit`; the
1-device `jit` checkpoint of step 3 is resumed on 8 devices with `pmap`. Both must finish at
the parameters of the uninterrupted 1-device run (float32 tolerance: the device counts differ),
and both engines must save the same thing: global, unreplicated arrays.
"""

import os

import jax
import numpy as np
import parallel_runs as pr
import pytest


def test_pmap_saves_global_unreplicated_arrays(runs):
    """`pmap`'s checkpoint has the shapes and (to rounding) the values `jit`'s has."""
    pmap, jit = (pr.load_state(runs.dir(n), 3) for n in ("pmap8", "jit1"))
    shapes = lambda tree: jax.tree.map(np.shape, tree)
    assert shapes(pmap) == shapes(jit)
    assert shapes(pmap["params"])["conv1"]["kernel"] == (5, 5, 1, 6)
    pr.assert_trees_close(pmap, jit, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "resumed, saved_by",
    [("resume_pmap8_to_1", "pmap8"), ("resume_1_to_pmap8", "jit1")],
    ids=["8-pmap->1-jit", "1-jit->8-pmap"],
)
def test_resumed_on_another_device_count_matches_uninterrupted(runs, resumed, saved_by):
    workdir = runs.dir(resumed)
    devices = 1 if saved_by == "pmap8" else 8
    assert pr.result(workdir)["devices"] == devices
    # It resumed (it logged only steps 4-6) rather than starting over ...
    assert sorted(pr.train_losses(workdir)) == [4, 5, 6]
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["3", "6"]
    # ... and ended where the uninterrupted run ended, step by step.
    uninterrupted = pr.train_losses(runs.dir("jit1"))
    losses = pr.train_losses(workdir)
    np.testing.assert_allclose(
        [losses[s] for s in (4, 5, 6)], [uninterrupted[s] for s in (4, 5, 6)], 1e-5
    )
    final = pr.load_state(workdir, pr.STEPS)
    expected = pr.load_state(runs.dir("jit1"), pr.STEPS)
    assert int(final["step"]) == pr.STEPS
    for part in ("params", "opt_state", "rng"):
        pr.assert_trees_close(final[part], expected[part], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        pr.result(workdir)["loss"], pr.result(runs.dir("jit1"))["loss"], 1e-5
    )
