"""TensorRT backend: a ``.engine`` with its sidecar, or an ``.onnx`` built into one on first use.

I/O by feature detection (:mod:`ssd_edge.runtime.trt_compat`): named tensors with
``execute_async_v3`` where the engine has them (8.5+), else the binding-index API with
``execute_async_v2`` (8.4, JetPack 5.0.2). Device memory via :mod:`ssd_edge.runtime.cuda_mem`
(cuda-python, else pycuda): one stream, pinned host buffers sized for the largest batch of the
engine's profile, asynchronous copies, one synchronize per call.

An engine is refused before TensorRT touches it when its sidecar says it was built for another
TensorRT build, GPU or (when the ONNX beside it is present) another ONNX — with the rebuild
command. Built-on-first-use engines are cached under ``trt_engines/`` beside the ONNX (or
``cache_dir``), keyed by ONNX sha256, precision, NMS variant, batch range, DLA core, TensorRT
version and GPU.
"""
import dataclasses
import hashlib
import json
import logging
import os

import numpy as np

from ...errors import SsdEdgeError
from .. import trt_compat

LOG = logging.getLogger("ssd_edge.tensorrt")


class TrtBackend:
    """Run a TensorRT engine behind the backend contract (docs/architecture.md §5).

    Args:
        artifact: an :class:`ssd_edge.runtime.artifact.Artifact` or a path (``.engine`` /
            ``.plan`` with its sidecar, or ``.onnx``).
        threads: ignored (TensorRT runs on the GPU).
        device: None / ``"cuda"`` / ``"cuda:0"`` (the current CUDA device), or ``"dla:N"`` to
            build an ONNX for DLA core N.
        build_options: :class:`ssd_edge.export.tensorrt.BuildOptions` for an ONNX (None = the
            artifact's precision and NMS variant, the ONNX's own batch).
        cache_dir: where engines built from an ONNX are kept (None = ``trt_engines`` beside it).
        cuda: device-memory layer (None = :func:`~ssd_edge.runtime.cuda_mem.load_device_memory`).

    Attributes:
        inputs, outputs: tensor names. ``batch_size`` (static engines) / ``max_batch``.
        precision, device, engine_path, sidecar.
    """

    def __init__(self, artifact, threads=None, device=None, build_options=None, cache_dir=None,
                 cuda=None):
        from ..cuda_mem import load_device_memory
        self._trt = trt_compat.import_tensorrt()
        self._cuda = cuda if cuda is not None else load_device_memory()
        self._buffers, self._stream, self.context, self.engine = {}, None, None, None
        path = os.fspath(getattr(artifact, "path", artifact))
        gpu = self._cuda.device_info()
        if path.lower().endswith(".onnx"):
            path = _engine_for_onnx(self._trt, self._cuda, gpu, artifact, path, device,
                                    build_options, cache_dir)
        self.engine_path = path
        self.sidecar = _checked_sidecar(self._trt, gpu, path)
        self.precision = self.sidecar.get("precision")
        self.device = "TensorRT %s on %s" % (trt_compat.tensorrt_version(self._trt), gpu.name)
        self._load(path)

    # ------------------------------------------------------------------ loading
    def _load(self, path):
        trt, logger = self._trt, trt_compat.get_logger(self._trt)
        logger.take_errors()
        runtime = trt.Runtime(logger)
        if self.sidecar.get("dla_core") is not None:
            runtime.DLA_core = int(self.sidecar["dla_core"])
        with open(path, "rb") as f:
            engine = runtime.deserialize_cuda_engine(f.read())
        if engine is None:   # TensorRT returns None rather than raising
            from ...export.engine_sidecar import rebuild_command
            raise SsdEdgeError("TensorRT %s could not load %s (%s); rebuild it here with: %s"
                               % (trt_compat.tensorrt_version(trt), path,
                                  " | ".join(logger.take_errors()[-2:]) or "no reason logged",
                                  rebuild_command(self.sidecar)))
        self.engine, self._runtime = engine, runtime
        self.context = engine.create_execution_context()
        self._named = trt_compat.has_named_tensors(engine) and trt_compat.has_enqueue_v3(
            self.context)
        self._io = _io_named(trt, engine) if self._named else _io_bindings(trt, engine)
        self.inputs = [t["name"] for t in self._io if t["input"]]
        self.outputs = [t["name"] for t in self._io if not t["input"]]
        first = next(t for t in self._io if t["input"])
        self.max_batch = first["max"][0]
        self.batch_size = first["max"][0] if first["min"][0] == first["max"][0] else None
        self._allocate()

    def _allocate(self):
        cuda = self._cuda
        for t in self._io:
            if t["input"]:
                self._set_shape(t, t["max"])
        self._stream = cuda.create_stream()
        for t in self._io:
            shape = t["max"] if t["input"] else self._context_shape(t)
            host = cuda.alloc_host((int(np.prod(shape)),), t["dtype"])
            self._buffers[t["name"]] = (host, cuda.alloc_device(host.array.nbytes))
            if self._named:
                self.context.set_tensor_address(t["name"], self._buffers[t["name"]][1])
        self._bindings = [self._buffers[t["name"]][1] for t in self._io]
        self._shapes = {t["name"]: tuple(t["max"]) for t in self._io if t["input"]}

    # ------------------------------------------------------------------ running
    def __call__(self, feeds):
        """Run once. ``feeds``: input name → array of the engine's dtype (``float32 [B, 3, H, W]``
        for ``input_0``) with B in the engine's batch range. Returns output name → new array."""
        if self.context is None:
            raise SsdEdgeError("expected an open TensorRT backend, got a closed one")
        cuda, stream = self._cuda, self._stream
        for t in self._io:
            if t["input"]:
                self._feed(t, feeds)
        handle = cuda.stream_handle(stream)
        ok = (self.context.execute_async_v3(handle) if self._named
              else self.context.execute_async_v2(self._bindings, handle))
        if not ok:
            raise SsdEdgeError("TensorRT failed to enqueue %s: %s" % (self.engine_path, " | ".join(
                trt_compat.get_logger(self._trt).take_errors()[-2:]) or "no reason logged"))
        views = {}
        for t in self._io:
            if not t["input"]:
                shape = self._context_shape(t)
                host, dev = self._buffers[t["name"]]
                views[t["name"]] = host.array[:int(np.prod(shape))].reshape(shape)
                cuda.dtoh_async(views[t["name"]], dev, stream)
        cuda.synchronize(stream)
        return {name: v.copy() for name, v in views.items()}

    def _feed(self, t, feeds):
        name = t["name"]
        if name not in feeds:
            raise SsdEdgeError("expected an input named %s, got %s" % (name, sorted(feeds)))
        arr = np.asarray(feeds[name])
        lo, hi = t["min"], t["max"]
        if arr.ndim != len(hi) or any(not (a <= d <= b) for a, d, b in zip(lo, arr.shape, hi)):
            raise SsdEdgeError("expected %s of shape %s (batch %d..%d), got %s"
                               % (name, tuple(hi[1:]), lo[0], hi[0], arr.shape))
        if self._shapes[name] != arr.shape:
            self._set_shape(t, arr.shape)
            self._shapes[name] = arr.shape
        host, dev = self._buffers[name]
        view = host.array[:arr.size].reshape(arr.shape)
        np.copyto(view, arr, casting="same_kind")
        self._cuda.htod_async(dev, view, self._stream)

    def _set_shape(self, t, shape):
        if not t["dynamic"]:
            return   # static engine shape; a -1 axis must be set even for a 1..1 profile
        shape = tuple(int(d) for d in shape)
        ok = (self.context.set_input_shape(t["name"], shape) if self._named
              else self.context.set_binding_shape(t["index"], shape))
        if ok is False:
            raise SsdEdgeError("expected %s within the engine's profile %s..%s, got %s"
                               % (t["name"], t["min"], t["max"], shape))

    def _context_shape(self, t):
        dims = (self.context.get_tensor_shape(t["name"]) if self._named
                else self.context.get_binding_shape(t["index"]))
        return tuple(int(d) for d in dims)

    def close(self):
        """Free device and pinned memory, the stream, the context and the engine (idempotent)."""
        cuda = self._cuda
        for host, dev in self._buffers.values():
            cuda.free_device(dev)
            cuda.free_host(host)
        self._buffers = {}
        if self._stream is not None:
            cuda.destroy_stream(self._stream)
            self._stream = None
        self.context = None   # context before engine, as TensorRT requires
        self.engine = self._runtime = None


