"""Bottleneck features (the survey's case 1): a layer's activations for a whole split, cached.

`extract` runs a frozen network over a split in batches (one jitted forward per batch, a tqdm
bar) and keeps one named activation per image, optionally global-average-pooled; `cached`
stores the result as `<cache_dir>/<dataset>-<split>-<layer>-<key>.npz`, where the key hashes
the model, its variables (a fingerprint of the checkpoint), the layer, the pooling, the input
shape and the dataset spec, so a second run reuses it. `FeatureHead` is the linear (or
one-hidden-layer) classifier trained on them (Razavian et al., 2014, "CNN features off-the-shelf";
Yosinski et al., 2014).
"""

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from cnnjax import data, models
from cnnjax.data import subset
from cnnjax.models.intermediates import record

POOLS = ("flatten", "avg")


class FeatureHead(nn.Module):
    """Classifier on bottleneck features: (B, ...) → logits (B, num_classes).

    Attributes:
      num_classes: K.
      hidden: 0 for a linear classifier, else the width of one ReLU hidden layer (an MLP).
    """

    num_classes: int
    hidden: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        del train
        x = x.reshape(x.shape[0], -1)  # (B, D)
        if self.hidden:
            x = record(self, "pre_logits", nn.relu(nn.Dense(self.hidden, name="hidden")(x)))
        return nn.Dense(self.num_classes, name="logits")(x)


class FeatureSource:
    """A split of precomputed features: `source[i] = {"image": (D,) float32, "label": int}`."""

    def __init__(self, features: np.ndarray, labels: np.ndarray):
        self.features, self.labels = features, np.asarray(labels, np.int32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.features[index], "label": self.labels[index]}

    def read_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {"image": self.features[indices], "label": self.labels[indices]}


def layer_shapes(model, variables, input_shape: tuple[int, ...]) -> dict[str, tuple]:
    """`{layer: activation shape without batch}` in forward order (traced, not compiled)."""
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    acts = jax.eval_shape(lambda v, x: models.intermediates(model, v, x), variables, x)
    return {name: tuple(a.shape[1:]) for name, a in acts.items()}


def check_layer(layer: str, shapes: dict[str, tuple]) -> None:
    """Raises a ValueError naming the layers when `layer` is not one (or is the old head)."""
    names = [n for n in shapes if n != "logits"]
    if layer not in names:
        listed = ", ".join(f"{n} {shapes[n]}" for n in names)
        raise ValueError(f"unknown transfer.layer {layer!r}; the model's layers are: {listed}")


def make_extractor(model, preprocess: Callable, layer: str, pool: str) -> Callable:
    """Jitted `fn(variables, images (B, h, w, c) uint8) -> (B, D) float32` features."""

    def features(variables, images):
        acts = models.intermediates(model, variables, preprocess(images), train=False)
        out = acts[layer].astype(jnp.float32)
        if pool == "avg" and out.ndim == 4:
            out = jnp.mean(out, axis=(1, 2))  # (B, H, W, C) → (B, C)
        return out.reshape(out.shape[0], -1)  # (B, D)

    return jax.jit(features)


def extract(extractor, variables, source, batch_size: int, desc: str) -> tuple[np.ndarray, ...]:
    """Runs `extractor` over every example of `source` once: (features (N, D), labels (N,)).

    A split listed several times over (`repeat=`) is computed once per distinct example.
    """
    if isinstance(source, subset.SubsetSource) and len(np.unique(source.indices)) < len(source):
        unique, inverse = np.unique(source.indices, return_inverse=True)
        distinct = subset.SubsetSource(source.source, unique, source.label_map)
        features, labels = extract(extractor, variables, distinct, batch_size, desc)
        return features[inverse], labels[inverse]
    feats, labels = [], []
    total = -(-len(source) // batch_size)
    for batch in tqdm(
        data.eval_batches(source, batch_size=batch_size, shard_index=0, shard_count=1),
        total=total,
        desc=desc,
        unit="batch",
        mininterval=2.0,
    ):
        keep = batch["mask"]
        feats.append(np.asarray(extractor(variables, batch["image"]))[keep])
        labels.append(batch["label"][keep])
    return np.concatenate(feats), np.concatenate(labels).astype(np.int32)


def cache_key(**fields) -> str:
    """sha256 of the fields as sorted JSON (model, fingerprint, layer, pool, shape, spec, split)."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def cache_path(cache_dir: str, dataset: str, split: str, layer: str, key: str) -> str:
    safe = lambda s: re.sub(r"[^A-Za-z0-9_.=-]+", "_", s).strip("_")[:60]
    return os.path.join(cache_dir, f"{safe(dataset)}-{split}-{safe(layer)}-{key[:16]}.npz")


def cached(path: str, compute: Callable[[], tuple[np.ndarray, np.ndarray]], log=print):
    """(features, labels) from `path` if it exists, else `compute()` saved there atomically."""
    if os.path.exists(path):
        with np.load(path, allow_pickle=False) as stored:
            features, labels = stored["features"], stored["labels"]
        log(f"bottleneck features: reusing the cache {path} ({features.shape})")
        return features, labels
    start = time.time()
    features, labels = compute()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    np.savez(tmp, features=features, labels=labels)
    os.replace(tmp, path)
    log(
        f"bottleneck features: extracted {features.shape} in {time.time() - start:.1f} s, "
        f"cached in {path}"
    )
    return features, labels


__all__ = [
    "POOLS",
    "FeatureHead",
    "FeatureSource",
    "cache_key",
    "cache_path",
    "cached",
    "check_layer",
    "extract",
    "layer_shapes",
    "make_extractor",
]
