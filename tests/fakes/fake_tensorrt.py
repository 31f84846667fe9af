"""TEST DOUBLE: a fake ``tensorrt`` module per release (8.4, 8.5, 8.6, 10.3, 11.x).

No TensorRT can be installed here, so the builder's and the runtime backend's control flow is
checked against this double. It is faithful where ssd_edge depends on TensorRT:

* attributes follow ``trt_presence.PRESENCE`` exactly — a name absent from a release is absent
  from its fake, so touching it raises ``AttributeError`` as the real bindings do;
* every call is recorded in ``trt.calls`` as ``("Class.method", args)`` (property sets as
  ``"Class.prop="``), so tests assert which calls each release received;
* the ONNX is parsed with the ``onnx`` package (per-release operator table and opset limit;
  plugins only after ``init_libnvinfer_plugins``), errors via ``num_errors``/``get_error``;
* ``build_serialized_network`` returns None on failure and logs why through the ILogger;
  serialized plans encode the release and GPU, and ``deserialize_cuda_engine`` of another
  release's or GPU's plan returns None after logging TensorRT's own message;
* engines run the ONNX through ONNX Runtime on CPU, reading and writing the fake GPU's memory
  (``fake_cuda.FakeGpu``) on the stream passed to ``execute_async_v3`` / ``execute_async_v2``.

``make_fake_tensorrt(version, gpu)`` returns the module; ``install_fake_tensorrt`` puts it into
``sys.modules["tensorrt"]`` through pytest's monkeypatch.
"""
import importlib.machinery
import types

from . import trt_presence as P
from .fake_cuda import FakeGpu
from .fake_trt_api import TEMPLATES, make_enum
from .fake_trt_build import decode_plan, encode_plan  # noqa: F401  (re-exported)

ENUMS = {
    "NetworkDefinitionCreationFlag": ["EXPLICIT_BATCH", "STRONGLY_TYPED"],
    "BuilderFlag": ["FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS", "GPU_FALLBACK",
                    "VERSION_COMPATIBLE", "STRICT_TYPES", "REFIT", "TF32"],
    "MemoryPoolType": ["WORKSPACE", "DLA_MANAGED_SRAM", "DLA_LOCAL_DRAM", "DLA_GLOBAL_DRAM"],
    "DeviceType": ["GPU", "DLA"],
    "TensorIOMode": ["NONE", "INPUT", "OUTPUT"],
    "DataType": ["FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8", "INT64"],
    "HardwareCompatibilityLevel": ["NONE", "AMPERE_PLUS"],
    "CalibrationAlgoType": ["LEGACY_CALIBRATION", "ENTROPY_CALIBRATION",
                            "ENTROPY_CALIBRATION_2", "MINMAX_CALIBRATION"],
}
_BUILDER_FLAG_ASSUMED_ALL = {"STRICT_TYPES": {"8.4", "8.5", "8.6"}, "INT64": {"10.3", "11.1"}}


class FakeState:
    """Per-module state shared by the fake classes."""

    def __init__(self, version, gpu, module):
        self.version = version
        self.full_version = P.FULL_VERSION[version]
        self.gpu = gpu
        self.mod = module
        self.calls = module.calls
        self.plugins_loaded = False
        self.builds = []        # one dict per build_serialized_network call (flags, cache hits…)


def make_fake_tensorrt(version="10.3", gpu=None):
    """Return a fresh fake ``tensorrt`` module for ``version`` ("8.4" … "11.1"; "11" = 11.1)."""
    v = P.normalise(version)
    trt = types.ModuleType("tensorrt")
    trt.__version__ = P.FULL_VERSION[v]
    # importlib.util.find_spec("tensorrt") (torch._dynamo calls it on first import) raises for a
    # module in sys.modules whose __spec__ is None; a spec without origin reads as a built-in.
    trt.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
    trt.__fake__ = True
    trt.calls = []
    state = FakeState(v, gpu if gpu is not None else FakeGpu(), trt)
    trt._state = state
    trt.gpu = state.gpu
    for name, members in ENUMS.items():
        if not P.present(name, v):
            continue
        keep = [m for m in members if P.present("%s.%s" % (name, m), v)
                and v in _BUILDER_FLAG_ASSUMED_ALL.get(m, set(P.VERSIONS))]
        setattr(trt, name, make_enum(name, keep))
    for name, template in TEMPLATES.items():
        if not P.present(name, v):
            continue
        attrs = {k: val for k, val in vars(template).items()
                 if k not in ("__dict__", "__weakref__")
                 and (k.startswith("__") or P.present("%s.%s" % (name, k), v))}
        attrs["_t"] = state
        bases = tuple(getattr(trt, b.__name__.lstrip("_"), b) for b in template.__bases__)
        setattr(trt, name, type(name, bases, attrs))
    for sev in trt.ILogger.Severity.members():
        setattr(trt.Logger, sev.name, sev)
    registry = trt.IPluginRegistry()

    def init_libnvinfer_plugins(logger, namespace):
        trt.calls.append(("init_libnvinfer_plugins", (namespace,)))
        state.plugins_loaded = True
        return True

    def get_plugin_registry():
        return registry

    def nptype(dtype):
        from .fake_trt_exec import np_dtype
        return np_dtype(dtype.name).type

    def volume(shape):
        n = 1
        for d in shape:
            n *= d
        return n

    trt.init_libnvinfer_plugins = init_libnvinfer_plugins
    trt.get_plugin_registry = get_plugin_registry
    trt.nptype, trt.volume = nptype, volume
    return trt


def install_fake_tensorrt(monkeypatch, version, gpu=None):
    """Make ``import tensorrt`` return a fresh fake for ``version``; returns the module."""
    trt = make_fake_tensorrt(version, gpu)
    monkeypatch.setitem(__import__("sys").modules, "tensorrt", trt)
    return trt


def call_names(trt):
    """The recorded call names, in order."""
    return [c[0] for c in trt.calls]
