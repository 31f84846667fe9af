"""Peak host and GPU memory of one benchmark case.

Host: the process's resident-set high-water mark (``VmHWM`` in ``/proc/self/status``). Linux
resets it when ``5`` is written to ``/proc/self/clear_refs`` (since 4.0), so each case gets its
own peak; where that is refused (another OS, a locked-down container) the figure is the process's
peak so far (``getrusage``), and ``scope`` says which. Either way it is the whole process: the
interpreter and every library already imported count too.

GPU: ``torch.cuda.max_memory_allocated`` for cases that run torch on CUDA (what the caching
allocator handed out, not what the driver reserved); None elsewhere (ONNX Runtime's and
TensorRT's allocations are not visible from here).
"""
import os
import resource
import sys

_STATUS = "/proc/self/status"
_CLEAR = "/proc/self/clear_refs"


def _status_kib(key):
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak_rss():
    """Start a new host peak; returns ``"case"`` when the kernel reset it, else ``"process"``."""
    try:
        with open(_CLEAR, "w") as f:
            f.write("5")
        return "case"
    except OSError:
        return "process"


def peak_rss_mb():
    """The resident-set high-water mark in MB (10^6 bytes) since the last reset (or start)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # ru_maxrss is KiB on Linux and bytes on macOS.
        kib = usage / 1024.0 if sys.platform == "darwin" else usage
    return round(kib * 1024 / 1e6, 1)


def _cuda_torch(device):
    if not device or "cuda" not in str(device).lower():
        return None
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        return torch if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - a broken CUDA set-up means "not measurable"
        return None


def reset_peak_gpu(device):
    """Reset torch's CUDA peak counter when ``device`` is a CUDA device torch runs on."""
    torch = _cuda_torch(device)
    if torch is not None:
        torch.cuda.reset_peak_memory_stats()


def peak_gpu_mb(device):
    """Peak CUDA memory torch allocated since :func:`reset_peak_gpu`, MB; None if unmeasurable."""
    torch = _cuda_torch(device)
    if torch is None:
        return None
    return round(torch.cuda.max_memory_allocated() / 1e6, 1)


def file_size_mb(path):
    """Size of ``path`` in MB (10^6 bytes), or None when it is not a file; an ncnn ``.param``
    counts with its ``.bin`` (the weights)."""
    if not os.path.isfile(path):
        return None
    size = os.path.getsize(path)
    weights = path[:-len(".param")] + ".bin" if path.endswith(".ncnn.param") else None
    if weights and os.path.isfile(weights):
        size += os.path.getsize(weights)
    return round(size / 1e6, 3)
