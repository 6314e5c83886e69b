"""Converts flat `{name: array}` weight files into cnnjax variable trees, all or nothing.

A *layout* lists the layers of a cnnjax model with the source name of each:
`(flax_path, kind, source_name)`, e.g. `("stage2/block1/expand_conv", "conv", "features.2.conv.0")`.
`kind` says how the layer's tensors are named and laid out in the source `convention`:

- "conv": torch weight (O, I/groups, KH, KW) → cnnjax kernel (KH, KW, I/groups, O) — the same
  transpose holds for grouped and depthwise kernels; Keras kernels are already HWIO.
- "dense": torch weight (out, in) → kernel (in, out); Keras kernels are already (in, out).
- "dense_chw": a dense layer right after flattening a (C, H, W) map in torch (VGG, AlexNet fc6):
  the rows are reordered from torch's C-major flatten to cnnjax's (H, W, C) flatten.
- "bn": weight/bias → `params` scale/bias, running_mean/var → `batch_stats` mean/var (torch);
  gamma/beta/moving_mean/moving_variance (Keras).

Every tensor of the model must come from the file and every tensor of the file must be used
(torch's `num_batches_tracked` counters excepted); otherwise one `WeightMismatchError` lists the
missing, unexpected and wrongly shaped paths, and nothing is returned.
"""

from collections.abc import Mapping, Sequence

import jax
import numpy as np

CONVENTIONS = ("torch", "keras")
KINDS = ("conv", "dense", "dense_chw", "bn")
Layout = Sequence[tuple[str, str, str]]

# Source tensor names of each kind: (cnnjax collection, leaf) → source suffix.
_TORCH = {
    "conv": {("params", "kernel"): "weight", ("params", "bias"): "bias"},
    "bn": {
        ("params", "scale"): "weight",
        ("params", "bias"): "bias",
        ("batch_stats", "mean"): "running_mean",
        ("batch_stats", "var"): "running_var",
    },
}
_KERAS = {
    "conv": {("params", "kernel"): "kernel", ("params", "bias"): "bias"},
    "bn": {
        ("params", "scale"): "gamma",
        ("params", "bias"): "beta",
        ("batch_stats", "mean"): "moving_mean",
        ("batch_stats", "var"): "moving_variance",
    },
}
for _names in (_TORCH, _KERAS):
    _names["dense"] = _names["dense_chw"] = _names["conv"]
_IGNORED_SUFFIXES = ("num_batches_tracked",)


class WeightMismatchError(ValueError):
    """The file's tensors do not match the model's: lists missing, unexpected and misshaped."""


def _to_cnnjax(array: np.ndarray, kind: str, leaf: str, channels: int | None) -> np.ndarray:
    """One torch tensor in cnnjax's layout (wrong ranks pass through to the shape check)."""
    if leaf != "kernel":
        return array
    if kind == "conv" and array.ndim == 4:  # (O, I, KH, KW) → (KH, KW, I, O)
        return array.transpose(2, 3, 1, 0)
    if kind in ("dense", "dense_chw") and array.ndim == 2:
        kernel = array.T  # (out, in) → (in, out)
        return chw_to_hwc_rows(kernel, channels) if kind == "dense_chw" else kernel
    return array


