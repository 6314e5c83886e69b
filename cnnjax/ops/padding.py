"""Zero padding of convolution and pooling windows: the one parser every op and formula uses.

A padding is "SAME" (XLA's: output ceil(n / s), the odd row at the high side), "VALID" (none),
an int P (both sides of every spatial dimension) or one entry per spatial dimension, each an int
(both sides) or a (low, high) pair. `cnnjax.ops` (convolution, pooling, kernels) and
`cnnjax.analysis.shapes` (the survey's output-size formula) read it here, so they accept the
same values and refuse the others with the same message.
"""

from collections.abc import Sequence

import numpy as np
from jax import lax

from cnnjax import choices

Padding = str | int | Sequence[int] | Sequence[tuple[int, int]]
MODES = ("SAME", "VALID")
_OTHERWISE = "(any case), an int, or one int or (low, high) pair per spatial dimension"


def is_int(value) -> bool:
    """True for Python and numpy integers, False for bools (a `True` stride is a mistake)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _refuse(padding) -> ValueError:
    return choices.unknown("padding", padding, MODES, extra=_OTHERWISE)


def padding_pair(entry) -> tuple[int, int]:
    """One spatial dimension's explicit padding as (low, high) zero rows.

    Args:
      entry: an int P (both sides) or a (low, high) pair of ints, all >= 0.

    Returns:
      (low, high).

    Raises:
      ValueError: anything else, or a negative side.
    """
    if is_int(entry):
        pair = (int(entry), int(entry))
    else:
        try:
            pair = tuple(entry)
        except TypeError:
            raise _refuse(entry) from None
        if len(pair) != 2 or not all(map(is_int, pair)):
            raise _refuse(entry)
        pair = (int(pair[0]), int(pair[1]))
    if min(pair) < 0:
        raise ValueError(f"padding={entry!r} is negative; padding must be >= 0")
    return pair


def normalize_padding(padding: Padding, ndim: int) -> str | tuple[tuple[int, int], ...]:
    """Returns "SAME"/"VALID" or one (low, high) pair per spatial dimension.

    Args:
      padding: "SAME" / "VALID" (any case), an int for every side, or a sequence of `ndim`
        entries, each an int (both sides) or a (low, high) pair (`padding_pair`).
      ndim: number of spatial dimensions.

    Returns:
      "SAME", "VALID" or `ndim` pairs of non-negative ints.

    Raises:
      ValueError: an unknown mode, a malformed entry, the wrong number of entries or a
        negative side, naming the value.
    """
    if isinstance(padding, str):
        if padding.upper() not in MODES:
            raise _refuse(padding)
        return padding.upper()
    if is_int(padding):
        return (padding_pair(padding),) * ndim
    try:
        entries = tuple(padding)
    except TypeError:
        raise _refuse(padding) from None
    if len(entries) != ndim:
        raise ValueError(f"padding={padding!r} must give {ndim} entries, one per spatial dimension")
    return tuple(padding_pair(entry) for entry in entries)


def explicit_padding(
    spatial: Sequence[int],
    window: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
) -> tuple[tuple[int, int], ...]:
    """(low, high) per dimension for a normalised padding ("SAME"/"VALID" or explicit pairs).

    Args:
      spatial: input size per dimension; window, strides, dilation: per dimension.
      padding: the result of `normalize_padding`.

    Returns:
      One (low, high) pair per dimension; "SAME" as XLA pads it (`lax.padtype_to_pads` on the
      dilated window (k - 1) * d + 1): total max((ceil(n / s) - 1) * s + extent - n, 0), the
      odd row at the high side.
    """
    if isinstance(padding, str):
        extents = [(k - 1) * d + 1 for k, d in zip(window, dilation, strict=True)]
        return tuple(tuple(p) for p in lax.padtype_to_pads(spatial, extents, strides, padding))
    return tuple(tuple(p) for p in padding)


def check_window_fits(
    spatial: Sequence[int], window: Sequence[int], padding, dilation: Sequence[int], what: str
) -> None:
    """Raises if a (dilated) window is larger than the padded input in any spatial dimension."""
    if padding == "SAME":
        return  # output size is ceil(n / s) >= 1 whatever the window
    pads = ((0, 0),) * len(spatial) if padding == "VALID" else padding
    for axis, (n, k, d, (low, high)) in enumerate(
        zip(spatial, window, dilation, pads, strict=True)
    ):
        extent = (k - 1) * d + 1
        if extent > n + low + high:
            raise ValueError(
                f"{what} of size {k} (dilation {d}, extent {extent}) is larger than the input "
                f"size {n} + padding ({low}, {high}) in spatial dimension {axis}; use a smaller "
                f"{what}, more padding or padding='SAME'"
            )
