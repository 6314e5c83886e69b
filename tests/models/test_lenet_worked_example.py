"""The survey's classic worked example, run through LeNet-5's own first convolution.

5x5 image * 3x3 "X" filter (cross-correlation, VALID) = [[4,3,4],[2,4,3],[2,3,4]]. LeNet's conv1 is
5x5 with padding 2, so the 3x3 filter sits in the centre of a zero 5x5 kernel and the image in
the corner of a zero 28x28 input: the conv1 activations over the image's interior are the map.
"""

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import models
from cnnjax.models import layers

IMAGE = np.array(
    [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]],
    np.float32,
)
FILTER = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.float32)
EXPECTED = np.array([[4, 3, 4], [2, 4, 3], [2, 3, 4]], np.float32)


def test_conv_layer_gives_the_worked_example():
    conv = layers.Conv(1, 3, padding="VALID", use_bias=False)
    variables = {"params": {"kernel": jnp.asarray(FILTER)[:, :, None, None]}}
    out = conv.apply(variables, jnp.asarray(IMAGE)[None, :, :, None])
    np.testing.assert_array_equal(np.asarray(out)[0, :, :, 0], EXPECTED)


def test_lenet5_conv1_gives_the_worked_example():
    model = models.create_model("lenet5", num_classes=10)
    x = np.zeros((1, 28, 28, 1), np.float32)
    x[0, 4:9, 4:9, 0] = IMAGE
    variables = model.init(jax.random.key(0), jnp.asarray(x))
    params = jax.tree.map(jnp.zeros_like, variables["params"])
    kernel = np.zeros((5, 5, 1, 6), np.float32)
    kernel[1:4, 1:4, 0, 0] = FILTER
    params["conv1"]["kernel"] = jnp.asarray(kernel)
    acts = models.intermediates(model, {"params": params}, jnp.asarray(x))
    # Output (i, j) of a padding-2 5x5 conv is centred on input (i, j): the VALID map's (0, 0)
    # is centred on image pixel (1, 1), i.e. input (5, 5).
    np.testing.assert_array_equal(np.asarray(acts["conv1"])[0, 5:8, 5:8, 0], EXPECTED)
    assert not np.asarray(acts["conv1"])[0, :, :, 1:].any()  # the other five filters are zero
