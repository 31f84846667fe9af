"""The machine a benchmark ran on, recorded with every result (``environment`` block).

Platform facts come from ``ssd-doctor``'s probes (:mod:`ssd_edge.doctor`): the Jetson module,
L4T / JetPack release, nvpmodel mode, jetson_clocks, the GPU (nvidia-smi, the CUDA library the
TensorRT backend uses, else torch) and memory. CPU flags are parsed by the runtime's own
``/proc/cpuinfo`` reader, the one ``backend="auto"`` decides with. Temperatures are read from
``/sys/class/thermal`` (every zone, °C) before and after the run, since a throttling board gives
different numbers. Everything reads through a doctor :class:`~ssd_edge.doctor.Env`, so tests can
point it at a fake filesystem.
"""
import glob
import os
import platform
import sys

from ..doctor import Env, jetson_facts, run_checks
from ..doctor.core import read_text, try_import, version_of
from ..doctor.gpu import check_cuda, check_gpu
from ..doctor.platform import check_platform
from ..doctor.system import check_memory
from ..runtime.backends.registry import RECORDS
from ..runtime.backends.select import INT8_DOT_FLAGS, cpu_flags

#: CPU flags that decide which kernels run (x86 SIMD and int8/bf16 dot products; Arm NEON,
#: dot-product, SVE). Only the ones present are recorded.
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
             "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
             "amx_int8", "asimd", "asimddp", "asimdhp", "sve", "sve2", "i8mm", "bf16")

#: import name → key in ``libraries``: numpy and every registered backend's package
#: (OpenCV's import name, cv2, is not its name).
LIBRARIES = (("numpy", "numpy"),) + tuple(
    (r.package, "opencv" if r.package == "cv2" else r.package) for r in RECORDS)


def cpu_info(env=None):
    """``{"model", "logical_cores", "physical_cores", "machine", "isa", "int8_dot"}``.

    ``isa`` lists the flags of :data:`ISA_FLAGS` the CPU reports; ``int8_dot`` is True when it
    has int8 dot-product instructions (VNNI, AMX or Arm dotprod), as ``backend="auto"`` sees it.
    """
    env = env or Env()
    text, _ = read_text(env, "/proc/cpuinfo")
    text = text or ""
    flags = cpu_flags(text)
    model = None
    cores, siblings = set(), 0
    phys = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not sep:
            continue
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value
        elif key == "physical id":
            phys = value
        elif key == "core id":
            cores.add((phys, value))
        elif key == "processor":
            siblings += 1
    return {"model": model or platform.processor() or platform.machine(),
            "logical_cores": os.cpu_count() or siblings or None,
            "physical_cores": len(cores) or None,
            "machine": platform.machine(),
            "isa": [f for f in ISA_FLAGS if f in flags],
            "int8_dot": bool(flags & INT8_DOT_FLAGS)}


def library_versions(env=None, skip=()):
    """``{"numpy": "1.26.4", "onnxruntime": None, ...}`` plus ``"cuda"`` (torch's CUDA, else the
    CUDA library's); None where a package is absent. Import names in ``skip`` are not imported."""
    env = env or Env()
    out = {}
    for module, key in LIBRARIES:
        if module in skip:
            out[key] = None
            continue
        mod, _ = try_import(env, module)
        out[key] = version_of(mod) if mod is not None else None
    torch = sys.modules.get("torch") if out.get("torch") else None
    out["cuda"] = getattr(getattr(torch, "version", None), "cuda", None) if torch else None
    return out


def temperatures(env=None):
    """``{zone type: °C}`` for every ``/sys/class/thermal/thermal_zone*`` (empty if none)."""
    env = env or Env()
    out = {}
    for zone in sorted(glob.glob(env.path("/sys/class/thermal/thermal_zone*"))):
        rel = "/sys/class/thermal/" + os.path.basename(zone)
        name, _ = read_text(env, rel + "/type")
        raw, _ = read_text(env, rel + "/temp")
        try:
            value = int(raw) / 1000.0
        except (TypeError, ValueError):
            continue
        key = name or os.path.basename(zone)
        if key in out:
            key = "%s.%s" % (key, os.path.basename(zone))
        out[key] = round(value, 1)
    return out


def _verdict_data(verdicts, name):
    for v in verdicts:
        if v.check == name:
            return dict(v.data or {})
    return {}


def capture_environment(env=None, label=None):
    """The ``environment`` block of a result file (see benchmarks/README.md for the fields).

    Args:
        env: where to look (default: this machine).
        label: a short name for the device in merged tables; default: the GPU name when one
            is seen, else the CPU model.
    """
    env = env or Env()
    verdicts = run_checks(env, (check_platform, check_gpu, check_cuda, check_memory))
    gpu = _verdict_data(verdicts, "gpu") or None
    cuda = _verdict_data(verdicts, "cuda")
    memory = _verdict_data(verdicts, "memory")
    cpu = cpu_info(env)
    libs = library_versions(env)
    if libs.get("cuda") is None and cuda.get("version"):
        libs["cuda"] = "%s %s" % (cuda.get("library"), cuda.get("version"))
    if gpu is not None:
        gpu = {k: gpu.get(k) for k in ("name", "compute_capability", "driver", "memory_mib",
                                       "count", "source")}
    return {
        "label": label or (gpu["name"] if gpu else cpu["model"]),
        "cpu": cpu,
        "memory": {"total_bytes": memory.get("ram_bytes"),
                   "available_bytes": memory.get("available_bytes"),
                   "swap_bytes": memory.get("swap_bytes")},
        "os": {"system": platform.system(), "release": platform.release(),
               "platform": platform.platform()},
        "python": platform.python_version(),
        "libraries": libs,
        "gpu": gpu,
        "jetson": jetson_facts(env),
        "temperatures_before": temperatures(env),
        "temperatures_after": None,
    }


def describe(environment):
    """One line: ``Intel Xeon (2 cores, avx2 avx512f avx512_vnni amx_int8), 23.4 GiB``."""
    cpu = environment.get("cpu") or {}
    isa = [f for f in cpu.get("isa", ()) if f.startswith(("avx2", "avx512f", "avx512_vnni",
                                                           "avx_vnni", "amx_int8", "asimddp"))]
    text = "%s (%s cores%s)" % (cpu.get("model"), cpu.get("logical_cores"),
                                ", " + " ".join(isa) if isa else "")
    gpu = environment.get("gpu")
    if gpu:
        text += "; GPU %s (compute %s, driver %s)" % (gpu.get("name"), gpu.get("compute_capability"),
                                                     gpu.get("driver"))
    jet = environment.get("jetson") or {}
    if jet.get("jetson"):
        text += "; %s, JetPack %s, nvpmodel %s, jetson_clocks %s" % (
            jet.get("model"), jet.get("jetpack"), jet.get("nvpmodel"), jet.get("jetson_clocks"))
    return text
