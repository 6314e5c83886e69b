"""torchvision state_dicts onto the classic zoo: every tensor name and shape, written out here
from torchvision's model definitions (not from cnnjax's), must convert with nothing missing or
left over; torchvision's GoogLeNet (a BatchNorm variant) is refused with the differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from torchfiles import write_zip

from cnnjax import models
from cnnjax.pretrained import WeightMismatchError, convert
from cnnjax.pretrained.torchvision import TORCHVISION_MODELS, load_torchvision, torchvision_layout


def zeros(*shape):
    return np.broadcast_to(np.float32(0), shape)  # shapes only: no memory


def conv(name, out, cin, k, bias=True):
    return {f"{name}.weight": zeros(out, cin, k, k)} | (
        {f"{name}.bias": zeros(out)} if bias else {}
    )


def bn(name, c):
    stats = {f"{name}.{s}": zeros(c) for s in ("weight", "bias", "running_mean", "running_var")}
    return stats | {f"{name}.num_batches_tracked": np.zeros((), np.int64)}


def linear(name, out, cin):
    return {f"{name}.weight": zeros(out, cin), f"{name}.bias": zeros(out)}


def alexnet():
    sd = conv("features.0", 64, 3, 11) | conv("features.3", 192, 64, 5)
    sd |= conv("features.6", 384, 192, 3) | conv("features.8", 256, 384, 3)
    sd |= conv("features.10", 256, 256, 3) | linear("classifier.1", 4096, 256 * 6 * 6)
    return sd | linear("classifier.4", 4096, 4096) | linear("classifier.6", 1000, 4096)


VGG_CFGS = {  # torchvision.models.vgg.cfgs
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"]
    + [512] * 4
    + ["M"]
    + [512] * 4
    + ["M"],
}


def vgg(depth, batch_norm):
    sd, cin, i = {}, 3, 0
    for v in VGG_CFGS[depth]:
        if v == "M":
            i += 1
            continue
        sd |= conv(f"features.{i}", v, cin, 3)
        if batch_norm:
            sd |= bn(f"features.{i + 1}", v)
        i, cin = i + (3 if batch_norm else 2), v
    sd |= linear("classifier.0", 4096, 512 * 7 * 7) | linear("classifier.3", 4096, 4096)
    return sd | linear("classifier.6", 1000, 4096)


RESNETS = {18: (1, [2, 2, 2, 2]), 34: (1, [3, 4, 6, 3]), 50: (4, [3, 4, 6, 3])}
RESNETS |= {101: (4, [3, 4, 23, 3]), 152: (4, [3, 8, 36, 3])}


def resnet(depth):
    expansion, blocks = RESNETS[depth]
    sd, inplanes = conv("conv1", 64, 3, 7, bias=False) | bn("bn1", 64), 64
    for layer, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks, strict=True), 1):
        for b in range(n):
            p, stride = f"layer{layer}.{b}", 2 if layer > 1 and b == 0 else 1
            if expansion == 1:
                sd |= conv(f"{p}.conv1", planes, inplanes, 3, False) | bn(f"{p}.bn1", planes)
                sd |= conv(f"{p}.conv2", planes, planes, 3, False) | bn(f"{p}.bn2", planes)
            else:
                sd |= conv(f"{p}.conv1", planes, inplanes, 1, False) | bn(f"{p}.bn1", planes)
                sd |= conv(f"{p}.conv2", planes, planes, 3, False) | bn(f"{p}.bn2", planes)
                sd |= conv(f"{p}.conv3", planes * 4, planes, 1, False) | bn(f"{p}.bn3", planes * 4)
            if stride != 1 or inplanes != planes * expansion:
                sd |= conv(f"{p}.downsample.0", planes * expansion, inplanes, 1, False)
                sd |= bn(f"{p}.downsample.1", planes * expansion)
            inplanes = planes * expansion
    return sd | linear("fc", 1000, 512 * expansion)


def basic_conv(name, out, cin, k):  # torchvision.models.googlenet.BasicConv2d
    return conv(f"{name}.conv", out, cin, k, bias=False) | bn(f"{name}.bn", out)


def googlenet():
    sd = basic_conv("conv1", 64, 3, 7) | basic_conv("conv2", 64, 64, 1)
    sd |= basic_conv("conv3", 192, 64, 3)
    blocks = {"3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64)}
    blocks |= {"4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64)}
    blocks |= {"4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64)}
    blocks |= {"4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128)}
    blocks["5b"] = (832, 384, 192, 384, 48, 128, 128)
    for key, (cin, c1, r3, c3, r5, c5, proj) in blocks.items():
        p = f"inception{key}"
        sd |= basic_conv(f"{p}.branch1", c1, cin, 1) | basic_conv(f"{p}.branch2.0", r3, cin, 1)
        sd |= basic_conv(f"{p}.branch2.1", c3, r3, 3) | basic_conv(f"{p}.branch3.0", r5, cin, 1)
        sd |= basic_conv(f"{p}.branch3.1", c5, r5, 3)  # torchvision's known 3x3 "5x5" branch
        sd |= basic_conv(f"{p}.branch4.1", proj, cin, 1)
    for n, cin in ((1, 512), (2, 528)):
        sd |= basic_conv(f"aux{n}.conv", 128, cin, 1) | linear(f"aux{n}.fc1", 1024, 2048)
        sd |= linear(f"aux{n}.fc2", 1000, 1024)
    return sd | linear("fc", 1000, 1024)


def torchvision_state_dict(name):
    if name == "alexnet_v2":
        return alexnet()
    if name.startswith("vgg"):
        return vgg(int(name.removesuffix("_bn")[3:]), name.endswith("_bn"))
    if name.startswith("resnet"):
        return resnet(int(name[6:]))
    return googlenet()


def template(name):
    model = models.create_model(name, num_classes=1000)
    x = jnp.zeros((1, *models.get_model_spec(name).input_shape))
    return jax.eval_shape(model.init, jax.random.key(0), x)


# One of each code path (the deeper ResNets and VGGs differ only in repeats: ~25 s more).
REPRESENTATIVE = ["alexnet_v2", "vgg11", "vgg19_bn", "resnet34", "resnet50"]
assert set(REPRESENTATIVE) < set(TORCHVISION_MODELS)


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_every_tensor_finds_its_place(name):
    layout, chw = torchvision_layout(name)
    variables = convert(torchvision_state_dict(name), template(name), layout, chw_channels=chw)
    shapes = jax.tree.map(lambda a: a.shape, variables)
    assert shapes == jax.tree.map(lambda a: a.shape, template(name))


def test_torchvision_googlenet_is_refused_with_its_differences():
    layout, chw = torchvision_layout("googlenet")
    with pytest.raises(WeightMismatchError) as error:
        convert(googlenet(), template("googlenet"), layout, chw_channels=chw)
    message = str(error.value)
    assert "missing (59): conv1.conv.bias" in message  # 9 x 6 inception + 3 stem + 2 aux convs
    assert "unexpected (" in message and "conv1.bn.running_mean" in message
    assert "wrong shape (9): inception3a.branch3.1.conv.weight: shape (32, 16, 3, 3)" in message


def test_load_torchvision_reports_a_wrong_file(tmp_path):
    path = tmp_path / "resnet18.pth"
    write_zip(path, {"fc.weight": np.zeros((10, 512), np.float32)})
    with pytest.raises(WeightMismatchError, match=r"missing \(\d+\): conv1.weight.*wrong shape"):
        load_torchvision("resnet18", str(path))
    with pytest.raises(ValueError, match="no torchvision layout for 'resnet20'.*resnet18"):
        torchvision_layout("resnet20")
