"""LeNet-5's output layer (LeCun et al., 1998, §II-B and Fig. 3): Euclidean RBF units.

Output unit i computes y_i = Σ_j (x_j − w_ij)², the squared distance between F6's 84 outputs x
and a fixed parameter vector w_i: a stylised 7x12 bitmap of digit i with values ±1 ("the
parameter vectors of these units were chosen by hand and kept fixed, at least initially",
§II-B). The unit whose code is nearest wins: the prediction is argmin_i y_i. The paper trains
with the MAP criterion of eq. (9), E = y_D + log(e^{−j} + Σ_i e^{−y_i}); with logits −y the
engine's softmax cross-entropy is exactly that criterion without the constant "rubbish class"
term e^{−j} (its limit j → ∞).

The bitmaps below are our own drawing of a stylised digit font, in the spirit of Fig. 3; the
paper does not print its codes pixel by pixel, so these are not the paper's exact pixels.
"""

import jax
import jax.numpy as jnp
import numpy as np

# Our 7-wide, 12-tall drawings of the digits 0-9 ('#' = +1, '.' = -1), row by row.
DIGIT_BITMAPS = (
    (".......", "..###..", ".##.##.", "##...##", "##...##", "##...##",
     "##...##", "##...##", "##...##", ".##.##.", "..###..", "......."),
    (".......", "...##..", "..###..", ".####..", "...##..", "...##..",
     "...##..", "...##..", "...##..", "...##..", ".######", "......."),
    (".......", ".#####.", "##...##", ".....##", ".....##", "....##.",
     "...##..", "..##...", ".##....", "##.....", "#######", "......."),
    (".......", ".#####.", "##...##", ".....##", ".....##", "..####.",
     ".....##", ".....##", ".....##", "##...##", ".#####.", "......."),
    (".......", "....##.", "...###.", "..####.", ".##.##.", "##..##.",
     "#######", "....##.", "....##.", "....##.", "....##.", "......."),
    (".......", "#######", "##.....", "##.....", "######.", ".....##",
     ".....##", ".....##", ".....##", "##...##", ".#####.", "......."),
    (".......", "..####.", ".##....", "##.....", "##.....", "######.",
     "##...##", "##...##", "##...##", "##...##", ".#####.", "......."),
    (".......", "#######", ".....##", ".....##", "....##.", "....##.",
     "...##..", "...##..", "..##...", "..##...", "..##...", "......."),
    (".......", ".#####.", "##...##", "##...##", "##...##", ".#####.",
     "##...##", "##...##", "##...##", "##...##", ".#####.", "......."),
    (".......", ".#####.", "##...##", "##...##", "##...##", "##...##",
     ".######", ".....##", ".....##", "....##.", ".####..", "......."),
)  # fmt: skip


def digit_codes() -> np.ndarray:
    """The fixed RBF parameter vectors: (10, 84) float32, row i = bitmap i read row by row, ±1."""
    rows = [[c == "#" for line in bitmap for c in line] for bitmap in DIGIT_BITMAPS]
    return np.where(np.asarray(rows), 1.0, -1.0).astype(np.float32)


def rbf_distances(x: jax.Array, codes: jax.Array) -> jax.Array:
    """Euclidean RBF units: y_i = Σ_j (x_j − w_ij)² (LeCun et al. 1998, eq. 7).

    Args:
      x: (B, N) inputs (F6's outputs, N = 84).
      codes: (K, N) the units' parameter vectors.

    Returns:
      (B, K) squared distances, in x's dtype.
    """
    codes = codes.astype(x.dtype)
    # ||x||² − 2 x·w + ||w||²: one matrix product instead of a (B, K, N) difference tensor.
    squared = jnp.sum(x * x, axis=-1, keepdims=True)  # (B, 1)
    return squared - 2.0 * x @ codes.T + jnp.sum(codes * codes, axis=-1)  # (B, K)
