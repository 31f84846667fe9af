"""The steps of :func:`ssd_edge.export.tensorrt.build_engine`, one function per builder setting.

Each step asks :mod:`ssd_edge.accel.trt_compat` what this TensorRT has and records what it did
in ``notes`` (shown in the build summary). A setting the user asked for that this TensorRT or
GPU cannot honour is an :class:`SsdEdgeError` saying so, never a silent skip.
"""
import contextlib
import logging
import os

from ..contract import NMS_ONNX_OP, NMS_PLUGIN_OP, nms_variant
from ..errors import SsdEdgeError
from ..fileio import atomic_write_bytes
from ..accel import trt_compat
from .build_memory import is_small_board
from .calibrator import load_calibration_data, make_calibrator, make_progress_monitor

LOG = logging.getLogger("ssd_edge.tensorrt")
_PRECISION_FLAGS = {"fp32": (), "fp16": ("FP16",), "int8": ("INT8", "FP16")}
#: builder_optimization_level on small boards where the setting exists (8.6+). TensorRT's default
#: is 3 (0–5); level 2 tries fewer tactics, so the build needs less time and memory, for an engine
#: that may run slightly slower. Larger machines keep TensorRT's default.
SMALL_BOARD_OPT_LEVEL = 2


def summarize_onnx(data):
    """What the builder needs to know about an ONNX: ops, QDQ, FP16 weights, NMS variant, spec.

    Uses the ``onnx`` package where installed; otherwise (a bare Jetson) scans the bytes for the
    op names, which is enough to pick the plugin library and the QDQ checks (spec then None).
    """
    try:
        import onnx
        model = onnx.load_from_string(data)
    except Exception:  # noqa: BLE001  (onnx missing, or garbage: the parser will say more)
        qdq = b"QuantizeLinear" in data
        return {"qdq": qdq, "fp16": None, "nms": nms_variant(
            op for op in (NMS_PLUGIN_OP, NMS_ONNX_OP) if op.encode() in data),
            "spec": None}
    from .metadata import get_spec
    ops = {n.op_type for n in model.graph.node}
    try:
        spec = get_spec(model)
    except SsdEdgeError as e:
        LOG.warning("ignoring the ONNX's spec metadata: %s", e)
        spec = None
    fp16 = any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    return {"qdq": "QuantizeLinear" in ops, "fp16": fp16, "nms": nms_variant(ops), "spec": spec}


@contextlib.contextmanager
def verbose_logging(verbose):
    old = LOG.level
    if verbose:
        LOG.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        LOG.setLevel(old)


