"""Writes torch state_dict files byte by byte, without torch, for the reader's tests.

The pickle opcodes are those `torch.save` emits at protocol 2: an `OrderedDict` of
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())` calls,
each storage a persistent id `('storage', torch.FloatStorage, key, 'cpu', numel[, None])`.
"""

import io
import pickle
import struct
import zipfile

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
STORAGES = {"float32": "FloatStorage", "int64": "LongStorage", "float16": "HalfStorage"}


def global_(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def integer(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def tuple_(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def state_dict_pickle(tensors: dict, legacy: bool, strides: dict | None = None) -> bytes:
    """The pickle of `tensors` ({name: array}); storage keys are "0", "1", ...

    `strides` ({name: element strides}) writes a tensor as a strided view of its storage
    (whose bytes are then `array` itself, C order): e.g. a transpose.
    """
    out = [b"\x80\x02", global_("collections", "OrderedDict"), b")R"]
    for i, (name, array) in enumerate(tensors.items()):
        storage = [text("storage"), global_("torch", STORAGES[array.dtype.name]), text(str(i))]
        storage += [text("cpu"), integer(array.size)] + ([b"N"] if legacy else [])
        shape, stride = array.shape, (strides or {}).get(name)
        if stride is None:
            stride = [s // array.itemsize for s in array.strides]
        args = tuple_(
            tuple_(*storage) + b"Q",  # BINPERSID: the storage
            integer(0),
            tuple_(*map(integer, shape)),
            tuple_(*map(integer, stride)),
            b"\x89",  # requires_grad=False
            global_("collections", "OrderedDict") + b")R",  # backward hooks
        )
        out += [text(name), global_("torch._utils", "_rebuild_tensor_v2"), args, b"R", b"s"]
    return b"".join(out) + b"."


def write_legacy(path, tensors: dict, main_pickle: bytes | None = None, **kw) -> None:
    """torch < 1.6: magic, protocol, sys_info, the state_dict, storage keys, raw storages."""
    keys = [str(i) for i in range(len(tensors))]
    with open(path, "wb") as f:
        f.write(pickle.dumps(MAGIC, protocol=2))
        f.write(pickle.dumps(1001, protocol=2))
        f.write(pickle.dumps({"little_endian": True, "protocol_version": 1001}, protocol=2))
        f.write(main_pickle or state_dict_pickle(tensors, legacy=True, **kw))
        f.write(pickle.dumps(keys, protocol=2))
        for array in tensors.values():
            f.write(struct.pack("<q", array.size))
            f.write(np.ascontiguousarray(array).tobytes())


def write_zip(path, tensors: dict, main_pickle: bytes | None = None, **kw) -> None:
    """torch >= 1.6: a zip of archive/data.pkl, archive/data/<key>, byteorder and version."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", main_pickle or state_dict_pickle(tensors, False, **kw))
        archive.writestr("archive/byteorder", "little")
        for i, array in enumerate(tensors.values()):
            archive.writestr(f"archive/data/{i}", np.ascontiguousarray(array).tobytes())
        archive.writestr("archive/version", "3\n")
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
