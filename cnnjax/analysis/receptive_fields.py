"""Theoretical receptive fields of stacked convolutions and poolings, along one dimension.

A unit of layer l sees `size` input pixels; neighbouring units are `jump` input pixels apart
(the product of the strides so far); unit 0 starts at input pixel `start` (negative when its
window reaches into the zero padding). One layer with kernel k, stride s, dilation d and low
padding p maps (size, jump, start) to

    size' = size + d * (k - 1) * jump,   jump' = jump * s,   start' = start - p * jump

(Araujo, Norris & Sim, 2019, "Computing Receptive Fields of Convolutional Neural Networks",
Distill; the survey's 02-cnn-lecture-notes.txt §60.8 and 03-cnn-slides.txt "If we use pooling":
three 3x3 convolutions see 7x7; 5x5, 5x5, 3x3 see 11x11; a 3x3 convolution and 2x2/2 max
pooling see 4x4, and a further 3x3 convolution 8x8).
"""

import dataclasses
from collections.abc import Iterable, Sequence

from cnnjax.ops.padding import is_int


@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """Receptive field along one spatial dimension, in input pixels.

    Attributes:
      size: how many input pixels one unit depends on.
      jump: distance in input pixels between neighbouring units (the effective stride).
      start: input coordinate of the first pixel seen by unit 0 (negative inside padding).
    """

    size: int = 1
    jump: int = 1
    start: int = 0

    @property
    def center(self) -> float:
        """Input coordinate of the centre of unit 0's receptive field."""
        return self.start + (self.size - 1) / 2

    def window(self, index: int) -> tuple[int, int]:
        """The [first, last] input pixels seen by unit `index` (inclusive)."""
        first = self.start + index * self.jump
        return first, first + self.size - 1

    def then(self, kernel: int, stride: int = 1, dilation: int = 1, padding: int = 0):
        """The receptive field after one more layer (conv or pool) with these settings.

        Args:
          kernel, stride, dilation: positive ints.
          padding: zero rows added before the input (the low side); may be negative when a
            layer crops.

        Returns:
          A new `ReceptiveField`.
        """
        for name, value in (("kernel", kernel), ("stride", stride), ("dilation", dilation)):
            if not is_int(value) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive int")
        if not is_int(padding):
            raise ValueError(f"padding={padding!r} must be an int")
        return ReceptiveField(
            size=self.size + dilation * (kernel - 1) * self.jump,
            jump=self.jump * stride,
            start=self.start - padding * self.jump,
        )

    def union(self, other: "ReceptiveField") -> "ReceptiveField":
        """The receptive field of a unit that combines two branches (a residual sum, a concat).

        Both branches must have the same jump (their feature maps line up); the result spans
        both windows of unit 0.
        """
        if self.jump != other.jump:
            raise ValueError(f"cannot merge branches with jumps {self.jump} and {other.jump}")
        first = min(self.start, other.start)
        last = max(self.start + self.size, other.start + other.size) - 1
        return ReceptiveField(size=last - first + 1, jump=self.jump, start=first)


LayerSpec = Sequence[int]


def receptive_field(layers: Iterable[LayerSpec]) -> ReceptiveField:
    """Receptive field of the last unit of a stack of conv / pool layers, along one dimension.

    Args:
      layers: one (kernel, stride), (kernel, stride, dilation) or
        (kernel, stride, dilation, padding) tuple per layer, input first.

    Returns:
      `ReceptiveField(size, jump, start)`; e.g. [(3, 1), (2, 2), (3, 1)] -> size 8, jump 2.

    Raises:
      ValueError: a layer that is not a tuple of 2 to 4 ints, or non-positive kernel, stride
        or dilation, or negative padding.
    """
    field = ReceptiveField()
    for i, layer in enumerate(layers):
        spec = tuple(layer) if isinstance(layer, Sequence) else (layer,)
        if not 2 <= len(spec) <= 4 or not all(is_int(v) for v in spec):
            raise ValueError(
                f"layer {i}: {layer!r} must be (kernel, stride[, dilation[, padding]]) of ints"
            )
        if len(spec) == 4 and spec[3] < 0:
            raise ValueError(f"layer {i}: padding={spec[3]} is negative; padding must be >= 0")
        try:
            field = field.then(*spec)
        except ValueError as e:
            raise ValueError(f"layer {i}: {e}") from None
    return field
