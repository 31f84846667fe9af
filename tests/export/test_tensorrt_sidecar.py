"""The engine sidecar, stale-engine checks, the no-TensorRT message, and feature_report."""
import hashlib
import json
import os
import sys

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/

from fakes import install_fakes  # noqa: E402
from fakes.fake_cuda import FakeGpu  # noqa: E402
from fakes.fake_tensorrt import decode_plan, make_fake_tensorrt  # noqa: E402
from fakes.tiny_onnx import make_tiny_onnx, tiny_spec  # noqa: E402
from ssd_edge.errors import SsdEdgeError  # noqa: E402
from ssd_edge.export.engine_sidecar import (SIDECAR_SCHEMA, engine_matches,  # noqa: E402
                                            read_sidecar)
from ssd_edge.export.tensorrt import (BuildOptions, build_engine,  # noqa: E402
                                      engine_from_export, engine_matches_machine,
                                      engine_path_for, missing_tensorrt_message,
                                      target_command, tensorrt_available)
from ssd_edge.accel.trt_compat import feature_report  # noqa: E402


@pytest.fixture
def built(tmp_path, monkeypatch):
    gpu = FakeGpu(name="NVIDIA Jetson AGX Orin (fake)", compute_capability=(8, 7))
    trt, _ = install_fakes(monkeypatch, "10.3", gpu)
    onnx = make_tiny_onnx(tmp_path / "model.fp16.onnx", batch="batch", variant="fp16")
    info = build_engine(onnx, str(tmp_path / "model.fp16.engine"),
                        BuildOptions(precision="fp16", max_batch=4))
    return trt, onnx, info


def test_sidecar_has_every_field_of_the_contract(built):
    trt, onnx, info = built
    side = json.load(open(info.sidecar_path))
    assert side == info.sidecar == read_sidecar(info.engine_path)
    assert side["schema"] == SIDECAR_SCHEMA
    assert side["onnx_sha256"] == hashlib.sha256(open(onnx, "rb").read()).hexdigest()
    assert side["tensorrt_version"] == "10.3.0.26"
    assert side["gpu"] == {"name": "NVIDIA Jetson AGX Orin (fake)", "compute_capability": "8.7"}
    assert side["dla_core"] is None
    assert side["batch"] == {"min": 1, "opt": 4, "max": 4}
    assert side["precision"] == "fp16" and side["nms"] == "none"
    assert side["engine"] == "model.fp16.engine" and side["onnx"] == "model.fp16.onnx"
    assert side["spec"] == json.loads(tiny_spec().to_json())       # read from the ONNX metadata
    assert side["io"][0] == {"name": "input_0", "mode": "input", "shape": [-1, 3, 8, 8],
                             "dtype": "FLOAT"}


def test_engine_is_a_plain_plan_and_writes_are_atomic(built, tmp_path):
    trt, _, info = built
    data = open(info.engine_path, "rb").read()
    assert not data.lstrip().startswith(b"{")          # never prefixed with metadata
    assert decode_plan(data)[0]["version"] == trt.__version__
    assert sorted(os.listdir(tmp_path)) == ["model.fp16.engine", "model.fp16.engine.json",
                                            "model.fp16.onnx"]


def test_engine_matches_names_the_mismatch_and_the_rebuild(built):
    _, onnx, info = built
    side, sha = info.sidecar, info.sidecar["onnx_sha256"]
    here = dict(tensorrt_version="10.3.0.26", gpu_name="NVIDIA Jetson AGX Orin (fake)",
                compute_capability="8.7")
    assert engine_matches(side, sha, **here) == (True, "")
    cases = [
        (dict(here, tensorrt_version="8.6.2.3"), "TensorRT version 10.3.0.26, this needs 8.6.2.3"),
        (dict(here, compute_capability="8.6"), "compute capability 8.7, this needs 8.6"),
        (dict(here, gpu_name="NVIDIA GeForce RTX 4090"), "GPU NVIDIA Jetson AGX Orin (fake)"),
        (dict(here, precision="int8"), "precision fp16, this needs int8"),
        (dict(here, dla_core=0), "DLA core none, this needs 0"),
        (dict(here, batch=(1, 1, 1)), "batch range 1..4 (opt 4), this needs 1..1"),
    ]
    for kwargs, text in cases:
        ok, reason = engine_matches(side, sha, **kwargs)
        assert not ok and text in reason, reason
        assert reason.endswith("rebuild it here with: ssd-export model.fp16.onnx --engine --fp16 "
                               "--dynamic-batch --max-batch 4")
    ok, reason = engine_matches(side, "0" * 64, **here)
    assert not ok and "ONNX sha256" in reason and "the ONNX changed since" in reason
    assert engine_matches(side, sha, dla_core=None, **here)[0]


def test_sidecar_from_a_newer_ssd_edge_is_refused(built):
    _, _, info = built
    side = dict(info.sidecar, schema=SIDECAR_SCHEMA + 1)
    with open(info.sidecar_path, "w") as f:
        json.dump(side, f)
    with pytest.raises(SsdEdgeError, match="upgrade it"):
        read_sidecar(info.engine_path)
    with open(info.sidecar_path, "w") as f:
        f.write("{not json")
    with pytest.raises(SsdEdgeError, match="expected engine sidecar JSON"):
        read_sidecar(info.engine_path)


