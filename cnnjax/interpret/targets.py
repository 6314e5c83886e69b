"""What an attribution explains: a class score or one unit of any named layer.

    class_score(281)                 # logit of class 281 (the score, not the softmax)
    unit("conv2", channel=3)         # channel 3 of conv2, averaged over positions
    unit("conv2", 3, position=(4, 4))

A `Target` maps the `{name: activation}` dict of a batch to one number per example.
"""

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.interpret.activations import check_layer


@dataclasses.dataclass(frozen=True)
class Target:
    """Unit `channel` of `layer` (at `position`, or averaged over positions when None).

    Attributes:
      layer: a recorded activation name or "logits".
      channel: an int, or a (B,) int array of one channel (e.g. the true class) per example.
      position: (i, j) in the layer's feature map, or None.
    """

    layer: str
    channel: int | Sequence[int] | jax.Array
    position: tuple[int, int] | None = None

    def validate(self, shapes: dict) -> None:
        """Raises a ValueError for an unknown layer, channel or position (needs concrete values)."""
        shape = check_layer(self.layer, shapes)
        channels = shape[-1]
        if not isinstance(self.channel, jax.core.Tracer):
            bad = [int(c) for c in np.ravel(self.channel) if not 0 <= int(c) < channels]
            if bad:
                what = "class index" if self.layer == "logits" else f"{self.layer} channel"
                raise ValueError(f"{what} {bad[0]} is out of range; accepted 0..{channels - 1}")
        if self.position is not None:
            grid = shape[:-1]
            if len(self.position) != 2 or not all(
                0 <= p < d for p, d in zip(self.position, grid, strict=True)
            ):
                raise ValueError(
                    f"position={tuple(self.position)} is outside the {self.layer} map {grid}"
                )

    def __call__(self, acts: dict) -> jax.Array:
        """(B,) value of the unit for every example."""
        a = acts[self.layer]
        if a.ndim == 4:
            a = (
                a.mean((1, 2))
                if self.position is None
                else a[:, self.position[0], self.position[1]]
            )
        channel = jnp.asarray(self.channel)
        if channel.ndim == 0:
            return a[:, channel]
        return jnp.take_along_axis(a, channel[:, None], axis=1)[:, 0]


def class_score(index) -> Target:
    """The logit (pre-softmax score) of class `index` (int or (B,) ints)."""
    return Target("logits", index)


def unit(layer: str, channel, position: tuple[int, int] | None = None) -> Target:
    """Channel `channel` of `layer`, at `position` or averaged over the feature map."""
    return Target(layer, channel, position)
