"""GPU checks: the device (nvidia-smi, else torch, else the Jetson module table), CUDA through
cuda-python or pycuda, and TensorRT with the features the code relies on.

TensorRT feature probes live in ``ssd_edge.runtime.trt_compat`` (one module for all probes,
docs/architecture.md §5); the doctor only prints its ``feature_report``.
"""
from ..errors import SsdEdgeError
from .core import FAIL, OK, WARN, Verdict, run_cmd, try_import, version_of, version_tuple

CUDA_MEM_MODULE = "ssd_edge.runtime.cuda_mem"

SMI_FIELDS = "name,compute_cap,driver_version,memory.total"


def _gpu_from_smi(env):
    """Return ``(info dict | None, problem str | None)``; (None, None) when nvidia-smi is absent."""
    res = run_cmd(env, ["nvidia-smi", "--query-gpu=" + SMI_FIELDS, "--format=csv,noheader,nounits"])
    if res is not None and res.rc != 0 and "compute_cap" in (res.out + res.err):
        # Drivers before ~510 do not know the compute_cap field.
        res = run_cmd(env, ["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                            "--format=csv,noheader,nounits"])
    if res is None:
        return None, None
    if res.rc != 0:
        first = (res.err or res.out).strip().splitlines()
        return None, "nvidia-smi failed (exit %d): %s" % (res.rc, first[0] if first else "")
    rows = [[c.strip() for c in ln.split(",")] for ln in res.out.strip().splitlines() if ln.strip()]
    if not rows:
        return None, "nvidia-smi listed no GPU"
    row = rows[0]
    keys = ["name", "compute_capability", "driver", "memory_mib"] if len(row) == 4 else \
        ["name", "driver", "memory_mib"]
    info = dict(zip(keys, row), count=len(rows), source="nvidia-smi")
    return info, None


def _gpu_from_torch(env):
    torch, _ = try_import(env, "torch")
    if torch is None:
        return None
    try:
        if not torch.cuda.is_available():
            return None
        cc = torch.cuda.get_device_capability(0)
        return {"name": torch.cuda.get_device_name(0), "compute_capability": "%d.%d" % tuple(cc),
                "count": torch.cuda.device_count(), "source": "torch"}
    except Exception:  # noqa: BLE001 - a broken CUDA setup is reported as "no GPU seen"
        return None


def _gpu_from_cuda(env):
    mem, _ = _device_memory(env)
    try:
        dev = mem.device_info() if mem is not None else None
    except Exception:  # noqa: BLE001 - reported by the cuda check
        dev = None
    if dev is None:
        return None
    return {"name": dev.name, "compute_capability": dev.compute_capability, "count": 1,
            "memory_mib": str(dev.total_memory >> 20), "source": mem.name}


def check_gpu(env, facts):
    info, problem = _gpu_from_smi(env)
    if info is None:
        info = _gpu_from_cuda(env)
    if info is None:
        info = _gpu_from_torch(env)
    if info is None and facts.get("jetson") and facts.get("family_gpu"):
        info = {"name": facts["family_gpu"], "compute_capability": facts["family_cc"],
                "count": 1, "source": "Jetson module table"}
    facts["gpu"] = info is not None
    if info is None:
        if problem:
            return [Verdict("gpu", FAIL, problem, "check the NVIDIA driver (`nvidia-smi`)")]
        if facts.get("jetson"):
            return [Verdict("gpu", WARN, "integrated GPU not identified (unknown module)")]
        return [Verdict("gpu", OK, "no NVIDIA GPU (no nvidia-smi, torch sees no CUDA device); "
                        "CPU backends only")]
    cc = info.get("compute_capability")
    extra = [("compute " + cc) if cc else "", ("driver " + info["driver"]) if info.get("driver")
             else "", ("%s MiB" % info["memory_mib"]) if info.get("memory_mib") else "",
             "via " + info["source"]]
    finding = "%s%s (%s)" % (info["name"], " x%d" % info["count"] if info.get("count", 1) > 1
                             else "", ", ".join(e for e in extra if e))
    if cc and not facts.get("jetson") and version_tuple(cc)[:2] < (7, 0):
        return [Verdict("gpu", WARN, finding + ": TensorRT 10 needs compute 7.0 or newer",
                        "use TensorRT 8.x on this GPU", info)]
    return [Verdict("gpu", OK, finding, None, info)]


def _device_memory(env):
    """``(memory object, None)`` from the runtime's own loader, or ``(None, problem)``.

    ``ssd_edge.runtime.cuda_mem.load_device_memory`` is what the TensorRT backend uses
    (cuda-python first, pycuda second), so the doctor checks exactly that path.
    """
    mod, why = try_import(env, CUDA_MEM_MODULE)
    if mod is None:
        return None, "%s %s" % (CUDA_MEM_MODULE, why)
    try:
        return mod.load_device_memory(), None
    except Exception as e:  # noqa: BLE001 - SsdEdgeError when neither library exists, or worse
        return None, str(e) if isinstance(e, SsdEdgeError) else "%s: %s" % (type(e).__name__, e)


def _library_version(env, name):
    for module in (("cuda.bindings", "cuda") if name == "cuda-python" else ("pycuda",)):
        mod, _ = try_import(env, module)
        if mod is not None:
            return str(getattr(mod, "VERSION_TEXT", None) or version_of(mod))
    return "unknown version"


def check_cuda(env, facts):
    line = facts.get("jetpack_line")
    mem, problem = _device_memory(env)
    info = None
    if mem is not None:
        try:
            info = mem.device_info()
        except Exception as e:  # noqa: BLE001
            problem = "%s is installed but CUDA is unusable: %s" % (mem.name, e)
    if info is not None:
        data = {"library": mem.name, "version": _library_version(env, mem.name),
                "device": info.name, "compute_capability": info.compute_capability,
                "memory_bytes": info.total_memory}
        return [Verdict("cuda", OK, "%s %s (%s, compute %s, %.1f GiB)" % (
            mem.name, data["version"], info.name, info.compute_capability,
            info.total_memory / float(1 << 30)), None, data)]
    if not facts.get("gpu"):
        return [Verdict("cuda", OK, "no CUDA device library (not needed without an NVIDIA GPU)",
                        None, {"problem": problem})]
    fix = ("pip install \"%s\" (else pip install pycuda)" % line.cuda_python
           if line is not None and line.cuda_python else "pip install \"ssd-edge[trt]\" "
           "(cuda-python) or \"ssd-edge[trt-pycuda]\" (pycuda)")
    return [Verdict("cuda", WARN, "%s: the TensorRT backend cannot move data to the GPU"
                    % problem, fix, {"problem": problem})]
