"""Output sizes and parameter counts of convolution and pooling layers.

The feature-map size formula and the weights-per-layer formula of the survey
(../shared/survey/03-cnn-slides.txt, "Feature map size" and "Number of weights of a conv layer";
02-cnn-lecture-notes.txt §60.3 for the floor):

    W' = floor((W - F + 2P) / S) + 1          params = FM * (F * F * FMP + 1)

extended with dilation (F_eff = D * (F - 1) + 1), asymmetric (low, high) padding, XLA's
"SAME"/"VALID" padding and feature groups.
"""

from collections.abc import Sequence

import numpy as np

from cnnjax.ops.padding import explicit_padding, is_int, normalize_padding, padding_pair

PaddingSpec = str | int | tuple[int, int]


def _check_positive(name: str, value) -> int:
    """`value` as an int; raises a ValueError naming `name` unless it is an int >= 1."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive int")
    return int(value)


def padding_sides(padding: PaddingSpec, w: int, f_eff: int, s: int) -> tuple[int, int]:
    """Resolves one spatial dimension's padding to a (low, high) pair of zero rows.

    The parsing and XLA's "SAME" rule are those of the ops (`cnnjax.ops.padding`), so a size
    computed here is the size `cnnjax.ops.conv_general` produces.

    Args:
      padding: "SAME" (output ceil(W / S), extra row at the high side, as in XLA), "VALID"
        (no padding), an int P (both sides) or a (low, high) pair.
      w: input size; f_eff: effective (dilated) kernel size; s: stride.

    Returns:
      (low, high), both >= 0.
    """
    pads = normalize_padding(padding, 1) if isinstance(padding, str) else (padding_pair(padding),)
    ((low, high),) = explicit_padding((w,), (f_eff,), (s,), (1,), pads)
    return low, high


def conv_output_size(
    w: int,
    f: int,
    p: PaddingSpec = 0,
    s: int = 1,
    dilation: int = 1,
    strict: bool = False,
) -> int:
    """Size of a convolution's output along one spatial dimension: floor((W - F_eff + 2P)/S) + 1.

    Args:
      w: input size W.
      f: kernel (receptive field) size F; the dilated kernel spans F_eff = D * (F - 1) + 1.
      p: zero padding: an int P on both sides, a (low, high) pair (then 2P is low + high),
        "VALID" (P = 0) or "SAME" (XLA's: output ceil(W / S)).
      s: stride S.
      dilation: kernel dilation D.
      strict: require (W - F_eff + 2P) to be divisible by S, i.e. the filter tiles the padded
        input exactly, with no rows dropped by the floor (the survey's "must be an integer").

    Returns:
      The output size W' >= 1.

    Raises:
      ValueError: on a non-positive W, F, S or D, negative or unknown padding, a kernel that
        does not fit the padded input, or, when `strict`, a non-integer (W - F_eff + 2P) / S.
    """
    w, f, s = _check_positive("w", w), _check_positive("f", f), _check_positive("s", s)
    dilation = _check_positive("dilation", dilation)
    f_eff = dilation * (f - 1) + 1
    low, high = padding_sides(p, w, f_eff, s)
    span = w + low + high - f_eff
    if span < 0:
        raise ValueError(
            f"kernel of effective size {f_eff} (F={f}, dilation={dilation}) does not fit the "
            f"padded input of size {w + low + high} (W={w}, padding={p!r}): the output size "
            f"floor({span}/{s}) + 1 is not positive"
        )
    if strict and span % s:
        raise ValueError(
            f"(W - F_eff + 2P) / S = ({w} - {f_eff} + {low + high}) / {s} = {span}/{s} is not an "
            f"integer (strict mode): choose a padding or stride that tiles the input exactly"
        )
    return span // s + 1


def pool_output_size(
    w: int, window: int, stride: int | None = None, padding: PaddingSpec = 0, strict: bool = False
) -> int:
    """Output size of pooling along one dimension; `stride` defaults to the window (no overlap).

    The same formula as `conv_output_size` with F = window (e.g. 2x2/2 max pooling halves W).
    """
    stride = window if stride is None else stride
    return conv_output_size(w, window, padding, stride, strict=strict)


def conv_params(
    f: int | Sequence[int], c_in: int, c_out: int, bias: bool = True, groups: int = 1
) -> int:
    """Number of parameters of a 2-D convolution layer: C_out * (F_h * F_w * C_in / G + 1).

    Args:
      f: kernel size F (square) or (F_h, F_w).
      c_in: input channels (FMP, the feature maps of the previous layer).
      c_out: output channels (FM, the number of filters).
      bias: one bias per output channel (the "+ 1").
      groups: feature groups G; each filter sees C_in / G channels.

    Returns:
      The parameter count, e.g. 3 * 3 * 64 * 128 + 128 = 73,856 for VGG's conv2_1.
    """
    sizes = (f, f) if is_int(f) else tuple(f)
    if not sizes or not all(is_int(k) and k >= 1 for k in sizes):
        raise ValueError(f"f={f!r} must be a positive int or a sequence of positive ints")
    c_in, c_out = _check_positive("c_in", c_in), _check_positive("c_out", c_out)
    groups = _check_positive("groups", groups)
    if c_in % groups or c_out % groups:
        raise ValueError(f"c_in={c_in} and c_out={c_out} must both be divisible by groups={groups}")
    return c_out * (int(np.prod(sizes)) * (c_in // groups) + int(bool(bias)))
