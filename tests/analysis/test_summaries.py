"""`summary` against the real models: flax's own record of every module output, the real
parameter count, hand-worked LeNet-5, published numbers, and gradient supports."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.analysis import conv_params, format_summary, summary
from cnnjax.analysis.summaries import default_num_classes
from cnnjax.models import create_model, get_model_spec, layers, list_models
from cnnjax.models.intermediates import record

MODELS = list_models()  # at collection time: every registered model is covered


@functools.cache
def _reference(name):
    """(params, other variables, module outputs, recorded activations) from flax itself.

    One `init` with `capture_intermediates` (shapes only): flax stores every module call's
    output under the module's path, and `record` the paper-named activations.
    """
    model = create_model(name, num_classes=default_num_classes(name))
    x = jax.ShapeDtypeStruct((1, *get_model_spec(name).input_shape), jnp.float32)
    init = lambda k, x: model.init_with_output(k, x, capture_intermediates=True, mutable=True)
    logits, variables = jax.eval_shape(init, jax.random.key(0), x)
    variables = dict(variables)
    captured = variables.pop("intermediates")
    recorded = {"logits": logits.shape[1:]}

    def collect(tree, prefix):
        for key, value in tree.items():
            if key == "activations":
                recorded.update({"/".join((*prefix, k)): v.shape[1:] for k, v in value.items()})
            elif isinstance(value, dict):
                collect(value, (*prefix, key))

    collect(captured, ())
    return variables.pop("params"), variables, captured, recorded


def _count(tree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))


def _at(tree, path: str):
    for key in path.split("/") if path else []:
        tree = tree[key]
    return tree


@pytest.mark.parametrize("name", MODELS)
def test_totals_equal_the_real_parameter_count(name):
    params, others, _, _ = _reference(name)
    s = summary(name)
    assert s.total_params == _count(params)
    assert s.state == _count(others)  # e.g. BatchNorm statistics


@pytest.mark.parametrize("name", MODELS)
def test_unused_rows_are_modules_inference_never_calls(name):
    s = summary(name)
    unused = [r.module for r in s.rows if r.kind == "unused"]
    if not unused:  # the usual case (GoogLeNet's auxiliary classifiers run only in training)
        return
    params, others, _, _ = _reference(name)
    model = create_model(name, num_classes=default_num_classes(name))
    x = jax.ShapeDtypeStruct((1, *get_model_spec(name).input_shape), jnp.float32)
    apply = lambda v, x: model.apply(v, x, capture_intermediates=True, mutable=["intermediates"])
    _, state = jax.eval_shape(apply, {"params": params, **others}, x)
    for path in unused:  # flax captured no output for them at inference
        with pytest.raises(KeyError):
            _at(state["intermediates"], path)
        assert _count(_at(params, path)) == next(r.params for r in s.rows if r.module == path)


@pytest.mark.parametrize("name", MODELS)
def test_rows_have_the_shapes_of_the_real_model(name):
    params, _, captured, recorded = _reference(name)
    s = summary(name)
    checked = 0
    for row in s.rows:
        if row.params and row.kind != "unused":  # a module's own output, as flax captured it
            assert _at(captured, row.module)["__call__"][0].shape[1:] == row.output_shape, row
            checked += 1
        for act in row.recorded_as:  # a recorded activation this row produces
            assert recorded[act] == row.output_shape, (row, act)
            checked += 1
        own = _at(params, row.module) if row.params else {}
        if row.kind in ("conv", "dense") and "kernel" in own:  # formulas vs the real kernel
            kernel = own["kernel"].shape  # (*window, C_in / groups, C_out)
            bias = "bias" in own
            assert row.params == conv_params(kernel[:-2] or 1, kernel[-2], kernel[-1], bias)
            assert row.flops == 2 * int(np.prod(row.output_shape)) * int(np.prod(kernel[:-1]))
    assert checked >= len([r for r in s.rows if r.kind in ("conv", "dense")])
    for act, (shape, _) in s.activations.items():  # every recorded activation, and the logits
        assert shape == recorded[act], act


@pytest.mark.parametrize("name", MODELS)
def test_table_lists_every_row(name):
    s = summary(name)
    text = format_summary(s)
    assert text.startswith(f"{name} on {'x'.join(map(str, s.input_shape))} inputs")
    for row in s.rows:
        assert row.name in text
    assert f"total {s.total_params:,}" in " ".join(text.split())


def test_lenet5_by_hand():
    s = summary("lenet5")
    table = [(r.name, r.kind, r.output_shape, r.params, r.flops, r.rf_size, r.jump) for r in s.rows]
    assert table == [
        ("conv1", "conv", (28, 28, 6), 6 * (5 * 5 + 1), 2 * 28 * 28 * 6 * 25, (5, 5), (1, 1)),
        ("pool1", "max_pool", (14, 14, 6), 0, 0, (6, 6), (2, 2)),
        ("conv2", "conv", (10, 10, 16), 16 * (5 * 5 * 6 + 1), 2 * 1600 * 150, (14, 14), (2, 2)),
        ("pool2", "max_pool", (5, 5, 16), 0, 0, (16, 16), (4, 4)),
        ("fc1", "dense", (120,), 400 * 120 + 120, 2 * 400 * 120, None, None),
        ("fc2", "dense", (84,), 120 * 84 + 84, 2 * 120 * 84, None, None),
        ("logits", "dense", (10,), 84 * 10 + 10, 2 * 84 * 10, None, None),
    ]  # fmt: skip
    assert s.total_params == 61_706 and s.rows[4].receptive_field == "global"
    assert s.rows[0].receptive_field[0].start == -2  # padding 2: unit 0 starts 2 pixels out


# torchvision's model table (num_params, GFLOPS = 10^9 multiply-adds) and Araujo et al. (2019,
# Distill, Table 1) receptive fields of the last feature map.
PUBLISHED = {
    "alexnet_v2": (61_100_840, 0.71, 195),
    "vgg11": (132_863_336, 7.61, 150),
    "vgg16": (138_357_544, 15.47, 212),
    "vgg16_bn": (138_365_992, 15.47, 212),
    "vgg19": (143_667_240, 19.63, None),
    "resnet18": (11_689_512, 1.81, None),
    "resnet34": (21_797_672, 3.66, None),
    "resnet50": (25_557_032, 4.09, None),
    "resnet101": (44_549_160, 7.8, None),
    "resnet152": (60_192_808, 11.51, None),
}
# He et al. (2016), Table 6: parameters of the CIFAR-10 ResNets, in millions, as printed.
CIFAR = {"resnet20": "0.27", "resnet32": "0.46", "resnet44": "0.66", "resnet56": "0.85",
         "resnet110": "1.7"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(set(PUBLISHED) & set(MODELS)))
def test_published_imagenet_numbers(name):
    params, gflops, rf = PUBLISHED[name]
    s = summary(name)
    assert s.total_params == params
    assert round(s.total_flops / 2e9, 2) == gflops
    if rf is not None:
        last = [r for r in s.rows if r.kind == "max_pool"][-1]
        assert last.rf_size == (rf, rf)


@pytest.mark.parametrize("name", sorted(set(CIFAR) & set(MODELS)))
def test_published_cifar_resnet_sizes(name):
    s = summary(name)
    head = s.rows[-1]  # the dense classifier, here 1000-way: swap in the 10-way one
    features = s.rows[-2].output_shape[-1]
    assert head.params == features * 1000 + 1000
    ten_way = s.total_params - head.params + features * 10 + 10
    digits = len(CIFAR[name].split(".")[1])
    assert f"{ten_way / 1e6:.{digits}f}" == CIFAR[name]


ones = nn.initializers.ones_init()


class Branches(nn.Module):
    """Two branches of different shapes merged by a sum, then a strided dilated conv."""

    @nn.compact
    def __call__(self, x, *, train=False):
        conv = lambda *a, **k: layers.Conv(*a, kernel_init=ones, **k)
        x = conv(2, 3, padding="VALID")(x)  # RF 3
        x = layers.avg_pool(x, 2)  # RF 4, jump 2
        a = conv(2, 3, padding=1, name="a")(x)  # RF 8 x 8
        b = conv(2, (1, 5), padding=((0, 0), (2, 2)), name="b")(x)  # RF 4 x 12
        y = record(self, "merged", a + b)  # the union: 8 x 12
        y = record(self, "out", conv(2, 3, strides=2, dilation=2, padding="VALID")(y))
        return nn.Dense(3)(y.reshape(y.shape[0], -1))


def test_receptive_fields_are_the_gradient_support_of_a_branching_model():
    # All-ones kernels on an all-ones input: no gradient cancels, so the support of the
    # gradient of a unit is exactly its receptive field, clipped to the 40x40 image.
    model, shape = Branches(), (40, 40, 1)
    s = summary(model, shape)
    units = [("merged", 9, 9), ("merged", 0, 0), ("out", 3, 4)]

    def values(x):
        _, state = model.apply(variables, x, mutable="intermediates")
        acts = state["intermediates"]["activations"]
        return jnp.stack([acts[a][0, i, j].sum() for a, i, j in units])

    x = jnp.ones((1, *shape))
    variables = jax.jit(model.init)(jax.random.key(0), x)
    jacobian = np.asarray(jax.jit(jax.jacrev(values))(x))[:, 0, ..., 0]  # (units, 40, 40)
    for (act, i, j), grad in zip(units, jacobian, strict=True):
        rf = s.activations[act][1]
        (top, bottom), (left, right) = rf[0].window(i), rf[1].window(j)
        support = np.argwhere(grad != 0)
        expected = [[max(top, 0), max(left, 0)], [min(bottom, 39), min(right, 39)]]
        assert [support.min(0).tolist(), support.max(0).tolist()] == expected, (act, i, j)
    assert [r.rf_size for r in s.rows if r.kind == "conv"] == [(3, 3), (8, 8), (4, 12), (16, 20)]
    assert s.activations["merged"][1][1].size == 12  # the wider branch wins along W


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("no_such_model",), {}, "registered models are: .*lenet5"),
        (("lenet5", (8, 8, 1)), {}, "at least"),
        (("lenet5", (28, -1, 1)), {}, "positive ints"),
        (("lenet5", "28x28"), {}, "positive ints"),
        ((object(),), {}, "registered name or a flax.linen.Module"),
        ((Branches(),), {}, "input_shape=.*required"),
    ],
)
def test_bad_input_raises_one_clear_error(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        summary(*args, **kwargs)


def test_default_class_counts_follow_the_factories():
    assert default_num_classes("lenet5") == 10
    assert summary("lenet5", num_classes=3).rows[-1].output_shape == (3,)
