"""`cnnjax.cpu_flags`: the XLA:CPU flag is appended only when it can take effect and is wanted."""

import os
import subprocess
import sys

import flax.linen as nn
import jax
import numpy as np
import optax
import pytest

from cnnjax import cpu_flags
from cnnjax.models import layers
from cnnjax.ops import dispatch
from cnnjax.train import parallel
from cnnjax.train.state import create_train_state


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


def _assert_compiler_options(monkeypatch, options, platform, env, expected):
    """`options(platform)` under `env` is `expected`, and `{}` with an untested jaxlib."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert options(platform) == expected
    monkeypatch.setattr(cpu_flags, "_jaxlib_version", lambda: (99, 0))
    assert options(platform) == {}


@pytest.mark.parametrize(
    "platform, env, expected",
    [
        ("cpu", {}, {cpu_flags.FLAG_NAME: ""}),
        ("cpu", {"XLA_FLAGS": cpu_flags.FLAG}, {cpu_flags.FLAG_NAME: ""}),  # cnnjax's own
        ("gpu", {}, {}),
        ("tpu", {}, {}),
        ("cpu", {dispatch.ENV_VAR: "off"}, {}),
        ("cpu", {"XLA_FLAGS": f"--{cpu_flags.FLAG_NAME}=-individual_dot"}, {}),  # the user's
    ],
)
def test_eval_compiler_options(fresh, platform, env, expected):
    _assert_compiler_options(fresh, cpu_flags.eval_compiler_options, platform, env, expected)


@pytest.mark.parametrize(
    "platform, env, expected",
    [
        ("cpu", {}, {cpu_flags.OPT_LEVEL_NAME: 1}),
        ("cpu", {"XLA_FLAGS": cpu_flags.FLAG}, {cpu_flags.OPT_LEVEL_NAME: 1}),  # cnnjax's own
        ("gpu", {}, {}),
        ("tpu", {}, {}),
        ("cpu", {dispatch.ENV_VAR: "0"}, {}),
        ("cpu", {"XLA_FLAGS": f"--{cpu_flags.OPT_LEVEL_NAME}=2"}, {}),  # the user's
    ],
)
def test_init_compiler_options(fresh, platform, env, expected):
    _assert_compiler_options(fresh, cpu_flags.init_compiler_options, platform, env, expected)


class _Net(nn.Module):
    """Two conv / BatchNorm / ReLU / max-pool blocks and a dense layer."""

    @nn.compact
    def __call__(self, x, *, train=False):
        for i, features in enumerate((8, 16)):
            x = layers.Conv(features, 3, padding=1, name=f"conv{i}")(x)
            x = layers.max_pool(nn.relu(layers.batch_norm(train, name=f"bn{i}")(x)), 2)
        return nn.Dense(10)(x.reshape(x.shape[0], -1))


def _logits(state, batch, axis_name=None):
    return state.apply_fn(state.variables(state.params), batch["image"], train=False)


def test_eval_step_compiled_without_ynnpack_gives_the_same_numbers():
    """The jit engine's eval step (no YNNPACK fusions on CPU) = the same function compiled
    plainly."""
    init = lambda: create_train_state(_Net(), (8, 8, 3), optax.sgd(0.1), jax.random.key(0))
    engine = parallel.make_engine("jit", None, _logits, jax.eval_shape(init))
    state = engine.create_state(init)
    images = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype(np.float32)
    batch = engine.shard_batch({"image": images})
    want = jax.jit(_logits)(state, batch)
    np.testing.assert_allclose(engine.eval_step(state, batch), want, rtol=2e-5, atol=2e-5)
    options = cpu_flags.eval_compiler_options(jax.devices()[0].platform)
    plain = jax.jit(_logits).lower(state, batch).compile().as_text()
    compiled = engine.eval_step.lower(state, batch).compile().as_text()
    assert "__ynn_fusion" not in compiled if options else compiled == plain


def test_jit_engine_initialises_with_the_init_options_and_the_same_values(monkeypatch):
    """`create_state` compiles the initialisation with `init_compiler_options` (LLVM -O1 on
    CPU): every value equals the plainly compiled initialisation's, bit for bit."""
    init = lambda: create_train_state(_Net(), (8, 8, 3), optax.sgd(0.1), jax.random.key(3))
    asked = []
    options = cpu_flags.init_compiler_options
    monkeypatch.setattr(cpu_flags, "init_compiler_options", lambda p: asked.append(p) or options(p))
    state = parallel.make_engine("jit", None, _logits, jax.eval_shape(init)).create_state(init)
    assert asked == [jax.devices()[0].platform]
    want = jax.jit(init)()
    jax.tree.map(np.testing.assert_array_equal, state.params, want.params)
    jax.tree.map(np.testing.assert_array_equal, state.batch_stats, want.batch_stats)
