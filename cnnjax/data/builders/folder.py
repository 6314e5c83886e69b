"""`folder:<dir>`: one sub-folder of images per class, prepared into ArrayRecord.

Two layouts: `<dir>/train/<class>/*` with an optional `<dir>/test|val|validation/<class>/*`, or
`<dir>/<class>/*` split by a deterministic stratified `test_fraction`. Images are decoded with PIL
(any format it reads), stored grey if every image is grey and RGB otherwise, and optionally
resized (shorter side to `size`, then a centre crop) so that all share one shape. Without
`size`, images of mixed sizes are stored at the most common size: the others are resized
straight to it (covering it, then a centre crop), reported in one summary line. A training
class folder without images is an error naming it.
"""

import collections
import os

import numpy as np
from absl import logging
from PIL import Image

from cnnjax.data.builders import local
from cnnjax.data.builders.encoding import stratified_test_mask
from cnnjax.data.builders.local import BadExample, LocalBuilder
from cnnjax.data.registry import Entry, register

IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".webp",
    ".tif",
    ".tiff",
    ".ppm",
    ".pgm",
)
TEST_DIRS = ("test", "val", "validation")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def list_images(directory: str) -> list[str]:
    """Image files (by extension) anywhere below `directory`, sorted."""
    found = []
    for parent, _, names in sorted(os.walk(directory)):
        found += [
            os.path.join(parent, n) for n in sorted(names) if n.lower().endswith(IMAGE_EXTENSIONS)
        ]
    return found


def class_dirs(directory: str) -> list[str]:
    return sorted(
        d
        for d in os.listdir(directory)
        if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")
    )


def resize_cover_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    """Resizes (bicubic) to the smallest size covering width x height, then crops its centre."""
    if image.size == (width, height):
        return image
    scale = max(width / image.size[0], height / image.size[1])
    new_w = max(width, round(image.size[0] * scale))
    new_h = max(height, round(image.size[1] * scale))
    image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return image.crop((left, top, left + width, top + height))


def resize_shorter_crop(image: Image.Image, size: int) -> Image.Image:
    """Resizes so the shorter side is `size` (bicubic), then crops the central size x size."""
    return resize_cover_crop(image, size, size)


def most_common_size(sizes: collections.Counter) -> tuple[int, int]:
    """The (width, height) most images have; ties go to the larger area (less upsampling)."""
    return max(sizes, key=lambda wh: (sizes[wh], wh[0] * wh[1], wh))


