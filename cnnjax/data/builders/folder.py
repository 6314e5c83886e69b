"""`folder:<dir>`: one sub-folder of images per class, prepared into ArrayRecord.

Two layouts: `<dir>/train/<class>/*` with an optional `<dir>/test|val|validation/<class>/*`, or
`<dir>/<class>/*` split by a deterministic stratified `test_fraction`. Images are decoded with PIL
(any format it reads), stored grey if every image is grey and RGB otherwise, and optionally
resized (shorter side to `size`, then a centre crop) so that all share one shape.
"""

import os

import numpy as np
from PIL import Image

from cnnjax.data.builders.encoding import stratified_test_mask
from cnnjax.data.builders.local import BadExample, LocalBuilder

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


def resize_shorter_crop(image: Image.Image, size: int) -> Image.Image:
    """Resizes so the shorter side is `size` (bicubic), then crops the central size x size."""
    width, height = image.size
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return image.crop((left, top, left + size, top + size))


class ImageFolder(LocalBuilder, skip_registration=True):
    """Image folders; options: `test_fraction` (default 0.2, flat layout only), `size`."""

    KIND = "folder"

    def __init__(self, *, test_fraction: float = 0.2, size: int | None = None, **kwargs):
        self.test_fraction, self.size = test_fraction, size
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
        if not self.class_names or not self.files["train"]:
            raise FileNotFoundError(
                f"no images in class sub-folders of {root}; expected {root}/<class>/<image> with "
                f"extensions {', '.join(IMAGE_EXTENSIONS)}"
            )

    def inspect(self) -> None:
        """Reads every image header: unreadable files, grey or RGB, one size or several."""
        modes, sizes = set(), set()
        for path, _ in (f for files in self.files.values() for f in files):
            try:
                with Image.open(path) as image:
                    modes.add(image.mode)
                    sizes.add(image.size)
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
        elif len(sizes) == 1:
            width, height = sizes.pop()
            self.image_shape = (height, width, channels)
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