def chw_to_hwc_rows(kernel: np.ndarray, channels: int) -> np.ndarray:
    """Reorders the rows of a (C*H*W, out) dense kernel into (H*W*C, out).

    torch flattens an NCHW map as (C, H, W), cnnjax an NHWC map as (H, W, C): the same weights
    need their rows permuted. H = W is inferred from the row count.

    Args:
      kernel: (C * H * W, out), rows in torch's flatten order.
      channels: C.

    Returns:
      (H * W * C, out), rows in cnnjax's flatten order.
    """
    rows, out = kernel.shape
    side = int(round((rows // channels) ** 0.5))
    if channels * side * side != rows:
        raise ValueError(f"cannot split {rows} rows into {channels} square maps")
    chw = kernel.reshape(channels, side, side, out)
    return chw.transpose(1, 2, 0, 3).reshape(rows, out)  # (H, W, C, out) → (H*W*C, out)


def _leaves(template) -> dict[tuple[str, ...], tuple[int, ...]]:
    """{(collection, *module_path, leaf): shape} of a variables tree (arrays or shapes)."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(template)[0]:
        out[tuple(str(k.key) for k in path)] = tuple(leaf.shape)
    return out


def _source_name(prefix: str, suffix: str, convention: str) -> str:
    if convention == "torch":
        return f"{prefix}.{suffix}" if prefix else suffix
    return f"{prefix}/{suffix}"  # `read_keras_h5` names tensors `layer/kernel`


def convert(
    weights: Mapping[str, np.ndarray],
    template,
    layout: Layout,
    *,
    convention: str = "torch",
    chw_channels: Mapping[str, int] | None = None,
) -> dict:
    """Builds cnnjax `variables` from a flat weight dict following `layout`.

    Args:
      weights: `{source_name: array}` (from `read_torch`, `read_safetensors`, `read_keras_h5`).
      template: the model's variables or their shapes, e.g. `jax.eval_shape(model.init, ...)`.
      layout: `(flax_path, kind, source_prefix)` for every layer with variables.
      convention: "torch" (torchvision / timm names and layouts) or "keras".
      chw_channels: for each "dense_chw" flax path, the C of the (C, H, W) map it follows.

    Returns:
      `{"params": ..., "batch_stats": ...}` (only the collections the template has) of float32
      numpy arrays in cnnjax's layout.

    Raises:
      WeightMismatchError: listing every missing, unexpected and wrongly shaped tensor.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r}; accepted: {CONVENTIONS}")
    names = _TORCH if convention == "torch" else _KERAS
    expected = _leaves(template)
    values: dict[tuple[str, ...], np.ndarray] = {}
    used, reported, missing, misshaped = set(), set(), [], []
    for flax_path, kind, prefix in layout:
        if kind not in KINDS:
            raise ValueError(f"layout kind {kind!r} of {flax_path}; accepted: {KINDS}")
        module = tuple(flax_path.split("/"))
        for (collection, leaf), suffix in names[kind].items():
            key = (collection, *module, leaf)
            if key not in expected:
                continue  # e.g. a bias-free convolution
            source = _source_name(prefix, suffix, convention)
            reported.add(key)
            if source not in weights:
                missing.append(f"{source} (for {'/'.join(key)}, shape {expected[key]})")
                continue
            used.add(source)
            array = np.asarray(weights[source], np.float32)
            if convention == "torch":
                channels = (chw_channels or {}).get(flax_path)
                if kind == "dense_chw" and channels is None:
                    raise ValueError(f"chw_channels has no entry for dense_chw layer {flax_path}")
                try:
                    array = _to_cnnjax(array, kind, leaf, channels)
                except ValueError as e:  # rows not (C, H, H): report as a wrong shape
                    misshaped.append(f"{source}: {e}")
                    continue
            if array.shape != expected[key]:
                misshaped.append(
                    f"{source}: shape {tuple(weights[source].shape)} gives {array.shape}, "
                    f"{'/'.join(key)} needs {expected[key]}"
                )
                continue
            values[key] = array
    unmapped = ["/".join(k) for k in expected if k not in reported]
    missing += [f"{path} (no entry in the layout)" for path in unmapped]
    unexpected = sorted(
        name for name in weights if name not in used and not name.endswith(_IGNORED_SUFFIXES)
    )
    if missing or unexpected or misshaped:
        problems = [
            f"{title} ({len(items)}): "
            + "; ".join(items[:20])
            + (" ..." if len(items) > 20 else "")
            for title, items in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("wrong shape", misshaped),
            )
            if items
        ]
        raise WeightMismatchError("weights do not match the model: " + " | ".join(problems))
    variables: dict = {}
    for key, array in values.items():
        node = variables
        for part in key[:-1]:
            node = node.setdefault(part, {})
        node[key[-1]] = array
    return variables
