"""What an ``.onnx`` file says about itself, read without the ``onnx`` package.

The runtime must load an ONNX model on a board where only ONNX Runtime (or OpenCV, or OpenVINO)
is installed, yet it needs the model's ``metadata_props["ssd_edge.spec"]`` and its input/output
names before choosing a backend. ``ModelProto`` is a plain protobuf message, so a small wire-format
reader is enough: it walks the top-level fields, skips initializers by their length prefix (no
weight bytes are touched; the file is memory-mapped) and reads only names, shapes and op types.

Field numbers are those of ``onnx/onnx.proto`` (stable since IR version 3).
"""
import mmap
import os
from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional, Tuple, Union

from .errors import SsdEdgeError

# ModelProto
_M_IR_VERSION, _M_GRAPH, _M_METADATA = 1, 7, 14
# GraphProto
_G_NODE, _G_INITIALIZER, _G_INPUT, _G_OUTPUT = 1, 5, 11, 12
# NodeProto / TensorProto / ValueInfoProto / TypeProto / StringStringEntryProto
_N_OP_TYPE = 4
_T_NAME = 8
_V_NAME, _V_TYPE = 1, 2
_TY_TENSOR = 1
_TT_ELEM, _TT_SHAPE = 1, 2
_SH_DIM = 1
_D_VALUE, _D_PARAM = 1, 2
_KV_KEY, _KV_VALUE = 1, 2

#: ONNX ``TensorProto.DataType`` codes → numpy dtype names (the ones a detector uses).
ELEM_TYPES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 9: "bool",
              10: "float16", 11: "float64"}


class _Bad(Exception):
    pass


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output: ``shape`` holds ints for fixed dims, strings (or None) else."""

    name: str
    dtype: Optional[str]
    shape: Tuple[Union[int, str, None], ...]


@dataclass(frozen=True)
class OnnxInfo:
    """The parts of a ``ModelProto`` the runtime needs.

    Attributes:
        metadata: ``metadata_props`` as a dict of strings.
        inputs: graph inputs that are not initializers, in graph order.
        outputs: graph outputs, in graph order.
        op_types: every node's ``op_type`` (e.g. to spot QDQ nodes or ``EfficientNMS_TRT``).
        ir_version: the model's IR version.
    """

    metadata: Dict[str, str]
    inputs: Tuple[TensorInfo, ...]
    outputs: Tuple[TensorInfo, ...]
    op_types: FrozenSet[str]
    ir_version: int


def read_onnx_info(path):
    """Parse ``path`` as an ONNX ``ModelProto`` and return an :class:`OnnxInfo`.

    Raises :class:`SsdEdgeError` when the file is not an ONNX model.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise SsdEdgeError("expected an ONNX model in %s, got an empty file" % path)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                buf = memoryview(mm)
                try:
                    return _parse_model(buf)
                except (_Bad, IndexError, UnicodeDecodeError) as e:
                    raise SsdEdgeError("expected an ONNX model (protobuf ModelProto) in %s, got "
                                       "bytes that do not parse as one (%s); re-export it with "
                                       "ssd-export" % (path, e or "truncated"))
                finally:
                    buf.release()
    except OSError as e:
        raise SsdEdgeError("cannot read model file %s: %s" % (path, e.strerror))


def _varint(buf, pos):
    result, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Bad("varint longer than 10 bytes")


def _fields(buf, start, end):
    """Yield ``(field_number, wire_type, value)``; value is an int (varint) or a ``(s, e)`` span."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if num == 0:
            raise _Bad("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = (pos, pos + n), pos + n
        elif wire == 5:
            value, pos = None, pos + 4
        else:
            raise _Bad("wire type %d" % wire)
        if pos > end:
            raise _Bad("a field runs past its message")
        yield num, wire, value


def _span(wire, value, what):
    if wire != 2:
        raise _Bad("%s is not length-delimited" % what)
    return value


def _text(buf, span):
    return bytes(buf[span[0]:span[1]]).decode("utf-8")


def _parse_model(buf):
    ir_version, graph, metadata = None, None, {}
    for num, wire, value in _fields(buf, 0, len(buf)):
        if num == _M_IR_VERSION:
            if wire != 0:
                raise _Bad("ir_version is not a varint")
            ir_version = value
        elif num == _M_GRAPH:
            graph = _span(wire, value, "graph")
        elif num == _M_METADATA:
            key, val = _key_value(buf, _span(wire, value, "metadata_props"))
            metadata[key] = val
    if ir_version is None or graph is None:
        raise _Bad("no %s field" % ("ir_version" if ir_version is None else "graph"))
    inputs, outputs, op_types, inits = _parse_graph(buf, graph)
    inputs = tuple(t for t in inputs if t.name not in inits)
    return OnnxInfo(metadata, inputs, tuple(outputs), frozenset(op_types), ir_version)


def _key_value(buf, span):
    key, val = "", ""
    for num, wire, value in _fields(buf, *span):
        if num == _KV_KEY:
            key = _text(buf, _span(wire, value, "key"))
        elif num == _KV_VALUE:
            val = _text(buf, _span(wire, value, "value"))
    return key, val


def _parse_graph(buf, span):
    inputs, outputs, op_types, inits = [], [], set(), set()
    for num, wire, value in _fields(buf, *span):
        if num == _G_NODE:
            for n, w, v in _fields(buf, *_span(wire, value, "node")):
                if n == _N_OP_TYPE:
                    op_types.add(_text(buf, _span(w, v, "op_type")))
        elif num == _G_INITIALIZER:
            for n, w, v in _fields(buf, *_span(wire, value, "initializer")):
                if n == _T_NAME:
                    inits.add(_text(buf, _span(w, v, "initializer name")))
        elif num in (_G_INPUT, _G_OUTPUT):
            info = _value_info(buf, _span(wire, value, "value_info"))
            (inputs if num == _G_INPUT else outputs).append(info)
    return inputs, outputs, op_types, inits


def _value_info(buf, span):
    name, dtype, shape = "", None, ()
    for num, wire, value in _fields(buf, *span):
        if num == _V_NAME:
            name = _text(buf, _span(wire, value, "name"))
        elif num == _V_TYPE:
            for n, w, v in _fields(buf, *_span(wire, value, "type")):
                if n == _TY_TENSOR:
                    dtype, shape = _tensor_type(buf, _span(w, v, "tensor_type"))
    return TensorInfo(name, dtype, shape)


def _tensor_type(buf, span):
    dtype, dims = None, []
    for num, wire, value in _fields(buf, *span):
        if num == _TT_ELEM and wire == 0:
            dtype = ELEM_TYPES.get(value, "onnx:%d" % value)
        elif num == _TT_SHAPE:
            for n, w, v in _fields(buf, *_span(wire, value, "shape")):
                if n == _SH_DIM:
                    dims.append(_dim(buf, _span(w, v, "dim")))
    return dtype, tuple(dims)


def _dim(buf, span):
    dim = None
    for num, wire, value in _fields(buf, *span):
        if num == _D_VALUE and wire == 0:
            dim = value - (1 << 64) if value >= (1 << 63) else value
        elif num == _D_PARAM:
            dim = _text(buf, _span(wire, value, "dim_param"))
    return dim
