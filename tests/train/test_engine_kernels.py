"""The jit engine keeps cnnjax's C++ custom-call kernels out of programs partitioned over
several devices (XLA's SPMD partitioner would gather their operands and run them whole on
every device) and uses them on one device. In a subprocess, to fake two CPU devices."""

import json
import os
import subprocess
import sys

SCRIPT = r"""
import json
import jax, jax.numpy as jnp, numpy as np
from flax import struct
import cnnjax
from cnnjax import ops
from cnnjax.ops import native
from cnnjax.train.parallel import jit_engine

@struct.dataclass
class State:
    kernel: jax.Array
    rng: jax.Array

def loss(kernel, images):
    return jnp.sum(ops.conv_general(images, kernel, padding="SAME") ** 2)

def train_fn(state, batch, rng):
    return state.replace(kernel=state.kernel - 1e-3 * jax.grad(loss)(state.kernel, batch)), {}

def eval_fn(state, batch):
    return {"loss": loss(state.kernel, batch)}

state = State(jnp.ones((3, 3, 16, 16)), jax.random.key_data(jax.random.key(0)))
batch = jnp.ones((4, 8, 8, 16))
counts = {}
for n in (1, 2):
    engine = jit_engine.make_jit_engine(
        train_fn, eval_fn, jax.eval_shape(lambda: state), devices=jax.devices()[:n])
    for name, step in (("train", engine.train_step), ("eval", engine.eval_step)):
        counts[f"{name}{n}"] = step.lower(state, batch).as_text().count("cnnjax_direct_conv")
print(json.dumps({"available": native.available(), "counts": counts}))
"""


def test_multi_device_jit_engine_traces_without_the_kernels():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    on = int(out["available"])  # train: forward and kernel gradient (images are data)
    assert out["counts"] == {"train1": 2 * on, "eval1": on, "train2": 0, "eval2": 0}
