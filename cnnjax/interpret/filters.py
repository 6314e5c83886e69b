"""Convolution filters in forward order, as image tiles.

The first layer's filters live in input space and are shown as RGB or grey tiles; a deeper
layer's filter has one 2-D slice per input channel (Zeiler & Fergus, 2014, Fig. 2).
"""

import numpy as np

from cnnjax import analysis


def conv_kernels(model, variables, input_shape) -> dict[str, np.ndarray]:
    """Every convolution's (KH, KW, C_in, C_out) kernel, in the order the forward pass runs them.

    Args:
      input_shape: (H, W, C) the model runs at (the order is traced on it).

    Returns:
      module path ("conv1", "stage2/block1/conv1") -> kernel; modules without a plain `kernel`
      parameter (e.g. LeNet's partial C3 table) are skipped.
    """
    kernels = {}
    for row in analysis.summary(model, tuple(input_shape)).rows:
        if row.kind != "conv" or row.module in kernels:
            continue
        node = variables["params"]
        for key in row.module.split("/"):
            node = node.get(key, {}) if hasattr(node, "get") else {}
        if hasattr(node, "get") and getattr(node.get("kernel"), "ndim", 0) == 4:
            kernels[row.module] = np.asarray(node["kernel"], np.float32)
    return kernels


def filter_tiles(kernel: np.ndarray, *, in_channel: int | None = None) -> np.ndarray:
    """Each output filter as a [0, 1] image tile, scaled to its own min/max.

    Args:
      kernel: (KH, KW, C_in, C_out).
      in_channel: a deeper layer's input channel to show; None for a first layer (RGB when
        C_in = 3, else the mean over input channels).

    Returns:
      (C_out, KH, KW, 3) or (C_out, KH, KW, 1).
    """
    kernel = np.asarray(kernel, np.float32)
    if kernel.ndim != 4:
        raise ValueError(f"kernel of shape {kernel.shape} must be (KH, KW, C_in, C_out)")
    if in_channel is not None:
        if not 0 <= in_channel < kernel.shape[2]:
            raise ValueError(f"in_channel={in_channel}; accepted 0..{kernel.shape[2] - 1}")
        tiles = kernel[:, :, in_channel : in_channel + 1]
    elif kernel.shape[2] == 3:
        tiles = kernel
    else:
        tiles = kernel.mean(2, keepdims=True)
    tiles = np.moveaxis(tiles, -1, 0)  # (C_out, KH, KW, c)
    low = tiles.min((1, 2, 3), keepdims=True)
    high = tiles.max((1, 2, 3), keepdims=True)
    return (tiles - low) / np.maximum(high - low, 1e-12)