def test_without_tensorrt_the_user_gets_the_target_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert tensorrt_available() is False
    opts = BuildOptions(precision="int8", max_batch=8, workspace_mib=512, dla_core=0)
    assert target_command("out/model.int8.onnx", opts) == (
        "ssd-export model.int8.onnx --engine --int8 --dynamic-batch --max-batch 8 "
        "--workspace 512 --dla 0")
    msg = missing_tensorrt_message("out/model.int8.onnx", opts)
    assert "copy out/model.int8.onnx to the target" in msg and target_command(
        "out/model.int8.onnx", opts) in msg
    onnx = make_tiny_onnx(tmp_path / "m.onnx")
    with pytest.raises(SsdEdgeError, match="pip install tensorrt"):
        build_engine(onnx, str(tmp_path / "m.engine"))
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


EXPECTED_REPORT = {   # the presence table of tests/fakes/trt_presence.py
    "8.4": dict(named_tensors=False, strongly_typed=False, explicit_batch_flag=True,
                fp16_flag=True, int8_flag=True, calibrators=["entropy", "minmax"],
                progress_monitor=False, memory_pool_limit=True, builder_optimization_level=False,
                version_compatible=False, get_creator=False, dla=True),
    "8.5": dict(named_tensors=True, strongly_typed=False, explicit_batch_flag=True,
                fp16_flag=True, int8_flag=True, calibrators=["entropy", "minmax"],
                progress_monitor=False, memory_pool_limit=True, builder_optimization_level=False,
                version_compatible=False, get_creator=False, dla=True),
    "8.6": dict(named_tensors=True, strongly_typed=False, explicit_batch_flag=True,
                fp16_flag=True, int8_flag=True, calibrators=["entropy", "minmax"],
                progress_monitor=False, memory_pool_limit=True, builder_optimization_level=True,
                version_compatible=True, get_creator=False, dla=True),
    "10.3": dict(named_tensors=True, strongly_typed=True, explicit_batch_flag=True,
                 fp16_flag=True, int8_flag=True, calibrators=["entropy", "minmax"],
                 progress_monitor=True, memory_pool_limit=True, builder_optimization_level=True,
                 version_compatible=True, get_creator=True, dla=True),
    "11": dict(named_tensors=True, strongly_typed=True, explicit_batch_flag=False,
               fp16_flag=False, int8_flag=False, calibrators=[], progress_monitor=True,
               memory_pool_limit=True, builder_optimization_level=True, version_compatible=True,
               get_creator=True, dla=True),
}


@pytest.mark.parametrize("version", sorted(EXPECTED_REPORT))
def test_feature_report_per_release(version):
    trt = make_fake_tensorrt(version)
    report = feature_report(trt)
    assert report.pop("version") == trt.__version__
    assert report == EXPECTED_REPORT[version]
    gpu = trt.gpu
    gpu.dla_cores = 2
    assert feature_report(trt, builder=trt.Builder(trt.Logger()))["dla_cores"] == 2


def test_engine_matches_machine_uses_this_machines_tensorrt_and_gpu(built, monkeypatch):
    _, _, info = built
    assert engine_matches_machine(info.sidecar) == (True, "")
    install_fakes(monkeypatch, "11", FakeGpu(name="NVIDIA Jetson AGX Orin (fake)"))
    ok, reason = engine_matches_machine(info.sidecar)
    assert not ok and "TensorRT version 10.3.0.26, this needs 11.1.0.4" in reason
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)
    monkeypatch.setitem(sys.modules, "cuda", None)
    ok, reason = engine_matches_machine(info.sidecar)
    assert not ok and reason.startswith("cannot check here: expected cuda-python or pycuda")


def test_engine_from_export_maps_export_options(tmp_path, monkeypatch):
    from ssd_edge.export.options import ExportOptions
    trt, _ = install_fakes(monkeypatch, "8.6")
    onnx = make_tiny_onnx(tmp_path / "model.int8.onnx", batch="batch", variant="qdq")
    lines = []
    opts = ExportOptions(int8=True, dynamic_batch=True, max_batch=4, workspace_mib=300,
                         timing_cache=str(tmp_path / "tc.bin"), nms="trt")
    (engine,) = engine_from_export(onnx, "int8", tiny_spec(), opts, lines.append)
    assert engine == str(tmp_path / "model.int8.engine") and os.path.exists(engine + ".json")
    side = read_sidecar(engine)
    assert side["precision"] == "int8" and side["batch"] == {"min": 1, "opt": 4, "max": 4}
    assert [c[1][1] for c in trt.calls if c[0] == "IBuilderConfig.set_memory_pool_limit"] == [
        300 << 20]
    assert os.path.exists(tmp_path / "tc.bin") and lines and "INT8 flag" in lines[-1]
    assert lines[0] == "building %s from %s" % (engine, onnx)
    assert engine_path_for("a/model.onnx", "fp32") == "a/model.fp32.engine"
    assert engine_path_for("a/model.fp16.onnx", "fp16") == "a/model.fp16.engine"
