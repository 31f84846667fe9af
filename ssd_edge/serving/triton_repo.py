"""``ssd-export --triton DIR``: a Triton Inference Server model repository for one detector.

Layout written under ``DIR`` (``NAME`` defaults to the ONNX file's stem made Triton-safe)::

    NAME/config.pbtxt, NAME/1/model.onnx     the network: onnxruntime_onnx (or python: + model.py)
    NAME_trt/config.pbtxt, 1/model.plan      tensorrt_plan, when a TensorRT engine was built
    NAME_preprocess/  NAME_postprocess/      python models: ssd-edge's own pre/post-processing
    NAME_pipeline/config.pbtxt               ensemble: uint8 BGR frame in, detections out

The network batches dynamically (``max_batch_size`` = the ONNX's symbolic batch axis up to
``max_batch``); the pipeline takes one frame per request and the server batches the network step
across requests. Every config carries the spec (``parameters["ssd_edge.spec"]``), which is how
``Detector.load("triton://HOST:PORT/NAME")`` knows the model without a local file.
"""
import json
import os
import re
import shutil
from dataclasses import dataclass
from typing import Optional

from ..errors import SsdEdgeError
from ..fileio import atomic_write_text
from ..contract import NMS_OUTPUTS
from ..runtime.artifact import open_artifact
from . import triton_config as cfg

BACKENDS = ("onnxruntime", "python")
#: Default instance count of a CPU network: two single-threaded ONNX Runtime sessions overlap
#: one batch's run with the next batch's transfer (measured in benchmarks/triton_bench.py).
CPU_INSTANCES = 2
#: Default batching delay on a GPU, where a batch costs little more than one frame. On a CPU a
#: batch costs about the sum of its frames, so a lone request is not held back (delay 0): the
#: batcher still merges the requests that queue while every instance is busy.
GPU_QUEUE_DELAY_US = 2000
DEVICES = ("cpu", "gpu")
# The numpy-only modules the python pre/post models import (copied beside their model.py).
_CORE = ("__init__.py", "boxes.py", "contract.py", "detections.py", "errors.py", "nms.py",
         "preprocess.py", "priors.py", "spec.py", "spec_check.py", "validate.py", "fileio.py")
_RUNTIME = ("postprocess.py",)


@dataclass(frozen=True)
class TritonOptions:
    """How the repository is written (``ssd-export --triton*`` flags, 1:1).

    Attributes:
        name: model name (None = the ONNX stem, made Triton-safe).
        backend: ``"onnxruntime"`` (``onnxruntime_onnx`` platform) or ``"python"`` (Triton's
            python backend running the ONNX through ONNX Runtime; runs on any tritonserver).
        device: instance group of the network, ``"gpu"`` or ``"cpu"`` (None = gpu for
            onnxruntime, cpu for python).
        max_batch: the network's ``max_batch_size``.
        queue_delay_us: dynamic batcher's ``max_queue_delay_microseconds`` (None =
            :data:`GPU_QUEUE_DELAY_US` on GPU, 0 on CPU).
        instances: instance ``count`` of the network (None = :data:`CPU_INSTANCES` for the
            python backend on CPU, else 1). A python-backend CPU instance gives ONNX Runtime
            cores / count threads.
    """

    name: Optional[str] = None
    backend: str = "onnxruntime"
    device: Optional[str] = None
    max_batch: int = 8
    queue_delay_us: Optional[int] = None
    instances: Optional[int] = None

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise SsdEdgeError("expected --triton-backend %s, got %r" % (" or ".join(BACKENDS),
                                                                          self.backend))
        if self.device is not None and self.device not in DEVICES:
            raise SsdEdgeError("expected --triton-device cpu or gpu, got %r" % self.device)
        if self.name is not None and not re.match(r"^[A-Za-z0-9_-]+$", self.name):
            raise SsdEdgeError("expected a Triton model name of letters, digits, _ and -, got %r"
                               % self.name)
        if int(self.max_batch) < 1:
            raise SsdEdgeError("expected --max-batch >= 1, got %d" % self.max_batch)
        if self.queue_delay_us is not None and int(self.queue_delay_us) < 0:
            raise SsdEdgeError("expected --triton-queue-delay >= 0 microseconds, got %d"
                               % self.queue_delay_us)
        if self.instances is not None and int(self.instances) < 1:
            raise SsdEdgeError("expected --triton-instances >= 1, got %d" % self.instances)


