"""Applies every hand-made kernel of `cnnjax.ops.kernels` to real photos; writes a PNG grid.

    python -m experiments.kernels --out=runs/kernels.png
    python -m experiments.kernels --out=/tmp/kernels.png --image_size=512

The photos are scikit-image's bundled `camera` (grey) and `astronaut` (RGB). Each column is
one kernel: its weights, the grey result and the RGB result (each channel filtered on its
own). Images are reflect-padded by the kernel radius, so outputs keep their size without the
false edges that zero padding draws at the border.
"""

from pathlib import Path

import numpy as np
from absl import app, flags, logging
from matplotlib.figure import Figure
from skimage import data, transform, util

from cnnjax.ops import apply_kernel, edge_magnitude, kernels

_OUT = flags.DEFINE_string("out", "runs/kernels.png", "Path of the PNG grid to write.")
_IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", 256, "Side the photos are resized to before filtering (pixels)."
)
COLUMNS = 6
SIGMA = 2.0  # Gaussian blur, pixels


def load_photos(size: int) -> tuple[np.ndarray, np.ndarray]:
    """skimage's camera (size, size) and astronaut (size, size, 3), float32 in [0, 1]."""
    if size < 16:
        raise ValueError(f"image_size={size} must be at least 16 pixels")
    grey = transform.resize(util.img_as_float32(data.camera()), (size, size), anti_aliasing=True)
    rgb = transform.resize(util.img_as_float32(data.astronaut()), (size, size), anti_aliasing=True)
    return grey.astype(np.float32), rgb.astype(np.float32)


def _reflect_pad(image: np.ndarray, radius: int) -> np.ndarray:
    pad = [(radius, radius), (radius, radius)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode="reflect")


def filter_photo(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Same-size filtering of an (H, W) or (H, W, C) photo with reflected borders."""
    radius = kernel.shape[0] // 2
    return np.asarray(apply_kernel(_reflect_pad(image, radius), kernel, padding="VALID"))


def for_display(image: np.ndarray, kernel: np.ndarray | None) -> np.ndarray:
    """Maps a filter response to [0, 1]: smoothing-like kernels (weights sum to 1) keep the
    photo's scale; others are signed, shown with 0 as mid-grey and the 99th percentile of
    |response| as black / white. Non-negative maps (kernel None) scale by their 99th pct."""
    if kernel is None:
        return np.clip(image / max(np.percentile(image, 99), 1e-8), 0, 1)
    if abs(float(kernel.sum()) - 1.0) < 1e-4:
        return np.clip(image, 0, 1)
    scale = max(np.percentile(np.abs(image), 99), 1e-8)
    return np.clip(0.5 + image / (2 * scale), 0, 1)


def panels(grey: np.ndarray, rgb: np.ndarray) -> list[tuple[str, np.ndarray | None, tuple]]:
    """(title, kernel or None, (grey display, RGB display)) for the photo, kernels and edges."""
    identity = np.zeros((3, 3), np.float32)
    identity[1, 1] = 1.0
    rows = [("original (identity)", identity, (grey, rgb))]
    for name, kernel in kernels.named_kernels(blur_size=5, sigma=SIGMA).items():
        shown = (for_display(filter_photo(img, kernel), kernel) for img in (grey, rgb))
        title = f"{name} (σ={SIGMA:g})" if name == "gaussian" else name
        rows.append((title, kernel, tuple(shown)))
    magnitudes = (edge_magnitude(_reflect_pad(img, 1), padding="VALID") for img in (grey, rgb))
    shown = tuple(for_display(np.asarray(m), None) for m in magnitudes)
    rows.append(("sobel edge magnitude", None, shown))
    return rows


def _draw_weights(ax, kernel: np.ndarray | None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if kernel is None:
        ax.text(0.5, 0.5, "√(sobel_x² + sobel_y²)\nsummed over RGB", ha="center", va="center",
                fontsize=8, transform=ax.transAxes)  # fmt: skip
        ax.set_axis_off()
        return
    limit = max(float(np.abs(kernel).max()), 1e-8)
    ax.imshow(kernel, cmap="coolwarm", vmin=-limit, vmax=limit)
    if np.all(kernel == kernel.flat[0]):
        ax.text(0.5, 0.5, f"all 1/{kernel.size}", fontsize=8, ha="center", va="center",
                transform=ax.transAxes, color="white")  # fmt: skip
        ax.set_xlabel(f"{kernel.shape[0]}×{kernel.shape[1]}", fontsize=7, labelpad=1)
    elif kernel.shape[0] <= 3:
        for (i, j), value in np.ndenumerate(kernel):
            ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=7)
    else:
        ax.set_xlabel(f"{kernel.shape[0]}×{kernel.shape[1]}", fontsize=7, labelpad=1)


def build_figure(
    rows: list[tuple[str, np.ndarray | None, tuple]], columns: int = COLUMNS
) -> Figure:
    """A grid of `columns` kernels per band; each band: weights, grey result, RGB result."""
    bands = -(-len(rows) // columns)
    fig = Figure(figsize=(2.0 * columns, bands * 4.8), layout="constrained")
    grid = fig.add_gridspec(3 * bands, columns, height_ratios=[0.75, 2, 2] * bands)
    labels = ("kernel", "camera (grey)", "astronaut (RGB)")
    for index, (title, kernel, (grey, rgb)) in enumerate(rows):
        band, column = divmod(index, columns)
        axes = [fig.add_subplot(grid[3 * band + r, column]) for r in range(3)]
        _draw_weights(axes[0], kernel)
        axes[0].set_title(title, fontsize=9)
        for ax, image in zip(axes[1:], (grey, rgb), strict=True):
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        for row, ax in enumerate(axes[1:], start=1):
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(labels[row], fontsize=9)
    fig.suptitle(
        "Hand-made kernels (cnnjax.ops.kernels), cross-correlated with each photo "
        "(RGB: per channel; signed responses: 0 = mid-grey)",
        fontsize=11,
    )
    return fig


def write_kernel_grid(out: str | Path, image_size: int = 256) -> Path:
    """Filters the photos with every kernel and saves the labelled grid; returns the path."""
    grey, rgb = load_photos(image_size)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    build_figure(panels(grey, rgb)).savefig(out, dpi=100)
    return out


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    path = write_kernel_grid(_OUT.value, _IMAGE_SIZE.value)
    logging.info("wrote %s", path)
    print(path)


if __name__ == "__main__":
    app.run(main)
