"""ONNX → TensorRT engine, one code path for TensorRT 8.5 → 10.x → 11.x (and 8.4).

Everything version-dependent is a feature probe in :mod:`ssd_edge.accel.trt_compat`; this module
decides *what* to ask for. Precision lives in the ONNX (``model.fp16.onnx``, the QDQ
``model.int8.onnx``); on TensorRT ≤ 10 the matching builder flags are set as well (weakly typed
networks need them), on 11 there are none to set. See docs/tensorrt.md for what each release gets.

Outputs: ``<engine>`` as a plain plan (never prefixed) and ``<engine>.json``, the sidecar of
:mod:`ssd_edge.export.engine_sidecar`, both written atomically; the sidecar is written last, so an
engine without one is treated as unfinished.
"""
import datetime
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

from ..contract import (NMS_VARIANTS, PRECISIONS, SIDECAR_SCHEMA,  # noqa: F401
                        engine_matches, engine_sidecar_path, export_command, file_sha256,
                        rebuild_command, write_sidecar)
from ..errors import SsdEdgeError
from ..fileio import atomic_write_bytes
from ..accel import trt_compat
from .build_memory import SWAP_FIX, check_build_memory

LOG = logging.getLogger("ssd_edge.tensorrt")
CALIBRATORS = (None, "entropy", "minmax")
TIMING_CACHE_NAME = "timing.cache"   # ssd-export's default, beside the ONNX


@dataclass(frozen=True)
class BuildOptions:
    """How to build one engine; each ``ssd-export`` engine flag maps onto one field.

    ``workspace_mib`` None = TensorRT's default on large GPUs, capped on small boards (total
    memory ≤ 4 GiB → 256 MiB, ≤ 8 GiB → 1 GiB) where the builder is otherwise OOM-killed.
    ``builder_optimization_level`` None = TensorRT's default (3), except 2 on boards with ≤ 4 GiB
    where TensorRT has the setting (8.6+). ``timing_cache`` None = no cache (``ssd-export``
    passes ``<onnx folder>/timing.cache`` unless ``--timing-cache`` is given).
    ``min/opt/max_batch`` build an optimisation profile when the ONNX batch axis is dynamic
    (``max_batch`` None = ``min_batch``; ``opt_batch`` None = ``max_batch``).
    ``calibrator`` selects TensorRT ≤ 10's implicit INT8 calibration on an FP32 ONNX, fed with
    ``calib_data`` (``(N, 3, H, W) float32`` pre-processed inputs, or a ``.npy`` path) and/or
    ``calib_cache`` (read when present, written after calibrating).
    """

    precision: str = "fp32"
    workspace_mib: Optional[int] = None
    min_batch: int = 1
    opt_batch: Optional[int] = None
    max_batch: Optional[int] = None
    dla_core: Optional[int] = None
    timing_cache: Optional[str] = None
    builder_optimization_level: Optional[int] = None
    calibrator: Optional[str] = None
    calib_data: Any = field(default=None, compare=False, hash=False, repr=False)
    calib_cache: Optional[str] = None
    nms: str = "none"
    verbose: bool = False

    def __post_init__(self):
        _expect(self.precision in PRECISIONS, "precision in %s" % (PRECISIONS,), self.precision)
        _expect(self.nms in NMS_VARIANTS, "nms in %s" % (NMS_VARIANTS,), self.nms)
        _expect(self.calibrator in CALIBRATORS, "calibrator in %s" % (CALIBRATORS,),
                self.calibrator)
        _expect(self.workspace_mib is None or self.workspace_mib > 0, "workspace_mib > 0",
                self.workspace_mib)
        _expect(self.dla_core is None or self.dla_core >= 0, "dla_core >= 0", self.dla_core)
        lo, opt, hi = self.batch_range()
        _expect(1 <= lo <= opt <= hi, "1 <= min_batch <= opt_batch <= max_batch", (lo, opt, hi))
        _expect(self.builder_optimization_level is None
                or 0 <= self.builder_optimization_level <= 5,
                "builder_optimization_level in 0..5", self.builder_optimization_level)
        if self.calibrator is not None:
            _expect(self.precision == "int8", "precision int8 with a calibrator", self.precision)
            _expect(self.calib_data is not None or self.calib_cache, "calibration data or a "
                    "calibration cache for calibrator=%s" % self.calibrator, "neither")

    def batch_range(self):
        """``(min, opt, max)`` batch for a dynamic-batch ONNX."""
        hi = self.max_batch if self.max_batch is not None else self.min_batch
        return self.min_batch, self.opt_batch if self.opt_batch is not None else hi, hi


