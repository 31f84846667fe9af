"""System checks: memory and swap, camera devices, nvpmodel, jetson_clocks, disk space."""
import glob
import os
import re

from ..export.build_memory import (BUILD_MIN_TOTAL, GIB, SMALL_BOARD_RAM, SWAP_FIX,
                                   build_memory_warning, parse_meminfo)
from .core import FAIL, OK, WARN, Verdict, read_text, run_cmd

# The memory rule (RAM <= 4 GiB and RAM + swap < 6 GiB: a TensorRT build may be killed) lives in
# ssd_edge.export.build_memory, so this check warns exactly when ssd-export --engine does.
ENGINE_FREE_WARN = 2 * GIB
ENGINE_FREE_FAIL = 256 << 20


def check_memory(env, facts):
    text, why = read_text(env, "/proc/meminfo")
    info = parse_meminfo(text)
    if "MemTotal" not in info:
        return [Verdict("memory", WARN, "/proc/meminfo %s; memory unknown" % (why or "unparsable"))]
    ram, swap = info["MemTotal"], info.get("SwapTotal", 0)
    data = {"ram_bytes": ram, "swap_bytes": swap, "available_bytes": info.get("MemAvailable")}
    finding = "%.1f GiB RAM, %.1f GiB swap" % (ram / GIB, swap / GIB)
    if info.get("MemAvailable") is not None:
        finding += ", %.1f GiB available" % (info["MemAvailable"] / GIB)
    warning = build_memory_warning(ram, swap)
    if warning:
        return [Verdict("memory", WARN, "%s: RAM + swap under %d GiB with %d GiB of RAM or less; "
                        "TensorRT engine builds may be killed (the GPU shares this memory on a "
                        "Jetson)" % (finding, BUILD_MIN_TOTAL // GIB, SMALL_BOARD_RAM // GIB),
                        SWAP_FIX, data)]
    return [Verdict("memory", OK, finding, None, data)]


def _video_name(env, dev):
    name, _ = read_text(env, "/sys/class/video4linux/%s/name" % os.path.basename(dev))
    return name or ""


def check_cameras(env, facts):
    devs = sorted(glob.glob(env.path("/dev/video*")),
                  key=lambda p: (len(p), p))
    if not devs:
        if facts.get("jetson"):
            return [Verdict("camera", WARN, "no /dev/video* devices",
                            "USB: replug and check `lsusb`; CSI: enable the sensor overlay with "
                            "sudo /opt/nvidia/jetson-io/jetson-io.py and reboot")]
        return [Verdict("camera", OK, "no /dev/video* devices (only live camera input needs "
                        "one)")]
    found, blocked = [], []
    for path in devs:
        dev = "/dev/" + os.path.basename(path)
        name = _video_name(env, dev)
        found.append({"device": dev, "name": name, "accessible": os.access(path, os.R_OK |
                                                                           os.W_OK)})
        if not found[-1]["accessible"]:
            blocked.append(dev)
    listing = ", ".join(d["device"] + (" (%s)" % d["name"] if d["name"] else "") for d in found)
    data = {"devices": found}
    if blocked:
        return [Verdict("camera", WARN, listing + "; not accessible: " + ", ".join(blocked),
                        "sudo usermod -aG video $USER, then log in again", data)]
    return [Verdict("camera", OK, listing, None, data)]


def best_power_mode(conf_text):
    """From ``/etc/nvpmodel.conf`` pick the fastest mode: ``(id, name)`` or None.

    A MAXN mode wins (MAXN_SUPER over MAXN); otherwise the highest wattage in the name
    (Orin Nano on JetPack 5 tops out at "15W", which is not id 0 on every module).
    """
    modes = [(int(i), n) for i, n in re.findall(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=([^\s>]+)",
                                                 conf_text or "")]
    if not modes:
        return None

    def rank(mode):
        name = mode[1].upper()
        watts = re.match(r"(\d+)W", name)
        return (2 if "MAXN" in name else 0, "SUPER" in name, int(watts.group(1)) if watts else 0)

    return max(modes, key=rank)


def check_nvpmodel(env, facts):
    if not facts.get("jetson"):
        return [Verdict("nvpmodel", OK, "not a Jetson; skipped")]
    res = run_cmd(env, ["nvpmodel", "-q"])
    if res is None:
        return [Verdict("nvpmodel", WARN, "nvpmodel not found; power mode unknown",
                        "sudo apt-get install nvidia-l4t-nvpmodel")]
    m = re.search(r"NV Power Mode:\s*(\S+)", res.out)
    if res.rc != 0 or not m:
        first = (res.err or res.out).strip().splitlines()
        return [Verdict("nvpmodel", WARN, "nvpmodel -q failed (exit %d): %s"
                        % (res.rc, first[0] if first else "no output"), "sudo nvpmodel -q")]
    mode_id = re.search(r"^\s*(\d+)\s*$", res.out[m.end():], re.MULTILINE)
    name = m.group(1)
    best = best_power_mode(read_text(env, "/etc/nvpmodel.conf")[0])
    data = {"mode": name, "id": int(mode_id.group(1)) if mode_id else None,
            "fastest": list(best) if best else None}
    finding = "power mode %s%s" % (name, " (id %d)" % data["id"] if mode_id else "")
    fastest = best[1] == name if best else "MAXN" in name.upper()
    if not fastest:
        how = ("sudo nvpmodel -m %d (%s)" % best) if best else \
            "pick the MAXN id from /etc/nvpmodel.conf: sudo nvpmodel -m <id>"
        return [Verdict("nvpmodel", WARN, finding + ": not the fastest mode; builds and "
                        "benchmarks run slower (results record the mode)", how, data)]
    return [Verdict("nvpmodel", OK, finding, None, data)]


def parse_clocks(text):
    """``jetson_clocks --show`` → ``{"cpu": [(min, max), ...], "gpu": (min, max) | None}``.

    CPU lines read ``cpu0: Online=1 Governor=schedutil MinFreq=.. MaxFreq=.. ...`` (some
    modules omit ``Online=``); offline cores are skipped.
    """
    cpus = []
    for m in re.finditer(r"^\s*cpu\d+:(.*)$", text or "", re.MULTILINE):
        freq = re.search(r"MinFreq=(\d+)\s+MaxFreq=(\d+)", m.group(1))
        if freq and "Online=0" not in m.group(1):
            cpus.append((int(freq.group(1)), int(freq.group(2))))
    gpu = re.search(r"^GPU\s+MinFreq=(\d+)\s+MaxFreq=(\d+)", text or "", re.MULTILINE)
    return {"cpu": cpus, "gpu": (int(gpu.group(1)), int(gpu.group(2))) if gpu else None}


def check_clocks(env, facts):
    if not facts.get("jetson"):
        return [Verdict("jetson_clocks", OK, "not a Jetson; skipped")]
    res = run_cmd(env, ["jetson_clocks", "--show"])
    if res is None:
        return [Verdict("jetson_clocks", WARN, "jetson_clocks not found; clock state unknown")]
    clocks = parse_clocks(res.out)
    if res.rc != 0 or not (clocks["cpu"] or clocks["gpu"]):
        return [Verdict("jetson_clocks", WARN, "cannot read the clocks (jetson_clocks --show "
                        "needs root)", "sudo jetson_clocks --show")]
    pinned = all(a == b for a, b in clocks["cpu"]) and (clocks["gpu"] is None or
                                                        clocks["gpu"][0] == clocks["gpu"][1])
    data = {"pinned": pinned, "cpu": clocks["cpu"], "gpu": clocks["gpu"]}
    if pinned:
        return [Verdict("jetson_clocks", OK, "on: CPU and GPU clocks pinned at maximum", None,
                        data)]
    return [Verdict("jetson_clocks", OK, "off: dynamic clocks (for stable benchmarks run "
                    "sudo jetson_clocks; results record the state)", None, data)]


def check_disk(env, facts):
    folder = os.path.abspath(env.engine_dir)
    try:
        total, _, free = env.disk_usage(folder)
    except OSError as e:
        return [Verdict("disk", WARN, "cannot read free space of %s (%s)" % (folder,
                                                                         e.strerror or e))]
    data = {"path": folder, "free_bytes": free, "total_bytes": total}
    finding = "%.1f GiB free of %.1f GiB in %s" % (free / GIB, total / GIB, folder)
    if free < ENGINE_FREE_FAIL:
        return [Verdict("disk", FAIL, finding + ": too little for an engine and its timing "
                        "cache", "free space, or build into another folder", data)]
    if free < ENGINE_FREE_WARN:
        return [Verdict("disk", WARN, finding + ": tight for engines, timing caches and ONNX "
                        "variants", "free space (sudo apt-get clean; remove old engines)", data)]
    return [Verdict("disk", OK, finding, None, data)]
