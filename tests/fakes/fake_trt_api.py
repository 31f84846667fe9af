"""TEST DOUBLE: the class templates of the fake ``tensorrt`` module (see fake_tensorrt.py).

Each template ``_Name`` becomes ``trt.Name`` with only the members its release has
(``trt_presence.PRESENCE``); ``self._t`` is the per-module FakeState. Methods marked ``@rec``
append ``("Name.method", args, kwargs)`` to ``trt.calls``; property sets are recorded as
``("Name.prop=", (value,), {})``.
"""
import functools

import numpy as np

from . import fake_trt_build as B
from .fake_trt_build import FakeHostMemory


class _Member:
    def __init__(self, enum_name, name, value):
        self.name, self.value, self._enum = name, value, enum_name

    def __int__(self):
        return self.value

    __index__ = __int__

    def __repr__(self):
        return "<%s.%s: %d>" % (self._enum, self.name, self.value)


def make_enum(enum_name, names):
    """A pybind-like enum class: members as class attributes, ``members()`` lists them."""
    members = {n: _Member(enum_name, n, i) for i, n in enumerate(names)}
    attrs = dict(members)
    attrs["members"] = staticmethod(lambda: list(members.values()))
    attrs["__members__"] = members
    return type(enum_name, (object,), attrs)


class Dims(tuple):
    """Like ``trt.Dims``: iterable, indexable, ``len()``."""


def rec(fn):
    name = fn.__qualname__.lstrip("_")

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        self._t.calls.append((name, args, kwargs))
        return fn(self, *args, **kwargs)
    return wrapper


def prop(cls, name, default=None):
    def get(self):
        return self.__dict__.setdefault("_p", {}).get(name, default)

    def put(self, value):
        self._t.calls.append(("%s.%s=" % (cls, name), (value,), {}))
        self.__dict__.setdefault("_p", {})[name] = value
    return property(get, put)


def log(obj, severity, msg):
    logger = obj._logger
    logger.log(getattr(obj._t.mod.ILogger.Severity, severity), msg)


# ---------------------------------------------------------------------------------- logging
class _ILogger:
    Severity = make_enum("Severity", ["INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"])

    def __init__(self):
        pass

    def log(self, severity, msg):
        raise NotImplementedError


class _Logger(_ILogger):
    def __init__(self, min_severity=None):
        self.messages = []

    def log(self, severity, msg):
        self.messages.append((severity.name, msg))


# ---------------------------------------------------------------------------------- builder
class _Builder:
    @rec
    def __init__(self, logger):
        self._logger = logger

    @rec
    def create_network(self, flags=0):
        return self._t.mod.INetworkDefinition(int(flags))

    @rec
    def create_builder_config(self):
        return self._t.mod.IBuilderConfig()

    @rec
    def create_optimization_profile(self):
        return self._t.mod.IOptimizationProfile()

    @property
    def platform_has_fast_fp16(self):
        return tuple(self._t.gpu.compute_capability) >= (5, 3)

    @property
    def num_DLA_cores(self):
        return int(getattr(self._t.gpu, "dla_cores", 0))

    @rec
    def build_serialized_network(self, network, config):
        return B.build(self, network, config)

    @rec
    def build_engine(self, network, config):   # deprecated 8.x path; ssd_edge never calls it
        plan = B.build(self, network, config)
        runtime = self._t.mod.Runtime(self._logger)
        return None if plan is None else runtime.deserialize_cuda_engine(plan)


class _ITensor:
    def __init__(self, name, shape, dtype):
        self.name, self.shape, self.dtype = name, Dims(shape), dtype

    @rec
    def set_dynamic_range(self, lo, hi):
        return True


class _INetworkDefinition:
    def __init__(self, flags):
        self.flags = flags
        self.onnx_bytes = None
        self.model = None
        self._inputs, self._outputs = [], []

    num_inputs = property(lambda self: len(self._inputs))
    num_outputs = property(lambda self: len(self._outputs))
    num_layers = property(lambda self: len(self.model.graph.node) if self.model else 0)

    def get_input(self, i):
        return self._inputs[i]

    def get_output(self, i):
        return self._outputs[i]

    @rec
    def add_nms(self, boxes, scores, max_output_boxes_per_class):
        raise NotImplementedError("fake TensorRT: INMSLayer is not modelled")


