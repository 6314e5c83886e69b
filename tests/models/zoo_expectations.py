"""What every registered model should be, written out from the papers' tables (and
torchvision's published counts for its layouts), independently of the model code: parameter
counts recomputed from layer sizes, and the recorded activations with their shapes at each
model's registered input size."""


def conv(k: int, cin: int, cout: int, bias: bool = True, groups: int = 1) -> int:
    return k * k * (cin // groups) * cout + (cout if bias else 0)


def dense(cin: int, cout: int) -> int:
    return cin * cout + cout


# --- Expected parameter counts -------------------------------------------------------------

PUBLISHED = {  # (num_classes, count): the papers' and torchvision's published totals
    "lenet5": (10, 61_706),
    "lenet5_classic": (10, 60_000 + dense(84, 10)),  # LeCun 1998: C1-F6 = 60,000; dense output
    "alexnet": (1000, 60_965_224),
    "alexnet_v2": (1000, 61_100_840),
    "vgg11": (1000, 132_863_336),
    "vgg11_bn": (1000, 132_868_840),
    "vgg13": (1000, 133_047_848),
    "vgg13_bn": (1000, 133_053_736),
    "vgg16": (1000, 138_357_544),
    "vgg16_bn": (1000, 138_365_992),
    "vgg19": (1000, 143_667_240),
    "vgg19_bn": (1000, 143_678_248),
    "vgg16_cifar": (10, 14_728_266),  # ../shared/bench/torch_reference.py
    "resnet18": (1000, 11_689_512),
    "resnet34": (1000, 21_797_672),
    "resnet50": (1000, 25_557_032),
    "resnet101": (1000, 44_549_160),
    "resnet152": (1000, 60_192_808),
    "mobilenet_v2": (1000, 3_504_872),  # torchvision's published count
}


def alexnet_small_params(classes: int) -> int:
    """The survey's Keras layer list on 28x28x1 ('same' convs, three 2x2 pools → 3x3x1024)."""
    convs = conv(11, 1, 96) + conv(5, 96, 256) + conv(3, 256, 512)
    convs += conv(3, 512, 1024) + conv(3, 1024, 1024)
    return convs + dense(3 * 3 * 1024, 3072) + dense(3072, 4096) + dense(4096, classes)


def cifar_resnet_params(depth: int, classes: int, shortcut: str = "A") -> int:
    """He et al. 2016 §4.2: 3x3 conv (16) + 3 stages of n basic blocks, BN = 2 params/map."""
    n = (depth - 2) // 6
    total, cin = conv(3, 3, 16, bias=False) + 2 * 16, 16
    for width in (16, 32, 64):
        for _ in range(n):
            total += conv(3, cin, width, False) + conv(3, width, width, False) + 4 * width
            if shortcut == "B" and cin != width:
                total += conv(1, cin, width, False) + 2 * width
            cin = width
    return total + dense(64, classes)


# Szegedy et al. 2015, Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
GOOGLENET_TABLE1 = [
    (192, (64, 96, 128, 16, 32, 32)),  # 3a, with its input depth
    (256, (128, 128, 192, 32, 96, 64)),  # 3b
    (480, (192, 96, 208, 16, 48, 64)),  # 4a
    (512, (160, 112, 224, 24, 64, 64)),  # 4b
    (512, (128, 128, 256, 24, 64, 64)),  # 4c
    (512, (112, 144, 288, 32, 64, 64)),  # 4d
    (528, (256, 160, 320, 32, 128, 128)),  # 4e
    (832, (256, 160, 320, 32, 128, 128)),  # 5a
    (832, (384, 192, 384, 48, 128, 128)),  # 5b
]


def inception_params(cin: int, widths) -> int:
    n1, r3, n3, r5, n5, proj = widths
    return (
        conv(1, cin, n1)
        + conv(1, cin, r3)
        + conv(3, r3, n3)
        + conv(1, cin, r5)
        + conv(5, r5, n5)
        + conv(1, cin, proj)
    )


def googlenet_params(classes: int) -> int:
    stem = conv(7, 3, 64) + conv(1, 64, 64) + conv(3, 64, 192)
    modules = sum(inception_params(cin, widths) for cin, widths in GOOGLENET_TABLE1)
    # §5: on 4a (512 maps) and 4d (528 maps): 1x1 conv 128, dense 4x4x128 → 1024 → classes.
    aux = sum(conv(1, c, 128) + dense(4 * 4 * 128, 1024) + dense(1024, classes) for c in (512, 528))
    return stem + modules + aux + dense(1024, classes)


# Sandler et al. 2018, Table 2 (t, c, n, s) and Tan & Le 2019, Table 1 for B0 (+ kernel).
MOBILENET_V2_TABLE2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2)]
MOBILENET_V2_TABLE2 += [(6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
EFFICIENTNET_B0_TABLE1 = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3)]
EFFICIENTNET_B0_TABLE1 += [(6, 112, 3, 1, 5), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3)]


