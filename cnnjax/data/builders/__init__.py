"""tfds builders that prepare embedded data and local files into ArrayRecord without TensorFlow.

Importing this package imports every builder module, and each registers what it serves in
`cnnjax.data.registry`.
"""

from cnnjax.data.builders import cifar, digits, folder, idx, mnist5k, tfds_catalog

__all__ = ["cifar", "digits", "folder", "idx", "mnist5k", "tfds_catalog"]