def _instances(options, kind):
    # Only the python backend's model.py splits the cores between its instances; Triton's
    # onnxruntime backend gives every instance all of them, so it keeps one.
    if options.instances is not None:
        return int(options.instances)
    return CPU_INSTANCES if kind == "KIND_CPU" and options.backend == "python" else 1


def _delay(options, kind):
    if options.queue_delay_us is not None:
        return int(options.queue_delay_us)
    return GPU_QUEUE_DELAY_US if kind == "KIND_GPU" else 0


def triton_name(stem):
    """A Triton-safe model name from a file stem: ``mb1-ssd.fp16`` → ``mb1-ssd_fp16``."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")
    return name or "model"


def write_triton_repository(onnx_path, out_dir, options, engine_path=None):
    """Write the repository for ``onnx_path`` into ``out_dir``; return the model folders written.

    Args:
        onnx_path: an ssd-edge ONNX (spec in its metadata) with a symbolic batch axis.
        engine_path: a TensorRT plan built from it (``+ .json`` sidecar), for ``NAME_trt``.
    """
    art = open_artifact(onnx_path)
    if art.foreign:
        raise SsdEdgeError("expected an ONNX exported by ssd-export (spec in its metadata) for "
                           "--triton, got %s without it" % onnx_path)
    name = options.name or triton_name(os.path.basename(onnx_path)[:-len(".onnx")])
    inputs, outputs = _io(art, onnx_path, options.max_batch)
    layout = "nms" if art.has_nms else "decoded"
    extra = {cfg.LAYOUT_PARAM: layout}
    nms = art.onnx.metadata.get("ssd_edge.nms")
    if nms:
        extra[cfg.NMS_PARAM] = nms
    os.makedirs(out_dir, exist_ok=True)
    written = []
    platform = "onnxruntime_onnx" if options.backend == "onnxruntime" else "python"
    device = options.device or ("gpu" if options.backend == "onnxruntime" else "cpu")
    kind = "KIND_GPU" if device == "gpu" else "KIND_CPU"
    net_dir = _model_dir(out_dir, name)
    _copy(onnx_path, os.path.join(net_dir, "1", "model.onnx"))
    if options.backend == "python":
        _template("network.py", os.path.join(net_dir, "1", "model.py"))
    _write(net_dir, cfg.network_config(name, platform, art.spec, inputs, outputs,
                                       options.max_batch, kind, extra, _delay(options, kind),
                                       _instances(options, kind)))
    written.append(net_dir)
    if engine_path:
        written.append(_write_trt(out_dir, name + "_trt", engine_path, art, inputs, outputs,
                                  options, extra))
    pre, post = name + "_preprocess", name + "_postprocess"
    for model, template in ((pre, "preprocess.py"), (post, "postprocess.py")):
        folder = _model_dir(out_dir, model)
        _template(template, os.path.join(folder, "1", "model.py"))
        _copy_core(os.path.join(folder, "1", "ssd_edge"))
        written.append(folder)
    _write(os.path.join(out_dir, pre), cfg.preprocess_config(pre, art.spec, options.max_batch))
    _write(os.path.join(out_dir, post), cfg.postprocess_config(post, art.spec, outputs, layout,
                                                               options.max_batch))
    pipe = _model_dir(out_dir, name + "_pipeline")
    os.makedirs(os.path.join(pipe, "1"), exist_ok=True)   # an ensemble's version folder is empty
    _write(pipe, cfg.pipeline_config(name + "_pipeline", art.spec, name, pre, post, outputs,
                                     options.max_batch, extra))
    written.append(pipe)
    return written


def _io(art, path, max_batch):
    """``(inputs, outputs)`` as ``[(name, dtype, dims without batch)]``, checking the batch axis."""
    info = art.onnx
    tensors = list(info.inputs) + list(info.outputs)
    for t in tensors:
        if not t.shape:
            raise SsdEdgeError("expected %s's tensor %s to have a batch axis, got a scalar"
                               % (os.path.basename(path), t.name))
        batch = t.shape[0]
        if isinstance(batch, int) and not (batch == 1 and max_batch == 1):
            raise SsdEdgeError(
                "expected an ONNX with a symbolic batch axis for Triton's dynamic batching, got "
                "%s with fixed batch %d (%s); export it with --dynamic-batch (ssd-export MODEL.pth "
                "--triton DIR does), or pass --max-batch 1" % (os.path.basename(path), batch,
                                                               t.name))
        if t.dtype not in cfg.TRITON_DTYPES:
            raise SsdEdgeError("expected tensor dtypes Triton knows, got %s for %s"
                               % (t.dtype, t.name))

    def dims(t):
        return tuple(d if isinstance(d, int) and d > 0 else -1 for d in t.shape[1:])

    inputs = [(t.name, t.dtype, dims(t)) for t in info.inputs]
    outputs = [(t.name, t.dtype, dims(t)) for t in info.outputs]
    if art.has_nms:
        outputs = sorted(outputs, key=lambda o: NMS_OUTPUTS.index(o[0])
                         if o[0] in NMS_OUTPUTS else len(NMS_OUTPUTS))
    return inputs, outputs


def _write_trt(out_dir, name, engine_path, art, inputs, outputs, options, extra):
    """``NAME_trt``: the engine as ``model.plan``; its batch range caps ``max_batch_size``."""
    from ..contract import read_sidecar
    side = read_sidecar(engine_path)
    if not side:
        raise SsdEdgeError("expected the sidecar %s.json beside the engine, got none; rebuild "
                           "it with ssd-export --engine" % engine_path)
    top = int((side.get("batch") or {}).get("max", 1))
    max_batch = min(options.max_batch, top)
    folder = _model_dir(out_dir, name)
    _copy(engine_path, os.path.join(folder, "1", "model.plan"))
    params = dict(extra)
    params["ssd_edge.engine"] = json.dumps({k: side.get(k) for k in (
        "tensorrt_version", "gpu_name", "compute_capability", "precision") if k in side},
        sort_keys=True)
    _write(folder, cfg.network_config(name, "tensorrt_plan", art.spec, inputs, outputs,
                                      max_batch, "KIND_GPU", params, _delay(options, "KIND_GPU"),
                                      _instances(options, "KIND_GPU")))
    return folder


def _model_dir(out_dir, name):
    folder = os.path.join(out_dir, name)
    os.makedirs(os.path.join(folder, "1"), exist_ok=True)
    return folder


def _write(folder, text):
    atomic_write_text(os.path.join(folder, "config.pbtxt"), text)


def _copy(src, dst):
    from ..fileio import atomic_path
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _template(name, dst):
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "triton_models", name)
    _copy(here, dst)


def _copy_core(dst):
    """ssd-edge's numpy-only modules for the python models (the server needs no ssd-edge)."""
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.makedirs(os.path.join(dst, "runtime"), exist_ok=True)
    for f in _CORE:
        _copy(os.path.join(pkg, f), os.path.join(dst, f))
    for f in _RUNTIME:
        _copy(os.path.join(pkg, "runtime", f), os.path.join(dst, "runtime", f))
    atomic_write_text(os.path.join(dst, "runtime", "__init__.py"),
                      '"""ssd-edge pre- and post-processing (numpy only)."""\n')
