"""TEST DOUBLE: what the fake ``tensorrt`` does when it parses, builds, loads and runs.

The failure behaviour mirrors real TensorRT where ssd_edge depends on it: the parser reports
errors through ``num_errors``/``get_error`` and the logger; ``build_serialized_network`` logs
and returns None (dynamic input without a profile, invalid profile, a DLA core the device lacks,
cancelled progress monitor, calibration without batches); ``deserialize_cuda_engine`` logs
TensorRT's own messages and returns None for a plan from another release or GPU.
"""
import json
import struct
import threading

import numpy as np

from . import trt_presence as P
from .fake_trt_exec import OnnxExecutor, np_dtype, parse_onnx

PLAN_MAGIC = b"FAKETRT\x00"
CACHE_MAGIC = b"FAKETC\x00"
_EIGHT = {"8.4", "8.5", "8.6"}


class FakeHostMemory(bytes):
    """Like ``trt.IHostMemory``: supports the buffer protocol and has ``nbytes``."""

    @property
    def nbytes(self):
        return len(self)


def _log(obj, severity, msg):
    obj._logger.log(getattr(obj._t.mod.ILogger.Severity, severity), msg)


# ---------------------------------------------------------------------------------- plans
def encode_plan(header, onnx_bytes):
    head = json.dumps(header, sort_keys=True).encode()
    return FakeHostMemory(PLAN_MAGIC + struct.pack("<I", len(head)) + head + bytes(onnx_bytes))


def decode_plan(data):
    """``(header dict, onnx bytes)`` or None when ``data`` is not a fake plan."""
    data = bytes(data)
    start = len(PLAN_MAGIC) + 4
    if not data.startswith(PLAN_MAGIC) or len(data) < start:
        return None
    (n,) = struct.unpack("<I", data[len(PLAN_MAGIC):start])
    return json.loads(data[start:start + n].decode()), data[start + n:]


def encode_timing_cache(cache):
    body = {"version": cache._t.full_version, "entries": sorted(cache.entries)}
    return FakeHostMemory(CACHE_MAGIC + json.dumps(body).encode())


def decode_timing_cache(state, data):
    data = bytes(data)
    cache = state.mod.ITimingCache()
    if data.startswith(CACHE_MAGIC):
        body = json.loads(data[len(CACHE_MAGIC):].decode())
        if body["version"] == state.full_version:
            cache.entries = set(body["entries"])
    return cache


# ---------------------------------------------------------------------------------- parse
def parse_into(parser, data):
    st, net = parser._t, parser._network
    if st.version in _EIGHT and not net.flags & (1 << int(
            st.mod.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)):
        return [(-1, "", "", "INVALID_GRAPH", "ONNX parser only supports networks with an "
                 "explicit batch dimension")]
    model, inputs, outputs, errors = parse_onnx(data, st.version, st.plugins_loaded)
    if errors:
        return errors
    net.model, net.onnx_bytes = model, bytes(data)
    dt = st.mod.DataType
    net._inputs = [st.mod.ITensor(n, d, getattr(dt, t)) for n, d, t in inputs]
    net._outputs = [st.mod.ITensor(n, d, getattr(dt, t)) for n, d, t in outputs]
    return []


# ---------------------------------------------------------------------------------- build
def build(builder, network, config):
    st = builder._t
    record = {"flags": sorted(config.flags), "pools": dict(config.pools)}
    st.builds.append(record)
    if network.model is None:
        _log(builder, "ERROR", "4: Network must have at least one output")
        return None
    profile = _check_profile(builder, network, config)
    if profile is False:
        return None
    dla = _check_dla(builder, config, profile)
    if dla is False:
        return None
    if "INT8" in config.flags and getattr(config, "int8_calibrator", None) is not None:
        if not _calibrate(builder, network, config, profile):
            return None
    nodes = ["%s/%s" % (n.op_type, n.name or i) for i, n in enumerate(network.model.graph.node)]
    if not _monitor(builder, config, nodes):
        return None
    cache = config.timing_cache if config.timing_cache is not None else st.mod.ITimingCache()
    hits = sum(1 for n in nodes if n in cache.entries)
    cache.entries |= set(nodes)
    record.update(cache_hits=hits, cache_misses=len(nodes) - hits, dla_core=dla,
                  profile=profile, opt_level=getattr(config, "builder_optimization_level", None))
    io = [(t.name, "INPUT", list(t.shape), t.dtype.name) for t in network._inputs]
    io += [(t.name, "OUTPUT", list(t.shape), t.dtype.name) for t in network._outputs]
    header = {"version": st.full_version, "cc": list(st.gpu.compute_capability),
              "device": st.gpu.name, "io": io, "profile": profile, "dla_core": dla,
              "flags": sorted(config.flags)}
    return encode_plan(header, network.onnx_bytes)


