"""tfds builders that prepare embedded data and local files into ArrayRecord without TensorFlow."""
