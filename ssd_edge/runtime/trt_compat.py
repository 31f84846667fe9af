"""Every TensorRT feature probe in one place (docs/architecture.md §5: feature-detect, don't version-compare).

TensorRT 8.4 → 8.5 → 8.6 → 10.x → 11.x renamed and removed Python names far more often than it
changed their meaning (see docs/tensorrt.md). Code elsewhere asks this module *what exists*
(``hasattr`` on the pybind classes, which is valid for methods, properties and enum values) and
never compares version numbers. ``tensorrt`` is passed in, never imported at module top, so the
runtime zone stays importable without it.
"""
import logging
import threading

from ..errors import SsdEdgeError

LOG = logging.getLogger("ssd_edge.tensorrt")

TENSORRT_MISSING = ("TensorRT's Python bindings (module tensorrt) are not installed; on a Jetson "
                    "they come with JetPack (apt install python3-libnvinfer; in a virtualenv "
                    "create it with --system-site-packages), on a desktop: pip install tensorrt")


def import_tensorrt():
    """Return the ``tensorrt`` module or raise :class:`SsdEdgeError` saying how to get it."""
    try:
        import tensorrt
    except ImportError:
        raise SsdEdgeError(TENSORRT_MISSING)
    return tensorrt


def tensorrt_version(trt):
    """The full version string, e.g. ``"10.3.0.26"`` (engines only load on the exact same build)."""
    return str(trt.__version__)


# ---------------------------------------------------------------------------------- logging
_LOGGERS = {}
_LOGGERS_LOCK = threading.Lock()


def get_logger(trt):
    """One ``trt.ILogger`` per process (TensorRT warns when builder and runtime loggers differ).

    It forwards to the Python logger ``ssd_edge.tensorrt`` and keeps recent ERROR lines in
    ``.errors`` so a failure can be reported with TensorRT's own reason.
    """
    with _LOGGERS_LOCK:
        logger = _LOGGERS.get(id(trt))
        if logger is None:
            logger = _make_logger_class(trt)()
            _LOGGERS[id(trt)] = logger
        return logger


def _make_logger_class(trt):
    class _Logger(trt.ILogger):
        def __init__(self):
            # pybind trampoline classes need the base __init__ called explicitly.
            trt.ILogger.__init__(self)
            self.errors = []

        def log(self, severity, msg):
            name = getattr(severity, "name", str(severity)).upper()
            if "ERROR" in name:
                self.errors.append(str(msg))
                del self.errors[:-50]
                LOG.error("TensorRT: %s", msg)
            elif "WARNING" in name:
                LOG.warning("TensorRT: %s", msg)
            elif "INFO" in name:
                LOG.info("TensorRT: %s", msg)
            else:
                LOG.debug("TensorRT: %s", msg)

        def take_errors(self):
            out, self.errors = self.errors, []
            return out

    return _Logger


# ---------------------------------------------------------------------------------- builder
def network_flags(trt):
    """Creation flags for an ONNX network: EXPLICIT_BATCH where the name exists (≤ 10; ignored
    on 10 and gone on 11, where every network is explicit-batch), else 0."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    return 0 if flag is None else 1 << int(flag)


def builder_flag(trt, name):
    """``trt.BuilderFlag.<name>`` or None where this TensorRT has no such flag (FP16/INT8 on 11)."""
    return getattr(trt.BuilderFlag, name, None)


def set_workspace(trt, config, nbytes):
    """Cap the builder's scratch memory; returns which API did it."""
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(nbytes))
        return "set_memory_pool_limit"
    if hasattr(config, "max_workspace_size"):   # TensorRT 8.2 (JetPack 4.6)
        config.max_workspace_size = int(nbytes)
        return "max_workspace_size"
    raise SsdEdgeError("expected a TensorRT with set_memory_pool_limit or max_workspace_size, "
                       "got neither in %s" % tensorrt_version(trt))


