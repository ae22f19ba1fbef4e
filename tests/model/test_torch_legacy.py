"""The legacy torch .pth reader: hand-built files (layout, strides, views, refusals), real files."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest

from training.backbones import torch_legacy
from training.backbones.backbone_errors import TorchFileError
from training.backbones.weights import EFFICIENTNET_LITE0, MOBILENET_V2

# ---- a tiny writer of the legacy format, opcode by opcode (no torch needed) ----------


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _str(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _storage_pid(key: str, storage_type: str, numel: int, view: tuple | None = None) -> bytes:
    view_bytes = b"N" if view is None else _tuple([_str(view[0]), _int(view[1]), _int(view[2])])
    fields = [_str("storage"), _global("torch", storage_type), _str(key), _str("cpu"), _int(numel)]
    return _tuple([*fields, view_bytes]) + b"Q"  # BINPERSID


def _tensor(pid: bytes, offset: int, size: tuple, stride: tuple) -> bytes:
    args = [
        pid,
        _int(offset),
        _tuple([_int(v) for v in size]),
        _tuple([_int(v) for v in stride]),
        b"\x89",  # requires_grad False
        _global("collections", "OrderedDict") + b")R",  # backward hooks
    ]
    return _global("torch._utils", "_rebuild_tensor_v2") + _tuple(args) + b"R"


def legacy_file(entries: list[tuple[str, bytes]], storages: list[tuple[str, np.ndarray]]) -> bytes:
    """``torch.save(state_dict, f, _use_new_zipfile_serialization=False)`` byte for byte."""
    body = b"\x80\x02" + _global("collections", "OrderedDict") + b")R("
    body += b"".join(_str(name) + tensor for name, tensor in entries) + b"u."
    out = pickle.dumps(torch_legacy.MAGIC_NUMBER, protocol=2)
    out += pickle.dumps(torch_legacy.PROTOCOL_VERSION, protocol=2)
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}
    out += pickle.dumps(sys_info, protocol=2) + body
    out += pickle.dumps([key for key, _ in storages], protocol=2)
    for _, array in storages:
        out += struct.pack("<q", array.size) + array.astype(array.dtype.newbyteorder("<")).tobytes()
    return out


# ---- the layout cases --------------------------------------------------------------------


def test_reads_shapes_strides_offsets_views_and_dtypes():
    base = np.arange(24, dtype=np.float32) * 0.5  # one storage shared by three tensors
    longs = np.array([7, 1431430], dtype=np.int64)
    doubles = np.linspace(-1, 1, 6)
    entries = [
        # contiguous 2x3x4
        ("conv.weight", _tensor(_storage_pid("10", "FloatStorage", 24), 0, (2, 3, 4), (12, 4, 1))),
        # a transposed (non-contiguous) 4x3 view of elements 12..23
        ("fc.weight_t", _tensor(_storage_pid("10", "FloatStorage", 24), 12, (4, 3), (1, 4))),
        # a storage *view* (offset 6, 6 elements) read as 2x3
        (
            "view.weight",
            _tensor(_storage_pid("10", "FloatStorage", 24, ("11", 6, 6)), 0, (2, 3), (3, 1)),
        ),
        # a 0-d int64 scalar at element 1 (BatchNorm's num_batches_tracked)
        ("bn.num_batches_tracked", _tensor(_storage_pid("20", "LongStorage", 2), 1, (), ())),
        ("d.weight", _tensor(_storage_pid("30", "DoubleStorage", 6), 0, (6,), (1,))),
    ]
    state = torch_legacy.loads(legacy_file(entries, [("10", base), ("20", longs), ("30", doubles)]))
    assert list(state) == [name for name, _ in entries]
    np.testing.assert_array_equal(state["conv.weight"], base.reshape(2, 3, 4))
    np.testing.assert_array_equal(state["fc.weight_t"], base[12:].reshape(3, 4).T)
    np.testing.assert_array_equal(state["view.weight"], base[6:12].reshape(2, 3))
    assert state["bn.num_batches_tracked"].shape == ()
    assert state["bn.num_batches_tracked"].dtype == np.int64
    assert int(state["bn.num_batches_tracked"]) == 1431430
    assert state["d.weight"].dtype == np.float64
    np.testing.assert_array_equal(state["d.weight"], doubles)
    # Arrays own their memory: writing one does not change another sharing the storage.
    state["conv.weight"][...] = -1
    assert state["fc.weight_t"][0, 0] == base[12]


def test_refuses_any_other_global_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    evil = b"\x80\x02" + _global("os", "system") + _tuple([_str(f"touch {marker}")]) + b"R."
    data = (
        pickle.dumps(torch_legacy.MAGIC_NUMBER, protocol=2)
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps({"little_endian": True}, protocol=2)
        + evil
    )
    with pytest.raises(TorchFileError, match=r"os\.system"):
        torch_legacy.loads(data)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04rest-of-a-zip", "zip format"),
        (b"not a pickle at all", "not a PyTorch"),
        (pickle.dumps(12345, protocol=2), "magic number"),
    ],
)
def test_refuses_files_that_are_not_legacy_torch(data, message):
    with pytest.raises(TorchFileError, match=message):
        torch_legacy.loads(data)


def test_refuses_truncated_storage_and_out_of_bounds_tensor():
    base = np.arange(6, dtype=np.float32)
    ok = [("w", _tensor(_storage_pid("1", "FloatStorage", 6), 0, (2, 3), (3, 1)))]
    data = legacy_file(ok, [("1", base)])
    assert torch_legacy.loads(data)["w"].shape == (2, 3)
    with pytest.raises(TorchFileError, match="truncated"):
        torch_legacy.loads(data[:-4])
    past_end = [("w", _tensor(_storage_pid("1", "FloatStorage", 6), 2, (2, 3), (3, 1)))]
    with pytest.raises(TorchFileError, match="past the end"):
        torch_legacy.loads(legacy_file(past_end, [("1", base)]))


# ---- the real pretrained files -------------------------------------------------------------


def _check_real_state(state: dict[str, np.ndarray], n_tensors: int, fc: str) -> None:
    assert len(state) == n_tensors
    assert state[fc + ".weight"].shape == (1000, 1280)
    assert state[fc + ".bias"].shape == (1000,)
    for name, array in state.items():
        if name.endswith("num_batches_tracked"):
            assert array.dtype == np.int64 and array.shape == ()
            continue
        assert array.dtype == np.float32, name
        assert np.isfinite(array).all(), name
        if name.endswith("running_var"):
            assert (array >= 0).all(), name  # variances: a wrong offset would break this


def test_real_mobilenet_v2_file():
    state = MOBILENET_V2.load()
    _check_real_state(state, 314, "classifier.1")
    assert state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["features.1.conv.0.0.weight"].shape == (32, 1, 3, 3)  # depthwise
    assert state["features.18.0.weight"].shape == (1280, 320, 1, 1)


def test_real_efficientnet_lite0_file_with_non_contiguous_strides():
    state = EFFICIENTNET_LITE0.load()
    _check_real_state(state, 296, "_fc")
    # This file stores conv weights channels-last (strides (1, 32, 288, 96)); reading them
    # as contiguous would scramble every kernel. test_backbones' ImageNet check proves the
    # values land right; here, shapes.
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
