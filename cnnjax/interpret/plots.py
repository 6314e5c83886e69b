"""Pictures of a training run: curves, confusion matrix, first-layer filters, feature maps.

Every function takes plain numpy data and a path and writes one PNG (matplotlib, Agg backend), so
they work the same on a headless machine, inside tests and after a run from its saved files.
"""

import math
import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _rows(history: Sequence[Mapping], split: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in history if r.get("split") == split and key in r and "step" in r]
    return np.array([r["step"] for r in rows]), np.array([r[key] for r in rows], float)


def training_curves(history: Sequence[Mapping], path: str) -> str:
    """Loss and accuracy against step for the train and eval splits.

    Args:
      history: rows as written to `metrics.jsonl`: each has `step`, `split` ("train" or "eval")
        and metrics such as `loss` and `accuracy`.
      path: where to write the PNG.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
        for split, style in (("train", "-"), ("eval", "o-")):
            steps, values = _rows(history, split, key)
            if len(steps):
                ax.plot(steps, values, style, label=split, markersize=4)
        ax.set_xlabel("step")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: str) -> str:
    """Row-normalised confusion matrix (rows: true class, columns: predicted), counts annotated.

    Args:
      matrix: (K, K) integer counts, `matrix[true, predicted]`.
      class_names: K names.
      path: where to write the PNG.
    """
    matrix = np.asarray(matrix)
    k = len(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.45 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                color = "white" if rates[i, j] > 0.5 else "black"
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)
        ax.set_xticks(range(k), class_names, rotation=90)
        ax.set_yticks(range(k), class_names)
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"confusion matrix (accuracy {accuracy:.2%})")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _save(fig, path)


def _grid(n: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def first_layer_filters(kernel: np.ndarray, path: str) -> str:
    """One tile per output filter of a first conv layer.

    Args:
      kernel: (KH, KW, C_in, C_out); C_in = 3 is shown in colour, otherwise the mean over
        input channels in grey. Each filter is scaled to its own min/max.
      path: where to write the PNG.
    """
    kernel = np.asarray(kernel, np.float32)
    c_out = kernel.shape[-1]
    rows, cols = _grid(c_out)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= c_out:
            continue
        tile = kernel[..., index]
        tile = tile if tile.shape[-1] == 3 else tile.mean(axis=-1)
        tile = (tile - tile.min()) / max(float(tile.max() - tile.min()), 1e-12)
        ax.imshow(tile, cmap=None if tile.ndim == 3 else "gray", interpolation="nearest")
        ax.set_title(str(index), fontsize=7)
    fig.suptitle(f"first-layer filters {kernel.shape[0]}x{kernel.shape[1]}")
    return _save(fig, path)


def _show_image(ax, image: np.ndarray) -> None:
    image = np.asarray(image, np.float32)
    image = (image - image.min()) / max(float(image.max() - image.min()), 1e-12)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    ax.axis("off")


def feature_maps(
    image: np.ndarray, activations: Mapping[str, np.ndarray], path: str, max_channels: int = 8
) -> str:
    """The input image, then one row per layer with its first `max_channels` feature maps.

    Args:
      image: (H, W, C) input.
      activations: layer name → (h, w, c) activation of that image (spatial layers only).
      path: where to write the PNG.
    """
    layers = [(name, np.asarray(a)) for name, a in activations.items() if np.ndim(a) == 3]
    cols = max_channels + 1
    fig, axes = plt.subplots(
        max(len(layers), 1), cols, figsize=(1.4 * cols, 1.5 * max(len(layers), 1)), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    _show_image(axes[0, 0], image)
    axes[0, 0].set_title("input", fontsize=8)
    for row, (name, activation) in enumerate(layers):
        axes[row, 1].set_title(
            f"{name} {activation.shape[0]}x{activation.shape[1]}", fontsize=8, loc="left"
        )
        for channel in range(min(max_channels, activation.shape[-1])):
            axes[row, channel + 1].imshow(activation[..., channel], cmap="viridis")
    return _save(fig, path)


def effective_receptive_field(
    erf: np.ndarray,
    path: str,
    *,
    title: str | None = None,
    window: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> str:
    """The ERF (`cnnjax.analysis.effective_receptive_field`) as a heat map PNG.

    Args:
      erf: (H, W).
      path: output .png path.
      title: figure title.
      window: ((top, left), (height, width)) of the theoretical receptive field in input
        pixels (may extend past the image, into the padding), drawn as a rectangle.
    """
    erf = np.asarray(erf, dtype=np.float64)
    if erf.ndim != 2:
        raise ValueError(f"erf of shape {erf.shape} must be (H, W)")
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    peak = erf.max()
    image = ax.imshow(erf / peak if peak > 0 else erf, cmap="magma", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, label="|gradient| / max")
    if window is not None:
        (top, left), (height, width) = window
        box = Rectangle((left - 0.5, top - 0.5), width, height, fill=False, ec="cyan", lw=1.5)
        ax.add_patch(box)
        ax.text(0.02, 0.02, f"theoretical RF {height}x{width}", color="cyan",
                transform=ax.transAxes)  # fmt: skip
    ax.set_xlim(-0.5, erf.shape[1] - 0.5)
    ax.set_ylim(erf.shape[0] - 0.5, -0.5)
    ax.set_title(title or "effective receptive field")
    fig.savefig(path)
    plt.close(fig)
    return path


def _unit(image: np.ndarray) -> np.ndarray:
    """Any image scaled to [0, 1]; (H, W, 1) becomes (H, W)."""
    image = np.asarray(image, np.float32)
    image = (image - image.min()) / max(float(image.max() - image.min()), 1e-12)
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def heat(attribution: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """(H, W, C) attribution -> (H, W): max |.| over channels over its `percentile`-th
    percentile, clipped to [0, 1] (as PAIR's `VisualizeImageGrayscale`: a few extreme pixels
    would otherwise make the rest invisible)."""
    a = np.abs(np.asarray(attribution, np.float32))
    a = a.max(-1) if a.ndim == 3 else a
    top = float(np.percentile(a, percentile))
    return np.clip(a / top, 0, 1) if top > 0 else _unit(a)


def attribution_grid(
    images: np.ndarray,
    columns: Mapping[str, np.ndarray],
    path: str,
    *,
    row_titles: Sequence[str] = (),
    title: str = "",
    overlay: bool = True,
) -> str:
    """One row per image: the image, then one heat map per method (side-by-side comparison).

    Args:
      images: (B, H, W, C) to show, any range.
      columns: method name -> (B, h, w[, C]) maps; (H, W, C) attributions are reduced with
        `heat`, smaller maps (Grad-CAM, occlusion) are stretched over the image.
      overlay: draw each map semi-transparent over the grey image.
    """
    b = len(images)
    cols = 1 + len(columns)
    fig, axes = plt.subplots(b, cols, figsize=(2.1 * cols, 2.2 * b), squeeze=False)
    for r in range(b):
        image = _unit(images[r])
        grey = image.mean(-1) if image.ndim == 3 else image
        axes[r, 0].imshow(image, cmap="gray" if image.ndim == 2 else None)
        axes[r, 0].set_title(row_titles[r] if r < len(row_titles) else "input", fontsize=8)
        for c, (name, maps) in enumerate(columns.items(), start=1):
            m = np.asarray(maps[r])
            m = heat(m) if m.ndim == 3 else _unit(m)
            extent = (-0.5, grey.shape[1] - 0.5, grey.shape[0] - 0.5, -0.5)
            if overlay:
                axes[r, c].imshow(grey, cmap="gray")
            axes[r, c].imshow(m, cmap="jet" if overlay else "magma", alpha=0.55 if overlay else 1,
                              extent=extent, interpolation="bilinear")  # fmt: skip
            axes[r, c].set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def tiles(images: np.ndarray, path: str, *, titles: Sequence[str] = (), title: str = "") -> str:
    """Images on a square grid, each scaled to its own range (filters, class models, dreams).

    Args:
      images: (N, H, W, C) or (N, H, W).
    """
    n = len(images)
    rows, cols = _grid(n)
    side = 1.5 if max(np.shape(images)[1:3]) < 64 and n > 4 else 2.6
    fig, axes = plt.subplots(rows, cols, figsize=(side * cols, side * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            tile = _unit(images[i])
            ax.imshow(tile, cmap="gray" if tile.ndim == 2 else None, interpolation="nearest")
            if i < len(titles):
                ax.set_title(titles[i], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def channel_maps(image: np.ndarray, maps: np.ndarray, path: str, *, layer: str, limit=32) -> str:
    """The input, the channel-averaged map, then up to `limit` channels of one layer.

    Args:
      image: (H, W, C); maps: (h, w, C') activation of that image.
    """
    maps = np.asarray(maps)
    shown = [_unit(image), maps.mean(-1)] + [
        maps[..., c] for c in range(min(limit, maps.shape[-1]))
    ]
    names = ["input", "mean"] + [str(c) for c in range(min(limit, maps.shape[-1]))]
    rows, cols = _grid(len(shown))
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.6 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(shown):
            cmap = "gray" if i == 0 and shown[0].ndim == 2 else "viridis"
            ax.imshow(shown[i], cmap=None if shown[i].ndim == 3 else cmap)
            ax.set_title(names[i], fontsize=7)
    fig.suptitle(f"{layer} {maps.shape[0]}x{maps.shape[1]}x{maps.shape[2]}", fontsize=10)
    return _save(fig, path)


def patch_mosaic(rows: Mapping[str, Sequence], path: str, *, title: str = "") -> str:
    """One row per unit: its top patches (`cnnjax.interpret.patches.Patch`), value above each.

    Args:
      rows: row label (e.g. "conv2 ch 3") -> list of patches.
    """
    k = max(len(p) for p in rows.values())
    fig, axes = plt.subplots(len(rows), k + 1, figsize=(1.2 * (k + 1), 1.35 * len(rows)),
                             squeeze=False)  # fmt: skip
    for r, (label, patches) in enumerate(rows.items()):
        for ax in axes[r]:
            ax.axis("off")
        axes[r, 0].text(0.5, 0.5, label, ha="center", va="center", fontsize=8)
        for c, patch in enumerate(patches, start=1):
            tile = _unit(patch.pixels)
            axes[r, c].imshow(tile, cmap="gray" if tile.ndim == 2 else None,
                              interpolation="nearest")  # fmt: skip
            axes[r, c].set_title(f"{patch.value:.2f}", fontsize=6)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
