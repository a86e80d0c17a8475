"""Corrupt model and policy payloads for the fault tests, made from a valid one.

Each maker takes the valid bytes and returns bytes that must be refused without touching the
running model or policy.
"""
from __future__ import annotations

import io
import zipfile

import numpy as np


def truncated(data: bytes) -> bytes:
    """The first half (a transfer cut short)."""
    return data[: len(data) // 2]


def npz_oversized_length(data: bytes) -> bytes:
    """The .npz with its first weight array's header claiming 10^12 entries (8 TB) over the real data."""
    source = np.load(io.BytesIO(data), allow_pickle=False)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for i, name in enumerate(source.files):
            array = np.asarray(source[name])
            member = io.BytesIO()
            if i == 0 and name != "__metadata__":
                np.lib.format.write_array_header_1_0(member, {"descr": np.lib.format.dtype_to_descr(array.dtype),
                                                              "fortran_order": False, "shape": (10 ** 12,)})
                member.write(array.tobytes())
            else:
                np.lib.format.write_array(member, array, allow_pickle=False)
            archive.writestr(f"{name}.npy", member.getvalue())
    return out.getvalue()


def npz_wrong_shape(data: bytes) -> bytes:
    """The .npz with its first weight array transposed/reshaped to another shape."""
    return _rewrite_npz(data, lambda a: np.zeros(a.shape[::-1] + (2,), dtype=a.dtype))


def npz_nan_weight(data: bytes) -> bytes:
    """The .npz with NaN in its first floating-point weight array."""
    return _rewrite_npz(data, lambda a: np.full_like(a, np.nan))


def _rewrite_npz(data: bytes, change) -> bytes:
    source = np.load(io.BytesIO(data), allow_pickle=False)
    arrays = {name: np.asarray(source[name]) for name in source.files}
    first = next(n for n, a in arrays.items() if n != "__metadata__" and a.dtype.kind == "f")
    arrays[first] = change(arrays[first])
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def onnx_oversized_length(data: bytes) -> bytes:
    """The ONNX file plus a length-delimited field (metadata_props, 14) that claims 2^31 - 1 bytes."""
    return data + b"\x72\xff\xff\xff\xff\x07"


def onnx_nan_weight(data: bytes) -> bytes:
    """The ONNX policy with NaN in every entry of its first floating-point initializer."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load_from_string(data)
    for init in proto.graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype.kind == "f" and array.size > 1:
            init.CopyFrom(numpy_helper.from_array(np.full_like(array, np.nan), init.name))
            break
    return proto.SerializeToString()


def onnx_wrong_shape(data: bytes) -> bytes:
    """The ONNX policy with its observation input widened by 3 entries (the graph no longer fits)."""
    import onnx

    proto = onnx.load_from_string(data)
    dim = proto.graph.input[0].type.tensor_type.shape.dim[1]
    dim.dim_value = dim.dim_value + 3
    return proto.SerializeToString()
