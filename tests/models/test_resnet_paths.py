"""ResNet's block outputs in inference: stored once on the CPU path (`resnet.block_output`), the
same values and gradients as on XLA's native path."""

import jax
import jax.numpy as jnp
import numpy as np
from path_helpers import assert_equal_on_both_paths

from cnnjax.models import create_model
from cnnjax.ops import dispatch

MODEL = create_model("resnet20", num_classes=10)
X = jnp.asarray(np.random.default_rng(0).normal(size=(2, 32, 32, 3)), jnp.float32)
VARIABLES = MODEL.init(jax.random.key(0), X, train=False)


def _forward(params, x, train):
    y, _ = MODEL.apply({**VARIABLES, "params": params}, x, train=train, mutable=["batch_stats"])
    return y


def _loss(params, x):
    y = _forward(params, x, False)
    return jnp.sum(jnp.sin(y)), y


def test_inference_values_and_gradients_equal_on_both_paths():
    grads = jax.value_and_grad(_loss, argnums=(0, 1), has_aux=True)
    # The C++ kernels sum in another order than XLA: gradients differ by <= 1.2e-5 of each
    # leaf's largest magnitude (the fc kernel's: 1.1e-3 of 147).
    assert_equal_on_both_paths(grads, VARIABLES["params"], X, tol=1e-4, of_leaf_scale=True)


def _train_loss(params, x):
    y, updated = MODEL.apply(
        {**VARIABLES, "params": params}, x, train=True, mutable=["batch_stats"]
    )
    return jnp.sum(jnp.sin(y)), (y, updated)


def test_training_values_gradients_and_statistics_equal_on_both_paths():
    """Training mode: on the CPU path every BatchNorm differentiates with
    `cnnjax.ops.batch_norm_train`'s hand-written backward pass, and the convolutions run on the
    C++ kernels; outputs, running statistics and gradients match XLA's autodiff of flax."""
    grads = jax.value_and_grad(_train_loss, argnums=(0, 1), has_aux=True)
    assert_equal_on_both_paths(grads, VARIABLES["params"], X, tol=1e-4, of_leaf_scale=True)


def test_block_outputs_are_stored_in_inference_on_the_cpu_path_only():
    """ResNet-20's 9 blocks: 9 stored outputs (conditionals) in the inference forward pass on
    the CPU path; none in training (storing slowed it) and none on the native path."""
    stored = {}
    for path in dispatch.PATHS:
        for train in (False, True):
            with dispatch.use_path(path):
                fn = jax.jit(lambda params, x, train=train: _forward(params, x, train))
                hlo = fn.lower(VARIABLES["params"], X).compile().as_text()
            stored[path, train] = hlo.count(" conditional(")
    assert stored == {
        ("cpu", False): 9,
        ("cpu", True): 0,
        ("native", False): 0,
        ("native", True): 0,
    }
