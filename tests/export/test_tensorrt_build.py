"""build_engine's control flow per TensorRT release, against the fake ``tensorrt`` (tests/fakes).

No real TensorRT exists here: every assertion is about which calls each release's API receives
(names that a release lacks are absent from its fake, so touching one fails the test).
"""
import os
import sys

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/

from fakes import install_fakes  # noqa: E402
from fakes.fake_cuda import FakeGpu  # noqa: E402
from fakes.fake_tensorrt import call_names, decode_plan  # noqa: E402
from fakes.tiny_onnx import make_tiny_onnx  # noqa: E402
from ssd_edge.errors import SsdEdgeError  # noqa: E402
from ssd_edge.export.tensorrt import BuildOptions, build_engine  # noqa: E402

VERSIONS = ["8.4", "8.5", "8.6", "10.3", "11"]
UP_TO_10 = ["8.4", "8.5", "8.6", "10.3"]


def _build(tmp_path, version, monkeypatch, options=None, variant="plain", batch=1, gpu=None,
           name="m"):
    trt, gpu = install_fakes(monkeypatch, version, gpu)
    onnx = make_tiny_onnx(tmp_path / (name + ".onnx"), batch=batch, variant=variant)
    info = build_engine(onnx, str(tmp_path / (name + ".engine")), options or BuildOptions())
    return trt, gpu, info


def _calls(trt, name):
    return [c for c in trt.calls if c[0] == name]


def _flags_set(trt):
    return [c[1][0].name for c in _calls(trt, "IBuilderConfig.set_flag")]


@pytest.mark.parametrize("version", VERSIONS)
def test_fp32_build_uses_only_names_the_release_has(tmp_path, monkeypatch, version):
    trt, _, info = _build(tmp_path, version, monkeypatch)
    names = call_names(trt)
    flags = _calls(trt, "Builder.create_network")[0][1][0]
    # EXPLICIT_BATCH where the enum value exists (required by 8.x's parser), nothing on 11.
    assert flags == (0 if version == "11" else 1)
    assert names.count("Builder.build_serialized_network") == 1
    assert "Builder.build_engine" not in names            # deprecated 8.x, removed in 10
    assert _flags_set(trt) == []                           # fp32: no precision flags
    assert "init_libnvinfer_plugins" not in names          # no plugin in this graph
    assert "IBuilderConfig.add_optimization_profile" not in names   # static batch
    header, _ = decode_plan(open(info.engine_path, "rb").read())
    assert header["version"] == trt.__version__


@pytest.mark.parametrize("version", VERSIONS)
def test_fp16_sets_the_flag_only_where_it_exists(tmp_path, monkeypatch, version):
    trt, _, info = _build(tmp_path, version, monkeypatch, BuildOptions(precision="fp16"),
                          variant="fp16")
    if version == "11":
        assert "IBuilderConfig.set_flag" not in call_names(trt)
        assert any("precision taken from the ONNX" in n for n in info.notes)
    else:
        assert _flags_set(trt) == ["FP16"]
    assert info.sidecar["precision"] == "fp16"


@pytest.mark.parametrize("version", VERSIONS)
def test_qdq_int8_sets_int8_and_fp16_up_to_10_and_nothing_on_11(tmp_path, monkeypatch, version):
    trt, _, _ = _build(tmp_path, version, monkeypatch, BuildOptions(precision="int8"),
                       variant="qdq")
    assert _flags_set(trt) == ([] if version == "11" else ["INT8", "FP16"])
    assert "IBuilderConfig.int8_calibrator=" not in call_names(trt)


def test_int8_without_qdq_or_calibrator_is_refused(tmp_path, monkeypatch):
    with pytest.raises(SsdEdgeError, match="expected a QDQ INT8 ONNX"):
        _build(tmp_path, "10.3", monkeypatch, BuildOptions(precision="int8"))
    assert not os.path.exists(tmp_path / "m.engine")


@pytest.mark.parametrize("version,total_gib,expect_mib",
                         [("8.4", 4, 256), ("8.6", 8, 1024), ("10.3", 32, None), ("11", 2, 256)])
def test_workspace_derived_from_board_memory(tmp_path, monkeypatch, version, total_gib,
                                             expect_mib):
    trt, _, _ = _build(tmp_path, version, monkeypatch,
                       gpu=FakeGpu(total_memory=total_gib << 30))
    pools = _calls(trt, "IBuilderConfig.set_memory_pool_limit")
    if expect_mib is None:
        assert pools == []
    else:
        assert [(c[1][0].name, c[1][1]) for c in pools] == [("WORKSPACE", expect_mib << 20)]
    assert "IBuilderConfig.max_workspace_size=" not in call_names(trt)


