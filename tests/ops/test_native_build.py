"""`cnnjax.ops.native`: the kernels compile on first use into a cache keyed by what built them,
a failed build leaves nothing behind and says why, and the cached library is reused."""

import os
import subprocess
import sys

import pytest

from cnnjax.ops import native


def test_compiles_then_reuses_the_cache(monkeypatch, tmp_path):
    cxx = native.compiler()
    if cxx is None:
        assert "no C++ compiler" in native._load()[1]
        return
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path))
    path, built = native.ensure_built(cxx)
    assert built and path.parent == tmp_path
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left
    stamp = path.stat().st_mtime_ns
    assert native.ensure_built(cxx) == (path, False)
    assert path.stat().st_mtime_ns == stamp


def test_the_process_registered_the_kernels():
    """In this process (the session's cache) the kernels load where they are built by default."""
    if native.compiler() is not None and native.measured_processor():
        assert native.available(), native.STATUS
        assert native.STATUS.startswith(("compiled into", "loaded from"))


def test_a_failing_compiler_leaves_nothing_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv("CXX", "false")  # exits 1 without output
    with pytest.warns(RuntimeWarning, match="could not be built"):
        loaded, status = native._load()
    assert not loaded
    assert "exited 1" in status and "XLA forms run" in status
    assert os.listdir(tmp_path) == []


def test_no_compiler_is_said(monkeypatch, tmp_path):
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv("CXX", "no-such-compiler-cnnjax")
    assert native._load() == (False, native._load()[1])
    assert "no C++ compiler" in native._load()[1]


def test_the_cache_key_names_the_processor_and_the_source(monkeypatch):
    """A cache shared between machines never hands one a binary built for another."""
    path = native.library_path("g++")
    monkeypatch.setattr(native, "_cpu_features", lambda: "flags : fpu sse2")
    assert native.library_path("g++") != path
    assert native.library_path("clang++") != native.library_path("g++")


def test_cache_dir_follows_the_variables(monkeypatch, tmp_path):
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path / "k"))
    assert native.cache_dir() == tmp_path / "k"
    monkeypatch.delenv(native.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert native.cache_dir() == tmp_path / "cnnjax" / "kernels"


def test_the_variable_turns_them_off_before_any_compile(monkeypatch, tmp_path):
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(native.ENV_VAR, "off")
    assert native._load() == (False, "turned off by $CNNJAX_CPP_KERNELS=off: the XLA forms run")
    assert os.listdir(tmp_path) == []


def test_other_processors_run_xla_unless_asked(monkeypatch, tmp_path):
    """Only AVX-512 x86-64 processors were measured: elsewhere the kernels are built only on
    request ($CNNJAX_CPP_KERNELS=1), and nothing is compiled otherwise."""
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(native.ENV_VAR, raising=False)
    monkeypatch.setattr(native, "_cpu_features", lambda: "flags : fpu sse2 avx avx2 fma")
    loaded, status = native._load()
    assert not loaded and "measured on AVX-512 processors only" in status
    assert os.listdir(tmp_path) == []
    monkeypatch.setenv(native.ENV_VAR, "1")
    monkeypatch.setattr(native, "compiler", lambda: None)  # asked: it goes on to the compiler
    assert "no C++ compiler" in native._load()[1]


EIGHT_LANES = r"""
import pathlib, sys
import jax, numpy as np
from jax import lax
from cnnjax.ops import direct_conv, native
native.ensure_built = lambda cxx: (pathlib.Path(sys.argv[1]), False)
assert native.available(), native.STATUS
rng = np.random.default_rng(0)
for strides, pads, c_in, c_out, window in [((1, 1), ((1, 1), (1, 1)), 16, 32, 3),
                                          ((2, 2), ((0, 1), (0, 1)), 5, 16, 3),
                                          ((1, 1), ((0, 0), (0, 0)), 6, 48, 5),
                                          ((1, 1), ((2, 0), (1, 1)), 12, 16, 3)]:
    x = rng.normal(size=(3, 11, 13, c_in)).astype(np.float32)
    k = rng.normal(size=(window, window, c_in, c_out)).astype(np.float32) / c_in
    xla = lambda x, k: lax.conv_general_dilated(x, k, strides, pads,
        dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=lax.Precision.HIGHEST)
    fast = lambda x, k: direct_conv.direct_conv(x, k, strides, pads)
    y, vjp = jax.vjp(fast, x, k)
    y_ref, vjp_ref = jax.vjp(xla, x, k)
    ct = rng.normal(size=y.shape).astype(np.float32)
    for a, b in zip((y, *vjp(ct)), (y_ref, *vjp_ref(ct))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
print("equal")
"""


def test_an_eight_lane_build_gives_the_same_results(tmp_path):
    """The kernels built for AVX2 (8-lane vectors, other tile shapes) equal XLA's convolution,
    run on this machine in a fresh process (one library per process)."""
    cxx, flags = native.compiler(), native._cpu_features().split()
    if cxx is None or not {"avx2", "fma"} <= set(flags):
        pytest.skip("needs a C++ compiler and an AVX2 processor")
    library = tmp_path / "eight_lanes.so"
    native._build(cxx, library, march="haswell")
    result = subprocess.run([sys.executable, "-c", EIGHT_LANES, str(library)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0 and "equal" in result.stdout, result.stderr[-3000:]
