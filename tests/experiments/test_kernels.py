"""End to end: `python -m experiments.kernels` writes a readable, labelled PNG grid."""

import numpy as np
from absl import flags
from PIL import Image

from cnnjax.ops import kernels
from experiments import kernels as kernels_experiment


def test_main_writes_a_png_grid_of_every_kernel(tmp_path):
    out = tmp_path / "nested" / "kernels.png"
    flags.FLAGS(["kernels", f"--out={out}", "--image_size=32"])
    try:
        kernels_experiment.main(["kernels"])
    finally:
        flags.FLAGS.unparse_flags()
    with Image.open(out) as image:
        assert image.format == "PNG"
        width, height = image.size
        pixels = np.asarray(image.convert("L"), dtype=np.float32)
    columns = kernels_experiment.COLUMNS
    bands = -(-(len(kernels.named_kernels()) + 2) // columns)  # + the photo and edge magnitude
    assert (width, height) == (200 * columns, 480 * bands)  # figsize (2 in/column, 4.8 in/band)
    assert pixels.std() > 20  # pictures, not a blank canvas


def test_every_kernel_gets_a_titled_panel():
    grey, rgb = kernels_experiment.load_photos(32)
    rows = kernels_experiment.panels(grey, rgb)
    figure = kernels_experiment.build_figure(rows)
    titles = {ax.get_title() for ax in figure.axes if ax.get_title()}
    for name in kernels.named_kernels():
        assert any(title.startswith(name) for title in titles), name
    assert "sobel edge magnitude" in titles and "original (identity)" in titles
    for _, _, (grey_shown, rgb_shown) in rows:
        assert grey_shown.shape == (32, 32) and rgb_shown.shape[:2] == (32, 32)
        assert 0.0 <= grey_shown.min() and grey_shown.max() <= 1.0
