"""Writes pickles byte for byte as Python 2's cPickle (protocol 2) wrote the CIFAR python batches.

The official `cifar-10-batches-py/data_batch_1` begins

    80 02 7d 71 01 28 55 04 64 61 74 61 71 02 63 6e 75 6d 70 79 2e 63 6f 72 65 2e ...
    PROTO 2, EMPTY_DICT, BINPUT 1, MARK, SHORT_BINSTRING 'data', BINPUT 2,
    GLOBAL 'numpy.core.multiarray _reconstruct', ...

Python 3 cannot produce this: its `str` pickles as BINUNICODE and its `bytes` as a call of
`_codecs.encode`; Python 2's `str` is SHORT_BINSTRING (`U`, length < 256) or BINSTRING (`T`), and
numpy's `ndarray.__reduce__` gave `_reconstruct(ndarray, (0,), 'b')` with state
`(1, shape, dtype('u1'), False, raw)`, the dtype pickled as `dtype('u1', 0, 1)` with state
`(3, '|', None, None, None, -1, -1, 0)`. cPickle memoised (BINPUT, ids from 1) only objects
with another reference besides the one being pickled: dict keys and values, list items and
reduced objects, not the fresh strings numpy's `__reduce__` builds ('u1', '|', 'b', the raw
data). Lists and dicts of two or more items are written in MARK ... APPENDS / SETITEMS batches
of 1000, a single item with APPEND / SETITEM. Only what the CIFAR files hold is supported: dicts
with `str` keys, lists, `str` (Python 2 byte strings, given here as `bytes` or ASCII `str`),
non-negative ints and C-ordered numpy arrays of one-byte or little-endian numeric dtypes.
"""

import struct

import numpy as np

BATCH = 1000  # cPickle's BATCHSIZE


class _Writer:
    def __init__(self):
        self.out = bytearray(b"\x80\x02")  # PROTO 2
        self.memo = 0
        self.arrays = 0

    def put(self) -> None:
        self.memo += 1
        self.out += (
            b"q" + bytes([self.memo]) if self.memo < 256 else b"r" + struct.pack("<I", self.memo)
        )

    def string(self, value, memoise: bool) -> None:
        raw = value.encode("ascii") if isinstance(value, str) else bytes(value)
        if len(raw) < 256:
            self.out += b"U" + bytes([len(raw)]) + raw  # SHORT_BINSTRING
        else:
            self.out += b"T" + struct.pack("<i", len(raw)) + raw  # BINSTRING
        if memoise and len(raw) >= 2:  # cPickle never memoised strings shorter than 2
            self.put()

    def integer(self, value: int) -> None:
        if 0 <= value < 256:
            self.out += b"K" + bytes([value])  # BININT1
        elif 0 <= value < 65536:
            self.out += b"M" + struct.pack("<H", value)  # BININT2
        else:
            self.out += b"J" + struct.pack("<i", value)  # BININT

    def global_(self, module: str, name: str) -> None:
        self.out += b"c" + f"{module}\n{name}\n".encode()
        self.put()

    def array(self, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        self.arrays += 1
        if self.arrays > 1:  # a second one would reuse the memoised globals (BINGET)
            raise ValueError("one array per pickle, as in each CIFAR batch file")
        if array.dtype.itemsize > 1 and array.dtype.byteorder == ">":
            raise ValueError("only little-endian or one-byte dtypes")
        self.global_("numpy.core.multiarray", "_reconstruct")
        self.global_("numpy", "ndarray")
        self.integer(0)
        self.out += b"\x85"  # TUPLE1: (0,)
        self.string("b", memoise=False)
        self.out += b"\x87R"  # TUPLE3, REDUCE
        self.put()
        self.out += b"("  # MARK: state (1, shape, dtype, fortran, raw)
        self.integer(1)
        for d in array.shape:
            self.integer(d)
        self.out += {0: b")", 1: b"\x85", 2: b"\x86", 3: b"\x87"}[array.ndim]
        self.global_("numpy", "dtype")
        self.string(array.dtype.str[1:], memoise=False)  # 'u1', 'i8', 'f4'
        self.integer(0)
        self.integer(1)
        self.out += b"\x87R"  # dtype('u1', 0, 1)
        self.put()
        order = "|" if array.dtype.itemsize == 1 else "<"
        self.out += b"(" + b"K\x03"
        self.string(order, memoise=False)
        self.out += b"NNN" + b"J\xff\xff\xff\xff" * 2 + b"K\x00" + b"tb"  # TUPLE, BUILD
        self.out += b"\x89"  # NEWFALSE: not Fortran-ordered
        self.string(array.tobytes(), memoise=False)
        self.out += b"tb"  # TUPLE, BUILD

    def value(self, value) -> None:
        if isinstance(value, dict):
            self.out += b"}"
            self.put()
            self.batched([(k, v) for k, v in value.items()], b"s", b"u")
        elif isinstance(value, list):
            self.out += b"]"
            self.put()
            self.batched(value, b"a", b"e")
        elif isinstance(value, str | bytes):
            self.string(value, memoise=True)
        elif isinstance(value, np.ndarray):
            self.array(value)
        elif isinstance(value, int):
            self.integer(value)
        else:
            raise TypeError(f"cannot write {type(value).__name__} as CIFAR files did")

    def batched(self, items: list, one: bytes, many: bytes) -> None:
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            if len(chunk) > 1:
                self.out += b"("
            for item in chunk:
                if isinstance(item, tuple):  # a dict item: key, then value
                    self.string(item[0], memoise=True)
                    self.value(item[1])
                else:
                    self.value(item)
            self.out += many if len(chunk) > 1 else one


def dumps(value) -> bytes:
    """`value` as the bytes Python 2's `cPickle.dump(value, f, 2)` wrote."""
    writer = _Writer()
    writer.value(value)
    return bytes(writer.out + b".")
