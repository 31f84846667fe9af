"""ssd-doctor against fake Jetson / non-Jetson filesystems, fake commands and fake packages."""
import json
import os

import pytest

from jetson_fakes import (CLOCKS_PINNED, CV_PIP, MEMINFO_32G, R36_3, FakeImporter, FakeRunner,
                          jetson_modules, make_orin_root, module, no_cuda, orin_cuda, orin_env,
                          write)
from ssd_edge.cli import doctor as doctor_cli
from ssd_edge.doctor import (CmdResult, Env, Verdict, exit_status, format_line, jetson_facts,
                             run_checks, to_json)
from ssd_edge.doctor.jetpack import jetpack_for, parse_release
from ssd_edge.doctor.packages import opencv_build_flags
from ssd_edge.doctor.system import best_power_mode, parse_clocks
from ssd_edge.doctor.trt import format_features

ORDER = ["platform", "jetpack", "python", "numpy", "opencv", "onnxruntime", "gpu", "cuda",
         "tensorrt", "backends", "memory", "camera", "nvpmodel", "jetson_clocks", "disk"]


def by_check(verdicts):
    assert [v.check for v in verdicts] == ORDER
    return {v.check: v for v in verdicts}


def test_healthy_orin_reports_every_check_ok(tmp_path, monkeypatch):
    orin_cuda(monkeypatch)
    v = by_check(run_checks(orin_env(make_orin_root(tmp_path))))
    bad = [format_line(x) for x in v.values() if x.status != "ok"]
    assert not bad, bad
    assert "AGX Orin" in v["platform"].finding and "compute 8.7" in v["platform"].finding
    assert v["jetpack"].finding.startswith("L4T 36.3.0 = JetPack 6.0 ")
    assert v["jetpack"].data["tensorrt"] == "8.6.2"
    assert "GStreamer 1.16.3" in v["opencv"].finding
    assert v["gpu"].finding == "Orin (compute 8.7, 32768 MiB, via cuda-python)"
    assert v["cuda"].finding == "cuda-python 12.2.1 (Orin, compute 8.7, 32.0 GiB)"
    assert v["tensorrt"].finding == "TensorRT 8.6.2.3 (named_tensors, no strongly_typed, dla_cores=2)"
    assert v["tensorrt"].data["features"] == {"named_tensors": True, "strongly_typed": False,
                                              "dla_cores": 2}
    assert v["camera"].finding == "/dev/video0 (vi-output, imx219 9-0010)"
    assert v["nvpmodel"].data == {"mode": "MAXN", "id": 0, "fastest": [0, "MAXN"]}
    assert v["jetson_clocks"].data["pinned"] is True
    assert exit_status(list(v.values())) == 0


def test_broken_orin_gets_fails_and_fixes(tmp_path, monkeypatch):
    no_cuda(monkeypatch)
    root = make_orin_root(tmp_path)
    write(root, "/proc/meminfo", "MemTotal: 3800000 kB\nMemAvailable: 2000000 kB\n"
          "SwapTotal: 0 kB\n")
    write(root, "/home/nvidia/venv/pyvenv.cfg", "include-system-site-packages = false\n")
    mods = jetson_modules(cv_info=CV_PIP)
    del mods["tensorrt"]
    runner = FakeRunner({"nvpmodel": CmdResult(0, "NV Power Mode: MODE_15W\n1\n"),
                         "jetson_clocks": CmdResult(1, "", "must be run as root")})
    v = by_check(run_checks(orin_env(root, runner=runner, modules=mods)))
    assert v["tensorrt"].status == "fail" and "python3-libnvinfer" in v["tensorrt"].fix
    assert v["python"].status == "warn" and "--system-site-packages" in v["python"].fix
    assert v["opencv"].status == "warn" and "pip uninstall opencv-python" in v["opencv"].fix
    assert v["cuda"].status == "warn" and 'pip install "cuda-python==12.2.*"' in v["cuda"].fix
    assert "expected cuda-python or pycuda" in v["cuda"].finding
    assert v["gpu"].data["source"] == "Jetson module table"
    assert v["memory"].status == "warn" and "swapfile" in v["memory"].fix
    assert v["nvpmodel"].status == "warn" and v["nvpmodel"].fix == "sudo nvpmodel -m 0 (MAXN)"
    assert v["jetson_clocks"].status == "warn" and "root" in v["jetson_clocks"].finding
    assert exit_status(list(v.values())) == 1
    line = format_line(v["tensorrt"])
    assert line.startswith("fail  tensorrt: TensorRT Python bindings not installed")
    assert " \u2014 fix: sudo apt-get install python3-libnvinfer" in line