@dataclass(frozen=True)
class EngineInfo:
    """What :func:`build_engine` wrote: paths, the sidecar dict, and what it applied."""

    engine_path: str
    sidecar_path: str
    sidecar: dict
    seconds: float
    notes: Tuple[str, ...] = ()


def tensorrt_available():
    """True when the ``tensorrt`` module imports (a GPU is checked only when building)."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


def target_command(onnx_path, options=None):
    """The command to run on the target (where TensorRT is) to build this engine."""
    options = options or BuildOptions()
    lo, _, hi = options.batch_range()
    return export_command(os.path.basename(os.fspath(onnx_path)), precision=options.precision,
                          max_batch=hi if hi != lo else None,
                          extra=[("--workspace", options.workspace_mib),
                                 ("--dla", options.dla_core),
                                 ("--timing-cache", options.timing_cache)])


def missing_tensorrt_message(onnx_path, options=None):
    """One line for hosts without TensorRT: what to copy and what to run on the target."""
    return ("TensorRT is not available here (no module tensorrt); copy %s to the target device "
            "and run there: %s" % (onnx_path, target_command(onnx_path, options)))


def build_engine(onnx_path, engine_path, options=None, spec=None, cuda=None, meminfo=None):
    """Build ``engine_path`` (+ ``<engine_path>.json``) from ``onnx_path`` on this GPU.

    Args:
        onnx_path: the ONNX (FP32, FP16 or QDQ INT8; with or without NMS in the graph).
        engine_path: where the plan goes.
        options: :class:`BuildOptions`.
        spec: the DetectorSpec for the sidecar when the ONNX carries none in its metadata (its
            own, e.g. precision fp16 in ``model.fp16.onnx``, is preferred when readable).
        cuda: device-memory layer (None = :func:`ssd_edge.accel.cuda_mem.load_device_memory`).
        meminfo: ``/proc/meminfo`` to judge RAM + swap by (None = this machine's); a warning is
            logged when an engine build may be OOM-killed (:mod:`ssd_edge.export.build_memory`).

    Raises:
        SsdEdgeError: TensorRT missing, a bad option for this TensorRT/GPU, or a failed parse or
            build (with TensorRT's errors); the ONNX is never touched and no engine is written.
    """
    from . import tensorrt_steps as steps
    options = options or BuildOptions()
    trt = trt_compat.import_tensorrt()
    if cuda is None:
        from ..accel.cuda_mem import load_device_memory
        cuda = load_device_memory()
    gpu = cuda.device_info()
    onnx_path, engine_path = os.fspath(onnx_path), os.fspath(engine_path)
    with open(_existing(onnx_path), "rb") as f:
        onnx_bytes = f.read()
    summary = steps.summarize_onnx(onnx_bytes)
    low = check_build_memory(meminfo)
    if low:
        LOG.warning("%s; %s", low, SWAP_FIX)
    start = time.monotonic()
    with steps.verbose_logging(options.verbose):
        plan, notes, io, batch = steps.build_plan(trt, cuda, gpu, onnx_path, onnx_bytes, summary,
                                                  options)
    seconds = time.monotonic() - start
    atomic_write_bytes(engine_path, plan)
    sidecar = _sidecar(trt, gpu, onnx_path, engine_path, options, summary, spec, io, batch)
    write_sidecar(engine_path, sidecar)
    LOG.info("built %s in %.1f s (%s)", engine_path, seconds, "; ".join(notes))
    return EngineInfo(engine_path, engine_sidecar_path(engine_path), sidecar, seconds, tuple(notes))


def engine_path_for(onnx_path, precision):
    """``model.fp16.onnx`` → ``model.fp16.engine``; ``model.onnx`` → ``model.fp32.engine``;
    ``model.int8.nms-trt.onnx`` → ``model.int8.nms-trt.engine``."""
    base = os.fspath(onnx_path)
    base = base[:-5] if base.lower().endswith(".onnx") else base
    m = re.search(r"\.nms-(onnx|trt)$", base)
    nms = m.group(0) if m else ""
    base = base[:len(base) - len(nms)]
    return (base if base.endswith("." + precision) else base + "." + precision) + nms + ".engine"


def engine_from_export(onnx_path, precision, spec, options, echo=print):
    """Build the engine for one exported ONNX from ``ssd-export``'s ExportOptions.

    The INT8 artifact is the QDQ ONNX, so no calibrator is involved. Without ``--timing-cache``
    the cache is ``timing.cache`` beside the ONNX, so a rebuild on the same board reuses the
    measured tactics. Returns ``[engine path]``.
    """
    lo_hi = {"max_batch": options.max_batch} if options.dynamic_batch else {}
    cache = options.timing_cache or os.path.join(os.path.dirname(os.path.abspath(
        os.fspath(onnx_path))), TIMING_CACHE_NAME)
    build = BuildOptions(precision=precision, workspace_mib=options.workspace_mib,
                         dla_core=options.dla_core, timing_cache=cache,
                         **lo_hi)   # NMS: whatever the graph holds (the sidecar records it)
    engine = engine_path_for(onnx_path, precision)
    echo("building %s from %s" % (engine, onnx_path))
    progress = _EchoProgress(echo, LOG.getEffectiveLevel())
    LOG.addFilter(progress)
    old_level = LOG.level
    LOG.setLevel(min(LOG.getEffectiveLevel(), logging.INFO))
    try:
        info = build_engine(onnx_path, engine, build, spec=spec)
    finally:
        LOG.removeFilter(progress)
        LOG.setLevel(old_level)
    echo("built %s in %.1f s (%s)" % (info.engine_path, info.seconds, "; ".join(info.notes)))
    return [info.engine_path]


class _EchoProgress(logging.Filter):
    """Shows the build's progress lines (the progress monitor's phases on TensorRT 10+, the
    "no progress" note on 8.x), logged at INFO, through ``ssd-export``'s echo; other records
    pass only if they were visible before (TensorRT's own INFO chatter stays hidden)."""

    PREFIXES = ("TensorRT build:", "building the engine;")

    def __init__(self, echo, visible_from):
        logging.Filter.__init__(self)
        self.echo, self.visible_from = echo, visible_from

    def filter(self, record):
        if record.levelno < logging.WARNING and str(record.msg).startswith(self.PREFIXES):
            self.echo("  " + record.getMessage())
            return False
        return record.levelno >= self.visible_from


def engine_matches_machine(sidecar, onnx_sha=None):
    """``(ok, reason)``: can this machine's TensorRT and GPU load the engine in ``sidecar``?"""
    try:
        from ..accel.cuda_mem import load_device_memory
        trt = trt_compat.import_tensorrt()
        gpu = load_device_memory().device_info()
    except SsdEdgeError as e:
        return False, "cannot check here: %s" % e
    return engine_matches(sidecar, onnx_sha, tensorrt_version=trt_compat.tensorrt_version(trt),
                          gpu_name=gpu.name, compute_capability=gpu.compute_capability)


def _sidecar(trt, gpu, onnx_path, engine_path, options, summary, spec, io, batch):
    from .. import __version__
    spec = summary.get("spec") or spec   # the ONNX's own spec knows its precision and layout
    return {
        "schema": SIDECAR_SCHEMA,
        "engine": os.path.basename(engine_path),
        "onnx": os.path.basename(onnx_path),
        "onnx_sha256": file_sha256(onnx_path),
        "tensorrt_version": trt_compat.tensorrt_version(trt),
        "gpu": {"name": gpu.name, "compute_capability": gpu.compute_capability},
        "dla_core": options.dla_core,
        "batch": {"min": batch[0], "opt": batch[1], "max": batch[2]},
        "precision": options.precision,
        "nms": summary.get("nms") or options.nms,
        "calibrator": options.calibrator,
        "io": io,
        "spec": json.loads(spec.to_json()) if spec is not None else None,   # JSON types
        "ssd_edge_version": __version__,
        "built_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _existing(path):
    if not os.path.isfile(path):
        raise SsdEdgeError("expected an ONNX file at %s, got nothing there" % path)
    from ..safety import check_external_data
    check_external_data(path)       # TensorRT's parser follows external-data locations too
    return path


def _expect(ok, expected, got):
    if not ok:
        raise SsdEdgeError("invalid build options: expected %s, got %s" % (expected, got))