# ---------------------------------------------------------------------------------- I/O tables
def _io_named(trt, engine):
    out = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        is_in = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        shape = tuple(int(d) for d in engine.get_tensor_shape(name))
        lo = hi = shape
        if is_in and -1 in shape:   # profile shapes exist for inputs only
            lo, _, hi = (tuple(int(d) for d in s) for s in engine.get_tensor_profile_shape(name, 0))
        out.append({"name": name, "index": i, "input": is_in, "min": lo, "max": hi,
                    "dynamic": -1 in shape,
                    "dtype": np.dtype(trt.nptype(engine.get_tensor_dtype(name)))})
    return out


def _io_bindings(trt, engine):
    out = []
    for i in range(engine.num_bindings):
        is_in = bool(engine.binding_is_input(i))
        shape = tuple(int(d) for d in engine.get_binding_shape(i))
        lo = hi = shape
        if is_in and -1 in shape:
            lo, _, hi = (tuple(int(d) for d in s) for s in engine.get_profile_shape(0, i))
        out.append({"name": engine.get_binding_name(i), "index": i, "input": is_in, "min": lo,
                    "max": hi, "dynamic": -1 in shape,
                    "dtype": np.dtype(trt.nptype(engine.get_binding_dtype(i)))})
    return out


# ---------------------------------------------------------------------------------- engines
def _machine(trt, gpu):
    return {"tensorrt_version": trt_compat.tensorrt_version(trt), "gpu_name": gpu.name,
            "compute_capability": gpu.compute_capability}


