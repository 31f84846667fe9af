"""ssd-export ... --engine end to end through the CLI entry, against the fake ``tensorrt`` of each
release (tests/fakes): from a pytorch-ssd-style checkpoint and from an exported ONNX.

No real TensorRT exists here: what is checked is the files written, the summary, the sidecar and
which TensorRT calls each release received (a name a release lacks is absent from its fake).
"""
import hashlib
import json
import os
import re
import shlex
import shutil
import sys

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/

from fakes import install_fakes  # noqa: E402
from fakes.fake_cuda import FakeGpu  # noqa: E402
from fakes.fake_tensorrt import call_names, decode_plan  # noqa: E402
from ssd_edge.cli.export import main  # noqa: E402
from ssd_edge.export import build_memory  # noqa: E402
from ssd_edge.export.calib import generated_frames  # noqa: E402
from ssd_edge.export.engine_sidecar import SIDECAR_SCHEMA, rebuild_command  # noqa: E402
from ssd_edge.export.metadata import get_spec  # noqa: E402
from ssd_edge.models import build_model  # noqa: E402
from ssd_edge.models.specs import default_spec  # noqa: E402

VERSIONS = ["8.5", "8.6", "10.3", "11"]
#: The full-export cases: every version in make test, the newest one in make test-quick.
QUICK_LAST = [pytest.param(v, marks=pytest.mark.slow) for v in VERSIONS[:-1]] + VERSIONS[-1:]
FLAGS_EXIST = {"8.5": True, "8.6": True, "10.3": True, "11": False}
LABELS = ["BACKGROUND", "circle", "square"]
STEM = "mb1-ssd-Epoch-0-Loss-1.0"
GPU_NAME = "NVIDIA Jetson AGX Orin (fake)"
GIB = 1 << 30