def test_python_other_than_jetpacks_and_pip_tensorrt_are_flagged(tmp_path, monkeypatch):
    orin_cuda(monkeypatch)
    mods = jetson_modules(trt_version="10.8.0.43")
    v = by_check(run_checks(orin_env(make_orin_root(tmp_path), modules=mods,
                                     python_version=(3, 12, 1))))
    assert v["python"].status == "warn" and "built for Python 3.10" in v["python"].finding
    assert v["tensorrt"].status == "warn" and "ships TensorRT 8.6.2" in v["tensorrt"].finding


def test_non_jetson_without_gpu_says_so_and_checks_the_rest(tmp_path, monkeypatch):
    no_cuda(monkeypatch)
    root = tmp_path / "root"
    write(root, "/proc/meminfo", MEMINFO_32G)
    env = Env(root=str(root), run=FakeRunner(), import_module=FakeImporter(
        {"numpy": module("numpy", __version__="1.26.4")}), engine_dir=str(tmp_path),
        disk_usage=lambda p: (100 << 30, 1 << 30, 99 << 30))
    v = by_check(run_checks(env))
    assert v["platform"].status == "ok" and v["platform"].finding.startswith("not a Jetson")
    assert v["gpu"].finding.startswith("no NVIDIA GPU")
    for name in ("jetpack", "nvpmodel", "jetson_clocks"):
        assert v[name].finding == "not a Jetson; skipped"
    assert v["tensorrt"].status == "ok" and "not needed" in v["tensorrt"].finding
    assert v["cuda"].status == "ok" and "not needed" in v["cuda"].finding
    assert v["opencv"].status == "warn" and v["opencv"].fix == 'pip install "ssd-edge[cv]"'
    assert v["numpy"].finding == "numpy 1.26.4" and v["memory"].status == "ok"
    assert exit_status(list(v.values())) == 0


def test_desktop_gpu_from_nvidia_smi_without_tensorrt(tmp_path, monkeypatch):
    no_cuda(monkeypatch)
    smi = CmdResult(0, "NVIDIA H100 80GB HBM3, 9.0, 550.54.15, 81559\n")
    env = Env(root=str(tmp_path), run=FakeRunner({"nvidia-smi": smi}),
              import_module=FakeImporter({}), disk_usage=lambda p: (1 << 40, 0, 1 << 40))
    v = by_check(run_checks(env))
    assert v["gpu"].finding == "NVIDIA H100 80GB HBM3 (compute 9.0, driver 550.54.15, 81559 MiB, " \
                               "via nvidia-smi)"
    assert v["tensorrt"].status == "warn" and v["tensorrt"].fix == "pip install tensorrt"
    assert v["cuda"].status == "warn" and "ssd-edge[trt]" in v["cuda"].fix


def test_nvidia_smi_without_driver_is_a_fail(tmp_path):
    smi = CmdResult(9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA "
                       "driver.\n")
    env = Env(root=str(tmp_path), run=FakeRunner({"nvidia-smi": smi}),
              import_module=FakeImporter({}))
    v = by_check(run_checks(env))
    assert v["gpu"].status == "fail" and "couldn't communicate" in v["gpu"].finding


def test_unreadable_and_garbled_files_are_reported_not_raised(tmp_path, monkeypatch):
    no_cuda(monkeypatch)
    root = make_orin_root(tmp_path)
    os.remove(str(root / "etc/nv_tegra_release"))
    (root / "etc/nv_tegra_release").mkdir()          # open() fails with IsADirectoryError
    write(root, "/proc/meminfo", "garbage\n")
    v = by_check(run_checks(orin_env(root)))
    assert v["jetpack"].status == "warn" and "not readable" in v["jetpack"].finding
    assert v["memory"].status == "warn" and "unparsable" in v["memory"].finding
    write(root.parent / "r2", "/etc/nv_tegra_release", "hello\n")
    write(root.parent / "r2", "/proc/device-tree/model", b"NVIDIA Jetson Xavier NX\x00")
    v2 = by_check(run_checks(orin_env(root.parent / "r2")))
    assert v2["jetpack"].status == "warn" and "does not hold an L4T release" in v2["jetpack"].finding
    assert v2["memory"].status == "warn" and "missing" in v2["memory"].finding


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_model_file(tmp_path):
    root = make_orin_root(tmp_path)
    os.remove(str(root / "etc/nv_tegra_release"))
    (root / "proc/device-tree/model").chmod(0)
    v = by_check(run_checks(orin_env(root)))
    assert v["platform"].status == "warn" and "permission denied" in v["platform"].finding


