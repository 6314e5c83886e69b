"""The tfds datasets cnnjax knows the pixel statistics of (registered as kind `"tfds"`).

They are read from ArrayRecord files prepared in the data dir with `tfds build` (no TensorFlow
needed to read them); any other tfds name prepared there loads too, normalised with the statistics
in its metadata or 0.5 (`registry.unlisted_tfds`). Statistics are per channel (RGB), in [0, 1].
"""

from cnnjax.data.registry import Entry, register
from cnnjax.data.sources import SQUARE_OPTIONS

MNIST_STATS = ((0.1307,), (0.3081,))
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
STATS = {
    "mnist": MNIST_STATS,
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "kmnist": ((0.1918,), (0.3483,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenette": IMAGENET_STATS,
    "imagenet2012": IMAGENET_STATS,
}

for _name, _stats in STATS.items():
    register(Entry(_name, "tfds", options=SQUARE_OPTIONS, stats=_stats))
