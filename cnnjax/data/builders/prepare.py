"""Preparing a tfds builder into ArrayRecord so that a failure leaves the data dir as it was."""

import hashlib
import os
import re
import shutil

import tensorflow_datasets as tfds

FILE_FORMAT = "array_record"


def _ancestors(path: str, root: str) -> list[str]:
    """`path` and its parents up to, not including, `root` (deepest first)."""
    path, root = os.path.abspath(path), os.path.abspath(root)
    chain = []
    while path != root and path.startswith(root + os.sep):
        chain.append(path)
        path = os.path.dirname(path)
    return chain


def prepare(builder: tfds.core.DatasetBuilder, root: str, **kwargs) -> None:
    """Runs `builder.download_and_prepare` (ArrayRecord) unless it is already prepared.

    tfds writes into an `incomplete.*` directory and renames it when done; if anything fails, this
    also removes every directory between `root` and the dataset that this call created, so a
    failed preparation leaves nothing behind in `root`.

    Args:
      builder: the builder, constructed with `data_dir` inside `root`.
      root: the data dir the user gave.
      **kwargs: passed to `download_and_prepare`.
    """
    if builder.is_prepared():
        return
    target = os.fspath(builder.data_dir)
    created = [p for p in _ancestors(target, root) if not os.path.exists(p)]
    downloads = os.path.join(os.fspath(builder.data_dir_root), "downloads")
    if not os.path.exists(downloads):
        created.append(downloads)
    try:
        builder.download_and_prepare(file_format=FILE_FORMAT, **kwargs)
    except BaseException:
        parent = os.path.dirname(target)
        if os.path.isdir(parent):
            for name in os.listdir(parent):
                if name.startswith("incomplete."):
                    shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
        for path in created:  # deepest first, so each removal sees what is left
            shutil.rmtree(path, ignore_errors=True)
        raise


def local_data_dir(root: str, kind: str, source: str, options: dict, files: list[str]) -> str:
    """A data dir for one local source, keyed by its path, options and files' sizes and mtimes,
    so editing the source prepares it afresh."""
    digest = hashlib.sha256(repr((os.path.abspath(source), sorted(options.items()))).encode())
    for path in sorted(files):
        info = os.stat(path)
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(os.path.normpath(source)))[:40]
    return os.path.join(root, "local", f"{kind}-{slug}-{digest.hexdigest()[:12]}")
