"""A restricted reader for the CIFAR python batch files, which are pickles.

Plain `pickle.load` runs whatever callable a file names, so cnnjax never uses it. This reader is a
`pickle.Unpickler` subclass whose `find_class` refuses every global except the four a pickled
dict of numpy arrays needs (`numpy…multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype` and
`_codecs.encode`), and even those are mapped to inert stand-ins defined here: they record shapes,
dtypes and raw bytes, and `np.frombuffer` turns them into arrays afterwards. No code named by the
file is ever imported or called.
"""

import pickle
from typing import Any

import numpy as np

# Plain numeric dtypes a data file may hold; object dtypes (which would unpickle items) are refused.
_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f2", "f4", "f8", "b1"}


def _text(value: Any) -> Any:
    """Python 2 wrote dtype codes and byte orders as byte strings (`b'u1'`, `b'|'`)."""
    return value.decode("ascii") if isinstance(value, bytes) else value


class _Dtype:
    """Stand-in for `numpy.dtype(spec, align, copy)`; BUILD then sets the byte order."""

    def __init__(self, spec, align=False, copy=True):
        del align, copy
        try:
            spec = _text(spec)
        except UnicodeDecodeError:
            spec = repr(spec)
        if spec not in _DTYPES:
            raise pickle.UnpicklingError(f"refusing dtype {spec!r}; accepted: {sorted(_DTYPES)}")
        self.spec, self.order = spec, "|"

    def __setstate__(self, state):
        order = _text(state[1]) if isinstance(state, tuple) and len(state) > 1 else None
        if order not in ("|", "<", ">", "="):
            raise pickle.UnpicklingError(f"refusing dtype byte order {order!r}")
        self.order = order

    def resolve(self) -> np.dtype:
        dtype = np.dtype(self.spec)
        return dtype.newbyteorder(self.order) if self.order in "<>" else dtype


class _Array:
    """Stand-in for `numpy.core.multiarray._reconstruct(ndarray, ...)`; BUILD gives its data."""

    def __init__(self, cls, shape, typecode):
        del shape, typecode
        if cls is not _NDARRAY:
            raise pickle.UnpicklingError("refusing to reconstruct anything but a numpy array")
        self.array = None

    def __setstate__(self, state):
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _Dtype) or not isinstance(raw, bytes | str):
            raise pickle.UnpicklingError("array data must be raw bytes of a plain numeric dtype")
        raw = raw.encode("latin1") if isinstance(raw, str) else raw
        flat = np.frombuffer(raw, dtype.resolve())
        self.array = flat.reshape(shape, order="F" if fortran else "C").copy()


def _encode(text: str, encoding: str = "latin1") -> bytes:
    """Stand-in for `_codecs.encode`, which Python 3 uses to pickle bytes at protocol 2."""
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


_NDARRAY = object()  # stand-in for the `numpy.ndarray` class; only `_Array` accepts it
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _Array,
    ("numpy._core.multiarray", "_reconstruct"): _Array,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Dtype,
    ("_codecs", "encode"): _encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain containers, numbers, strings and numeric numpy arrays; refuses the rest."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: CIFAR batch files hold only dicts, lists "
            f"and numpy arrays"
        )


def _resolve(value: Any) -> Any:
    if isinstance(value, _Array):
        if value.array is None:
            raise pickle.UnpicklingError("a numpy array in the file has no data")
        return value.array
    if isinstance(value, dict):
        return {_resolve(k): _resolve(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_resolve(v) for v in value)
    if isinstance(value, _Dtype):
        return value.resolve()
    return value


def load_restricted(path: str) -> Any:
    """Reads the pickle at `path` with `RestrictedUnpickler`.

    Both forms of the CIFAR files load: the official ones, written by Python 2's cPickle
    (protocol 2: keys, strings and numpy dtype codes come back as `bytes`), and Python 3 pickles
    (`str`).

    Raises:
      ValueError: naming `path` when the file is not such a pickle or names a refused global.
    """
    try:
        with open(path, "rb") as f:
            return _resolve(RestrictedUnpickler(f, encoding="bytes").load())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as e:
        raise ValueError(f"cannot read CIFAR batch file {path}: {e}") from e
