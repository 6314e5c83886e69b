"""Which equations of a traced program are depthwise convolutions `cnnjax.ops.depthwise` computes.

The computation itself (sums of shifted, scaled copies of the input, which XLA:CPU runs an order
of magnitude faster than a grouped convolution) lives in `cnnjax.ops.depthwise`, where the CPU
path of every convolution uses it; `cnnjax.interpret.rewrite` swaps it in for the depthwise
convolutions of a traced program that still holds XLA's grouped convolution (e.g. a plain
`flax.linen.Conv`, or any model traced on the native path).
"""

from jax import lax

# NHWC input, HWIO kernel, NHWC output: flax's layout, as jax writes it in a jaxpr.
_FLAX_LAYOUT = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1),
                                        out_spec=(0, 3, 1, 2))  # fmt: skip


def is_depthwise(eqn) -> bool:
    """Whether a jaxpr equation is a depthwise convolution `cnnjax.ops.depthwise` computes:
    flax layout, one input channel per group, m >= 1 output channels per input channel, no
    input dilation."""
    if eqn.primitive.name != "conv_general_dilated":
        return False
    p = eqn.params
    lhs, rhs = eqn.invars[0].aval, eqn.invars[1].aval
    return (
        p["dimension_numbers"] == _FLAX_LAYOUT
        and p["batch_group_count"] == 1
        and all(d == 1 for d in p["lhs_dilation"])
        and len(lhs.shape) == 4
        and p["feature_group_count"] == lhs.shape[3] > 1
        and rhs.shape[2] == 1
        and rhs.shape[3] % lhs.shape[3] == 0
    )
