"""Writers of tiny dataset files (IDX pairs, image folders, CIFAR batches) and read-back views."""

import gzip
import os
import pickle

import numpy as np
import py2pickle
from PIL import Image


def write_idx(path, array, magic=None):
    """Writes a uint8 array as an IDX file (big-endian header), gzipped if `path` ends in .gz."""
    array = np.asarray(array, np.uint8)
    magic = magic if magic is not None else 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def random_images(n, shape, seed):
    """`n` distinct uint8 images (distinct so that read-back can be matched one to one)."""
    images = np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)
    images.reshape(n, -1)[:, 0] = np.arange(n)  # first pixel = index: all distinct
    return images


def as_set(images, labels):
    """Order-free view of a split (tfds shuffles records when it writes them)."""
    return sorted(
        (np.asarray(im).tobytes(), int(lb)) for im, lb in zip(images, labels, strict=True)
    )


def source_set(source):
    return as_set(
        [source[i]["image"] for i in range(len(source))],
        [source[i]["label"] for i in range(len(source))],
    )


def write_pickle(path, value, form="py3"):
    """`value` pickled as Python 2's cPickle wrote the official CIFAR files (`py2`) or as
    Python 3 writes it at protocol 2 (`py3`)."""
    with open(path, "wb") as f:
        f.write(py2pickle.dumps(value) if form == "py2" else pickle.dumps(value, protocol=2))


def write_cifar_batch(path, images, labels, label_key="labels", form="py3"):
    """A CIFAR python batch: dict of (N, 3072) uint8 rows (R, G, B planes) and a label list."""
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # NHWC → N, C*H*W
    value = {"data": data, label_key: list(map(int, labels)), "batch_label": "toy batch"}
    value["filenames"] = [f"img_{i}.png" for i in range(len(images))]
    write_pickle(path, value, form)


def write_folder(root, classes, per_class, shape, seed, mode="RGB"):
    """`root/<class>/<i>.png` images; returns (images, labels) in class order."""
    images = random_images(len(classes) * per_class, shape, seed)
    labels = np.repeat(np.arange(len(classes)), per_class)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / classes[label]
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(image[..., 0] if mode == "L" else image, mode).save(folder / f"{i}.png")
    return images, labels
