"""`experiments.compile_cache`: the entry points' persistent compilation cache, on and off."""

import os
import subprocess
import sys

import jax
import pytest

from experiments import compile_cache

# A fresh process: configure the cache from argv[1], then compile one small program.
_COMPILE = (
    "import sys, jax, jax.numpy as jnp\n"
    "from experiments import compile_cache\n"
    "compile_cache.configure(sys.argv[1])\n"
    "jax.jit(lambda x: jnp.tanh(x) @ x.T)(jnp.ones((8, 8))).block_until_ready()\n"
)


def _entries(path) -> list[str]:
    return os.listdir(path) if os.path.isdir(path) else []


def _compile_in_a_new_process(path: str, env: dict[str, str]) -> None:
    run = subprocess.run(
        [sys.executable, "-c", _COMPILE, path], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_cache_is_written_where_asked_and_not_when_off(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # cache even this tiny program
    _compile_in_a_new_process(str(tmp_path / "on"), env)
    assert _entries(tmp_path / "on")
    # Off beats a directory set in the environment.
    env["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path / "env")
    _compile_in_a_new_process("", env)
    assert not _entries(tmp_path / "env")


def test_configure_returns_the_directory_and_refuses_a_file(tmp_path):
    before = (jax.config.jax_enable_compilation_cache, jax.config.jax_compilation_cache_dir)
    try:
        assert compile_cache.configure(str(tmp_path / "c")) == str(tmp_path / "c")
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "c")
        assert compile_cache.configure("") is None
        assert not jax.config.jax_enable_compilation_cache
        (tmp_path / "file").write_text("x")
        with pytest.raises(ValueError, match="is not a directory"):
            compile_cache.configure(str(tmp_path / "file"))
    finally:
        jax.config.update("jax_enable_compilation_cache", before[0])
        jax.config.update("jax_compilation_cache_dir", before[1])
