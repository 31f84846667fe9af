"""The contracts every zone shares: names, variants, hashes and the engine sidecar.

Core zone (stdlib + numpy only). Export writes these, the runtime reads them, the tools print
them; each fact is written here once (docs/architecture.md, "Contracts"; docs/formats.md for the
sidecar's fields).

* ``SPEC_KEY``: the ONNX ``metadata_props`` key (and ``.ort`` custom metadata key) holding the
  :class:`~ssd_edge.spec.DetectorSpec` as JSON.
* ONNX I/O names: ``INPUT_NAME`` (``float32 [B, 3, H, W]``), the decoded layout
  ``DECODED_OUTPUTS`` (``scores [B, P, C]``, ``boxes [B, P, 4]``) and the NMS layout
  ``NMS_OUTPUTS`` (``num_detections int32 [B, 1]``, ``detection_boxes float32 [B, K, 4]``,
  ``detection_scores float32 [B, K]``, ``detection_classes int32 [B, K]``).
* ``PRECISIONS``, ``NMS_VARIANTS`` and :func:`nms_variant` (which variant a graph's ops are).
* :func:`file_sha256` and the engine sidecar ``<engine>.json``: read, write, match, and the
  ``ssd-export`` command that rebuilds an engine (:func:`export_command`).
"""
import hashlib
import json
import os
import shlex
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

from .errors import SsdEdgeError
from .validate import check_sidecar

SPEC_KEY = "ssd_edge.spec"
#: metadata key of the in-graph NMS parameters (``--nms onnx|trt``), JSON.
NMS_KEY = "ssd_edge.nms"
INPUT_NAME = "input_0"
DECODED_OUTPUTS = ("scores", "boxes")
NMS_OUTPUTS = ("num_detections", "detection_boxes", "detection_scores", "detection_classes")
PRECISIONS = ("fp32", "fp16", "int8")
#: ``--nms``: none (host NMS), onnx (standard ``NonMaxSuppression``), trt (``EfficientNMS_TRT``).
NMS_VARIANTS = ("none", "onnx", "trt")
NMS_PLUGIN_OP = "EfficientNMS_TRT"
NMS_ONNX_OP = "NonMaxSuppression"
QDQ_OPS = frozenset(["QuantizeLinear", "DequantizeLinear"])

SIDECAR_SCHEMA = 1
PathLike = Union[str, "os.PathLike[str]"]
_ANY = object()   # "not checked" for dla_core, where None means "GPU only"


def nms_variant(ops: Iterable[str]) -> str:
    """``"trt"``, ``"onnx"`` or ``"none"``: the NMS variant of a graph with these op types."""
    ops = set(ops)
    return "trt" if NMS_PLUGIN_OP in ops else "onnx" if NMS_ONNX_OP in ops else "none"


def has_nms_outputs(names: Iterable[str]) -> bool:
    """True when the output ``names`` include the four NMS outputs."""
    return set(NMS_OUTPUTS) <= set(names)


