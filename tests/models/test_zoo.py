"""Every registered model against its paper: parameter counts, activation shapes, train/eval
behaviour, bfloat16 compute and the smallest input — all through `jax.eval_shape`, so no
ImageNet-size network is ever compiled here (real forward passes: test_zoo_forward.py).

The expected numbers come from zoo_expectations.py: the papers' tables (or torchvision's
published counts) and counts recomputed from layer sizes, independently of the model code.
"""

import jax
import jax.numpy as jnp
import pytest
from zoo_expectations import EFFICIENTNET_B0_TABLE1 as B0
from zoo_expectations import (
    LITE_PUBLISHED_MILLIONS,
    LITE_SCALING,
    MOBILENET_V2_TABLE2,
    cifar_resnet_params,
    expected_activations,
    expected_params,
    mobile_params,
)

from cnnjax import models
from cnnjax.models import efficientnet

KEY = jax.random.key(0)


HAS_DROPOUT = {"alexnet", "alexnet_v2", "alexnet_small", "googlenet"}
HAS_DROPOUT |= {"mobilenet_v2", "efficientnet_lite0"}
HAS_DROPOUT |= {f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")}
HAS_BATCHNORM = {n for n in models.list_models() if n.startswith("resnet") or "_bn" in n}
HAS_BATCHNORM |= {"vgg16_cifar", "mobilenet_v2", "efficientnet_lite0"}


def ordered_intermediates(model, variables, x, **kwargs):
    """`models.intermediates` under eval_shape: its names keep their forward order."""
    return jax.eval_shape(lambda v, x: models.intermediates(model, v, x, **kwargs), variables, x)


def count(tree) -> int:
    return sum(leaf.size for leaf in jax.tree.leaves(tree))


@pytest.mark.parametrize("name", models.list_models())
def test_model(name):
    spec = models.get_model_spec(name)
    classes, params = expected_params(name)
    model = models.create_model(name, num_classes=classes)

    # Exact parameter count at the paper's input size; parameters in float32.
    x = jax.ShapeDtypeStruct((2, *spec.input_shape), jnp.float32)
    variables = jax.eval_shape(model.init, KEY, x)
    assert count(variables["params"]) == params
    assert {leaf.dtype for leaf in jax.tree.leaves(variables["params"])} == {jnp.dtype("float32")}
    assert ("batch_stats" in variables) == (name in HAS_BATCHNORM)

    # Paper-named activations in forward order, shaped as the paper's tables. Eval mode
    # needs no dropout rng and mutates no BatchNorm statistics (they are not mutable here).
    acts = ordered_intermediates(model, variables, x)
    expected = expected_activations(name) | {"logits": (classes,)}
    assert list(acts) == list(expected)
    assert {k: v.shape[1:] for k, v in acts.items()} == expected
    assert all(v.shape[0] == 2 for v in acts.values())

    # The smallest accepted input, in training mode and bfloat16 compute.
    assert spec.min_input_size == model.min_input_size
    assert spec.min_input_size <= spec.test_input_shape[0] <= spec.input_shape[0]
    size, channels = spec.min_input_size, spec.input_shape[2]
    small = jax.ShapeDtypeStruct((2, size, size, channels), jnp.float32)
    bf16 = models.create_model(name, num_classes=classes, dtype=jnp.bfloat16)
    variables = jax.eval_shape(bf16.init, KEY, small)
    assert {leaf.dtype for leaf in jax.tree.leaves(variables["params"])} == {jnp.dtype("float32")}

    def train(variables, x, rngs):
        return bf16.apply(
            variables, x, train=True, mutable=["batch_stats", "aux_logits"], rngs=rngs
        )

    logits, state = jax.eval_shape(train, variables, small, {"dropout": KEY})
    assert logits.shape == (2, classes) and logits.dtype == jnp.bfloat16
    assert ("batch_stats" in state) == (name in HAS_BATCHNORM)  # updated in training
    aux = {k: [a.shape for a in v] for k, v in state.get("aux_logits", {}).items()}
    assert aux == ({"aux1": [(2, classes)], "aux2": [(2, classes)]} if name == "googlenet" else {})
    if name in HAS_DROPOUT:  # dropout draws from the "dropout" rng only in training
        with pytest.raises(Exception, match="dropout"):
            jax.eval_shape(train, variables, small, {})

    # One pixel less: a clear error naming the minimum, before anything is traced further.
    tiny = jnp.zeros((1, size - 1, size - 1, channels))
    with pytest.raises(ValueError, match=f"at least {size}x{size}"):
        model.init(KEY, tiny)
    with pytest.raises(ValueError, match=f"at least {size}x{size}"):
        models.check_input_shape(name, (size - 1, size - 1, channels))


def test_unknown_name_lists_the_models():
    with pytest.raises(ValueError, match="resnet50.*vgg16") as error:
        models.create_model("resnet51")
    assert "'resnet51'" in str(error.value)


def test_bad_override_is_named():
    with pytest.raises(ValueError, match="widht"):
        models.create_model("resnet20", widht=3)


def test_cifar_resnets_round_to_the_papers_table6():
    """He et al. 2016, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M parameters (option A)."""
    for depth, millions in ((20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)):
        digits = 1 if depth == 110 else 2
        assert round(cifar_resnet_params(depth, 10) / 1e6, digits) == millions


def test_efficientnet_lite_counts_round_to_the_published_ones():
    for lite, millions in LITE_PUBLISHED_MILLIONS.items():
        classes, params = expected_params(f"efficientnet_lite{lite}")
        assert round(params / 1e6, 2) == millions


@pytest.mark.parametrize("lite", [2, 4])  # widths x1.1 and x1.4, depths x1.2 and x1.8
def test_scaled_efficientnet_lites(lite):
    """Lite1-4 are not registered (one zoo test of the five is enough); their exact counts."""
    model = efficientnet.efficientnet_lite(f"efficientnet_lite{lite}")
    variables = jax.eval_shape(model.init, KEY, jnp.zeros((1, 32, 32, 3)))  # count: any size
    assert count(variables["params"]) == expected_params(f"efficientnet_lite{lite}")[1]
    assert efficientnet.LITE[f"efficientnet_lite{lite}"][2] == LITE_SCALING[lite][2]


def test_unknown_efficientnet_lite_names_the_five():
    with pytest.raises(ValueError, match=r"'efficientnet_lite5'; accepted are efficientnet_lite0,"):
        efficientnet.efficientnet_lite("efficientnet_lite5")


def test_headless_mobile_networks_return_pooled_features():
    """num_classes=0: no classifier, the pooled 1280-d features (what pretrained.load gives)."""
    for name, table in (("mobilenet_v2", MOBILENET_V2_TABLE2), ("efficientnet_lite0", B0)):
        model = models.create_model(name, num_classes=0)
        variables = jax.eval_shape(model.init, KEY, jnp.zeros((2, 32, 32, 3)))
        assert "fc" not in variables["params"]
        assert count(variables["params"]) == mobile_params(table, 0)
        assert jax.eval_shape(model.apply, variables, jnp.zeros((2, 32, 32, 3))).shape == (2, 1280)


def test_resnet20_projection_shortcuts_match_the_benchmark():
    model = models.create_model("resnet20", num_classes=10, shortcut="B")
    variables = jax.eval_shape(model.init, KEY, jnp.zeros((1, 32, 32, 3)))
    assert count(variables["params"]) == cifar_resnet_params(20, 10, "B") == 272_474