def _checked_sidecar(trt, gpu, path):
    from ...export.engine_sidecar import engine_matches, file_sha256, read_sidecar
    if not os.path.isfile(path):
        raise SsdEdgeError("expected a TensorRT engine at %s, got no file" % path)
    sidecar = read_sidecar(path)
    if sidecar is None:
        raise SsdEdgeError("expected the sidecar %s.json beside the engine (ssd-export writes "
                           "it), got none; rebuild with: ssd-export MODEL.onnx --engine" % path)
    onnx = os.path.join(os.path.dirname(os.path.abspath(path)), sidecar.get("onnx") or "")
    sha = file_sha256(onnx) if sidecar.get("onnx") and os.path.isfile(onnx) else None
    ok, reason = engine_matches(sidecar, sha, **_machine(trt, gpu))
    if not ok:
        raise SsdEdgeError(reason)
    return sidecar


def _engine_for_onnx(trt, cuda, gpu, artifact, onnx_path, device, options, cache_dir):
    """The cached engine for this ONNX and machine, built now when missing or stale."""
    from ...export.engine_sidecar import engine_matches, file_sha256, read_sidecar
    from ...export.tensorrt import BuildOptions, build_engine
    options = options or BuildOptions(precision=getattr(artifact, "precision", None) or "fp32")
    dla = _dla_core(device)
    if dla is not None and options.dla_core != dla:
        options = dataclasses.replace(options, dla_core=dla)
    from ...export.tensorrt_steps import summarize_onnx
    sha = file_sha256(onnx_path)
    with open(onnx_path, "rb") as f:
        nms = summarize_onnx(f.read())["nms"]
    key = dict(_machine(trt, gpu), onnx_sha256=sha, precision=options.precision, nms=nms,
               batch=list(options.batch_range()), dla_core=options.dla_core)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir or os.path.join(os.path.dirname(os.path.abspath(onnx_path)), "trt_engines")
    stem = os.path.splitext(os.path.basename(onnx_path))[0]
    engine = os.path.join(folder, "%s.%s.%s.engine" % (stem, options.precision, digest))
    sidecar = read_sidecar(engine) if os.path.isfile(engine) else None
    if sidecar is not None and engine_matches(sidecar, sha, **_machine(trt, gpu))[0]:
        LOG.info("using cached engine %s", engine)
        return engine
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise SsdEdgeError("expected a writable engine cache folder %s, got %s; pass cache_dir"
                           % (folder, e.strerror))
    LOG.info("building a TensorRT engine for %s (first use; cached as %s)", onnx_path, engine)
    build_engine(onnx_path, engine, options, spec=getattr(artifact, "spec", None), cuda=cuda)
    return engine


def _dla_core(device):
    dev = (device or "").lower()
    if dev in ("", "cuda", "cuda:0", "gpu"):
        return None
    if dev.startswith("dla:") and dev[4:].isdigit():
        return int(dev[4:])
    raise SsdEdgeError("expected device None, 'cuda', 'cuda:0' or 'dla:N' for TensorRT, got %r"
                       % (device,))
