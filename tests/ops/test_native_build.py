"""`cnnjax.ops.native`: the kernels compile on first use into a cache keyed by what built them,
a failed build leaves nothing behind and says why, and the cached library is reused."""

import os

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
    """In this process (default cache) the kernels load, or `STATUS` says why not."""
    if native.compiler() is not None:
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
