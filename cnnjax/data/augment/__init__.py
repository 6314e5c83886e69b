"""On-device, jit-compiled data augmentation composed from spec strings.

    fn = cnnjax.data.augment.build("pad_crop(4)|flip_lr|rotate(10)", num_classes=10)
    images, labels = fn(key, images, labels)

Ops are looked up by name (`list_ops()`); importing the op modules registers them.
"""

from cnnjax.data.augment import geometric, mixing, photometric  # noqa: F401  (registers ops)
from cnnjax.data.augment.pipeline import build, build_example
from cnnjax.data.augment.registry import list_ops, register_op

__all__ = ["build", "build_example", "list_ops", "register_op"]
