"""LeNet-5 (LeCun et al., 1998, "Gradient-based learning applied to document recognition").

`LeNet5` is the modern variant: 28x28x1 input, ReLU, max-pooling, C1-C3-F5-F6-output with
6-16-120-84-10 units (61,706 parameters at 10 classes).

`LeNet5Classic` is the network of the paper (§II-B): 32x32 input, the squashing function
f(a) = 1.7159 tanh(2a/3) (sigmoid as an option), trainable subsampling (sum of each 2x2
window times one coefficient plus one bias per map), and C3's partial connection table
(Table I). C1-F6 hold exactly the paper's 60,000 trainable parameters. The paper's output
layer is 10 Euclidean RBF units whose parameter vectors are hand-drawn 7x12 bitmaps, kept fixed:
`output="rbf"` (`lenet_rbf.py`, with our drawing of the bitmaps). By default, `output="dense"`,
a trainable dense layer instead (85 x num_classes more parameters: 850 at 10 classes).
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import choices
from cnnjax.models import layers, lenet_rbf
from cnnjax.models.intermediates import record
from cnnjax.models.registry import register_model

# LeCun et al. (1998), Table I: the S2 maps each C3 map takes its input from. Maps 0-5 see
# contiguous triples, 6-11 contiguous quadruples, 12-14 discontinuous quadruples, 15 all six.
C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip


def scaled_tanh(x: jax.Array) -> jax.Array:
    """The paper's squashing function 1.7159 tanh(2x/3) (Appendix A): f(±1) = ±1."""
    return 1.7159 * jnp.tanh(2.0 / 3.0 * x)


_ACTIVATIONS = {"scaled_tanh": scaled_tanh, "sigmoid": nn.sigmoid}
OUTPUTS = ("dense", "rbf")


def check_options(activation: str, output: str, num_classes: int) -> None:
    """Raises one ValueError naming a bad `activation` or `output` and the accepted values."""
    choices.check("LeNet-5 activation", activation, sorted(_ACTIVATIONS))
    choices.check("LeNet-5 output", output, OUTPUTS)
    if output == "rbf" and num_classes != len(lenet_rbf.DIGIT_BITMAPS):
        raise ValueError(
            f'output="rbf" has one fixed code per digit, so num_classes must be '
            f'{len(lenet_rbf.DIGIT_BITMAPS)}, got {num_classes}; use output="dense"'
        )


def paper_uniform(fan_in: int | None = None):
    """Appendix A's initialisation: U(-2.4 / F, 2.4 / F), F the fan-in of the unit.

    Args:
      fan_in: fixed fan-in; by default the product of all but the last kernel dimension.
    """

    def init(key, shape, dtype=jnp.float32):
        fan = fan_in or int(np.prod(shape[:-1]))
        return jax.random.uniform(key, shape, dtype, -2.4 / fan, 2.4 / fan)

    return init


class LeNet5(nn.Module):
    """Modern LeNet-5. Input (B, 28, 28, C) → logits (B, num_classes).

    Records `conv1` (28x28x6), `pool1` (14x14x6), `conv2` (10x10x16), `pool2` (5x5x16),
    `fc1` (120) and `pre_logits` (84) at 28x28.
    """

    num_classes: int = 10
    dtype: Any = jnp.float32

    @property
    def min_input_size(self) -> int:
        return layers.smallest_input([(5, 1, 2), (2, 2, 0), (5, 1, 0), (2, 2, 0)])

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        del train  # no dropout or BatchNorm in LeNet-5
        layers.check_input_size(x, self.min_input_size, "LeNet5")
        conv = lambda f, k, p, name: layers.Conv(f, k, padding=p, dtype=self.dtype, name=name)
        x = record(self, "conv1", nn.relu(conv(6, 5, 2, "conv1")(x)))  # (B, 28, 28, 6)
        x = record(self, "pool1", layers.max_pool(x, 2))  # (B, 14, 14, 6)
        x = record(self, "conv2", nn.relu(conv(16, 5, 0, "conv2")(x)))  # (B, 10, 10, 16)
        x = record(self, "pool2", layers.max_pool(x, 2))  # (B, 5, 5, 16)
        x = x.reshape(x.shape[0], -1)  # (B, 400)
        x = record(self, "fc1", nn.relu(nn.Dense(120, dtype=self.dtype, name="fc1")(x)))
        x = record(self, "pre_logits", nn.relu(nn.Dense(84, dtype=self.dtype, name="fc2")(x)))
        return nn.Dense(self.num_classes, dtype=self.dtype, name="logits")(x)


