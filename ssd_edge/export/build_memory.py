"""Is there memory for a TensorRT engine build here? One rule for ``ssd-export`` and ``ssd-doctor``.

On a Jetson the GPU shares the board's RAM, and the builder, the ONNX parser and the tactic
timing all live in it at once. Builds of SSD300-class models on 4 GB boards end in "Killed"
without swap (jkjung-avt/tensorrt_demos#293, #344: a 4 GB swapfile is the fix there). So a board
with at most :data:`SMALL_BOARD_RAM` of RAM gets a warning when RAM + swap is under
:data:`BUILD_MIN_TOTAL`; larger machines never do. Standard library only: the doctor imports it
on boards where nothing else of the export path is installed.
"""
import re

GIB = 1 << 30
#: RAM at or below this is a "small board" (Nano 2/4 GB, Orin Nano 4 GB: MemTotal reads 1.9–3.9
#: GiB); it also gets a smaller default workspace and builder optimisation level.
SMALL_BOARD_RAM = 4 * GIB
#: RAM + swap below this on a small board: the build may be OOM-killed (4 GB RAM + 2 GB zram is
#: the edge; 4 GB RAM + a 4 GB swapfile is comfortably above it).
BUILD_MIN_TOTAL = 6 * GIB
MEMINFO = "/proc/meminfo"
SWAP_FIX = ("add a 4 GB swapfile: sudo fallocate -l 4G /swapfile && sudo chmod 600 /swapfile && "
            "sudo mkswap /swapfile && sudo swapon /swapfile (and a '/swapfile none swap sw 0 0' "
            "line in /etc/fstab; see jetson/README.md), close the desktop, or build with a smaller "
            "--workspace")


def parse_meminfo(text):
    """``/proc/meminfo`` text → ``{"MemTotal": bytes, "SwapTotal": bytes, ...}`` (given in kB)."""
    out = {}
    for line in (text or "").splitlines():
        m = re.match(r"(\w+):\s+(\d+)\s*kB", line)
        if m:
            out[m.group(1)] = int(m.group(2)) * 1024
    return out


def read_meminfo(path=None):
    """The parsed ``/proc/meminfo`` (or ``path``), or None where it cannot be read (not Linux)."""
    try:
        with open(path or MEMINFO, "r", encoding="utf-8", errors="replace") as f:
            info = parse_meminfo(f.read())
    except OSError:
        return None
    return info if "MemTotal" in info else None


def is_small_board(ram_bytes):
    """True for RAM (or an integrated GPU's total memory) of at most :data:`SMALL_BOARD_RAM`."""
    return ram_bytes is not None and ram_bytes <= SMALL_BOARD_RAM


def build_memory_warning(ram_bytes, swap_bytes):
    """One line saying why an engine build may be killed here, or None when memory suffices.

    Args:
        ram_bytes: ``MemTotal`` in bytes.
        swap_bytes: ``SwapTotal`` in bytes (zram counts: it is swap to the kernel).
    """
    swap_bytes = swap_bytes or 0
    if not is_small_board(ram_bytes) or ram_bytes + swap_bytes >= BUILD_MIN_TOTAL:
        return None
    return ("%.1f GiB RAM + %.1f GiB swap is under the %d GiB a TensorRT engine build needs on a "
            "board with %d GiB or less (the GPU shares this memory): the build may be killed"
            % (ram_bytes / GIB, swap_bytes / GIB, BUILD_MIN_TOTAL // GIB, SMALL_BOARD_RAM // GIB))


def check_build_memory(meminfo_path=None):
    """``build_memory_warning`` for this machine (``meminfo_path`` for tests); None if unknown."""
    info = read_meminfo(meminfo_path)
    if info is None:
        return None
    return build_memory_warning(info["MemTotal"], info.get("SwapTotal", 0))