class ImageFolder(LocalBuilder, skip_registration=True):
    """Image folders; options: `test_fraction` (default 0.2, flat layout only), `size`."""

    KIND = "folder"

    def __init__(self, *, test_fraction: float = 0.2, size: int | None = None, **kwargs):
        self.test_fraction, self.size = test_fraction, size
        self.stored_size: tuple[int, int] | None = None  # (width, height) of mixed-size images
        super().__init__(options={"test_fraction": test_fraction, "size": size}, **kwargs)

    def scan(self) -> None:
        root, self.bad = self.source, {}
        if not os.path.isdir(root):
            raise FileNotFoundError(
                f"image folder {root} does not exist; expected {root}/<class>/<image> or "
                f"{root}/train/<class>/<image> (and test/<class>/<image>)"
            )
        if os.path.isdir(os.path.join(root, "train")):
            self.class_names = tuple(class_dirs(os.path.join(root, "train")))
            self.files = {"train": self._labelled(os.path.join(root, "train"))}
            test = next((d for d in TEST_DIRS if os.path.isdir(os.path.join(root, d))), None)
            if test:
                self.files["test"] = self._labelled(os.path.join(root, test))
        else:
            self.class_names = tuple(class_dirs(root))
            files = self._labelled(root)
            self.files = {"train": files}
            if self.test_fraction and files:
                held_out = stratified_test_mask(
                    np.asarray([label for _, label in files]), self.test_fraction
                )
                self.files = {
                    "train": [f for f, h in zip(files, held_out, strict=True) if not h],
                    "test": [f for f, h in zip(files, held_out, strict=True) if h],
                }
        has_train = os.path.isdir(os.path.join(root, "train"))
        train_dir = os.path.join(root, "train") if has_train else root
        empty = [c for c in self.class_names if not list_images(os.path.join(train_dir, c))]
        if empty and self.class_names and len(empty) < len(self.class_names):
            raise ValueError(
                f"class folder {os.path.join(train_dir, empty[0])} has no images "
                f"({len(empty)} of {len(self.class_names)} class folders are empty: "
                f"{', '.join(empty[:5])}); every class needs images with extensions "
                f"{', '.join(IMAGE_EXTENSIONS)}, or remove the folder"
            )
        if not self.class_names or not self.files["train"]:
            raise FileNotFoundError(
                f"no images in class sub-folders of {root}; expected {root}/<class>/<image> with "
                f"extensions {', '.join(IMAGE_EXTENSIONS)}"
            )

    def inspect(self) -> None:
        """Reads every image header: unreadable files, grey or RGB, one size or several."""
        modes, sizes = set(), collections.Counter()
        for path, _ in (f for files in self.files.values() for f in files):
            try:
                with Image.open(path) as image:
                    modes.add(image.mode)
                    sizes[image.size] += 1
            except (OSError, ValueError) as e:
                if not self.skip_bad:
                    raise ValueError(
                        f"cannot read image file {path}: {e} (add ?skip_bad=1 to the dataset spec "
                        f"to skip unreadable files)"
                    ) from e
                self.bad[path] = str(e)
        channels = 1 if modes and all(m in GREY_MODES for m in modes) else 3
        if self.size:
            self.image_shape = (self.size, self.size, channels)
        elif sizes:
            width, height = self.stored_size = most_common_size(sizes)
            self.image_shape = (height, width, channels)
            others = sum(sizes.values()) - sizes[self.stored_size]
            if others:
                logging.warning(
                    "folder:%s: images come in %d sizes; %d of %d are resized straight to the "
                    "most common, %dx%d (cover, then centre crop) and stored at it. Add "
                    "?size=N to the dataset spec to store them N x N instead",
                    self.source, len(sizes), others, sum(sizes.values()), width, height,
                )  # fmt: skip
        else:
            self.image_shape = (None, None, channels)

    def _labelled(self, directory: str) -> list[tuple[str, int]]:
        """(path, label) of every image below `directory`/<class>; unknown classes get -1."""
        index = {name: i for i, name in enumerate(self.class_names)}
        return [
            (path, index.get(name, -1))
            for name in class_dirs(directory)
            for path in list_images(os.path.join(directory, name))
        ]

    def source_files(self) -> list[str]:
        return [path for files in self.files.values() for path, _ in files]

    def _load(self, path: str, label: int):
        if path in self.bad:
            raise BadExample(f"cannot read image file {path}: {self.bad[path]}")
        if label < 0:
            folder = os.path.basename(os.path.dirname(path))
            raise BadExample(
                f"label of {path} is out of range: class folder {folder!r} is not among the "
                f"training classes {list(self.class_names)}"
            )
        try:
            with Image.open(path) as image:
                image = image.convert("L" if self.image_shape[-1] == 1 else "RGB")
                if self.size:
                    image = resize_shorter_crop(image, self.size)
                elif self.stored_size:
                    image = resize_cover_crop(image, *self.stored_size)
                array = np.asarray(image, np.uint8)
        except (OSError, ValueError) as e:
            raise BadExample(f"cannot read image file {path}: {e}") from e
        return (array[..., None] if array.ndim == 2 else array), label

    def examples(self):
        def pairs(files):
            for path, label in files:
                key = os.path.relpath(path, self.source)
                yield key, lambda path=path, label=label: self._load(path, label)

        return {split: pairs(files) for split, files in self.files.items()}


register(
    Entry(
        "folder",
        "local",
        ImageFolder,
        options={"test_fraction": float, "size": int, **local.OPTIONS},
    )
)