def build_plan(trt, cuda, gpu, onnx_path, onnx_bytes, summary, options):
    """Parse, configure and build. Returns ``(plan, notes, io, (min, opt, max) batch)``."""
    logger = trt_compat.get_logger(trt)
    logger.take_errors()
    notes = []
    if options.nms not in ("none", summary["nms"]):
        raise SsdEdgeError("expected an ONNX with nms=%s, got one with nms=%s in %s"
                           % (options.nms, summary["nms"], onnx_path))
    if summary["nms"] == "trt":
        load_plugins(trt, logger, notes)
    builder = trt.Builder(logger)
    network = builder.create_network(trt_compat.network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        raise parse_failure(parser, logger, onnx_path)
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    config = builder.create_builder_config()
    set_workspace(trt, config, options, gpu, notes)
    set_precision(trt, config, options, summary, notes)
    batch, profile = set_profile(builder, config, inputs, options, notes)
    set_dla(trt, builder, config, options, batch, notes)
    set_optimization_level(config, options, gpu, notes)
    load_timing_cache(config, options.timing_cache, notes)
    monitor = attach_monitor(trt, config, notes)
    calibrator = attach_calibrator(trt, config, options, inputs, batch, profile, cuda, summary,
                                   notes)
    try:
        plan = builder.build_serialized_network(network, config)   # None on failure, no raise
    finally:
        if calibrator is not None:
            calibrator.free()
    del monitor
    if plan is None:
        errors = logger.take_errors()
        raise SsdEdgeError("TensorRT could not build an engine from %s: %s; the ONNX is kept and "
                           "no engine was written" % (onnx_path, " | ".join(errors[-5:])
                                                      or "no error was logged"))
    if options.timing_cache:
        atomic_write_bytes(options.timing_cache,
                           bytes(memoryview(config.get_timing_cache().serialize())))
    io = [_io(network.get_input(i), "input") for i in range(network.num_inputs)]
    io += [_io(network.get_output(i), "output") for i in range(network.num_outputs)]
    return plan, notes, io, batch


def _io(tensor, mode):
    return {"name": tensor.name, "mode": mode, "shape": [int(d) for d in tensor.shape],
            "dtype": getattr(tensor.dtype, "name", str(tensor.dtype))}


def load_plugins(trt, logger, notes):
    trt.init_libnvinfer_plugins(logger, "")
    if trt_compat.plugin_creator(trt, "EfficientNMS_TRT", "1") is None:
        raise SsdEdgeError("expected TensorRT's EfficientNMS_TRT plugin to be registered, got "
                           "none (is libnvinfer_plugin installed?); or export with --nms onnx")
    notes.append("EfficientNMS_TRT plugin")


def parse_failure(parser, logger, onnx_path):
    errors = [str(parser.get_error(i)) for i in range(parser.num_errors)] or logger.take_errors()
    return SsdEdgeError("TensorRT's ONNX parser rejected %s with %d error(s): %s; the ONNX is kept "
                        "(see its operator report: ssd-export --inspect %s)"
                        % (onnx_path, len(errors), " | ".join(errors[:5]), onnx_path))


def set_workspace(trt, config, options, gpu, notes):
    mib = options.workspace_mib
    if mib is None:
        # Small boards (Nano 2/4 GB, Orin Nano 4 GB) get OOM-killed with TensorRT's default.
        mib = (256 if is_small_board(gpu.total_memory)
               else 1024 if gpu.total_memory <= 8 * (1 << 30) else None)
    if mib is not None:
        api = trt_compat.set_workspace(trt, config, mib << 20)
        notes.append("workspace %d MiB (%s)" % (mib, api))


def set_precision(trt, config, options, summary, notes):
    names = _PRECISION_FLAGS[options.precision]
    flags = [(n, trt_compat.builder_flag(trt, n)) for n in names]
    if options.precision == "int8" and options.calibrator is None and summary["qdq"] is False:
        raise SsdEdgeError("expected a QDQ INT8 ONNX (or a calibrator on TensorRT <= 10) for "
                           "precision int8, got an ONNX without QuantizeLinear nodes; build from "
                           "model.int8.onnx (ssd-export MODEL.pth --int8 --calib DIR)")
    if names and all(f is None for _, f in flags):
        # TensorRT 11: no FP16/INT8 flags; the engine runs the precision the ONNX carries.
        notes.append("precision taken from the ONNX (no builder flags in TensorRT %s)"
                     % trt_compat.tensorrt_version(trt))
        if options.precision == "fp16" and summary["fp16"] is False:
            LOG.warning("precision fp16 asked, but the ONNX has no FP16 weights: TensorRT %s "
                        "will build FP32; build from model.fp16.onnx",
                        trt_compat.tensorrt_version(trt))
        return
    for name, flag in flags:
        if flag is not None:
            config.set_flag(flag)
            notes.append("%s flag" % name)


def set_profile(builder, config, inputs, options, notes):
    shapes = [(t.name, tuple(int(d) for d in t.shape)) for t in inputs]
    dynamic = [(n, s) for n, s in shapes if s and s[0] == -1]
    for name, shape in shapes:
        if -1 in shape[1:]:
            raise SsdEdgeError("expected only the batch axis of %s to be dynamic, got shape %s; "
                               "re-export with a fixed input size" % (name, shape))
    lo, opt, hi = options.batch_range()
    if not dynamic:
        b = shapes[0][1][0] if shapes and shapes[0][1] else 1
        if options.max_batch is not None and options.max_batch != b:
            raise SsdEdgeError("expected an ONNX with a dynamic batch axis for max_batch %d, got a "
                               "static batch of %d; re-export with --dynamic-batch --max-batch %d"
                               % (options.max_batch, b, options.max_batch))
        return (b, b, b), None
    profile = builder.create_optimization_profile()
    for name, shape in dynamic:
        profile.set_shape(name, (lo,) + shape[1:], (opt,) + shape[1:], (hi,) + shape[1:])
    config.add_optimization_profile(profile)
    notes.append("batch profile %d..%d (opt %d)" % (lo, hi, opt))
    return (lo, opt, hi), profile


def set_dla(trt, builder, config, options, batch, notes):
    core = options.dla_core
    if core is None:
        return
    cores = int(getattr(builder, "num_DLA_cores", 0) or 0)
    if not hasattr(trt.DeviceType, "DLA") or core >= cores:
        raise SsdEdgeError("expected DLA core %d on this device, got %d DLA core(s) (Orin Nano, "
                           "Thor and desktop GPUs have none); build without --dla" % (core, cores))
    if batch[0] != batch[2]:
        raise SsdEdgeError("expected static shapes for DLA, got batch %d..%d; build without "
                           "--dynamic-batch (or without --dla)" % (batch[0], batch[2]))
    if options.precision == "fp32" and trt_compat.builder_flag(trt, "FP16") is not None:
        raise SsdEdgeError("expected --fp16 or --int8 with --dla (DLA runs only FP16/INT8), "
                           "got fp32")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = core
    config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    notes.append("DLA core %d with GPU fallback" % core)


def set_optimization_level(config, options, gpu, notes):
    level = options.builder_optimization_level
    if level is None:
        # The small-board default applies only where the setting exists; asked-for levels must.
        if is_small_board(gpu.total_memory) and hasattr(config, "builder_optimization_level"):
            config.builder_optimization_level = SMALL_BOARD_OPT_LEVEL
            notes.append("optimization level %d (small-board default)" % SMALL_BOARD_OPT_LEVEL)
        return
    if not hasattr(config, "builder_optimization_level"):   # 8.6+
        raise SsdEdgeError("expected a TensorRT with builder_optimization_level (8.6+) for "
                           "level %d, got one without; drop the option" % level)
    config.builder_optimization_level = level
    notes.append("optimization level %d" % level)


def load_timing_cache(config, path, notes):
    if not path:
        return
    data = b""
    if os.path.exists(path):
        with open(path, "rb") as f:
            data = f.read()
    # ignore_mismatch is a required argument; False drops a cache from another device instead
    # of trusting it (TensorRT warns such caches "may lead to functional/performance bugs").
    if not config.set_timing_cache(config.create_timing_cache(data), False):
        LOG.warning("timing cache %s does not match this device; starting a new one", path)
        config.set_timing_cache(config.create_timing_cache(b""), False)
    notes.append("timing cache %s (%s)" % (path, "reused" if data else "new"))


def attach_monitor(trt, config, notes):
    monitor = make_progress_monitor(trt)
    if monitor is None:
        LOG.info("building the engine; TensorRT %s reports no progress, this can take minutes on "
                 "a Jetson", trt_compat.tensorrt_version(trt))
        return None
    config.progress_monitor = monitor
    notes.append("progress monitor")
    return monitor


def attach_calibrator(trt, config, options, inputs, batch, profile, cuda, summary, notes):
    if options.calibrator is None:
        return None
    if summary["qdq"]:
        raise SsdEdgeError("expected an FP32 ONNX for calibrator=%s, got a QDQ ONNX (already "
                           "quantized); drop the calibrator" % options.calibrator)
    shape = (batch[1],) + tuple(int(d) for d in inputs[0].shape)[1:]
    data = (load_calibration_data(options.calib_data, shape)
            if options.calib_data is not None else None)
    cal = make_calibrator(trt, options.calibrator, data, batch[1], options.calib_cache, cuda)
    config.int8_calibrator = cal
    if profile is not None and hasattr(config, "set_calibration_profile"):
        config.set_calibration_profile(profile)
    notes.append("%s calibrator%s" % (options.calibrator, " + cache %s" % options.calib_cache
                                       if options.calib_cache else ""))
    return cal