def _check_profile(builder, network, config):
    dynamic = [t for t in network._inputs if -1 in t.shape]
    if dynamic and not config.profiles:
        _log(builder, "ERROR", "4: [network.cpp::validate] Error Code 4: Internal Error (Network "
             "has dynamic or shape inputs, but no optimization profile has been defined.)")
        return False
    if not config.profiles:
        return None
    shapes = config.profiles[0].shapes
    for t in dynamic:
        s = shapes.get(t.name)
        ok = s is not None and all(len(x) == len(t.shape) for x in s) and all(
            (d == -1 or lo == hi == d) and lo <= mid <= hi
            for d, lo, mid, hi in zip(t.shape, *s))
        if not ok:
            _log(builder, "ERROR", "4: [optimizationProfile] Error Code 4: Internal Error (%s: "
                 "optimization profile is missing values or has min > opt > max: %s)"
                 % (t.name, s))
            return False
    return {k: [list(x) for x in v] for k, v in shapes.items()}


def _check_dla(builder, config, profile):
    mod = builder._t.mod
    if config.default_device_type is not mod.DeviceType.DLA:
        return None
    core, fallback = int(config.DLA_core), "GPU_FALLBACK" in config.flags
    if core < 0 or core >= builder.num_DLA_cores:
        _log(builder, "ERROR", "2: [builder.cpp] Error Code 2: Internal Error (Cannot create DLA "
             "engine, %d not available)" % core)
        return False
    dynamic = profile and any(v[0] != v[2] for v in profile.values())
    low = not ({"FP16", "INT8"} & config.flags) and hasattr(mod.BuilderFlag, "FP16")
    if (dynamic or low) and not fallback:
        _log(builder, "ERROR", "DLA: %s and GPU fallback is off" % (
            "dynamic shapes are not supported" if dynamic else "only FP16/INT8 run on DLA"))
        return False
    return core


def _calibrate(builder, network, config, profile):
    cal = config.int8_calibrator
    cache = cal.read_calibration_cache()
    if cache:
        return True
    inp = network._inputs[0]
    shape = list(profile[inp.name][1]) if profile and inp.name in profile else list(inp.shape)
    shape[0] = int(cal.get_batch_size())
    n, amax = 0, 0.0
    while True:
        ptrs = cal.get_batch([t.name for t in network._inputs])
        if not ptrs:
            break
        arr = builder._t.gpu.read(int(ptrs[0]), np_dtype(inp.dtype.name), shape)
        amax, n = max(amax, float(np.abs(arr).max())), n + 1
    if n == 0:
        _log(builder, "ERROR", "Calibration failure occurred with no scaling factors detected.")
        return False
    algo = {"ENTROPY_CALIBRATION_2": "EntropyCalibration2",
            "MINMAX_CALIBRATION": "MinMaxCalibration"}[cal.get_algorithm().name]
    digits = "".join(builder._t.full_version.split(".")[:3])
    text = "TRT-%s-%s\n%s: %s\n" % (digits, algo, inp.name,
                                   struct.pack(">f", amax / 127.0).hex())
    cal.write_calibration_cache(memoryview(text.encode()))
    builder._t.builds[-1]["calibration_batches"] = n
    return True


def _monitor(builder, config, nodes):
    mon = getattr(config, "progress_monitor", None)
    if mon is None:
        return True
    mon.phase_start("Building engine", None, len(nodes))
    for i in range(len(nodes)):
        if not mon.step_complete("Building engine", i):
            _log(builder, "ERROR", "Build was cancelled by the progress monitor.")
            return False
    mon.phase_finish("Building engine")
    return True


# ---------------------------------------------------------------------------------- load & run
def deserialize(runtime, data):
    st = runtime._t
    decoded = decode_plan(data)
    if decoded is None:
        _log(runtime, "ERROR", "1: [stdArchiveReader.cpp::StdArchiveReader::32] Error Code 1: "
             "Serialization (Serialization assertion magicTagRead == kMAGIC_TAG failed.Magic tag "
             "does not match)")
    else:
        header, onnx_bytes = decoded
        if header["version"] != st.full_version:
            _log(runtime, "ERROR", "1: [stdArchiveReader.cpp::StdArchiveReader::40] Error Code 1: "
                 "Serialization (Serialization assertion stdVersionRead == serializationVersion "
                 "failed.The engine plan file is not compatible with this version of TensorRT, "
                 "expecting library version %s got %s, please rebuild.)"
                 % (st.full_version, header["version"]))
        elif tuple(header["cc"]) != tuple(st.gpu.compute_capability):
            _log(runtime, "ERROR", "6: The engine plan file is generated on an incompatible "
                 "device, expecting compute %d.%d got compute %d.%d, please rebuild."
                 % (tuple(st.gpu.compute_capability) + tuple(header["cc"])))
        else:
            return st.mod.ICudaEngine(header, onnx_bytes, bytes(data), runtime._logger)
    _log(runtime, "ERROR", "4: [runtime.cpp::deserializeCudaEngine::66] Error Code 4: Internal "
         "Error (Engine deserialization failed.)")
    return None