def has_calibrators(trt):
    """Implicit INT8 calibration (TensorRT ≤ 10; removed in 11, where INT8 means a QDQ ONNX)."""
    return (hasattr(trt, "IInt8EntropyCalibrator2")
            and hasattr(trt.IBuilderConfig, "int8_calibrator"))


def calibrator_base(trt, method):
    """The calibrator base class for ``method`` ("entropy" | "minmax") or None where absent."""
    name = {"entropy": "IInt8EntropyCalibrator2", "minmax": "IInt8MinMaxCalibrator"}[method]
    return getattr(trt, name, None) if has_calibrators(trt) else None


def progress_monitor_base(trt):
    """``trt.IProgressMonitor`` where it exists (10.0+; JetPack 6.1's 10.3 first), else None."""
    if hasattr(trt, "IProgressMonitor") and hasattr(trt.IBuilderConfig, "progress_monitor"):
        return trt.IProgressMonitor
    return None


def plugin_creator(trt, name, version="1", namespace=""):
    """The registered plugin creator for ``name`` or None (``get_creator`` 10+, else the 8.x
    ``get_plugin_creator``, removed in 11)."""
    registry = trt.get_plugin_registry()
    if hasattr(registry, "get_creator"):
        return registry.get_creator(name, version, namespace)
    return registry.get_plugin_creator(name, version, namespace)


# ---------------------------------------------------------------------------------- runtime
def has_named_tensors(engine):
    """Named-tensor I/O (8.5+) vs the binding-index API (≤ 8.6, the only one on 8.4)."""
    return hasattr(engine, "num_io_tensors") and hasattr(engine, "get_tensor_mode")


def has_enqueue_v3(context):
    return hasattr(context, "execute_async_v3") and hasattr(context, "set_tensor_address")


# ---------------------------------------------------------------------------------- report
def _has(obj, name):
    return obj is not None and hasattr(obj, name)


def feature_report(trt, builder=None):
    """What this TensorRT offers, for ``ssd-doctor`` and engine-build logs.

    Args:
        trt: the imported ``tensorrt`` module.
        builder: optional ``trt.Builder``; adds ``dla_cores`` (needs a GPU).

    Returns:
        dict of str → bool / list / str: ``version``, ``named_tensors``, ``strongly_typed``,
        ``explicit_batch_flag``, ``fp16_flag``, ``int8_flag``, ``calibrators`` (list of
        method names), ``progress_monitor``, ``memory_pool_limit``,
        ``builder_optimization_level``, ``version_compatible``, ``get_creator``, ``dla``.
    """
    flags = trt.NetworkDefinitionCreationFlag
    cfg = getattr(trt, "IBuilderConfig", None)
    report = {
        "version": tensorrt_version(trt),
        "named_tensors": _has(getattr(trt, "ICudaEngine", None), "num_io_tensors"),
        "strongly_typed": hasattr(flags, "STRONGLY_TYPED"),
        "explicit_batch_flag": hasattr(flags, "EXPLICIT_BATCH"),
        "fp16_flag": hasattr(trt.BuilderFlag, "FP16"),
        "int8_flag": hasattr(trt.BuilderFlag, "INT8"),
        "calibrators": [m for m in ("entropy", "minmax") if calibrator_base(trt, m) is not None],
        "progress_monitor": progress_monitor_base(trt) is not None,
        "memory_pool_limit": _has(cfg, "set_memory_pool_limit"),
        "builder_optimization_level": _has(cfg, "builder_optimization_level"),
        "version_compatible": hasattr(trt.BuilderFlag, "VERSION_COMPATIBLE"),
        "get_creator": _has(getattr(trt, "IPluginRegistry", None), "get_creator"),
        "dla": hasattr(getattr(trt, "DeviceType", None), "DLA")
               and hasattr(trt.BuilderFlag, "GPU_FALLBACK"),
    }
    if builder is not None:
        report["dla_cores"] = int(getattr(builder, "num_DLA_cores", 0) or 0)
    return report