def test_explicit_workspace_falls_back_to_max_workspace_size_without_pool_api(tmp_path,
                                                                             monkeypatch):
    trt, gpu = install_fakes(monkeypatch, "8.4")
    del trt.IBuilderConfig.set_memory_pool_limit    # as TensorRT 8.2 (JetPack 4.6)
    onnx = make_tiny_onnx(tmp_path / "m.onnx")
    build_engine(onnx, str(tmp_path / "m.engine"), BuildOptions(workspace_mib=128))
    assert _calls(trt, "IBuilderConfig.max_workspace_size=")[0][1] == (128 << 20,)


@pytest.mark.parametrize("version", VERSIONS)
def test_dynamic_batch_gets_one_profile(tmp_path, monkeypatch, version):
    opts = BuildOptions(min_batch=1, opt_batch=2, max_batch=8)
    trt, _, info = _build(tmp_path, version, monkeypatch, opts, batch="batch")
    (call,) = _calls(trt, "IOptimizationProfile.set_shape")
    assert call[1] == ("input_0", (1, 3, 8, 8), (2, 3, 8, 8), (8, 3, 8, 8))
    assert call_names(trt).count("IBuilderConfig.add_optimization_profile") == 1
    assert info.sidecar["batch"] == {"min": 1, "opt": 2, "max": 8}


def test_max_batch_on_a_static_onnx_says_how_to_reexport(tmp_path, monkeypatch):
    with pytest.raises(SsdEdgeError, match="re-export with --dynamic-batch --max-batch 8"):
        _build(tmp_path, "10.3", monkeypatch, BuildOptions(max_batch=8))


@pytest.mark.parametrize("version", VERSIONS)
def test_timing_cache_written_then_reused(tmp_path, monkeypatch, version):
    cache = str(tmp_path / "timing.cache")
    opts = BuildOptions(timing_cache=cache)
    trt, _, _ = _build(tmp_path, version, monkeypatch, opts)
    first = trt._state.builds[-1]
    assert os.path.getsize(cache) > 0 and first["cache_hits"] == 0 and first["cache_misses"] > 0
    set_calls = _calls(trt, "IBuilderConfig.set_timing_cache")
    assert len(set_calls[0][1]) == 2     # ignore_mismatch is required by every release
    data = open(cache, "rb").read()
    trt2, _, _ = _build(tmp_path, version, monkeypatch, opts, name="m2")
    assert _calls(trt2, "IBuilderConfig.create_timing_cache")[0][1][0] == data
    assert trt2._state.builds[-1]["cache_hits"] == first["cache_misses"]


@pytest.mark.parametrize("version", VERSIONS)
def test_progress_monitor_only_from_10(tmp_path, monkeypatch, version):
    trt, _, info = _build(tmp_path, version, monkeypatch)
    attached = "IBuilderConfig.progress_monitor=" in call_names(trt)
    assert attached == (version in ("10.3", "11"))
    assert ("progress monitor" in info.notes) == attached


@pytest.mark.parametrize("version", VERSIONS)
def test_nms_graph_loads_the_plugin_library(tmp_path, monkeypatch, version):
    trt, _, info = _build(tmp_path, version, monkeypatch, variant="nms")
    names = call_names(trt)
    assert names.index("init_libnvinfer_plugins") < names.index("OnnxParser.parse")
    lookup = "IPluginRegistry.get_creator" if version in ("10.3", "11") else \
        "IPluginRegistry.get_plugin_creator"
    assert _calls(trt, lookup)[0][1][:2] == ("EfficientNMS_TRT", "1")
    assert info.sidecar["nms"] == "trt"
    assert [t["name"] for t in info.sidecar["io"] if t["mode"] == "output"] == [
        "num_detections", "detection_boxes", "detection_scores", "detection_classes"]


def _calib_data(n=8):
    return np.random.RandomState(0).rand(n, 3, 8, 8).astype(np.float32)


@pytest.mark.parametrize("version,method", [("8.4", "minmax"), ("8.5", "entropy"),
                                            ("8.6", "minmax"), ("10.3", "entropy")])
def test_legacy_calibrator_with_cache(tmp_path, monkeypatch, version, method):
    cache = str(tmp_path / "calib.cache")
    opts = BuildOptions(precision="int8", calibrator=method, calib_data=_calib_data(),
                        calib_cache=cache)
    trt, gpu, _ = _build(tmp_path, version, monkeypatch, opts, batch=2)
    assert _flags_set(trt) == ["INT8", "FP16"]
    assert trt._state.builds[-1]["calibration_batches"] == 4          # 8 inputs, batch 2
    algo = "MinMaxCalibration" if method == "minmax" else "EntropyCalibration2"
    assert open(cache, "rb").read().startswith(b"TRT-")
    assert algo.encode() in open(cache, "rb").read()
    assert not gpu.device                                              # calibration buffer freed
    trt2, _, _ = _build(tmp_path, version, monkeypatch, opts, batch=2, name="m2")
    assert "calibration_batches" not in trt2._state.builds[-1]        # cache read, no batches


