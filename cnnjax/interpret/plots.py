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