def file_sha256(path: PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks; an unreadable file is a :class:`SsdEdgeError`."""
    h = hashlib.sha256()
    try:
        with open(os.fspath(path), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise SsdEdgeError("cannot read %s: %s" % (path, e.strerror))
    return h.hexdigest()


def export_command(onnx: PathLike, engine: bool = True, precision: Optional[str] = "fp32",
                   max_batch: Optional[int] = None,
                   extra: Iterable[Tuple[str, Any]] = ()) -> str:
    """The ``ssd-export`` command line for ``onnx`` (every error and note that names one uses it).

    Args:
        onnx: the ONNX file name as the user should type it.
        engine: add ``--engine``.
        precision: ``--fp16`` / ``--int8`` for those; nothing for fp32.
        max_batch: add ``--dynamic-batch --max-batch N`` when not None.
        extra: further ``(flag, value)`` pairs, skipped where the value is None.
    """
    args = ["ssd-export", os.fspath(onnx)] + (["--engine"] if engine else [])
    if precision in ("fp16", "int8"):
        args.append("--" + precision)
    if max_batch is not None:
        args += ["--dynamic-batch", "--max-batch", str(max_batch)]
    for flag, value in extra:
        if value is not None:
            args += [flag, str(value)]
    return " ".join(shlex.quote(a) for a in args)


# ---------------------------------------------------------------------------- engine sidecar
def engine_sidecar_path(engine_path: PathLike) -> str:
    """``<engine>.json``, the sidecar beside a TensorRT plan."""
    return os.fspath(engine_path) + ".json"


def write_sidecar(engine_path: PathLike, sidecar: Dict[str, Any]) -> None:
    """Write ``sidecar`` (a dict with ``schema``) beside the engine, atomically."""
    from .fileio import atomic_write_text
    atomic_write_text(engine_sidecar_path(engine_path),
                      json.dumps(sidecar, indent=2, sort_keys=True) + "\n")


def read_sidecar(engine_path: PathLike) -> Optional[Dict[str, Any]]:
    """The sidecar dict, or None when the engine has none. Raises for an unreadable one."""
    path = engine_sidecar_path(engine_path)
    if not os.path.exists(path):
        return None
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("schema"), int):
        raise SsdEdgeError("expected an engine sidecar with a schema field in %s, got %s"
                           % (path, type(data).__name__))
    check_sidecar(data, path)       # forged field types: one line naming the field
    return _check_schema(data, path)


def require_sidecar(engine_path: PathLike) -> Dict[str, Any]:
    """The sidecar of an engine about to run: a missing sidecar, or one without a ``spec`` field,
    is an error naming the rebuild (an engine from a foreign ONNX has ``"spec": null``)."""
    path = engine_sidecar_path(engine_path)
    if not os.path.isfile(path):
        raise SsdEdgeError("expected the sidecar %s beside the engine (written when the engine is "
                           "built), got none; rebuild the engine with ssd-export" % path)
    data = _load_json(path)
    if not isinstance(data, dict) or "spec" not in data:
        raise SsdEdgeError("expected a JSON object with a \"spec\" field in %s, got %s; rebuild "
                           "the engine with ssd-export" % (path, "fields %s" % sorted(data)
                                                           if isinstance(data, dict)
                                                           else type(data).__name__))
    check_sidecar(data, path)
    return _check_schema(data, path)


def _load_json(path: str) -> Any:
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise SsdEdgeError("expected engine sidecar JSON in %s, got unreadable data (%s); "
                           "rebuild the engine" % (path, e))


def _check_schema(data: Dict[str, Any], path: str) -> Dict[str, Any]:
    schema = data.get("schema", SIDECAR_SCHEMA)
    if isinstance(schema, int) and schema > SIDECAR_SCHEMA:
        raise SsdEdgeError("expected engine sidecar schema <= %d in %s, got %d (written by a "
                           "newer ssd-edge; upgrade it)" % (SIDECAR_SCHEMA, path, schema))
    return data


def rebuild_command(sidecar: Dict[str, Any]) -> str:
    """The command that rebuilds this engine on this machine, from what its sidecar recorded."""
    batch = sidecar.get("batch") or {}
    wide = batch.get("max", 1) != batch.get("min", 1)
    return export_command(sidecar.get("onnx") or "MODEL.onnx", precision=sidecar.get("precision"),
                          max_batch=batch["max"] if wide else None,
                          extra=[("--dla", sidecar.get("dla_core"))])


def engine_matches(sidecar: Dict[str, Any], onnx_sha: Optional[str] = None,
                   tensorrt_version: Optional[str] = None, gpu_name: Optional[str] = None,
                   compute_capability: Optional[str] = None, precision: Optional[str] = None,
                   nms: Optional[str] = None, dla_core: Any = _ANY,
                   batch: Optional[Sequence[int]] = None) -> Tuple[bool, str]:
    """Check an engine's sidecar against what is wanted here. Arguments left None are not checked.

    Args:
        sidecar: dict from :func:`read_sidecar`.
        onnx_sha: hex sha256 of the ONNX the engine should come from.
        tensorrt_version: this machine's full TensorRT version (plans need the exact build).
        gpu_name, compute_capability: this machine's GPU (``"8.7"``).
        precision, nms: what the caller asks for.
        dla_core: the DLA core asked for (None = GPU only; leave out to not check).
        batch: ``(min, opt, max)`` the caller asks for.

    Returns:
        ``(ok, reason)``; ``reason`` is one line naming the first mismatch and the rebuild
        command, or ``""`` when everything matches.
    """
    gpu = sidecar.get("gpu") or {}
    got_batch = sidecar.get("batch") or {}
    checks = [
        ("ONNX sha256", onnx_sha, sidecar.get("onnx_sha256"), "the ONNX changed since"),
        ("TensorRT version", tensorrt_version, sidecar.get("tensorrt_version"),
         "plans only load on the exact TensorRT build that made them"),
        ("compute capability", compute_capability, gpu.get("compute_capability"),
         "plans are specific to the GPU architecture"),
        ("GPU", gpu_name, gpu.get("name"), "plans are tuned for one GPU model"),
        ("precision", precision, sidecar.get("precision"), ""),
        ("NMS variant", nms, sidecar.get("nms"), ""),
        ("DLA core", -1 if dla_core is None else dla_core,
         -1 if sidecar.get("dla_core") is None else sidecar["dla_core"], ""),
        ("batch range", tuple(batch) if batch is not None else None,
         tuple(got_batch.get(k) for k in ("min", "opt", "max")), ""),
    ]
    for what, want, got, why in checks:
        if want is not None and want is not _ANY and want != got:
            return False, ("engine %s was built for %s %s, this needs %s%s; "
                           "rebuild it here with: %s"
                           % (sidecar.get("engine", "?"), what, _fmt(got), _fmt(want),
                              " (%s)" % why if why else "", rebuild_command(sidecar)))
    return True, ""


def _fmt(v: Any) -> str:
    if v is None or v == -1:
        return "none"
    if isinstance(v, tuple):
        return "%s..%s (opt %s)" % (v[0], v[2], v[1])
    return str(v)
