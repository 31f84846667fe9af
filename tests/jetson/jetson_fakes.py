"""Fakes for the Jetson tests: a fake filesystem root, a fake command runner, a fake importer.

These are test doubles for what this machine cannot have (a Jetson's device tree, JetPack's
release file, nvpmodel, TensorRT, cuda-python); each mirrors the real file or tool output
format documented in ssd_edge/doctor (and seen on real boards in public logs).
"""
import importlib
import os
import sys
import types

from ssd_edge.doctor import CmdResult, Env

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # tests/
from fakes.fake_cuda import FakeGpu, install_fake_cuda  # noqa: E402  (shared CUDA double)

CUDA_MODULES = ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.bindings.utils",
                "cuda.cudart", "pycuda", "pycuda.driver", "pycuda.autoprimaryctx",
                "pycuda.autoinit")


def no_cuda(monkeypatch):
    """Neither cuda-python nor pycuda importable (None in sys.modules = ImportError)."""
    for name in CUDA_MODULES:
        monkeypatch.setitem(sys.modules, name, None)


def orin_cuda(monkeypatch, flavour="bindings"):
    """An Orin iGPU seen through the shared fake cuda-python (or pycuda)."""
    install_fake_cuda(monkeypatch, FakeGpu("Orin", (8, 7), 32 << 30), flavour)

ORIN_MODEL = b"NVIDIA Jetson AGX Orin Developer Kit\x00"
R36_3 = "# R36 (release), REVISION: 3.0, GCID: 36191598, BOARD: generic, EABI: aarch64, " \
        "DATE: Mon May  6 17:34:21 UTC 2024\n"
NVPMODEL_CONF = """< POWER_MODEL ID=0 NAME=MAXN >
CPU_ONLINE CORE_0 1
< POWER_MODEL ID=1 NAME=MODE_15W >
< POWER_MODEL ID=2 NAME=MODE_30W >
< POWER_MODEL ID=3 NAME=MODE_50W >
< PM_CONFIG DEFAULT=2 >
"""
MEMINFO_32G = "MemTotal:       31970000 kB\nMemFree:  1000 kB\nMemAvailable:   28000000 kB\n" \
              "SwapTotal:      15985000 kB\nSwapFree:       15985000 kB\n"
CLOCKS_PINNED = """SOC family:tegra234  Machine:NVIDIA Jetson AGX Orin Developer Kit
Online CPUs: 0-11
cpu0: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
cpu1: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
GPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000
EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=3199000000 FreqOverride=1
NV Power Mode: MAXN
"""
CV_JETPACK = """General configuration for OpenCV 4.5.4 =====================================
  Video I/O:
    FFMPEG:                      YES
    GStreamer:                   YES (1.16.3)
  NVIDIA CUDA:                   NO
"""
CV_PIP = "  Video I/O:\n    FFMPEG:                      YES\n    GStreamer:                   NO\n"


def write(root, rel, data, mode=None):
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


class FakeRunner:
    """Command runner double: ``{program: CmdResult}``; unknown programs are "not installed"."""

    def __init__(self, results=None):
        self.results = dict(results or {})
        self.calls = []

    def __call__(self, argv, timeout=10.0):
        self.calls.append(list(argv))
        res = self.results.get(argv[0])
        if isinstance(res, Exception):
            raise res
        return res


class FakeImporter:
    """import_module double: ``{name: module}``; other names raise ImportError, except
    ssd-edge's own modules, which are really imported (they then meet sys.modules' fakes)."""

    def __init__(self, modules):
        self.modules = dict(modules)

    def __call__(self, name):
        mod = self.modules.get(name)
        if mod is None and name.startswith("ssd_edge.") and name not in self.modules:
            return importlib.import_module(name)
        if mod is None:
            raise ImportError("No module named %r" % name)
        if isinstance(mod, Exception):
            raise mod
        return mod


def module(name, **attrs):
    m = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(m, k, v)
    return m


def jetson_modules(trt_version="8.6.2.3", cv_info=CV_JETPACK, features=True):
    """The Python side of a healthy JetPack 6.0 venv (with system site packages); CUDA comes from
    ``orin_cuda`` (sys.modules), as the runtime's loader imports it directly."""
    mods = {
        "numpy": module("numpy", __version__="1.21.5"),
        "cv2": module("cv2", __version__="4.5.4", __file__="/usr/lib/python3/dist-packages/cv2/x.so",
                      getBuildInformation=lambda: cv_info),
        "onnxruntime": module("onnxruntime", __version__="1.16.3",
                              get_available_providers=lambda: ["CPUExecutionProvider"]),
        "tensorrt": module("tensorrt", __version__=trt_version),
        "cuda.bindings": module("cuda.bindings", __version__="12.2.1"),
    }
    if not features:
        mods["ssd_edge.accel.trt_compat"] = ImportError("No module named 'trt_compat'")
    else:
        # Double of ssd_edge.accel.trt_compat (another engineer's module): only its
        # feature_report(trt) entry point, returning a mapping of feature -> value.
        mods["ssd_edge.accel.trt_compat"] = module(
            "trt_compat", feature_report=lambda trt: {"named_tensors": True,
                                                      "strongly_typed": False, "dla_cores": 2})
    return mods


def make_orin_root(tmp_path):
    """A fake AGX Orin on JetPack 6.0: device tree, release file, nvpmodel.conf, meminfo, a CSI
    camera, and the venv's pyvenv.cfg."""
    root = tmp_path / "root"
    write(root, "/proc/device-tree/model", ORIN_MODEL)
    write(root, "/etc/nv_tegra_release", R36_3)
    write(root, "/etc/nvpmodel.conf", NVPMODEL_CONF)
    write(root, "/proc/meminfo", MEMINFO_32G)
    write(root, "/dev/video0", b"")
    write(root, "/sys/class/video4linux/video0/name", "vi-output, imx219 9-0010\n")
    write(root, "/home/nvidia/venv/pyvenv.cfg", "home = /usr/bin\n"
          "include-system-site-packages = true\nversion = 3.10.12\n")
    return root


def orin_env(root, runner=None, modules=None, **kw):
    runner = runner or FakeRunner({
        "nvpmodel": CmdResult(0, "NV Power Mode: MAXN\n0\n"),
        "jetson_clocks": CmdResult(0, CLOCKS_PINNED),
    })
    fields = dict(root=str(root), run=runner, import_module=FakeImporter(
        jetson_modules() if modules is None else modules),
        disk_usage=lambda p: (64 << 30, 20 << 30, 44 << 30), engine_dir="/tmp",
        python_version=(3, 10, 12), prefix="/home/nvidia/venv", base_prefix="/usr")
    fields.update(kw)
    return Env(**fields)
