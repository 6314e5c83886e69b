"""Helpers of the transfer tests (tests/transfer is on sys.path: `import transfer_helpers`)."""

import hashlib
import os

TINY_RESNET = {"stage_sizes": (1, 1), "widths": (4, 8)}


def tiny_config(**overrides):
    """The quick-start config, cut to a few steps of 32 (no pictures, no bar)."""
    from experiments.configs import quickstart

    config = quickstart.get_config()
    config.update(dataset="mnist5k?classes=0-4", num_steps=8, batch_size=32)
    config.log.update(every_steps=4, write_pictures=False, progress_bar=False)
    config.update(overrides)  # nested groups as dicts: transfer={"mode": ...}, data={...}
    return config


def tree_hash(directory: str) -> str:
    """sha256 over every file's relative path and bytes under `directory`."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, directory).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()
