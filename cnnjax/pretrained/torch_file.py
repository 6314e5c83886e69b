"""Reads PyTorch `state_dict` files into numpy arrays without torch and without running code.

`torch.save` writes a pickle in which every tensor is a call to `torch._utils._rebuild_tensor_v2`
on a storage named by a persistent id; the raw storages follow the pickle (the legacy format
of torch < 1.6) or sit beside it as zip records `<archive>/data/<key>` (the zip format). Plain
`pickle.load` would import and call whatever globals the file names, so this reader is a
`pickle.Unpickler` whose `find_class` accepts only `collections.OrderedDict`,
`torch._utils._rebuild_tensor_v2` and the `torch.*Storage` types, each mapped to an inert
stand-in defined here; every other global is refused before anything is imported or called.
Tensors are cut out of the storages with bounds-checked strides, then copied.
"""

import collections
import io
import pickle
import zipfile
from typing import Any

import ml_dtypes
import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
_STORAGES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
ALLOWED_GLOBALS = (
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    *(f"torch.{name}" for name in _STORAGES),
)


class TorchFileError(ValueError):
    """A file that is not a plain torch `state_dict`, or one that names a refused global."""


class _StorageType:
    """Stand-in for a `torch.*Storage` class: only its dtype matters."""

    def __init__(self, name: str):
        self.name, self.dtype = name, _STORAGES[name]


class _StorageRef:
    """A storage named by a persistent id; its bytes are attached once they have been read."""

    def __init__(self, key: str, dtype: np.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: np.ndarray | None = None


class _Tensor:
    """Stand-in for `_rebuild_tensor_v2(storage, offset, size, stride, ...)`."""

    def __init__(self, storage, offset, size, stride, requires_grad=False, hooks=None, meta=None):
        del requires_grad, hooks, meta
        ints = all(isinstance(v, int) and v >= 0 for v in (offset, *size, *stride))
        if not isinstance(storage, _StorageRef) or not ints or len(size) != len(stride):
            raise pickle.UnpicklingError("malformed tensor record")
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def resolve(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise pickle.UnpicklingError(f"storage {self.storage.key!r} has no data in the file")
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        if 0 in self.size:
            return np.zeros(self.size, data.dtype)
        if last >= data.size:  # as_strided does not check bounds: we do
            raise pickle.UnpicklingError(f"tensor reaches past its storage {self.storage.key!r}")
        item = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], self.size, [s * item for s in self.stride], writeable=False
        )
        return np.array(view)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, storages: dict[str, _StorageRef]):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _Tensor
        if module == "torch" and name in _STORAGES:
            return _StorageType(name)
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: a torch state_dict may only name "
            f"{', '.join(ALLOWED_GLOBALS)}"
        )

    def persistent_load(self, pid) -> _StorageRef:
        # legacy: ('storage', type, key, location, numel, view_metadata); zip: the first five
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r:.80}")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int):
            raise pickle.UnpicklingError(f"malformed storage record {pid!r:.80}")
        if len(pid) == 6 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views (torch < 0.4 files) are not supported")
        if key not in self.storages:
            self.storages[key] = _StorageRef(key, storage_type.dtype, numel)
        return self.storages[key]


def _resolve(value: Any) -> Any:
    if isinstance(value, _Tensor):
        return value.resolve()
    if isinstance(value, dict):
        return type(value)((k, _resolve(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return type(value)(_resolve(v) for v in value)
    return value


def _read_legacy(stream: io.BytesIO) -> Any:
    storages: dict[str, _StorageRef] = {}
    if _Unpickler(stream, storages).load() != _LEGACY_MAGIC:
        raise pickle.UnpicklingError("not a torch file (no magic number, not a zip archive)")
    _Unpickler(stream, storages).load()  # protocol version
    _Unpickler(stream, storages).load()  # sys_info: endianness and type sizes
    result = _Unpickler(stream, storages).load()
    for key in _Unpickler(stream, storages).load():
        ref = storages.get(str(key))
        header = stream.read(8)
        if ref is None or len(header) != 8:
            raise pickle.UnpicklingError(f"storage {key!r} is not described or is truncated")
        numel = int.from_bytes(header, "little")  # elements, as written by torch
        raw = stream.read(numel * ref.dtype.itemsize)
        if numel != ref.numel or len(raw) != numel * ref.dtype.itemsize:
            raise pickle.UnpicklingError(f"storage {key!r} is truncated or has the wrong size")
        ref.data = np.frombuffer(raw, ref.dtype)
    return result


def _read_zip(archive: zipfile.ZipFile) -> Any:
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise pickle.UnpicklingError("a torch zip file holds exactly one <archive>/data.pkl")
    root = pickles[0].removesuffix("data.pkl")
    byteorder = f"{root}byteorder"
    if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
        raise pickle.UnpicklingError("big-endian torch files are not supported")
    storages: dict[str, _StorageRef] = {}
    result = _Unpickler(io.BytesIO(archive.read(pickles[0])), storages).load()
    for key, ref in storages.items():
        raw = archive.read(f"{root}data/{key}")
        if len(raw) < ref.numel * ref.dtype.itemsize:
            raise pickle.UnpicklingError(f"storage record data/{key} is truncated")
        ref.data = np.frombuffer(raw, ref.dtype, count=ref.numel)
    return result


def read_torch(path: str) -> dict[str, np.ndarray]:
    """Reads a `torch.save`d state_dict (zip or legacy format) as `{name: numpy array}`.

    Args:
      path: a `.pth` / `.pt` / `.bin` file written by `torch.save(module.state_dict(), path)`.

    Returns:
      the tensors by their torch names, in file order, as C-contiguous numpy arrays (torch's
      layout: convolution kernels OIHW, dense weights (out, in)).

    Raises:
      FileNotFoundError: no file at `path`.
      TorchFileError: (a ValueError) naming `path` when the file is not a torch file, is
        truncated, or names any global besides `ALLOWED_GLOBALS` — refused before it is called.
    """
    with open(path, "rb") as f:
        blob = f.read()
    try:
        if zipfile.is_zipfile(io.BytesIO(blob)):
            with zipfile.ZipFile(io.BytesIO(blob)) as archive:
                result = _read_zip(archive)
        else:
            result = _read_legacy(io.BytesIO(blob))
        result = _resolve(result)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
        raise TorchFileError(f"cannot read torch file {path}: {e}") from e
    if isinstance(result, dict) and "state_dict" in result:  # a checkpoint dict around it
        result = result["state_dict"]
    if not isinstance(result, dict) or not all(isinstance(v, np.ndarray) for v in result.values()):
        raise TorchFileError(f"torch file {path} does not hold a flat state_dict of tensors")
    return dict(result)
