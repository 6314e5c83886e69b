"""Shared by the model path tests (not collected): a function's results on both dispatch paths."""

import jax
import numpy as np

from cnnjax.ops import dispatch


def assert_equal_on_both_paths(fn, *args, tol=2e-5, of_leaf_scale=False):
    """jit(fn)(*args), traced and compiled on each path of `cnnjax.ops.dispatch`, agree.

    `of_leaf_scale`: the absolute tolerance is `tol` times each leaf's largest magnitude (deep
    networks carry fp32 summation-order differences of their first layers to every leaf).
    """
    results = {}
    for path in dispatch.PATHS:
        # A new function object per path: jit caches traces by function, and a trace reused
        # from the other path would compare that path with itself.
        with dispatch.use_path(path):  # traced (and compiled) inside: the choice sticks
            results[path] = jax.jit(lambda *a: fn(*a))(*args)
    cpu, native = jax.tree.leaves(results["cpu"]), jax.tree.leaves(results["native"])
    for a, b in zip(cpu, native, strict=True):
        atol = tol * max(1.0, float(np.max(np.abs(b)))) if of_leaf_scale else tol
        np.testing.assert_allclose(a, b, rtol=tol, atol=atol)
