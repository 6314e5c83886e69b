"""`cnnjax.cpu_flags`: the XLA:CPU flag is appended only when it can take effect and is wanted."""

import os
import subprocess
import sys

import pytest

from cnnjax import cpu_flags
from cnnjax.ops import dispatch


@pytest.fixture
def fresh(monkeypatch):
    """A process state as before JAX's first backend: no XLA_FLAGS, no JAX_PLATFORMS."""
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    monkeypatch.setattr(cpu_flags, "_backends_exist", lambda: False)
    monkeypatch.setattr(cpu_flags, "_jaxlib_version", lambda: cpu_flags.TESTED_JAXLIB[0])
    return monkeypatch


def test_sets_the_flag_before_any_backend(fresh):
    fresh.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    assert cpu_flags.configure() == "set"
    assert os.environ["XLA_FLAGS"] == f"--xla_dump_to=/tmp/x {cpu_flags.FLAG}"
    assert cpu_flags.configure() == "already set"  # idempotent: appended once


@pytest.mark.parametrize(
    "env, status",
    [
        ({"XLA_FLAGS": f"--{cpu_flags.FLAG_NAME}=none"}, "already set"),
        ({dispatch.ENV_VAR: "0"}, "opted out"),
        ({"JAX_PLATFORMS": "cuda"}, "not cpu"),
    ],
)
def test_leaves_xla_flags_alone(fresh, env, status):
    for key, value in env.items():
        fresh.setenv(key, value)
    before = os.environ.get("XLA_FLAGS")
    assert cpu_flags.configure() == status
    assert os.environ.get("XLA_FLAGS") == before


def test_untested_jaxlib_is_left_alone(fresh):
    fresh.setattr(cpu_flags, "_jaxlib_version", lambda: (99, 0))
    assert cpu_flags.configure() == "untested jaxlib"
    assert "XLA_FLAGS" not in os.environ


def test_too_late_once_a_backend_exists_warns(fresh):
    fresh.setattr(cpu_flags, "_backends_exist", lambda: True)
    with pytest.warns(RuntimeWarning, match="imported after JAX created its backends"):
        assert cpu_flags.configure() == "too late"
    assert "XLA_FLAGS" not in os.environ


def test_import_cnnjax_sets_it_in_a_new_process_even_after_import_jax():
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", dispatch.ENV_VAR)}
    code = "import jax, cnnjax, os; print(cnnjax.cpu_flags.STATUS, os.environ['XLA_FLAGS'])"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["set", cpu_flags.FLAG]
