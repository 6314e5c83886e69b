"""The restricted torch reader on files written byte by byte (torchfiles.py), both formats:
values, dtypes and strides survive; anything but a plain state_dict is refused, and a global
such as `os.system` is refused without being called."""

import os

import numpy as np
import pytest
from torchfiles import global_, integer, state_dict_pickle, text, tuple_, write_legacy, write_zip

from cnnjax.pretrained import TorchFileError, read_torch

WRITERS = {"legacy": write_legacy, "zip": write_zip}


def tensors():
    rng = np.random.default_rng(0)
    return {
        "conv.weight": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
        "bn.running_mean": rng.normal(size=(4,)).astype(np.float32),
        "bn.num_batches_tracked": np.array(7, np.int64),
        "fc.weight": rng.normal(size=(2, 5)).astype(np.float16),
    }


@pytest.mark.parametrize("fmt", WRITERS)
def test_round_trip(tmp_path, fmt):
    path = tmp_path / "weights.pth"
    WRITERS[fmt](path, tensors())
    loaded = read_torch(str(path))
    assert list(loaded) == list(tensors())
    for name, expected in tensors().items():
        assert loaded[name].dtype == expected.dtype
        np.testing.assert_array_equal(loaded[name], expected)


@pytest.mark.parametrize("fmt", WRITERS)
def test_strided_tensor_is_a_view_of_its_storage(tmp_path, fmt):
    """A transposed tensor: storage holds 0..5, the (3, 2) tensor has strides (1, 3)."""
    storage = np.arange(6, dtype=np.float32).reshape(3, 2)
    path = tmp_path / "t.pth"
    # element [i, j] = storage.flat[i + 3 j]: the transpose of the (2, 3) C-order matrix
    WRITERS[fmt](path, {"w": storage}, strides={"w": (1, 3)})
    np.testing.assert_array_equal(read_torch(str(path))["w"], storage.reshape(2, 3).T)


@pytest.mark.parametrize("fmt", WRITERS)
def test_os_system_is_refused_without_running(tmp_path, fmt):
    marker = tmp_path / "ran"
    evil = b"\x80\x02" + global_("os", "system") + tuple_(text(f"touch {marker}")) + b"R."
    path = tmp_path / "evil.pth"
    WRITERS[fmt](path, {}, main_pickle=evil)
    with pytest.raises(TorchFileError, match=r"refusing to load global os\.system") as error:
        read_torch(str(path))
    assert "OrderedDict" in str(error.value) and str(path) in str(error.value)
    assert not marker.exists() and os.path.exists(path)


def test_unlisted_torch_global_is_refused(tmp_path):
    """Only _rebuild_tensor_v2 of torch._utils: e.g. _rebuild_parameter is refused too."""
    pickled = state_dict_pickle(tensors(), legacy=True).replace(
        b"_rebuild_tensor_v2", b"_rebuild_parameter"
    )
    path = tmp_path / "p.pth"
    write_legacy(path, tensors(), main_pickle=pickled)
    with pytest.raises(TorchFileError, match="torch._utils._rebuild_parameter"):
        read_torch(str(path))


def test_tensor_past_its_storage_is_refused(tmp_path):
    """A stride that reaches past the storage would read foreign memory: refused."""
    path = tmp_path / "t.pth"
    write_zip(path, {"w": np.zeros((2, 3), np.float32)}, strides={"w": (3, 2)})
    with pytest.raises(TorchFileError, match="past its storage"):
        read_torch(str(path))


def test_truncated_and_foreign_files(tmp_path):
    path = tmp_path / "short.pth"
    write_legacy(path, tensors())
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(TorchFileError, match="storage .3. is truncated"):
        read_torch(str(path))
    other = tmp_path / "other.pth"
    other.write_bytes(b"\x80\x02" + integer(5) + b".")
    with pytest.raises(TorchFileError, match="magic number"):
        read_torch(str(other))
    with pytest.raises(FileNotFoundError):
        read_torch(str(tmp_path / "absent.pth"))