class _IOptimizationProfile:
    def __init__(self):
        self.shapes = {}

    @rec
    def set_shape(self, input, min, opt, max):  # noqa: A002  (TensorRT's own keyword names)
        self.shapes[input] = [tuple(min), tuple(opt), tuple(max)]

    def get_shape(self, input):  # noqa: A002
        return [Dims(s) for s in self.shapes.get(input, [(), (), ()])]


class _ITimingCache:
    def __init__(self, entries=()):
        self.entries = set(entries)

    @rec
    def serialize(self):
        return B.encode_timing_cache(self)

    @rec
    def combine(self, other, ignore_mismatch):
        self.entries |= other.entries
        return True

    @rec
    def reset(self):
        self.entries.clear()
        return True


class _IBuilderConfig:
    def __init__(self):
        self.flags = set()
        self.pools = {}
        self.profiles = []
        self.timing_cache = None
        self.calibration_profile = None

    @rec
    def set_flag(self, flag):
        self.flags.add(flag.name)

    @rec
    def clear_flag(self, flag):
        self.flags.discard(flag.name)

    def get_flag(self, flag):
        return flag.name in self.flags

    @rec
    def set_memory_pool_limit(self, pool, pool_size):
        self.pools[pool.name] = int(pool_size)

    max_workspace_size = prop("IBuilderConfig", "max_workspace_size", 0)
    int8_calibrator = prop("IBuilderConfig", "int8_calibrator")
    builder_optimization_level = prop("IBuilderConfig", "builder_optimization_level", 3)
    default_device_type = prop("IBuilderConfig", "default_device_type")
    DLA_core = prop("IBuilderConfig", "DLA_core", -1)
    progress_monitor = prop("IBuilderConfig", "progress_monitor")
    hardware_compatibility_level = prop("IBuilderConfig", "hardware_compatibility_level")
    avg_timing_iterations = prop("IBuilderConfig", "avg_timing_iterations", 1)

    @rec
    def create_timing_cache(self, serialized_timing_cache):
        return B.decode_timing_cache(self._t, serialized_timing_cache)

    @rec
    def set_timing_cache(self, cache, ignore_mismatch):   # both arguments required, as in TRT
        self.timing_cache = cache
        return True

    @rec
    def get_timing_cache(self):
        return self.timing_cache

    @rec
    def add_optimization_profile(self, profile):
        self.profiles.append(profile)
        return len(self.profiles) - 1

    @rec
    def set_calibration_profile(self, profile):
        self.calibration_profile = profile
        return True


# ---------------------------------------------------------------------------------- parser
class _ParserError:
    def __init__(self, node, name, op, code, desc):
        self._node, self._name, self._op, self._code, self._desc = node, name, op, code, desc

    def node(self):
        return self._node

    def code(self):
        return self._code

    def desc(self):
        return self._desc

    def __str__(self):
        where = ("In node %d with name: %s and operator: %s (importFallbackPluginImporter): "
                 % (self._node, self._name, self._op)) if self._node >= 0 else ""
        return "%s%s: %s" % (where, self._code, self._desc)


class _OnnxParser:
    @rec
    def __init__(self, network, logger):
        self._network, self._logger, self._errors = network, logger, []

    @rec
    def parse(self, model, path=None):
        self._errors = [_ParserError(*e) for e in B.parse_into(self, bytes(model))]
        for e in self._errors:
            log(self, "ERROR", "ModelImporter: %s" % e)
        return not self._errors

    num_errors = property(lambda self: len(self._errors))

    @rec
    def get_error(self, index):
        return self._errors[index]

    @rec
    def clear_errors(self):
        self._errors = []

    @rec
    def supports_model(self, model, path=None):
        ok = self.parse(model)
        return ok, []


# ---------------------------------------------------------------------------------- runtime
class _Runtime:
    @rec
    def __init__(self, logger):
        self._logger = logger

    DLA_core = prop("Runtime", "DLA_core", -1)
    engine_host_code_allowed = prop("Runtime", "engine_host_code_allowed", False)

    @rec
    def deserialize_cuda_engine(self, serialized_engine):
        return B.deserialize(self, serialized_engine)


