"""`Checkpointer` retention: the newest `keep` steps rotate, the best `keep_best` stay."""

import os

import numpy as np
import pytest

from cnnjax.train import checkpoint


def _save_all(directory, values, **options):
    ckpt = checkpoint.Checkpointer(str(directory), keep=2, async_save=False, **options)
    metric = options.get("best_metric", "accuracy")
    try:
        for step, value in enumerate(values, start=1):
            state = {"w": np.full((3,), step, np.float32)}
            metrics = None if value is None else {metric: value}
            ckpt.save(step, state, None, {"step": step}, metrics)
        ckpt.wait()
        return ckpt.all_steps()
    finally:
        ckpt.close()


@pytest.mark.parametrize(
    "options, values, kept",
    [
        # accuracy, higher is better: step 2 (0.9) stays while the newest two rotate.
        ({"keep_best": 1}, [0.5, 0.9, 0.6, 0.7, 0.4], [2, 4, 5]),
        # loss, lower is better: step 3 (0.1) is the best.
        ({"keep_best": 1, "best_metric": "loss", "best_mode": "min"}, [0.5, 0.9, 0.1, 0.7, 0.4],
         [3, 4, 5]),
        # the best two: steps 1 and 2.
        ({"keep_best": 2}, [0.95, 0.9, 0.6, 0.7, 0.4, 0.3], [1, 2, 5, 6]),
        # steps saved without metrics (periodic saves) are never the best.
        ({"keep_best": 1}, [0.8, None, None, None, None], [1, 4, 5]),
        # keep_best=0: only the newest two.
        ({"keep_best": 0}, [0.5, 0.9, 0.6, 0.7, 0.4], [4, 5]),
    ],
    ids=["max", "min", "best-two", "no-metrics", "none"],
)  # fmt: skip
def test_best_steps_stay_while_the_newest_rotate(tmp_path, options, values, kept):
    assert _save_all(tmp_path / "checkpoints", values, **options) == kept
    on_disk = sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit())
    assert on_disk == kept


def test_the_kept_best_step_restores_its_own_arrays(tmp_path):
    _save_all(tmp_path / "c", [0.5, 0.9, 0.6, 0.7, 0.4], keep_best=1)
    ckpt = checkpoint.Checkpointer(str(tmp_path / "c"), keep=2, async_save=False)
    try:
        import jax

        target = {"w": jax.ShapeDtypeStruct((3,), np.float32)}
        state, meta = ckpt.restore(2, target)
    finally:
        ckpt.close()
    assert meta == {"step": 2}
    np.testing.assert_array_equal(state["w"], [2, 2, 2])
