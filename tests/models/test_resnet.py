"""ResNet's blocks against He et al. (2016): option A and B shortcuts (§3.3, §4.2), the
bottleneck's strided 3x3 (torchvision's layout), BatchNorm after every convolution, and
zero-initialised residual branches (Goyal et al., 2017)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models
from cnnjax.models import resnet

# Unrolled threefry makes `jit(init)` slow to compile on CPU (12 s for ResNet-20); rbg is fast.
KEY = jax.random.key(0, impl="unsafe_rbg")


def normal(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def test_option_a_subsamples_and_zero_pads():
    """With a zero-initialised residual branch a block is relu(shortcut(x)): for option A that
    is x[::2, ::2] with the 16 new channels zero, 8 on each side."""
    block = resnet.BasicBlock(32, strides=2, shortcut="A", zero_init_residual=True)
    x = normal((2, 8, 8, 16))
    variables = jax.jit(lambda x: block.init(KEY, x, False))(x)
    assert "proj_conv" not in variables["params"]
    y = block.apply(variables, x, False)
    expected = np.zeros((2, 4, 4, 32), np.float32)
    expected[..., 8:24] = np.maximum(np.asarray(x)[:, ::2, ::2, :], 0)
    np.testing.assert_allclose(y, expected, atol=1e-6)


def test_option_b_projects_with_a_strided_1x1_convolution_and_bn():
    block = resnet.BasicBlock(32, strides=2, shortcut="B")
    variables = jax.eval_shape(lambda x: block.init(KEY, x, False), jnp.zeros((1, 8, 8, 16)))
    assert variables["params"]["proj_conv"]["kernel"].shape == (1, 1, 16, 32)
    assert set(variables["params"]["proj_bn"]) == {"scale", "bias"}


def test_bottleneck_strides_in_its_3x3_convolution():
    """torchvision's ResNet v1.5: 1x1 at full size, 3x3 with stride 2, 1x1 expanding to 4x."""
    block = resnet.Bottleneck(128, strides=2)
    x = jnp.zeros((1, 16, 16, 256))
    variables = jax.eval_shape(lambda x: block.init(KEY, x, False), x)
    _, state = jax.eval_shape(
        lambda v, x: block.apply(v, x, False, capture_intermediates=True, mutable=True),
        variables,
        x,
    )
    shapes = {
        k: v["__call__"][0].shape for k, v in state["intermediates"].items() if k != "__call__"
    }
    assert shapes["conv1"] == (1, 16, 16, 128)
    assert shapes["conv2"] == (1, 8, 8, 128)
    assert shapes["conv3"] == shapes["proj_conv"] == (1, 8, 8, 512)


def test_every_convolution_is_followed_by_batchnorm_and_has_no_bias():
    model = models.create_model("resnet50")
    params = jax.eval_shape(model.init, KEY, jnp.zeros((1, 32, 32, 3)))["params"]
    flat = {"/".join(k.key for k in path): leaf for path, leaf in jax.tree.leaves_with_path(params)}
    convs = {p.rsplit("/", 1)[0] for p in flat if p.endswith("kernel") and "conv" in p}
    assert len(convs) == 53  # 1 + 16 blocks x 3 + 4 projections
    for conv in convs:
        assert conv + "/bias" not in flat
        assert conv.replace("conv", "bn") + "/scale" in flat


def test_zero_initialised_residuals_make_identity_blocks():
    """With the last BN of each branch at 0, an identity block passes its (non-negative) input
    through unchanged: every block of the first stage outputs conv1's activation."""
    model = models.create_model(
        "resnet20", num_classes=10, zero_init_residual=True, stage_sizes=(3, 1, 1)
    )
    x = normal((2, 8, 8, 3))
    acts = jax.jit(lambda x: models.intermediates(model, model.init(KEY, x), x))(x)
    for b in (1, 2, 3):
        np.testing.assert_allclose(acts[f"stage2/block{b}"], acts["conv1"], atol=1e-6)
    assert float(jnp.abs(acts["conv1"]).max()) > 0


def test_unknown_shortcut_or_stem_is_named():
    for kwargs in ({"shortcut": "C"}, {"stem": "tiny"}):
        model = models.create_model("resnet20", **kwargs)
        with pytest.raises(ValueError, match="accepted"):
            model.init(KEY, jnp.zeros((1, 32, 32, 3)))


def test_convolutions_are_initialised_as_he_et_al_2015():
    """N(0, 2 / n) with n = k^2 c the fan-in (He et al. 2015, §2.2), as §3.4 cites."""
    block = resnet.BasicBlock(64, shortcut="B", strides=2)
    params = jax.jit(lambda x: block.init(KEY, x, False))(jnp.zeros((1, 8, 8, 32)))["params"]
    for name, fan_in in (("conv1", 9 * 32), ("conv2", 9 * 64), ("proj_conv", 32)):
        w = np.asarray(params[name]["kernel"])
        assert abs(w.mean()) < 0.1 * w.std(), name
        assert w.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.1), name