class _ICudaEngine(B.EngineBase):
    num_io_tensors = property(lambda self: len(self.io))
    num_bindings = property(lambda self: len(self.io))
    num_optimization_profiles = property(lambda self: 1)
    device_memory_size = property(lambda self: 1 << 20)
    device_memory_size_v2 = property(lambda self: 1 << 20)

    @rec
    def get_tensor_name(self, index):
        return self.io[index][0]

    @rec
    def get_tensor_mode(self, name):
        return getattr(self._t.mod.TensorIOMode, self._io(name)[1])

    @rec
    def get_tensor_shape(self, name):
        return Dims(self._io(name)[2])

    @rec
    def get_tensor_dtype(self, name):
        return getattr(self._t.mod.DataType, self._io(name)[3])

    @rec
    def get_tensor_profile_shape(self, name, profile_index):
        return self.profile_shapes(name)

    @rec
    def get_binding_index(self, name):
        return [t[0] for t in self.io].index(name) if name in self.names else -1

    @rec
    def get_binding_name(self, index):
        return self.io[index][0]

    @rec
    def binding_is_input(self, index):
        return self.io[index][1] == "INPUT"

    @rec
    def get_binding_shape(self, index):
        return Dims(self.io[index][2])

    @rec
    def get_binding_dtype(self, index):
        return getattr(self._t.mod.DataType, self.io[index][3])

    @rec
    def get_profile_shape(self, profile_index, binding):
        name = binding if isinstance(binding, str) else self.io[binding][0]
        return self.profile_shapes(name)

    @rec
    def create_execution_context(self):
        return self._t.mod.IExecutionContext(self)

    @rec
    def serialize(self):
        return self.plan


class _IExecutionContext(B.ContextBase):
    @rec
    def set_input_shape(self, name, shape):
        return self._set_shape(name, shape)

    @rec
    def get_tensor_shape(self, name):
        return Dims(self._shape(name))

    @rec
    def set_tensor_address(self, name, memory):
        self._engine._io(name)
        self.addresses[name] = int(memory)
        return True

    @rec
    def execute_async_v3(self, stream_handle):
        return self._enqueue(self.addresses, int(stream_handle))

    @rec
    def set_output_allocator(self, name, output_allocator):
        return True

    @rec
    def set_binding_shape(self, binding, shape):
        return self._set_shape(self._engine.io[binding][0], shape)

    @rec
    def get_binding_shape(self, binding):
        return Dims(self._shape(self._engine.io[binding][0]))

    all_binding_shapes_specified = property(lambda self: self._all_specified())

    @rec
    def execute_async_v2(self, bindings, stream_handle):
        return self._enqueue(self._by_index(bindings), int(stream_handle))

    @rec
    def execute_v2(self, bindings):
        handle = self._t.gpu.stream_create()
        ok = self._enqueue(self._by_index(bindings), handle)
        self._t.gpu.synchronize(handle)
        return ok


# ---------------------------------------------------------------------------------- INT8 & co
class _IInt8EntropyCalibrator2:
    def __init__(self):
        pass

    def get_algorithm(self):
        return self._t.mod.CalibrationAlgoType.ENTROPY_CALIBRATION_2


class _IInt8MinMaxCalibrator:
    def __init__(self):
        pass

    def get_algorithm(self):
        return self._t.mod.CalibrationAlgoType.MINMAX_CALIBRATION


class _IProgressMonitor:
    def __init__(self):
        pass


class _PluginCreator:
    def __init__(self, name, version):
        self.name, self.plugin_version, self.plugin_namespace = name, version, ""


class _IPluginRegistry:
    def _find(self, name, version, namespace):
        from .trt_presence import PLUGINS
        st = self._t
        if st.plugins_loaded and namespace == "" and version == "1" \
                and st.version in PLUGINS.get(name, ()):
            return _PluginCreator(name, version)
        return None

    @rec
    def get_plugin_creator(self, type, version, plugin_namespace=""):  # noqa: A002
        return self._find(type, version, plugin_namespace)

    @rec
    def get_creator(self, name, version, plugin_namespace=""):
        return self._find(name, version, plugin_namespace)

    plugin_creator_list = property(lambda self: [])


TEMPLATES = {c.__name__.lstrip("_"): c for c in (
    _ILogger, _Logger, _Builder, _ITensor, _INetworkDefinition, _IOptimizationProfile,
    _ITimingCache, _IBuilderConfig, _OnnxParser, _Runtime, _ICudaEngine, _IExecutionContext,
    _IInt8EntropyCalibrator2, _IInt8MinMaxCalibrator, _IProgressMonitor, _IPluginRegistry)}

__all__ = ["TEMPLATES", "make_enum", "FakeHostMemory", "Dims", "np"]
