"""Reading an image and ranking a pretrained classifier's ImageNet classes for it."""

import os

import jax
import numpy as np
import skimage.data
from PIL import Image

from cnnjax.pretrained.classes import imagenet_class_names

SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "cat")  # RGB photos in skimage


def read_image(image: str) -> np.ndarray:
    """A uint8 (H, W, 3) RGB image from a file path or a `skimage.data` photo name.

    Raises:
      FileNotFoundError: `image` is neither an existing file nor one of `SKIMAGE_PHOTOS`.
    """
    if os.path.isfile(image):
        with Image.open(image) as picture:
            return np.asarray(picture.convert("RGB"))
    if image in SKIMAGE_PHOTOS:
        return getattr(skimage.data, image)()
    raise FileNotFoundError(
        f"--image={image!r} is neither a file nor a skimage photo ({', '.join(SKIMAGE_PHOTOS)})"
    )


def top_k(model, variables, preprocess, image: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """The `k` most probable ImageNet classes of one image, with their softmax probabilities.

    Args:
      model, variables, preprocess: as `cnnjax.pretrained.load` returns them (a 1000-class
        classifier).
      image: uint8 (H, W, 3).
      k: how many classes.

    Returns:
      [(class name, probability)], most probable first.
    """
    if getattr(model, "num_classes", 1000) != 1000:
        raise ValueError(
            f"{type(model).__name__} has num_classes={model.num_classes}, not an ImageNet "
            f"classifier (1000 classes); efficientnet_lite0 is"
        )
    logits = jax.jit(lambda v, x: model.apply(v, preprocess(x)))(variables, image[None])
    probabilities = np.asarray(jax.nn.softmax(logits[0].astype(np.float32)))
    names = imagenet_class_names()
    return [(names[i], float(probabilities[i])) for i in np.argsort(-probabilities)[:k]]
