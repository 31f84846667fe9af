"""Where LiteRT (``.tflite``) and ncnn (``.ncnn.param``) artifacts keep their spec.

* ``.tflite``: a named metadata buffer ``ssd_edge.spec`` inside the flatbuffer (the TFLite schema's
  ``Model.metadata``: name + buffer index; LiteRT's own tooling writes model metadata the same
  way), holding the spec JSON in UTF-8. Read with the schema bindings that ship inside the
  ``ai-edge-litert`` wheel, so a board with the interpreter can read it; the interpreter never
  looks at the entry.
* ``.ncnn.param`` / ``.ncnn.bin``: ncnn's text format has no place for metadata, so the spec sits
  in a sidecar ``<stem>.ncnn.json`` (``{"schema": 1, "spec": {...}, "precision": ...}``).

Both return ``{"ssd_edge.spec": json-or-dict, ...}`` like ONNX's ``metadata_props``.
"""
import json
import os

from .errors import SsdEdgeError, missing_extra

from .contract import SPEC_KEY
NCNN_SIDECAR_SCHEMA = 1


def tflite_metadata(path):
    """Return the ``{name: text}`` metadata entries of a ``.tflite`` file.

    Only entries whose buffer holds UTF-8 text are returned (the converter's own entries, such
    as ``min_runtime_version``, are short ASCII strings too).
    """
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        raise missing_extra("ai_edge_litert", "mobile")
    with open(path, "rb") as f:
        buf = f.read()
    if buf[4:8] != b"TFL3":            # the schema's file identifier
        raise SsdEdgeError("expected a TFLite flatbuffer in %s (identifier TFL3 at byte 4), got "
                           "%r" % (path, bytes(buf[4:8])))
    try:
        model = schema.Model.GetRootAs(buf, 0)
        out = {}
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            name = (entry.Name() or b"").decode("utf-8", "replace")
            data = _buffer_bytes(model.Buffers(entry.Buffer()), buf)
            try:
                out[name] = data.decode("utf-8").rstrip("\x00")
            except UnicodeDecodeError:
                continue
        return out
    except SsdEdgeError:
        raise
    except Exception as e:         # a truncated or foreign file: flatbuffers raises anything
        raise SsdEdgeError("expected a TFLite flatbuffer in %s, got a file it cannot parse (%s)"
                           % (path, e))


def _buffer_bytes(buffer, whole):
    # Large models keep buffers after the flatbuffer (offset/size) instead of inline data.
    offset = buffer.Offset() if hasattr(buffer, "Offset") else 0
    if offset > 1:
        return bytes(whole[offset:offset + buffer.Size()])
    if buffer.DataLength() == 0:
        return b""
    return buffer.DataAsNumpy().tobytes()


def ncnn_sidecar_path(param_path):
    """``model.fp16.ncnn.param`` → ``model.fp16.ncnn.json``."""
    base = os.fspath(param_path)
    stem = base[:-len(".param")] if base.endswith(".param") else base
    return stem + ".json"


def ncnn_bin_path(param_path):
    base = os.fspath(param_path)
    return (base[:-len(".param")] if base.endswith(".param") else base) + ".bin"


def ncnn_metadata(param_path):
    """Return ``{"ssd_edge.spec": dict}`` from the sidecar (empty when there is none), plus
    ``"precision"`` when the sidecar gives one."""
    side = ncnn_sidecar_path(param_path)
    if not os.path.isfile(ncnn_bin_path(param_path)):
        raise SsdEdgeError("expected the weights %s beside %s (pnnx writes both), got none"
                           % (ncnn_bin_path(param_path), param_path))
    if not os.path.isfile(side):
        return {}
    try:
        with open(side, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise SsdEdgeError("cannot read ncnn sidecar %s: %s" % (side, e))
    if not isinstance(data, dict) or "spec" not in data:
        raise SsdEdgeError("expected a JSON object with a \"spec\" field in %s, got %s; "
                           "re-export with ssd-export --ncnn" % (side, type(data).__name__))
    out = {SPEC_KEY: data["spec"]}
    if data.get("precision"):
        out["precision"] = data["precision"]
    return out


def read_tflite(path):
    """The registry's spec reader for ``.tflite``: ``(metadata dict, None)``."""
    return tflite_metadata(path), None


def read_ncnn(param_path):
    """The registry's spec reader for ``.ncnn.param``: ``(metadata dict, None)``."""
    return ncnn_metadata(param_path), None