def bn(maps: int) -> int:
    return 2 * maps  # scale and bias (the running statistics are not parameters)


def inverted_residual_params(cin: int, cout: int, t: int, k: int) -> int:
    """1x1 expand (if t > 1), k x k depthwise (one filter per map), linear 1x1 project."""
    hidden = cin * t
    total = conv(1, cin, hidden, bias=False) + bn(hidden) if t != 1 else 0
    total += conv(k, hidden, hidden, bias=False, groups=hidden) + bn(hidden)
    return total + conv(1, hidden, cout, bias=False) + bn(cout)


def mobile_params(table, classes: int) -> int:
    """3x3/2 stem to 32, the table's blocks, 1x1 head to 1280, dense (none if classes = 0)."""
    total, cin = conv(3, 3, 32, bias=False) + bn(32), 32
    for t, c, n, _, *k in table:
        for _ in range(n):
            total += inverted_residual_params(cin, c, t, k[0] if k else 3)
            cin = c
    total += conv(1, cin, 1280, bias=False) + bn(1280)
    return total + (dense(1280, classes) if classes else 0)


def expected_params(name: str) -> tuple[int, int]:
    if name in PUBLISHED:
        return PUBLISHED[name]
    if name == "efficientnet_lite0":
        return 1000, mobile_params(EFFICIENTNET_B0_TABLE1, 1000)
    if name == "alexnet_small":
        return 10, alexnet_small_params(10)
    if name == "googlenet":
        return 1000, googlenet_params(1000)
    return 10, cifar_resnet_params(int(name.removeprefix("resnet")), 10)


# --- Expected activations at the registered input shape -----------------------------------


def hw(size: int, channels: int) -> tuple[int, int, int]:
    return (size, size, channels)


def alexnet_activations(name: str) -> dict:
    if name == "alexnet_small":  # 28x28x1, 'same' convolutions, 2x2 pools
        sizes, widths, lrn = (28, 14, 7, 7, 7), (96, 256, 512, 1024, 1024), False
        pools, dense_widths = (14, 7, 3), (3072, 4096)
    else:  # Krizhevsky 2012, Figure 2 (and the single-tower widths of torchvision)
        two_tower = name == "alexnet"
        widths = (96, 256, 384, 384, 256) if two_tower else (64, 192, 384, 256, 256)
        sizes, lrn, pools, dense_widths = (55, 27, 13, 13, 13), two_tower, (27, 13, 6), (4096,) * 2
    out, pool = {}, iter(pools)
    for n, (size, width) in enumerate(zip(sizes, widths, strict=True), 1):
        out[f"conv{n}"] = hw(size, width)
        if lrn and n <= 2:
            out[f"norm{n}"] = hw(size, width)
        if n in (1, 2, 5):
            out[f"pool{n}"] = hw(next(pool), width)
    out["fc6"], out["pre_logits"] = (dense_widths[0],), (dense_widths[1],)
    return out


WIDTHS = (64, 128, 256, 512, 512)
VGG_TABLE1 = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