class Board:
    """This machine's memory as ``ssd-export`` sees it: a fake /proc/meminfo of its own."""

    def __init__(self, monkeypatch, folder):
        self.monkeypatch, self.path = monkeypatch, os.path.join(str(folder), "meminfo")
        monkeypatch.setattr(build_memory, "MEMINFO", self.path)
        self.memory(32, 0)           # a big machine unless a test says otherwise

    def memory(self, ram_gib, swap_gib):
        with open(self.path, "w") as f:
            f.write("MemTotal: %d kB\nMemAvailable: %d kB\nSwapTotal: %d kB\n"
                    % (ram_gib * (1 << 20), ram_gib * (1 << 19), swap_gib * (1 << 20)))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A checkpoint, labels, calibration images and two exported FP32 ONNX (static, dynamic)."""
    d = tmp_path_factory.mktemp("engine_cli")
    torch.manual_seed(0)
    ckpt = str(d / (STEM + ".pth"))
    torch.save(build_model(default_spec("mb1-ssd", LABELS)).state_dict(), ckpt)
    labels = str(d / "labels.txt")
    with open(labels, "w") as f:
        f.write("\n".join(LABELS) + "\n")
    os.makedirs(str(d / "calib"))
    for i, frame in enumerate(generated_frames(4, seed=7)):
        cv2.imwrite(str(d / "calib" / ("%03d.jpg" % i)), frame)
    for name, extra in (("static", []), ("dynamic", ["--dynamic-batch"])):
        os.makedirs(str(d / name))
        assert main([ckpt, "--labels", labels, "--output-dir", str(d / name), "--no-check",
                     "-q"] + extra) == 0
    return {"dir": d, "ckpt": ckpt, "labels": labels, "calib": str(d / "calib"),
            "static": str(d / "static" / (STEM + ".onnx")),
            "dynamic": str(d / "dynamic" / (STEM + ".onnx"))}


@pytest.fixture
def board(monkeypatch, tmp_path_factory):
    """RAM 32 GiB by default, so no memory warning whatever this machine has."""
    return Board(monkeypatch, tmp_path_factory.mktemp("proc"))


def _copy(src, folder):
    dst = os.path.join(str(folder), os.path.basename(src))
    shutil.copy(src, dst)
    return dst


def _run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _calls(trt, name):
    return [c for c in trt.calls if c[0] == name]


def _flags_set(trt):
    return [c[1][0].name for c in _calls(trt, "IBuilderConfig.set_flag")]


def _summary_row(out, path):
    rows = [line for line in out.splitlines() if line.startswith(path + " ")]
    assert len(rows) == 1, out
    return rows[0].split()


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _check_sidecar(side, engine, onnx_path, trt, precision, batch=(1, 1, 1), dla=None,
                   nms="none"):
    assert side["schema"] == SIDECAR_SCHEMA
    assert side["engine"] == os.path.basename(engine)
    assert side["onnx"] == os.path.basename(onnx_path)
    assert side["onnx_sha256"] == _sha256(onnx_path)
    assert side["tensorrt_version"] == trt.__version__
    assert side["gpu"] == {"name": GPU_NAME, "compute_capability": "8.7"}
    assert side["dla_core"] == dla and side["calibrator"] is None
    assert side["batch"] == dict(zip(("min", "opt", "max"), batch))
    assert side["precision"] == precision and side["nms"] == nms
    spec = get_spec(onnx.load(onnx_path))
    assert side["spec"] == json.loads(spec.to_json()) and side["spec"]["precision"] == precision
    names = [t["name"] for t in side["io"]]
    if nms == "none":
        assert names == ["input_0", "scores", "boxes"]
        p, c = spec.num_priors, spec.num_classes
        b = -1 if batch[0] != batch[2] else batch[0]
        assert [t["shape"] for t in side["io"]] == [[b, 3, 300, 300], [b, p, c], [b, p, 4]]
    else:
        assert names == ["input_0", "num_detections", "detection_boxes", "detection_scores",
                         "detection_classes"]
    with open(engine, "rb") as f:
        header, _ = decode_plan(f.read())        # a plain plan of this release, not prefixed
    assert header["version"] == trt.__version__ and header["device"] == GPU_NAME


def _fakes(board, version, **gpu_kw):
    gpu_kw.setdefault("total_memory", 32 * GIB)
    return install_fakes(board.monkeypatch, version, FakeGpu(name=GPU_NAME, **gpu_kw))


@pytest.mark.parametrize("version", QUICK_LAST)
def test_checkpoint_fp16_engine(work, board, tmp_path, capsys, version):
    trt, _ = _fakes(board, version)
    rc, out, err = _run([work["ckpt"], "--labels", work["labels"], "--fp16", "--engine",
                         "--output-dir", str(tmp_path)], capsys)
    assert rc == 0, err
    stem = os.path.join(str(tmp_path), STEM)
    engine = stem + ".fp16.engine"
    assert sorted(os.listdir(str(tmp_path))) == sorted(
        [STEM + ".onnx", STEM + ".fp16.onnx", STEM + ".fp16.engine", STEM + ".fp16.engine.json",
         "timing.cache"])                          # no FP32 engine, no temporary files
    row = _summary_row(out, engine)
    assert row[1:5] == [row[1], "MB", "fp16", "none"] and float(row[1]) > 1
    assert "built %s in" % engine in out and "parity reference: PyTorch on 32 inputs" in out
    # The engine itself is checked against PyTorch (the fake runs its ONNX in ONNX Runtime, so
    # its figures equal the FP16 ONNX's).
    assert row[5] == "max|Δscores|" and row[5:] == _summary_row(out, stem + ".fp16.onnx")[5:]
    with open(engine + ".json") as f:
        _check_sidecar(json.load(f), engine, stem + ".fp16.onnx", trt, "fp16")
    names = call_names(trt)
    assert names.count("Builder.build_serialized_network") == 1
    assert "Builder.build_engine" not in names
    assert _calls(trt, "Builder.create_network")[0][1][0] == (1 if FLAGS_EXIST[version] else 0)
    if FLAGS_EXIST[version]:
        assert _flags_set(trt) == ["FP16"] and "FP16 flag" in out
    else:
        assert "IBuilderConfig.set_flag" not in names
        assert "precision taken from the ONNX (no builder flags in TensorRT 11" in out
    assert ("IBuilderConfig.progress_monitor=" in names) == (version in ("10.3", "11"))
    assert "building %s from %s.fp16.onnx" % (engine, stem) in out
    if version in ("10.3", "11"):                  # the progress monitor's phases, echoed
        assert "  TensorRT build: Building engine" in out and "reports no progress" not in out
    else:
        assert "reports no progress, this can take minutes on a Jetson" in out
    assert "IBuilderConfig.set_memory_pool_limit" not in names       # 32 GiB: TensorRT's default
    assert "IBuilderConfig.builder_optimization_level=" not in names  # big board: TensorRT's 3
    assert "timing cache %s (new)" % os.path.join(str(tmp_path), "timing.cache") in out


@pytest.mark.parametrize("version", QUICK_LAST)
def test_checkpoint_int8_engine_from_the_qdq_onnx(work, board, tmp_path, capsys, version):
    trt, _ = _fakes(board, version)
    rc, out, err = _run([work["ckpt"], "--labels", work["labels"], "--int8", "--calib",
                         work["calib"], "--calib-count", "4", "--engine", "--output-dir",
                         str(tmp_path)], capsys)
    assert rc == 0, err
    stem = os.path.join(str(tmp_path), STEM)
    engine = stem + ".int8.engine"
    assert not os.path.exists(stem + ".fp32.engine")
    assert _summary_row(out, engine)[3:5] == ["int8", "none"]
    assert "calibration: 4 images" in out
    with open(engine + ".json") as f:
        _check_sidecar(json.load(f), engine, stem + ".int8.onnx", trt, "int8")
    # The QDQ ONNX carries the scales: flags only where they exist, never a calibrator.
    assert _flags_set(trt) == (["INT8", "FP16"] if FLAGS_EXIST[version] else [])
    assert "IBuilderConfig.int8_calibrator=" not in call_names(trt)
    # The rebuild command a refused engine's message gives works as printed, with no images.
    with open(engine + ".json") as f:
        cmd = rebuild_command(json.load(f))
    assert cmd == "ssd-export %s.int8.onnx --engine --int8" % STEM
    board.monkeypatch.chdir(str(tmp_path))
    os.remove(engine)
    rc, out, err = _run(shlex.split(cmd)[1:] + ["-q"], capsys)
    assert rc == 0, err
    assert _summary_row(out, engine)[3] == "int8" and os.path.exists(engine)


@pytest.mark.parametrize("version", VERSIONS)
def test_exported_onnx_dynamic_batch_and_timing_cache(work, board, tmp_path, capsys, version):
    trt, _ = _fakes(board, version)
    src = _copy(work["dynamic"], tmp_path)
    cache = str(tmp_path / "tc.bin")
    argv = [src, "--fp16", "--engine", "--dynamic-batch", "--max-batch", "4", "--timing-cache",
            cache, "--no-check", "-q"]
    rc, out, err = _run(argv, capsys)
    assert rc == 0, err
    engine = str(tmp_path / (STEM + ".fp16.engine"))
    assert _summary_row(out, engine)[3] == "fp16"
    (profile,) = _calls(trt, "IOptimizationProfile.set_shape")
    assert profile[1] == ("input_0", (1, 3, 300, 300), (4, 3, 300, 300), (4, 3, 300, 300))
    with open(engine + ".json") as f:
        _check_sidecar(json.load(f), engine, str(tmp_path / (STEM + ".fp16.onnx")), trt, "fp16",
                       batch=(1, 4, 4))
    first = trt._state.builds[-1]
    assert os.path.getsize(cache) > 0 and first["cache_hits"] == 0
    assert not os.path.exists(str(tmp_path / "timing.cache"))     # the given path, not the default
    rc, out, err = _run(argv[:-1], capsys)                         # again, not quiet
    assert rc == 0, err
    assert trt._state.builds[-1]["cache_hits"] == first["cache_misses"] > 0
    assert "timing cache %s (reused)" % cache in out


@pytest.mark.parametrize("version", VERSIONS)
def test_dla_with_gpu_fallback_and_static_shapes(work, board, tmp_path, capsys, version):
    gpu = FakeGpu(name=GPU_NAME, total_memory=32 * GIB)
    gpu.dla_cores = 2
    trt, _ = install_fakes(board.monkeypatch, version, gpu)
    src = _copy(work["static"], tmp_path)
    rc, out, err = _run([src, "--fp16", "--engine", "--dla", "1", "--no-check"], capsys)
    assert rc == 0, err
    engine = str(tmp_path / (STEM + ".fp16.engine"))
    with open(engine + ".json") as f:
        _check_sidecar(json.load(f), engine, str(tmp_path / (STEM + ".fp16.onnx")), trt, "fp16",
                       dla=1)
    assert _calls(trt, "IBuilderConfig.default_device_type=")[0][1][0].name == "DLA"
    assert _calls(trt, "IBuilderConfig.DLA_core=")[0][1] == (1,)
    assert "GPU_FALLBACK" in _flags_set(trt) and "DLA core 1 with GPU fallback" in out
    # DLA needs static shapes: a dynamic-batch build is refused before TensorRT builds anything.
    dyn = tmp_path / "dyn"
    dyn.mkdir()
    rc, out, err = _run([_copy(work["dynamic"], dyn), "--fp16", "--engine", "--dla", "0",
                         "--dynamic-batch", "--max-batch", "4", "--no-check"], capsys)
    assert rc == 2 and "expected static shapes for DLA" in err and "Traceback" not in err
    assert not [p for p in os.listdir(str(dyn)) if p.endswith((".engine", ".json", ".part"))]


@pytest.mark.parametrize("version", VERSIONS)
def test_small_board_defaults_and_memory_warning(work, board, tmp_path, capsys, caplog,
                                                 version):
    board.memory(3, 0)                                   # a 4 GB board, no swap
    trt, _ = _fakes(board, version, total_memory=3 * GIB)
    src = _copy(work["static"], tmp_path)
    rc, out, err = _run([src, "--fp16", "--engine", "--no-check"], capsys)
    assert rc == 0, err
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("3.0 GiB RAM + 0.0 GiB swap" in m and "may be killed" in m
               and "sudo fallocate -l 4G /swapfile" in m for m in warned), warned
    pools = _calls(trt, "IBuilderConfig.set_memory_pool_limit")
    assert [(c[1][0].name, c[1][1]) for c in pools] == [("WORKSPACE", 256 << 20)]
    level = _calls(trt, "IBuilderConfig.builder_optimization_level=")
    if version == "8.5":                    # no such setting before 8.6: left alone, no error
        assert level == [] and "optimization level" not in out
    else:
        assert level[0][1] == (2,) and "optimization level 2 (small-board default)" in out
    assert os.path.getsize(str(tmp_path / "timing.cache")) > 0       # default: beside the ONNX
    # With a 4 GB swapfile the same board builds without the warning.
    caplog.clear()
    board.memory(3, 4)
    assert _run([src, "--fp16", "--engine", "--no-check", "-q"], capsys)[0] == 0
    assert not [r for r in caplog.records if "may be killed" in r.getMessage()]


@pytest.mark.parametrize("version,nms", [("8.5", "onnx"), ("10.3", "trt"), ("11", "trt")])
def test_nms_engine_is_built_from_the_graph_with_nms(work, board, tmp_path, capsys, version,
                                                     nms):
    trt, _ = _fakes(board, version)
    src = _copy(work["static"], tmp_path)
    # The fake EfficientNMS_TRT runs ssd_edge.postprocess over 4096 candidates: slow, so the
    # engine check runs for the onnx variant only.
    check = ["--conf", "0.3"] if nms == "onnx" else ["--no-check"]
    rc, out, err = _run([src, "--nms", nms, "--engine"] + check, capsys)
    assert rc == 0, err
    engine = str(tmp_path / (STEM + ".fp32.nms-%s.engine" % nms))
    assert _summary_row(out, engine)[3:5] == ["fp32", nms]
    if nms == "onnx":   # an untrained net's tied scores may lower the figure: a warning then
        assert re.search(r"%s\.fp32\.nms-onnx\.engine: (warning: )?engine NMS \(onnx\) agrees "
                         r"[\d.]+%% with ssd_edge\.postprocess on the reference \([1-9]\d* "
                         r"detections, 32 inputs\)" % re.escape(STEM), out), out
    with open(engine + ".json") as f:
        _check_sidecar(json.load(f), engine, str(tmp_path / (STEM + ".nms-%s.onnx" % nms)), trt,
                       "fp32", nms=nms)
    assert ("init_libnvinfer_plugins" in call_names(trt)) == (nms == "trt")
    assert not os.path.exists(str(tmp_path / (STEM + ".fp32.engine")))


@pytest.mark.slow
def test_target_command_printed_without_tensorrt_builds_the_right_engine(work, board, tmp_path,
                                                                         capsys):
    src = _copy(work["static"], tmp_path)
    board.monkeypatch.setitem(sys.modules, "tensorrt", None)   # this machine: no TensorRT
    rc, out, err = _run([src, "--fp16"], capsys)
    assert rc == 0, err
    fp16 = str(tmp_path / (STEM + ".fp16.onnx"))
    (cmd,) = [line.strip() for line in out.splitlines() if line.strip().startswith("ssd-export ")]
    assert cmd == "ssd-export %s --engine" % fp16
    trt, _ = _fakes(board, "8.6")                            # the target
    rc, out, err = _run(shlex.split(cmd)[1:], capsys)
    assert rc == 0, err
    engine = str(tmp_path / (STEM + ".fp16.engine"))
    row = _summary_row(out, engine)
    assert row[3] == "fp16" and _flags_set(trt) == ["FP16"]
    # Checked against the given FP16 ONNX in ONNX Runtime (which the fake engine runs).
    assert "parity reference: the given fp16 ONNX in ONNX Runtime" in out
    assert row[5:9] == ["max|Δscores|", "0.00e+00", "max|Δboxes|", "0.00e+00"]
    with open(engine + ".json") as f:
        _check_sidecar(json.load(f), engine, fp16, trt, "fp16")
    # --fp16 again on the FP16 ONNX changes nothing; converting it to INT8 is refused.
    assert _run(shlex.split(cmd)[1:] + ["--fp16", "-q"], capsys)[0] == 0
    assert not os.path.exists(str(tmp_path / (STEM + ".fp16.fp16.onnx")))
    rc, out, err = _run([fp16, "--int8", "--calib", work["calib"], "--engine"], capsys)
    assert rc == 2 and "expected the FP32 ONNX" in err and "ssd-export %s --engine" % (
        os.path.basename(fp16)) in err and "Traceback" not in err


@pytest.mark.slow
def test_build_failure_keeps_the_onnx_and_prints_the_parser_errors(work, board, tmp_path,
                                                                   capsys):
    trt, _ = _fakes(board, "8.5")                            # the 8.5 parser stops at opset 17
    rc, out, err = _run([work["ckpt"], "--labels", work["labels"], "--opset", "18", "--fp16",
                         "--engine", "--output-dir", str(tmp_path), "-q"], capsys)
    assert rc == 2, (out, err)
    last = err.strip().splitlines()[-1]
    assert last.startswith("ssd-export: error: TensorRT's ONNX parser rejected")
    assert "Unsupported ONNX opset 18 (this parser supports up to 17)" in last
    assert "the ONNX is kept" in last and "Traceback" not in err
    assert sorted(os.listdir(str(tmp_path))) == [STEM + ".fp16.onnx", STEM + ".onnx"]
    assert "Builder.build_serialized_network" not in call_names(trt)
