"""``backend="auto"``: pick a backend by artifact, precision and hardware, and say why.

Rules, first match wins:

1. ``.engine`` → ``trt``; ``.pth`` → ``torch``; ``.ort`` → ``ort``; ``.tflite`` → ``litert``;
   ``.ncnn.param`` → ``ncnn``; ``triton://`` → ``triton`` (each runs nowhere else);
2. an ONNX graph using the ``EfficientNMS_TRT`` plugin → ``trt`` (no other runtime has it);
3. TensorRT installed and a CUDA GPU present → ``trt``;
4. an INT8 artifact on the CPU → ``openvino`` if installed: ONNX Runtime runs the signed,
   TensorRT-ready QDQ file no faster than FP32 (slower on CPUs without int8 dot-product
   instructions), OpenVINO runs it several times faster (3.7× the best FP32 backend for mb1-ssd on
   an AMD EPYC with VNNI, ``benchmarks/results/int8_cpu_*.json``);
5. an FP16 artifact on the CPU → ``openvino`` if installed: ONNX Runtime's CPU provider has no
   FP16 kernels for most of the graph and runs it slower than the FP32 file (casts around each
   op: mb1-ssd 13.8 ms against 8.9 ms), OpenVINO runs it in bf16 on CPUs that have it (4.7 ms
   there, ``benchmarks/results/live_*.json``), in f32 elsewhere;
6. otherwise the first installed backend whose registry record has ``cpu_auto`` (today
   ``ort``, ``openvino``, ``opencv``, in :data:`~ssd_edge.runtime.backends.registry.RECORDS`
   order).

Hardware is probed from ``/proc/cpuinfo`` and device nodes (no GPU library is imported), and is a
plain value so tests can pass a fake one.
"""
import os
import platform
from dataclasses import dataclass, field
from typing import FrozenSet

from ...errors import SsdEdgeError
from .registry import RECORDS

INT8_DOT_FLAGS = frozenset(["avx512_vnni", "avx_vnni", "amx_int8", "asimddp"])
# x86 AVX-512 BF16 / AMX, Arm BF16 (``Features: ... bf16``).
BF16_FLAGS = frozenset(["avx512_bf16", "amx_bf16", "bf16"])
# Desktop/server NVIDIA driver nodes, then Jetson's integrated GPU (L4T 32–36).
_GPU_NODES = ("/dev/nvidia0", "/dev/nvhost-ctrl-gpu", "/dev/nvgpu/igpu0/ctrl")


@dataclass(frozen=True)
class Hardware:
    """What :func:`choose_backend` looks at.

    Attributes:
        cpu_flags: CPU feature flags (x86 ``flags`` / Arm ``Features`` of ``/proc/cpuinfo``).
        cuda_gpu: an NVIDIA GPU device node is present.
        installed: names of registered backends whose package can be imported.
        machine: ``platform.machine()``, for the explanation only.
    """

    cpu_flags: FrozenSet[str] = field(default_factory=frozenset)
    cuda_gpu: bool = False
    installed: FrozenSet[str] = field(default_factory=frozenset)
    machine: str = ""

    @property
    def int8_dot(self):
        """True when the CPU has int8 dot-product instructions (VNNI, AMX or Arm dotprod)."""
        return bool(self.cpu_flags & INT8_DOT_FLAGS)

    @property
    def bf16(self):
        """True when the CPU computes in bfloat16 (AVX512_BF16, AMX or Arm BF16)."""
        return bool(self.cpu_flags & BF16_FLAGS)


def cpu_flags(cpuinfo_text):
    """Return the set of CPU flags in a ``/proc/cpuinfo`` text (x86 or Arm)."""
    flags = set()
    for line in cpuinfo_text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return frozenset(flags)


def probe_hardware(cpuinfo_path="/proc/cpuinfo"):
    """Return this machine's :class:`Hardware` (reads files only; imports no backend)."""
    from . import is_installed
    try:
        with open(cpuinfo_path, "r", encoding="utf-8", errors="replace") as f:
            flags = cpu_flags(f.read())
    except OSError:
        flags = frozenset()
    gpu = any(os.path.exists(p) for p in _GPU_NODES)
    installed = frozenset(r.name for r in RECORDS if is_installed(r.name))
    return Hardware(flags, gpu, installed, platform.machine())


def choose_backend(artifact, hardware):
    """Return ``(backend name, reason)`` for ``artifact`` on ``hardware`` (see module doc)."""
    kind = artifact.kind
    if kind == "engine":
        return "trt", "a TensorRT engine runs only on TensorRT"
    if kind == "pth":
        where = "on the CUDA GPU" if hardware.cuda_gpu else "on the CPU"
        return "torch", "a .pth checkpoint runs through the model zoo in PyTorch (%s)" % where
    if kind == "ort":
        return "ort", "an .ort file is ONNX Runtime's own format"
    if kind == "triton":
        return "triton", "a triton:// model runs on its Triton Inference Server"
    if kind in ("tflite", "ncnn"):
        return ("litert", "a .tflite file runs on LiteRT") if kind == "tflite" else \
            ("ncnn", "an .ncnn.param file runs on ncnn")
    ops = artifact.onnx.op_types if artifact.onnx is not None else frozenset()
    if "EfficientNMS_TRT" in ops:
        return "trt", "the graph uses the EfficientNMS_TRT plugin, which only TensorRT runs"
    inst = hardware.installed
    if "trt" in inst and hardware.cuda_gpu:
        return "trt", "TensorRT and a CUDA GPU are present"
    if artifact.precision == "int8" and "openvino" in inst:
        dot = "with" if hardware.int8_dot else "without"
        return "openvino", ("INT8 model on a CPU (%s, %s VNNI/dot-product instructions): "
                            "OpenVINO runs the QDQ file several times faster than FP32, ONNX "
                            "Runtime does not" % (hardware.machine or "cpu", dot))
    if artifact.precision == "fp16" and "openvino" in inst:
        how = "in bf16, which this CPU has" if hardware.bf16 else \
            "in f32 (this CPU has no bf16)"
        return "openvino", ("FP16 model on a CPU (%s): OpenVINO runs it %s, ONNX Runtime runs "
                            "it slower than the FP32 file" % (hardware.machine or "cpu", how))
    for name in (r.name for r in RECORDS if r.cpu_auto and kind in r.kinds):
        if name in inst:
            return name, _cpu_reason(name, artifact, hardware)
    raise SsdEdgeError("expected an installed backend for %s, got none of onnxruntime, openvino, "
                       "opencv; install one: pip install \"ssd-edge[ort]\" (or [openvino], [cv])"
                       % os.path.basename(artifact.path))


def _cpu_reason(name, artifact, hardware):
    if name == "ort":
        why = "ONNX Runtime is installed"
        if artifact.precision in ("int8", "fp16"):
            why += (" (OpenVINO, much faster for %s on a CPU, is not: pip install "
                    "\"ssd-edge[openvino]\")" % artifact.precision.upper())
        if hardware.cuda_gpu:
            why += "; a CUDA GPU is present but TensorRT is not installed"
        return why
    return "%s is the first installed CPU backend (ONNX Runtime is not installed)" % name