def vgg_activations(name: str) -> dict:
    depth, size = int(name[3:5]), 32 if name.endswith("cifar") else 224
    out = {}
    for s, (convs, width) in enumerate(zip(VGG_TABLE1[depth], WIDTHS, strict=True), 1):
        for i in range(1, convs + 1):
            out[f"conv{s}_{i}"] = hw(size, width)
        size //= 2
        out[f"pool{s}"] = hw(size, width)
    if name.endswith("cifar"):
        out["pre_logits"] = (512,)
    else:
        out["fc6"], out["pre_logits"] = (4096,), (4096,)
    return out


RESNET_TABLE1 = {  # He et al. 2016, Table 1: blocks of conv2_x ... conv5_x, expansion
    18: ((2, 2, 2, 2), 1),
    34: ((3, 4, 6, 3), 1),
    50: ((3, 4, 6, 3), 4),
    101: ((3, 4, 23, 3), 4),
    152: ((3, 8, 36, 3), 4),
}


def resnet_activations(name: str) -> dict:
    depth = int(name.removeprefix("resnet"))
    if depth in RESNET_TABLE1:
        blocks, expansion = RESNET_TABLE1[depth]
        out = {"conv1": hw(112, 64), "pool1": hw(56, 64)}
        sizes, widths = (56, 28, 14, 7), [64 * expansion * 2**i for i in range(4)]
    else:  # §4.2: 6n + 2 layers, 32x32 / 16x16 / 8x8 maps of 16 / 32 / 64
        blocks, out = ((depth - 2) // 6,) * 3, {"conv1": hw(32, 16)}
        sizes, widths = (32, 16, 8), (16, 32, 64)
    for s, (n, size, width) in enumerate(zip(blocks, sizes, widths, strict=True), 2):
        for b in range(1, n + 1):
            out[f"stage{s}/block{b}"] = hw(size, width)
    out["pre_logits"] = (widths[-1],)
    return out


def googlenet_activations() -> dict:  # Table 1, "output size"
    out = {"conv1": hw(112, 64), "pool1": hw(56, 64), "norm1": hw(56, 64)}
    out |= {"conv2_reduce": hw(56, 64), "conv2": hw(56, 192), "norm2": hw(56, 192)}
    out |= {"pool2": hw(28, 192), "inception3a": hw(28, 256), "inception3b": hw(28, 480)}
    out["pool3"] = hw(14, 480)
    for key, depth in zip("abcde", (512, 512, 512, 528, 832), strict=True):
        out[f"inception4{key}"] = hw(14, depth)
    out |= {"pool4": hw(7, 832), "inception5a": hw(7, 832), "inception5b": hw(7, 1024)}
    out["pre_logits"] = (1024,)
    return out


def mobile_activations(table) -> dict:
    out, size = {"stem": hw(112, 32)}, 112
    for s, (_, c, n, stride, *_) in enumerate(table, 1):
        size //= stride
        out |= {f"stage{s}/block{b}": hw(size, c) for b in range(1, n + 1)}
    return out | {"head": hw(7, 1280), "pre_logits": (1280,)}


def expected_activations(name: str) -> dict:
    if name == "mobilenet_v2":
        return mobile_activations(MOBILENET_V2_TABLE2)
    if name == "efficientnet_lite0":
        return mobile_activations(EFFICIENTNET_B0_TABLE1)
    if name == "lenet5":
        return {
            "conv1": hw(28, 6),
            "pool1": hw(14, 6),
            "conv2": hw(10, 16),
            "pool2": hw(5, 16),
            "fc1": (120,),
            "pre_logits": (84,),
        }
    if name == "lenet5_classic":  # LeCun 1998, Figure 2
        return {
            "C1": hw(28, 6),
            "S2": hw(14, 6),
            "C3": hw(10, 16),
            "S4": hw(5, 16),
            "C5": hw(1, 120),
            "pre_logits": (84,),
        }
    if name.startswith("alexnet"):
        return alexnet_activations(name)
    if name.startswith("vgg"):
        return vgg_activations(name)
    if name.startswith("resnet"):
        return resnet_activations(name)
    return googlenet_activations()
