"""Readers for weight files that need no code execution: safetensors and Keras HDF5.

- safetensors (timm, Hugging Face): a JSON header and raw little-endian tensors, read with the
  `safetensors` package's numpy API. Names and layouts are torch's (OIHW, (out, in)).
- Keras HDF5 through h5py: Keras 2 `.h5` files (`save_weights`, or `save` with its
  `model_weights` group) hold `layer/.../kernel:0`; Keras 3 `.weights.h5` files hold
  `layers/<layer>/vars/<i>`. Both become `layer/kernel` or `layer/<i>` (convert.py maps the
  numbered form: kernel, bias; gamma, beta, moving_mean, moving_variance). Layouts are
  channels-last (HWIO kernels, (in, out) dense kernels).

`read_weights(path)` picks the reader from the file name (torch for everything else).
"""

import os

import numpy as np

from cnnjax.pretrained.torch_file import read_torch


def _check_exists(path: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no weight file at {path}")


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """`{name: array}` of a `.safetensors` file (torch layouts).

    Raises:
      FileNotFoundError: no file at `path`.
      ValueError: naming `path` when it is not a safetensors file (or `safetensors` is missing).
    """
    _check_exists(path)
    try:
        from safetensors.numpy import load_file
    except ImportError as e:
        raise ValueError(f"reading {path} needs safetensors: pip install -e '.[pretrained]'") from e
    try:
        return dict(load_file(path))
    except Exception as e:  # safetensors raises its own SafetensorError (and OSError)
        raise ValueError(f"cannot read safetensors file {path}: {e}") from e


def _keras_name(dataset_path: str) -> str:
    parts = dataset_path.split("/")
    if parts[0] == "model_weights":  # Keras 2 `model.save(...h5)`
        parts = parts[1:]
    if len(parts) >= 3 and parts[-2] == "vars":  # Keras 3: .../layers/<layer>/vars/<i>
        return f"{parts[-3]}/{parts[-1]}"
    return f"{parts[0]}/{parts[-1].split(':')[0]}"  # Keras 2: <layer>/.../<weight>:0


def read_keras_h5(path: str) -> dict[str, np.ndarray]:
    """`{"layer/weight": array}` of a Keras 2 `.h5` or Keras 3 `.weights.h5` file.

    Returns:
      e.g. {"conv2d/kernel": (KH, KW, I, O), "conv2d/bias": (O,), "batch_normalization/gamma":
      ...} (Keras 2) or {"conv2d/0": ..., "conv2d/1": ...} (Keras 3). Optimizer state is skipped.

    Raises:
      FileNotFoundError: no file at `path`.
      ValueError: naming `path` when it is not an HDF5 file, h5py is missing, or two weights
        would get the same name.
    """
    _check_exists(path)
    try:
        import h5py
    except ImportError as e:
        raise ValueError(f"reading {path} needs h5py: pip install -e '.[pretrained]'") from e
    out: dict[str, np.ndarray] = {}

    def visit(name, node):
        if not isinstance(node, h5py.Dataset) or "optimizer" in name.split("/")[0]:
            return
        key = _keras_name(name)
        if key in out:
            raise ValueError(f"two weights of {path} are both called {key!r} ({name})")
        out[key] = np.asarray(node[()])

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except OSError as e:
        raise ValueError(f"cannot read HDF5 file {path}: {e}") from e
    return out


def read_weights(path: str) -> dict[str, np.ndarray]:
    """Reads `path` by its name: `.safetensors`, `.h5` / `.hdf5` (Keras), else a torch file."""
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    if path.endswith((".h5", ".hdf5")):
        return read_keras_h5(path)
    _check_exists(path)
    return read_torch(path)