class EngineBase:
    def __init__(self, header, onnx_bytes, plan, logger):
        self._logger = logger
        self.header, self.onnx_bytes, self.plan = header, onnx_bytes, FakeHostMemory(plan)
        self.io = [tuple(t) for t in header["io"]]
        self.names = [t[0] for t in self.io]
        self.executor = OnnxExecutor(onnx_bytes)

    def _io(self, name):
        for t in self.io:
            if t[0] == name:
                return t
        raise ValueError("fake TensorRT: no tensor named %r" % (name,))

    def profile_shapes(self, name):
        if self._io(name)[1] != "INPUT":
            raise AssertionError("fake TensorRT: profile shapes are defined for inputs only (real "
                                 "TensorRT returns Dims with nbDims=-1 for %s)" % name)
        prof = (self.header["profile"] or {}).get(name)
        dims = tuple(self._io(name)[2])
        return [tuple(x) for x in prof] if prof else [dims, dims, dims]


class ContextBase:
    def __init__(self, engine):
        self._engine = engine
        self._inputs = {t[0]: (tuple(t[2]) if -1 not in t[2] else None)
                        for t in engine.io if t[1] == "INPUT"}
        self.addresses = {}
        # A real context may run one enqueue at a time: its shapes and bindings are shared
        # state. The fake records executions in flight (enqueued, not yet run on the stream)
        # so that tests can see two threads using one context at once.
        self._flight = threading.Lock()
        self.in_flight = self.max_in_flight = self.reshaped_in_flight = 0
        self.executing_threads = []

    def _set_shape(self, name, shape):
        with self._flight:
            self.reshaped_in_flight += bool(self.in_flight)
        lo, _, hi = self._engine.profile_shapes(name)
        shape = tuple(int(d) for d in shape)
        if len(shape) != len(lo) or any(not (a <= d <= b) for a, d, b in zip(lo, shape, hi)):
            _log(self._engine, "ERROR", "3: [executionContext.cpp::setInputShape] Error Code 3: "
                 "API Usage Error (%s: shape %s is outside the profile [%s, %s])"
                 % (name, shape, lo, hi))
            return False
        self._inputs[name] = shape
        return True

    def _all_specified(self):
        return all(v is not None for v in self._inputs.values())

    def _shape(self, name):
        t = self._engine._io(name)
        if t[1] == "INPUT":
            return self._inputs[name] or tuple(t[2])
        batch = next(iter(self._inputs.values()))
        if list(t[2][1:]).count(-1):
            raise NotImplementedError("fake TensorRT: only the batch axis may be dynamic")
        if t[2][0] != -1:
            return tuple(t[2])
        return (batch[0] if batch else -1,) + tuple(t[2][1:])

    def _by_index(self, bindings):
        return {self._engine.io[i][0]: int(p) for i, p in enumerate(bindings)}

    def _enqueue(self, addresses, stream):
        eng, gpu = self._engine, self._t.gpu
        missing = [n for n in eng.names if n not in addresses]
        if missing or not self._all_specified():
            _log(eng, "ERROR", "3: [executionContext.cpp::enqueueV3] Error Code 3: API Usage "
                 "Error (input shapes or tensor addresses not set: %s)" % (missing or "shapes"))
            return False
        plan = [(t[0], t[1], self._shape(t[0]), np_dtype(t[3]), addresses[t[0]]) for t in eng.io]

        def run():
            try:
                feeds = {n: gpu.read(p, dt, s) for n, m, s, dt, p in plan if m == "INPUT"}
                outs = eng.executor.run(feeds)
                for n, m, s, dt, p in plan:
                    if m == "OUTPUT":
                        arr = np.asarray(outs[n])
                        assert arr.shape == s, "fake TensorRT: %s is %s, engine said %s" % (
                            n, arr.shape, s)
                        gpu.write(p, arr.astype(dt))
            finally:
                with self._flight:
                    self.in_flight -= 1
        with self._flight:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.executing_threads.append(threading.get_ident())
        gpu.enqueue(stream, "execute", run)
        return True

    @property
    def _logger(self):
        return self._engine._logger


__all__ = ["P"]