class Subsampling(nn.Module):
    """LeNet's S-layer: f(coefficient * (sum of each 2x2 window) + bias), one pair per map.

    (B, H, W, C) → (B, H/2, W/2, C); 2C trainable parameters.
    """

    activation: Any
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        coefficient = self.param("coefficient", paper_uniform(4), (channels,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (channels,), jnp.float32)
        window_sum = 4.0 * layers.avg_pool(x, 2)  # the four inputs "are added"
        return self.activation(
            window_sum * coefficient.astype(self.dtype) + bias.astype(self.dtype)
        )


class PartialConv(nn.Module):
    """C3: a 'valid' convolution in which output map j sees only the input maps `table[j]`.

    Only the connected 5x5 filters are parameters — `connections` (K, K, pairs), one column per
    (input map, output map) pair in table order, 1,500 for Table I — plus one `bias` per output
    map. They are scattered into a dense (K, K, C_in, C_out) kernel for one convolution: on CPU,
    XLA runs that 80x faster (per training step) than grouped convolutions per fan-in.
    """

    table: tuple[tuple[int, ...], ...]
    kernel_size: int = 5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        outputs = np.concatenate([[j] * len(sources) for j, sources in enumerate(self.table)])
        inputs = np.concatenate(self.table)
        fan_in = np.asarray([k * k * len(self.table[j]) for j in outputs], np.float32)

        def init(key, shape, dtype=jnp.float32):  # paper_uniform with each output map's fan-in
            bound = 2.4 / fan_in
            return jax.random.uniform(key, shape, dtype, -1.0, 1.0) * bound

        kernel = self.param("connections", init, (k, k, len(inputs)), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (len(self.table),), jnp.float32)
        dense = jnp.zeros((k, k, x.shape[-1], len(self.table)), self.dtype)
        dense = dense.at[:, :, inputs, outputs].set(kernel.astype(self.dtype))
        y = layers.conv(x.astype(self.dtype), dense, padding="VALID")
        return y + bias.astype(self.dtype)


class LeNet5Classic(nn.Module):
    """LeNet-5 as in LeCun et al. (1998). Input (B, 32, 32, C) → logits (B, num_classes).

    Records `C1` (28x28x6), `S2` (14x14x6), `C3` (10x10x16), `S4` (5x5x16), `C5` (1x1x120) and
    `pre_logits` (F6, 84) at 32x32; every one after the squashing function.

    Attributes:
      activation: "scaled_tanh" (the paper's 1.7159 tanh(2a/3)) or "sigmoid".
      output: "dense" (a trainable dense layer) or "rbf" (the paper's 10 Euclidean RBF units
        with fixed ±1 codes, §II-B; logits = −y, so argmax of the logits is the paper's argmin
        of y, and softmax cross-entropy on them is eq. 9 without the e^{−j} term). "rbf" needs
        num_classes = 10; its codes are a constant, not a parameter.
      rbf_j: the positive constant j of eq. 9 with `output="rbf"`: the engine trains on
        log(e^{−j} + Σ_i e^{−y_i}) + y_D (`reject_logit`); None: j → ∞.
    """

    num_classes: int = 10
    activation: str = "scaled_tanh"
    output: str = "dense"
    rbf_j: float | None = None
    dtype: Any = jnp.float32

    @property
    def reject_logit(self) -> float | None:
        """The loss's constant extra logit −j (eq. 9) for the RBF output, else None."""
        if self.output != "rbf" or self.rbf_j is None:
            return None
        return -float(self.rbf_j)

    @property
    def min_input_size(self) -> int:
        return layers.smallest_input([(5, 1, 0), (2, 2, 0)] * 2 + [(5, 1, 0)])

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        del train  # no dropout or BatchNorm
        check_options(self.activation, self.output, self.num_classes)
        layers.check_input_size(x, self.min_input_size, "LeNet5Classic")
        f = _ACTIVATIONS[self.activation]
        conv = functools.partial(
            layers.Conv,
            kernel_size=5,
            padding="VALID",
            dtype=self.dtype,
            kernel_init=paper_uniform(),
        )
        x = record(self, "C1", f(conv(6, name="C1")(x)))  # (B, 28, 28, 6)
        x = record(self, "S2", Subsampling(f, self.dtype, name="S2")(x))  # (B, 14, 14, 6)
        x = record(self, "C3", f(PartialConv(C3_TABLE, dtype=self.dtype, name="C3")(x)))
        x = record(self, "S4", Subsampling(f, self.dtype, name="S4")(x))  # (B, 5, 5, 16)
        x = record(self, "C5", f(conv(120, name="C5")(x)))  # (B, 1, 1, 120)
        x = x.reshape(x.shape[0], -1)  # (B, 120)
        dense = functools.partial(nn.Dense, dtype=self.dtype, kernel_init=paper_uniform())
        x = record(self, "pre_logits", f(dense(84, name="F6")(x)))  # (B, 84)
        if self.output == "rbf":  # fixed codes: a constant, so no parameter and no gradient
            return -lenet_rbf.rbf_distances(x, jnp.asarray(lenet_rbf.digit_codes()))  # (B, 10)
        return dense(self.num_classes, name="output")(x)


@register_model("lenet5", input_shape=(28, 28, 1), min_input_size=12)
def lenet5(num_classes: int = 10, **kwargs) -> nn.Module:
    return LeNet5(num_classes=num_classes, **kwargs)


@register_model("lenet5_classic", input_shape=(32, 32, 1), min_input_size=32)
def lenet5_classic(
    num_classes: int = 10, activation: str = "scaled_tanh", output: str = "dense", **kwargs
) -> nn.Module:
    check_options(activation, output, num_classes)  # at the door, before any trace
    return LeNet5Classic(num_classes=num_classes, activation=activation, output=output, **kwargs)
