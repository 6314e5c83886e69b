"""What `experiments.visualize` looks at: a trained run's checkpoint or a pretrained network,
with images, labels, class names and the value range of the model's input.

A run is restored through the same public pieces `experiments.evaluate` uses
(`experiment.build`, `Engine.restore_target`, `Checkpointer.restore`); nothing in the run is
written or deleted.
"""

import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.train import config as config_lib
from cnnjax.train import experiment, restore


@dataclasses.dataclass(frozen=True)
class Subject:
    """A model with its variables and the images to explain.

    Attributes:
      name: the model's name, for captions.
      model, variables: a linen module and its {"params"[, "batch_stats"]}.
      images: (B, H, W, C) float model inputs to explain.
      display: (B, H, W, c) uint8 versions of the same images to show.
      labels: (B,) classes explained (true labels for a run, top-1 predictions otherwise).
      class_names: one per logit.
      value_range: per-channel (low, high), each (C,): the model inputs of pixels 0 and 255.
      pool: (N, H, W, C) model inputs to scan for max-activating patches, and `pool_display`
        (N, H, W, c) uint8 versions to crop.
    """

    name: str
    model: Any
    variables: dict
    images: jax.Array
    display: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    value_range: tuple[np.ndarray, np.ndarray]
    pool: np.ndarray
    pool_display: np.ndarray


def _batches(preprocess, images: np.ndarray, size: int = 256) -> np.ndarray:
    fn = jax.jit(preprocess)
    return np.concatenate(
        [np.asarray(fn(images[i : i + size])) for i in range(0, len(images), size)]
    )


def _range(preprocess, shape) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel model inputs of black and white pixels: ((C,), (C,))."""
    ends = np.stack([np.zeros(shape, np.uint8), np.full(shape, 255, np.uint8)])
    ends = np.asarray(preprocess(ends))  # (2, H, W, C)
    return ends[0].reshape(-1, ends.shape[-1]).min(0), ends[1].reshape(-1, ends.shape[-1]).max(0)


def _to_uint8(images: np.ndarray, value_range) -> np.ndarray:
    low, high = value_range
    return np.clip((images - low) / (high - low) * 255 + 0.5, 0, 255).astype(np.uint8)


def from_run(
    config, workdir: str, step: int = -1, image: str = "", count: int = 4, pool: int = 512
):
    """Restores `step` (-1: newest) of the run in `workdir` and picks images of its held-out split.

    Args:
      config: the run's config.
      image: comma-separated indices into the held-out split (default: the first `count`).
      pool: how many held-out images to scan for max-activating patches.

    Raises:
      ValueError: no checkpoint, a step that was not saved, or an index outside the split.
    """
    config_lib.validate(config)
    exp = experiment.build(config, jax.devices()[:1])
    split = exp.dataset.splits[exp.eval_split]
    indices = [int(i) for i in image.split(",")] if image else list(range(min(count, len(split))))
    bad = [i for i in indices if not 0 <= i < len(split)]
    if bad:
        raise ValueError(
            f"--image index {bad[0]} is outside the {exp.eval_split!r} split (0..{len(split) - 1})"
        )
    state, step, _ = restore.restore_step(config, exp, workdir, step, jax.devices()[:1])
    variables = jax.device_get(state.variables(state.eval_params))
    raw = np.stack([split[i]["image"] for i in range(min(pool, len(split)))])
    chosen = np.stack([split[i]["image"] for i in indices])
    preprocess = exp.options.preprocess
    return Subject(
        name=f"{config.model} step {step}",
        model=exp.model,
        variables=variables,
        images=jnp.asarray(_batches(preprocess, chosen)),
        display=chosen,
        labels=np.array([split[i]["label"] for i in indices]),
        class_names=tuple(exp.dataset.class_names),
        value_range=_range(preprocess, raw.shape[1:]),
        pool=_batches(preprocess, raw),
        pool_display=raw,
    )


SKIMAGE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def _photo(spec: str) -> np.ndarray:
    """A uint8 RGB photo from a path or `skimage:<name>` (e.g. skimage:chelsea)."""
    if spec.startswith("skimage:"):
        import skimage.data

        name = spec.split(":", 1)[1]
        if name not in SKIMAGE_PHOTOS:
            raise ValueError(f"--image={spec!r}: accepted skimage photos are {SKIMAGE_PHOTOS}")
        return getattr(skimage.data, name)()
    if not os.path.isfile(spec):
        raise FileNotFoundError(f"--image={spec!r} is not a file (or use skimage:chelsea)")
    from PIL import Image

    with Image.open(spec) as photo:
        return np.asarray(photo.convert("RGB"))


def from_pretrained(name: str, image: str = "") -> Subject:
    """A pretrained ImageNet network (`cnnjax.pretrained.load`) on photos.

    Args:
      image: comma-separated paths or `skimage:<name>`; default skimage:chelsea (a cat).
    """
    from cnnjax import pretrained

    model, variables, preprocess = pretrained.load(name)
    specs = image.split(",") if image else ["skimage:chelsea"]
    photos = [np.asarray(jax.jit(preprocess)(_photo(s)))[0] for s in specs]
    images = jnp.asarray(np.stack(photos))  # (B, S, S, 3), S the network's input side
    value_range = _range(preprocess, images.shape[1:])
    logits = jax.jit(lambda v, x: model.apply(v, x))(variables, images)
    pool_photos = [
        np.asarray(jax.jit(preprocess)(_photo(f"skimage:{p}")))[0] for p in SKIMAGE_PHOTOS
    ]
    pool = np.stack(pool_photos)
    return Subject(
        name=name,
        model=model,
        variables=variables,
        images=images,
        display=_to_uint8(np.stack(photos), value_range),
        labels=np.asarray(logits.argmax(-1)),
        class_names=tuple(pretrained.imagenet_class_names()),
        value_range=value_range,
        pool=pool,
        pool_display=_to_uint8(pool, value_range),
    )