def test_missing_and_crashing_commands_and_broken_imports(tmp_path, monkeypatch):
    no_cuda(monkeypatch)
    runner = FakeRunner({"nvpmodel": None, "jetson_clocks": OSError("exec format error"),
                         "nvidia-smi": RuntimeError("runner bug")})
    mods = jetson_modules()
    mods["cv2"] = ImportError("numpy.core.multiarray failed to import")
    mods["onnxruntime"] = RuntimeError("illegal instruction emulation")
    mods["ssd_edge.accel.trt_compat"] = module("trt_compat", feature_report=lambda trt: 1 / 0)
    v = by_check(run_checks(orin_env(make_orin_root(tmp_path), runner=runner, modules=mods)))
    assert v["nvpmodel"].status == "warn" and "not found" in v["nvpmodel"].finding
    assert v["jetson_clocks"].status == "warn"
    assert v["gpu"].data["source"] == "Jetson module table"
    assert v["opencv"].status == "warn" and "numpy.core.multiarray" in v["opencv"].finding
    assert v["onnxruntime"].status == "warn" and "RuntimeError" in v["onnxruntime"].finding
    assert v["tensorrt"].status == "warn" and "ZeroDivisionError" in v["tensorrt"].finding


def test_trt_compat_not_landed_falls_back_to_version_only(tmp_path, monkeypatch):
    orin_cuda(monkeypatch)
    v = by_check(run_checks(orin_env(make_orin_root(tmp_path),
                                     modules=jetson_modules(features=False))))
    assert v["tensorrt"].status == "warn"
    assert v["tensorrt"].finding.startswith("TensorRT 8.6.2.3; feature probes unavailable")
    assert "features" not in v["tensorrt"].data


def test_a_crashing_check_is_reported_and_the_rest_still_run(tmp_path):
    def check_boom(env, facts):
        raise KeyError("bug")

    from ssd_edge.doctor import CHECKS
    out = run_checks(orin_env(make_orin_root(tmp_path)), checks=(check_boom,) + CHECKS)
    assert out[0].check == "boom" and out[0].status == "fail" and "KeyError" in out[0].finding
    assert len(out) == 1 + len(ORDER)


def test_json_schema_and_exit_status_through_the_cli(tmp_path, capsys):
    root = tmp_path / "nano"
    write(root, "/proc/device-tree/model", b"NVIDIA Jetson Nano Developer Kit\x00")
    write(root, "/etc/nv_tegra_release", "# R32 (release), REVISION: 7.4, GCID: 33514132, "
          "BOARD: t210ref, EABI: aarch64, DATE: Fri Jun  9 04:25:08 UTC 2023\n")
    rc = doctor_cli.main(["--json", "--root", str(root), "--engine-dir", str(tmp_path)])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1 and doc["ok"] is False
    assert set(doc) == {"schema", "tool", "ok", "counts", "checks"} and doc["schema"] == 1
    assert [c["check"] for c in doc["checks"]] == ORDER
    for c in doc["checks"]:
        assert set(c) == {"check", "status", "finding", "fix", "data"}
        assert c["status"] in ("ok", "warn", "fail") and isinstance(c["finding"], str)
        assert c["fix"] is None or isinstance(c["fix"], str)
        assert isinstance(c["data"], dict)
    assert sum(doc["counts"].values()) == len(ORDER) and doc["counts"]["fail"] >= 1
    jp = next(c for c in doc["checks"] if c["check"] == "jetpack")
    assert jp["status"] == "fail" and "detectnet" in jp["fix"]
    assert jp["data"]["l4t"] == "32.7.4"


