"""The survey slides' worked examples (../shared/survey/03-cnn-slides.txt), reproduced exactly."""

import numpy as np

from cnnjax import ops
from cnnjax.ops import kernels

# "The convolution operation": a 5x5 binary input and a 3x3 filter.
INPUT_5X5 = [
    [1, 1, 1, 0, 0],
    [0, 1, 1, 1, 0],
    [0, 0, 1, 1, 1],
    [0, 0, 1, 1, 0],
    [0, 1, 1, 0, 0],
]
FILTER_3X3 = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
FEATURE_MAP_3X3 = [[4, 3, 4], [2, 4, 3], [2, 3, 4]]

# "Feature extraction and convolution": the 9x9 "X" image (+1 on the strokes, -1 elsewhere) ...
X_IMAGE = [
    [-1, -1, -1, -1, -1, -1, -1, -1, -1],
    [-1, 1, -1, -1, -1, -1, -1, 1, -1],
    [-1, -1, 1, -1, -1, -1, 1, -1, -1],
    [-1, -1, -1, 1, -1, 1, -1, -1, -1],
    [-1, -1, -1, -1, 1, -1, -1, -1, -1],
    [-1, -1, -1, 1, -1, 1, -1, -1, -1],
    [-1, -1, 1, -1, -1, -1, 1, -1, -1],
    [-1, 1, -1, -1, -1, -1, -1, 1, -1],
    [-1, -1, -1, -1, -1, -1, -1, -1, -1],
]
# ... convolved with the diagonal filter [[1,-1,-1],[-1,1,-1],[-1,-1,1]] gives this map.
X_DIAGONAL_MAP = [
    [7, -1, 1, 3, 5, -1, 3],
    [-1, 9, -1, 3, -1, 1, -1],
    [1, -1, 9, -3, 1, -1, 5],
    [3, 3, -3, 5, -3, 3, 3],
    [5, -1, 1, -3, 9, -1, 1],
    [-1, 1, -1, 3, -1, 9, -1],
    [3, -1, 5, 3, 1, -1, 7],
]


def test_5x5_input_with_3x3_filter():
    grey = np.array(INPUT_5X5, np.float32)[..., None]  # (5, 5, 1)
    fmap = ops.conv2d(grey, np.array(FILTER_3X3, np.float32)[..., None])  # one (3, 3, 1) filter
    np.testing.assert_array_equal(fmap, FEATURE_MAP_3X3)
    np.testing.assert_array_equal(ops.apply_kernel(INPUT_5X5, FILTER_3X3, "VALID"), FEATURE_MAP_3X3)


def test_x_image_with_diagonal_filter():
    assert kernels.x_diagonal().tolist() == [[1, -1, -1], [-1, 1, -1], [-1, -1, 1]]
    fmap = ops.apply_kernel(np.array(X_IMAGE), kernels.x_diagonal(), padding="VALID")
    assert fmap.shape == (7, 7)
    assert fmap[0].tolist() == [7, -1, 1, 3, 5, -1, 3]
    np.testing.assert_array_equal(fmap, X_DIAGONAL_MAP)


def test_x_detectors_peak_on_the_x_they_describe():
    """Each detector scores 9 (all 9 pixels agree) exactly where its pattern sits in the X."""
    image = np.array(X_IMAGE, np.float32)
    # Top-left corner of the 3x3 windows matching each filter exactly, read off the image.
    expected_peaks = {
        "x_diagonal": {(1, 1), (2, 2), (4, 4), (5, 5)},
        "x_antidiagonal": {(1, 5), (2, 4), (4, 2), (5, 1)},
        "x_cross": {(3, 3)},
    }
    for name, filt in kernels.x_detectors().items():
        fmap = np.asarray(ops.apply_kernel(image, filt, padding="VALID"))
        assert set(zip(*np.nonzero(fmap == 9), strict=True)) == expected_peaks[name], name
        assert fmap.max() == 9


def test_antidiagonal_map_is_the_published_map_mirrored():
    """The X image is left-right symmetric, so the mirrored filter gives the mirrored map."""
    np.testing.assert_array_equal(kernels.x_antidiagonal(), kernels.x_diagonal()[:, ::-1])
    fmap = ops.apply_kernel(np.array(X_IMAGE), kernels.x_antidiagonal(), padding="VALID")
    np.testing.assert_array_equal(fmap, np.array(X_DIAGONAL_MAP)[:, ::-1])