def test_calibrator_refused_on_11_with_the_way_out(tmp_path, monkeypatch):
    opts = BuildOptions(precision="int8", calibrator="entropy", calib_data=_calib_data())
    with pytest.raises(SsdEdgeError, match=r"removed them; build the QDQ INT8 ONNX"):
        _build(tmp_path, "11", monkeypatch, opts)
    assert not os.path.exists(tmp_path / "m.engine")


def test_build_failure_carries_tensorrt_errors_and_keeps_the_onnx(tmp_path, monkeypatch):
    # Only a cache path, no data, no cache yet: TensorRT finds no batches and returns None.
    opts = BuildOptions(precision="int8", calibrator="entropy",
                        calib_cache=str(tmp_path / "none.cache"))
    with pytest.raises(SsdEdgeError) as err:
        _build(tmp_path, "8.6", monkeypatch, opts)
    assert "no scaling factors detected" in str(err.value)
    assert "the ONNX is kept" in str(err.value)
    assert os.path.exists(tmp_path / "m.onnx")
    assert not os.path.exists(tmp_path / "m.engine")
    assert not os.path.exists(tmp_path / "m.engine.json")


@pytest.mark.parametrize("version", VERSIONS)
def test_parser_errors_reach_the_user(tmp_path, monkeypatch, version):
    with pytest.raises(SsdEdgeError) as err:
        _build(tmp_path, version, monkeypatch, variant="unsupported")
    msg = str(err.value)
    assert "parser rejected" in msg and "FancyOp" in msg and "the ONNX is kept" in msg
    assert "\n" not in msg
    assert os.path.exists(tmp_path / "m.onnx")
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]        # no engine, no temp files


@pytest.mark.parametrize("version", UP_TO_10)
def test_dla_with_gpu_fallback(tmp_path, monkeypatch, version):
    gpu = FakeGpu(name="Orin (fake)")
    gpu.dla_cores = 2
    trt, _, info = _build(tmp_path, version, monkeypatch,
                          BuildOptions(precision="fp16", dla_core=1), gpu=gpu)
    names = call_names(trt)
    assert _calls(trt, "IBuilderConfig.default_device_type=")[0][1][0].name == "DLA"
    assert _calls(trt, "IBuilderConfig.DLA_core=")[0][1] == (1,)
    assert "GPU_FALLBACK" in _flags_set(trt)
    assert names.index("IBuilderConfig.DLA_core=") < names.index("Builder.build_serialized_network")
    assert info.sidecar["dla_core"] == 1


@pytest.mark.parametrize("opts,cores,match", [
    (BuildOptions(precision="fp16", dla_core=0), 0, "got 0 DLA core"),
    (BuildOptions(precision="fp32", dla_core=0), 2, "DLA runs only FP16/INT8"),
    (BuildOptions(precision="fp16", dla_core=0, max_batch=4), 2, "static shapes for DLA"),
])
def test_dla_misuse_is_refused_before_building(tmp_path, monkeypatch, opts, cores, match):
    gpu = FakeGpu()
    gpu.dla_cores = cores
    batch = "batch" if opts.max_batch else 1
    with pytest.raises(SsdEdgeError, match=match):
        _build(tmp_path, "10.3", monkeypatch, opts, batch=batch, gpu=gpu)


@pytest.mark.parametrize("version", VERSIONS)
def test_builder_optimization_level_only_from_8_6(tmp_path, monkeypatch, version):
    opts = BuildOptions(builder_optimization_level=2)
    if version in ("8.4", "8.5"):
        with pytest.raises(SsdEdgeError, match="builder_optimization_level"):
            _build(tmp_path, version, monkeypatch, opts)
    else:
        trt, _, _ = _build(tmp_path, version, monkeypatch, opts)
        assert _calls(trt, "IBuilderConfig.builder_optimization_level=")[0][1] == (2,)


def test_bad_options_say_expected_and_got():
    with pytest.raises(SsdEdgeError, match="expected precision in"):
        BuildOptions(precision="bf16")
    with pytest.raises(SsdEdgeError, match="1 <= min_batch <= opt_batch <= max_batch"):
        BuildOptions(min_batch=4, max_batch=2)
    with pytest.raises(SsdEdgeError, match="precision int8 with a calibrator"):
        BuildOptions(calibrator="entropy", calib_data=_calib_data())
    with pytest.raises(SsdEdgeError, match="calibration data or a calibration cache"):
        BuildOptions(precision="int8", calibrator="minmax")