def test_text_output_and_exit_zero_on_this_machine_layout(tmp_path, capsys):
    rc = doctor_cli.main(["--root", str(tmp_path), "--engine-dir", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[1].rstrip(":") for ln in lines] == ORDER
    assert all(ln[:6] in ("ok    ", "warn  ", "fail  ") for ln in lines)
    assert rc == (1 if any(ln.startswith("fail") for ln in lines) else 0)


def test_jetson_facts_for_result_files(tmp_path):
    facts = jetson_facts(orin_env(make_orin_root(tmp_path)))
    assert facts == {"jetson": True, "model": "NVIDIA Jetson AGX Orin Developer Kit",
                     "l4t": "36.3.0", "jetpack": "6.0", "nvpmodel": "MAXN",
                     "jetson_clocks": True}


@pytest.mark.parametrize("line,l4t,jetpack,supported", [
    ("# R35 (release), REVISION: 3.1, GCID: 32827747, BOARD: t186ref, EABI: aarch64", (35, 3, 1),
     "5.1.1", True),
    ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref", (35, 4, 1), "5.1.2", True),
    (R36_3, (36, 3, 0), "6.0", True),
    ("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic", (36, 4, 3), "6.2", True),
    ("# R38 (release), REVISION: 2.0, GCID: 1, BOARD: generic, EABI: aarch64", (38, 2, 0), "7.0",
     True),
    ("# R32 (release), REVISION: 7.4, GCID: 1, BOARD: t210ref", (32, 7, 4), "4.6.x", False),
    ("# R35 (release), REVISION: 1.0, GCID: 1, BOARD: t186ref", (35, 1, 0), "5.0.2", False),
])
def test_release_parsing_and_jetpack_table(line, l4t, jetpack, supported):
    rel = parse_release(line)
    assert (rel.major, rel.minor, rel.patch) == l4t
    version, jp_line = jetpack_for(rel)
    assert version == jetpack and jp_line.supported is supported
    assert jetpack_for(parse_release("# R99 (release), REVISION: 0.0")) == (None, None)


def test_parsers_of_tool_output():
    assert opencv_build_flags("    GStreamer:                   \n"
                              "      base:                      YES (ver 1.14.5)\n"
                              "  NVIDIA CUDA:                   YES (ver 10.2, CUFFT)\n") == \
        {"gstreamer": "1.14.5", "cuda": "10.2"}
    assert parse_clocks(CLOCKS_PINNED) == {"cpu": [(2201600, 2201600)] * 2,
                                           "gpu": (1300500000, 1300500000)}
    mixed = "cpu0: Online=1 Governor=x MinFreq=1 MaxFreq=2 CurrentFreq=2\n" \
            "cpu1:  Governor=x MinFreq=1 MaxFreq=2\ncpu2: Online=0 Governor=x MinFreq=9 MaxFreq=9\n"
    assert parse_clocks(mixed)["cpu"] == [(1, 2), (1, 2)]
    nano_super = "< POWER_MODEL ID=0 NAME=15W >\n< POWER_MODEL ID=1 NAME=25W >\n" \
                 "< POWER_MODEL ID=2 NAME=MAXN_SUPER >\n< POWER_MODEL ID=3 NAME=7W >\n"
    assert best_power_mode(nano_super) == (2, "MAXN_SUPER")
    assert best_power_mode("< POWER_MODEL ID=0 NAME=15W >\n< POWER_MODEL ID=1 NAME=7W >") == \
        (0, "15W")
    assert format_features([("dla_cores", 0), "progress_monitor"])[0] == \
        "dla_cores=0, progress_monitor"
    assert Verdict("x", "ok", "y").to_dict() == {"check": "x", "status": "ok", "finding": "y",
                                                 "fix": None, "data": {}}
    assert json.loads(to_json([Verdict("a", "warn", "b", "c")]))["counts"] == \
        {"ok": 0, "warn": 1, "fail": 0}


@pytest.mark.parametrize("version,flavour", [("8.5", "bindings"), ("10.3", "bindings"),
                                             ("8.5", "pycuda")])
def test_doctor_with_the_shared_tensorrt_and_cuda_doubles(monkeypatch, version, flavour):
    """The real ssd_edge.accel.trt_compat probes run against tests/fakes' TensorRT double."""
    import importlib
    import sys
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    fakes = pytest.importorskip("fakes")
    from ssd_edge.doctor.gpu import check_cuda
    from ssd_edge.doctor.jetpack import LINES
    from ssd_edge.doctor.trt import check_tensorrt
    fakes.install_fakes(monkeypatch, version, flavour=flavour)
    env = Env(import_module=importlib.import_module)
    facts = {"jetson": True, "gpu": True,
             "jetpack_line": LINES["5.1" if version.startswith("8") else "6.1"]}
    trt_v = check_tensorrt(env, facts)[0]
    assert trt_v.status == "ok", format_line(trt_v)
    feats = trt_v.data["features"]
    assert feats["named_tensors"] is True and "dla_cores" in feats      # builder was created
    assert feats["progress_monitor"] is (version == "10.3")
    cuda_v = check_cuda(env, facts)[0]
    assert cuda_v.status == "ok", format_line(cuda_v)
    assert cuda_v.data["library"] == ("pycuda" if flavour == "pycuda" else "cuda-python")
    assert cuda_v.data["compute_capability"] == "8.7"
