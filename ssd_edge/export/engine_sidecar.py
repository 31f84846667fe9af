"""The engine sidecar ``<engine>.json``: what an engine was built from, with what, for which GPU.

A TensorRT plan only loads on the exact TensorRT build and GPU it was built on, and nothing in
the plan says which ONNX it came from. The sidecar (docs/architecture.md §3, documented field by field in
docs/formats.md) lets the runtime refuse a stale or foreign engine *before* TensorRT fails on it,
with a message saying why and how to rebuild. Needs nothing but the standard library.
"""
import hashlib
import json
import os
import shlex

from ..errors import SsdEdgeError

SIDECAR_SCHEMA = 1
_ANY = object()   # "not checked" for dla_core, where None means "GPU only"


def sidecar_path(engine_path):
    return os.fspath(engine_path) + ".json"


def file_sha256(path):
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    try:
        with open(os.fspath(path), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise SsdEdgeError("cannot read %s: %s" % (path, e.strerror))
    return h.hexdigest()


def write_sidecar(engine_path, sidecar):
    """Write ``sidecar`` (a dict with ``schema``) beside the engine, atomically."""
    from ..fileio import atomic_write_text
    atomic_write_text(sidecar_path(engine_path), json.dumps(sidecar, indent=2, sort_keys=True)
                      + "\n")


def read_sidecar(engine_path):
    """The sidecar dict, or None when the engine has none. Raises for an unreadable one."""
    path = sidecar_path(engine_path)
    if not os.path.exists(path):
        return None
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise SsdEdgeError("expected engine sidecar JSON in %s, got unreadable data (%s); "
                           "rebuild the engine" % (path, e))
    if not isinstance(data, dict) or not isinstance(data.get("schema"), int):
        raise SsdEdgeError("expected an engine sidecar with a schema field in %s, got %s"
                           % (path, type(data).__name__))
    if data["schema"] > SIDECAR_SCHEMA:
        raise SsdEdgeError("expected engine sidecar schema <= %d in %s, got %d (written by a "
                           "newer ssd-edge; upgrade it)" % (SIDECAR_SCHEMA, path, data["schema"]))
    return data


def rebuild_command(sidecar):
    """The command that rebuilds this engine on this machine, from what its sidecar recorded."""
    args = ["ssd-export", sidecar.get("onnx") or "MODEL.onnx", "--engine"]
    if sidecar.get("precision") in ("fp16", "int8"):
        args.append("--" + sidecar["precision"])
    batch = sidecar.get("batch") or {}
    if batch.get("max", 1) != batch.get("min", 1):
        args += ["--dynamic-batch", "--max-batch", str(batch["max"])]
    if sidecar.get("dla_core") is not None:
        args += ["--dla", str(sidecar["dla_core"])]
    return " ".join(shlex.quote(a) for a in args)


def engine_matches(sidecar, onnx_sha=None, tensorrt_version=None, gpu_name=None,
                   compute_capability=None, precision=None, nms=None, dla_core=_ANY, batch=None):
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


def _fmt(v):
    if v is None or v == -1:
        return "none"
    if isinstance(v, tuple):
        return "%s..%s (opt %s)" % (v[0], v[2], v[1])
    return str(v)
